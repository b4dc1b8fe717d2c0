/**
 * The reply for every request that does not end in the API's plain answer, in one place: a
 * definite "no", an API that cannot answer (a backend error, an open circuit breaker, no
 * route, a change that could not be sent), an internal error, and input that is not a
 * request. The pipeline returns the verdict this module gives, and the serving loop only
 * writes it (its last-resort catch asks the same policy).
 *
 * The rules, per server:
 *
 * | outcome | ejabberd | Prosody | MongooseIM |
 * | --- | --- | --- | --- |
 * | the API says no | false; `setpass`: error | false | false |
 * | the API cannot answer | `--on-error`; `setpass`: error | `--on-error` | false |
 * | an internal error | as when the API cannot answer | as there | false |
 * | a request that cannot be read | false; `setpass`: error | false | false |
 * | input that is not a request | false | false | false |
 *
 * ejabberd takes any true/false reply to `setpass` for a successful change (and caches the
 * new password), so every failed `setpass` is answered error there, whatever `--on-error`
 * says. MongooseIM understands only true and false (any other reply crashes its worker), so
 * it never gets error.
 *
 * @module
 */

import { isOperation, type Operation, type XmppServer } from "../core/operations.ts";
import { parseRequest } from "../core/request.ts";
import type { Verdict } from "../wire/protocol.ts";
import type { FallbackReplies } from "../wire/serve_loop.ts";

/** `--on-error`: what an API that cannot answer is answered, where the server allows a choice. */
export type OnError = "error" | "false";

/** What the replies depend on: the server that reads them and `--on-error`. */
export interface ReplySettings {
  readonly server: XmppServer;
  /** `--on-error` as the user gave it (or its default). */
  readonly onError: OnError;
}

/**
 * The reply to each server when the API answers no, for the operations whose reply is not
 * false everywhere. ejabberd takes any true/false reply to `setpass` for success.
 */
const REFUSED_REPLY: { readonly [O in Operation]?: { readonly [S in XmppServer]: Verdict } } = {
  setpass: { ejabberd: "error", prosody: "false", mongooseim: "false" },
};

/**
 * The settings of a serving config: the server is MongooseIM when `--server mongooseim`,
 * else the protocol's (ejabberd or Prosody).
 *
 * @example MongooseIM speaks ejabberd's protocol
 * ```ts
 * import assert from "node:assert/strict";
 * import { replySettingsOf } from "./reply_policy.ts";
 * assert.deepEqual(
 *   replySettingsOf({ protocol: "ejabberd", server: "mongooseim", onError: "error" }),
 *   { server: "mongooseim", onError: "error" },
 * );
 * ```
 */
export function replySettingsOf(config: {
  readonly protocol: "ejabberd" | "prosody";
  readonly server: "ejabberd" | "mongooseim";
  readonly onError: OnError;
}): ReplySettings {
  return {
    server: config.server === "mongooseim" ? "mongooseim" : config.protocol,
    onError: config.onError,
  };
}

/**
 * The reply when the API answers no to `op`.
 *
 * @example Only ejabberd gets error for a refused password change
 * ```ts
 * import assert from "node:assert/strict";
 * import { refusedReply } from "./reply_policy.ts";
 * assert.equal(refusedReply("setpass", "ejabberd"), "error");
 * assert.equal(refusedReply("setpass", "prosody"), "false");
 * assert.equal(refusedReply("auth", "ejabberd"), "false");
 * ```
 */
export function refusedReply(op: Operation, server: XmppServer): Verdict {
  return REFUSED_REPLY[op]?.[server] ?? "false";
}

/**
 * What an API that cannot answer is answered in general (the serving line's "on error
 * reply"): `--on-error`, except on MongooseIM, which never gets error.
 *
 * @example MongooseIM never gets error
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorAnswer } from "./reply_policy.ts";
 * assert.equal(errorAnswer({ server: "mongooseim", onError: "error" }), "false");
 * assert.equal(errorAnswer({ server: "ejabberd", onError: "error" }), "error");
 * ```
 */
export function errorAnswer(settings: ReplySettings): OnError {
  return settings.server === "mongooseim" ? "false" : settings.onError;
}

/**
 * The reply when no answer came for `op` (a backend error, an open breaker, no route, a
 * change not sent, an internal error): error for an operation whose refusal is answered
 * error (a false would be taken for success), else {@linkcode errorAnswer}. `op` is
 * undefined when the request named no known operation.
 *
 * @example A setpass error stands in ejabberd mode
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorReply } from "./reply_policy.ts";
 * assert.equal(errorReply("setpass", { server: "ejabberd", onError: "false" }), "error");
 * assert.equal(errorReply("auth", { server: "ejabberd", onError: "false" }), "false");
 * ```
 */
export function errorReply(op: Operation | undefined, settings: ReplySettings): Verdict {
  if (op !== undefined && refusedReply(op, settings.server) === "error") return "error";
  return errorAnswer(settings);
}

/**
 * The reply to a request that cannot be read: as a refusal of the operation it names (a
 * `setpass` stays error in ejabberd mode), false when it names none.
 *
 * @example An unreadable setpass is never answered false to ejabberd
 * ```ts
 * import assert from "node:assert/strict";
 * import { rejectedReply } from "./reply_policy.ts";
 * assert.equal(rejectedReply("setpass", "ejabberd"), "error");
 * assert.equal(rejectedReply(undefined, "ejabberd"), "false");
 * ```
 */
export function rejectedReply(op: string | undefined, server: XmppServer): Verdict {
  return op !== undefined && isOperation(op) ? refusedReply(op, server) : "false";
}

/** The rules above for one serving process's settings. */
export interface ReplyPolicy extends FallbackReplies {
  readonly settings: ReplySettings;
  /** See {@linkcode refusedReply}. */
  refused(op: Operation): Verdict;
  /** See {@linkcode errorReply}. */
  error(op: Operation | undefined): Verdict;
  /** See {@linkcode rejectedReply}. */
  rejected(op: string | undefined): Verdict;
}

/**
 * The policy for one serving process. Its {@linkcode FallbackReplies} part is what the
 * serving loop asks for input that is not a request and for a handler that throws.
 *
 * @example Replies under `--on-error false` in ejabberd mode
 * ```ts
 * import assert from "node:assert/strict";
 * import { createReplyPolicy } from "./reply_policy.ts";
 * const replies = createReplyPolicy({ server: "ejabberd", onError: "false" });
 * assert.equal(replies.error("isuser"), "false");
 * assert.equal(replies.thrown(new TextEncoder().encode("setpass:a:b:c")), "error");
 * assert.equal(replies.rejectedInput, "false");
 * ```
 */
export function createReplyPolicy(settings: ReplySettings): ReplyPolicy {
  return {
    settings,
    rejectedInput: "false",
    refused: (op) => refusedReply(op, settings.server),
    error: (op) => errorReply(op, settings),
    rejected: (op) => rejectedReply(op, settings.server),
    thrown: (payload) => errorReply(operationOf(payload), settings),
  };
}

/** The operation a payload names, if it names a known one (read or not). */
function operationOf(payload: Uint8Array): Operation | undefined {
  const parsed = parseRequest(payload);
  const op = parsed.ok ? parsed.request.op : parsed.op;
  return op !== undefined && isOperation(op) ? op : undefined;
}
