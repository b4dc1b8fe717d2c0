/**
 * What serving Prosody under its pseudo-terminal needs beyond the line
 * protocol: keeping answers in step at start, and telling the admin about a
 * fatal start-up error in the only place Prosody shows it.
 *
 * mod_auth_external_insecure (with lpty) forks the program, turns the
 * terminal's echo off in the child, and writes its first query right after
 * the fork, in the parent. When the query is written before echo is off, the
 * terminal echoes it back and the module reads that echo as the answer; our
 * real answer would then be read as the answer to the next query, and every
 * later one too: a wrong password accepted. Any query still queued when the
 * program starts may have been "answered" that way, so it is discarded
 * unread (`tcflush(0, TCIFLUSH)`). The cost: a login racing the program's
 * start fails once (the module waits its timeout and refuses it).
 *
 * The module logs a reply that starts with `error:` word for word, and starts
 * the program again at the next query only if it exited with status 0 (after
 * any other status it never runs it again until Prosody restarts). So a fatal
 * start-up error in Prosody mode is one `error: …` line on stdout, then exit 0.
 *
 * @module
 */

import { sanitize } from "../log/sanitize.ts";

/** The exit status after a fatal error in Prosody mode: the module starts the program again. */
export const PROSODY_RETRY_EXIT = 0;

/** The longest message kept in an `error:` line (lpty reads 4096 bytes at most). */
const MAX_MESSAGE = 1000;

/**
 * The message of an `error:` line: escaped by the one sanitizer of the log
 * (`log/sanitize.ts`), so that it stays one line, and cut to `max` characters
 * so that lpty reads the line in one piece.
 *
 * @example Escape a newline and an ESC, cut a long text
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorMessage } from "./prosody_terminal.ts";
 * assert.equal(errorMessage("a\nb\x1b[1A"), "a\\nb\\x1b[1A");
 * assert.equal(errorMessage("abcdef", 3), "abc…");
 * ```
 */
export function errorMessage(text: string, max = MAX_MESSAGE): string {
  const escaped = sanitize(text);
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

/**
 * The reply line that carries a fatal start-up error to Prosody's log:
 * `error: xmpp-extauth: MESSAGE\n`, on one line whatever the message holds.
 *
 * @example A config error as Prosody logs it
 * ```ts
 * import assert from "node:assert/strict";
 * import { prosodyErrorLine } from "./prosody_terminal.ts";
 * const line = new TextDecoder().decode(prosodyErrorLine("Missing --url"));
 * assert.equal(line, "error: xmpp-extauth: Missing --url\n");
 * ```
 */
export function prosodyErrorLine(message: string): Uint8Array {
  return new TextEncoder().encode(`error: xmpp-extauth: ${errorMessage(message)}\n`);
}
