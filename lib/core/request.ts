/**
 * Parsing of one request payload (`auth:USER:SERVER:PASSWORD`, ...) into a
 * typed request. USER and SERVER never contain `:`; the password is every
 * byte after the third colon, colons, newlines and all.
 *
 * @module
 */

import { hasPassword, isOperation, type Operation } from "./operations.ts";

/** A parsed request. `password` is present exactly for the operations that carry one. */
export interface AuthRequest {
  readonly op: Operation;
  readonly user: string;
  readonly server: string;
  readonly password?: string;
}

/** The result of {@linkcode parseRequest}: a request, or why the payload is not one. */
export type ParseResult =
  | { readonly ok: true; readonly request: AuthRequest }
  | { readonly ok: false; readonly reason: string; readonly op?: string };

// ignoreBOM: a leading U+FEFF is part of a field (a password may start with one), never dropped.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();
const COLON = 0x3a;
/** RFC 7622: a localpart or domainpart is at most 1023 bytes. */
export const MAX_PART_BYTES = 1023;
/** Characters nodeprep forbids in a user name (space, `"&'/:<>@`) and control characters. */
// deno-lint-ignore no-control-regex
const NOT_IN_USER = /[\x00-\x20\x7f-\x9f"&'/:<>@\u2028\u2029]/;
/**
 * Characters no domain name holds: they would leave the `{server}` path
 * segment or mean something else in a URL (`/ \ ? # @ %`), control characters
 * and spaces.
 */
// deno-lint-ignore no-control-regex
const NOT_IN_SERVER = /[\x00-\x20\x7f-\x9f/\\?#@%\u2028\u2029]/;

/**
 * Why a user or server name cannot be one (ejabberd and Prosody never send
 * such names: they are nodeprepped and nameprepped), or undefined when it can.
 *
 * @example Check a server name
 * ```ts
 * import assert from "node:assert/strict";
 * import { invalidName } from "./request.ts";
 * assert.equal(invalidName("server", "example.com"), undefined);
 * assert.equal(invalidName("server", ".."), "server is . or ..");
 * ```
 */
export function invalidName(field: "user" | "server", name: string): string | undefined {
  if (name === "") return `empty ${field}`;
  // UTF-8 takes at most 3 bytes per UTF-16 unit: only a long name needs encoding to count.
  if (name.length * 3 > MAX_PART_BYTES && encoder.encode(name).length > MAX_PART_BYTES) {
    return `${field} longer than ${MAX_PART_BYTES} bytes`;
  }
  if (field === "server" && (name === "." || name === "..")) return "server is . or ..";
  const bad = (field === "user" ? NOT_IN_USER : NOT_IN_SERVER).exec(name)?.[0];
  if (bad === undefined) return undefined;
  const code = bad.codePointAt(0)!;
  const shown = code > 0x20 && code < 0x7f
    ? `"${bad}"`
    : `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
  return `${field} holds ${shown}, which ${
    field === "user" ? "nodeprep" : "a domain name"
  } forbids`;
}

/**
 * Parses one request payload. Never throws: a payload that is not a request
 * gives `ok: false` with a reason that never contains the password.
 *
 * @example Parse a login with a colon in the password
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRequest } from "./request.ts";
 * assert.deepEqual(parseRequest(new TextEncoder().encode("auth:alice:example.com:a:b")), {
 *   ok: true,
 *   request: { op: "auth", user: "alice", server: "example.com", password: "a:b" },
 * });
 * ```
 */
export function parseRequest(payload: Uint8Array): ParseResult {
  // Split on the first three colons at byte level, so that the password is
  // taken byte-exact and an invalid byte in it cannot shift the fields.
  // indexOf, not a loop over the bytes: the loop is costly when the JIT is off
  // (docs/performance.md).
  const cuts: number[] = [];
  for (let from = 0; cuts.length < 3;) {
    const at = payload.indexOf(COLON, from);
    if (at < 0) break;
    cuts.push(at);
    from = at + 1;
  }
  const opEnd = cuts[0] ?? payload.length;
  let op: string;
  try {
    op = decoder.decode(payload.subarray(0, opEnd));
  } catch {
    return { ok: false, reason: "operation is not valid UTF-8" };
  }
  if (payload.length === 0) return { ok: false, reason: "empty request" };
  if (!isOperation(op)) {
    return { ok: false, reason: `unknown operation ${JSON.stringify(op.slice(0, 40))}`, op };
  }
  const withPassword = hasPassword(op);
  const userEnd = cuts[1];
  if (cuts[0] === undefined || userEnd === undefined) {
    return { ok: false, reason: `${op} needs USER:SERVER`, op };
  }
  const serverEnd = withPassword ? cuts[2] : payload.length;
  if (serverEnd === undefined) {
    return { ok: false, reason: `${op} needs USER:SERVER:PASSWORD`, op };
  }
  if (!withPassword && cuts[2] !== undefined) {
    return { ok: false, reason: `${op} takes USER:SERVER only, got more fields`, op };
  }
  let user: string, server: string;
  try {
    user = decoder.decode(payload.subarray(cuts[0] + 1, userEnd));
    server = decoder.decode(payload.subarray(userEnd + 1, serverEnd));
  } catch {
    return { ok: false, reason: `${op}: user or server is not valid UTF-8`, op };
  }
  const invalid = invalidName("user", user) ?? invalidName("server", server);
  if (invalid !== undefined) return { ok: false, reason: `${op}: ${invalid}`, op };
  if (!withPassword) return { ok: true, request: { op, user, server } };
  let password: string;
  try {
    password = decoder.decode(payload.subarray(serverEnd + 1));
  } catch {
    return { ok: false, reason: `${op} for ${user}@${server}: password is not valid UTF-8`, op };
  }
  return { ok: true, request: { op, user, server, password } };
}
