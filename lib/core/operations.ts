/**
 * The operations ejabberd sends to an extauth program, and everything the
 * program knows about each, in one table. Every other module reads its
 * column here: `request.ts` (which carry a password), `api/retry.ts` and
 * `api/fetchers.ts` (which may be sent twice, through {@linkcode isRetrySafe}),
 * the pipeline and the caches (which answers are remembered, which forget a
 * user), `contracts.ts` (endpoint names), `check` and `config.ts` (names in
 * help and errors). The reply to a refusal, per server, is the reply
 * policy's (`auth/reply_policy.ts`). A new operation (ejabberd's `certauth`)
 * is one more row.
 *
 * @module
 */

/** The servers that run the program; each reads a `false` reply its own way. */
export type XmppServer = "ejabberd" | "prosody" | "mongooseim";

/** What an answer does to the outage cache's entry for the user. */
export type CacheEffect = "remember" | "forget" | "keep";

/** The columns of one row of {@linkcode OPERATION_TABLE}. */
export interface OperationSpec {
  /** The request carries a password (or other secret) as its fourth field. */
  readonly password: boolean;
  /** The API may be asked twice (a timeout or a 5xx is retried, a connection kept alive). */
  readonly retrySafe: boolean;
  /** A remembered success may answer it (`--cache-ttl`, `--stale-ttl`). */
  readonly cached: boolean;
  /**
   * What a true and a false answer do to the cached entry. A change
   * (`kind: "change"`) forgets the user before it is sent and again after,
   * whatever the answer (or none), so its columns say `forget` both ways.
   */
  readonly afterTrue: CacheEffect;
  readonly afterFalse: Exclude<CacheEffect, "remember">;
  /** A question (`true`/`false` in a 200 body under form-status) or a change (2xx/403/404). */
  readonly kind: "question" | "change";
  /** Under form-status, a 409 answers false ("exists") rather than being an error. */
  readonly conflictIsFalse: boolean;
  /** Default endpoint path under each API contract. */
  readonly endpoints: { readonly json: string; readonly "form-status": string };
  /** What a `false` from the API means, in the words of `check` and the logs. */
  readonly falseMeans: string;
}

/** Every operation, in the order README lists them, with its properties. */
export const OPERATION_TABLE = {
  auth: {
    password: true,
    retrySafe: true,
    cached: true,
    afterTrue: "remember",
    afterFalse: "forget",
    kind: "question",
    conflictIsFalse: false,
    endpoints: { json: "login", "form-status": "check_password" },
    falseMeans: "wrong password or no such user",
  },
  isuser: {
    password: false,
    retrySafe: true,
    cached: true,
    afterTrue: "remember",
    afterFalse: "forget",
    kind: "question",
    conflictIsFalse: false,
    endpoints: { json: "exists", "form-status": "user_exists" },
    falseMeans: "no such user",
  },
  setpass: {
    password: true,
    retrySafe: true,
    cached: false,
    afterTrue: "forget",
    afterFalse: "forget",
    kind: "change",
    conflictIsFalse: false,
    endpoints: { json: "setpass", "form-status": "set_password" },
    falseMeans: "the API refused the password change",
  },
  tryregister: {
    password: true,
    retrySafe: false,
    cached: false,
    afterTrue: "forget",
    afterFalse: "forget",
    kind: "change",
    conflictIsFalse: true,
    endpoints: { json: "tryregister", "form-status": "register" },
    falseMeans: "registration not allowed (or the user exists)",
  },
  removeuser: {
    password: false,
    retrySafe: false,
    cached: false,
    afterTrue: "forget",
    afterFalse: "forget",
    kind: "change",
    conflictIsFalse: false,
    endpoints: { json: "removeuser", "form-status": "remove_user" },
    falseMeans: "removal not allowed",
  },
  removeuser3: {
    password: true,
    retrySafe: false,
    cached: false,
    afterTrue: "forget",
    afterFalse: "forget",
    kind: "change",
    conflictIsFalse: false,
    endpoints: { json: "removeuser3", "form-status": "remove_user_validate" },
    falseMeans: "removal not allowed (or wrong password)",
  },
} as const satisfies Readonly<Record<string, OperationSpec>>;

/** The operations ejabberd sends to an extauth program. */
export type Operation = keyof typeof OPERATION_TABLE;

/** The operations whose successful answers the outage cache remembers (`auth`, `isuser`). */
export type CachedOperation = {
  [K in Operation]: (typeof OPERATION_TABLE)[K]["cached"] extends true ? K : never;
}[Operation];

/** Every operation, in the order README lists them. */
export const OPERATIONS: readonly Operation[] = Object.keys(OPERATION_TABLE) as Operation[];

/** The list for help and error texts: `auth, isuser, setpass, ...`. */
export const OPERATION_LIST: string = OPERATIONS.join(", ");

/**
 * Tells whether `op` is one of the {@linkcode OPERATIONS}.
 *
 * @example Check an operation name
 * ```ts
 * import assert from "node:assert/strict";
 * import { isOperation } from "./operations.ts";
 * assert.equal(isOperation("auth"), true);
 * assert.equal(isOperation("certauth"), false);
 * assert.equal(isOperation("toString"), false);
 * ```
 */
export function isOperation(op: string): op is Operation {
  return Object.hasOwn(OPERATION_TABLE, op);
}

/**
 * Tells whether the operation carries a password.
 *
 * @example Which requests have a fourth field
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasPassword } from "./operations.ts";
 * assert.equal(hasPassword("auth"), true);
 * assert.equal(hasPassword("isuser"), false);
 * ```
 */
export function hasPassword(op: Operation): boolean {
  return OPERATION_TABLE[op].password;
}

/**
 * Tells whether an operation may reach the API twice: retried after a timeout or a 5xx,
 * sent on a kept-alive connection. The one reader of the `retrySafe` column; the fetch
 * choice (`api/fetchers.ts`) and the retry rule (`api/retry.ts`) both ask it.
 *
 * @example Only reads and setpass are retried
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRetrySafe } from "./operations.ts";
 * assert.equal(isRetrySafe("auth"), true);
 * assert.equal(isRetrySafe("tryregister"), false);
 * ```
 */
export function isRetrySafe(op: Operation): boolean {
  return OPERATION_TABLE[op].retrySafe;
}

/**
 * Tells whether a remembered success may answer this operation.
 *
 * @example Only auth and isuser are cached
 * ```ts
 * import assert from "node:assert/strict";
 * import { isCached } from "./operations.ts";
 * assert.equal(isCached("isuser"), true);
 * assert.equal(isCached("setpass"), false);
 * ```
 */
export function isCached(op: Operation): op is CachedOperation {
  return OPERATION_TABLE[op].cached;
}
