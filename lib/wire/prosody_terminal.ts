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

/** Where {@linkcode asksForProsody} looks. */
export interface ProtocolSources {
  readonly args: readonly string[];
  readonly env: (name: string) => string | undefined;
  readonly readFile: (path: string) => Uint8Array;
}

/**
 * Tells, without validating anything else, whether this run serves Prosody:
 * `--protocol prosody` on the command line, else `XMPP_EXTAUTH_PROTOCOL`,
 * else `"protocol"` in the `--config` file when it can be read. Used when the
 * full parse failed, to know where the error must go. `check` never serves.
 *
 * @example Find the protocol before the full parse
 * ```ts
 * import assert from "node:assert/strict";
 * import { asksForProsody } from "./prosody_terminal.ts";
 * const sources = { env: () => undefined, readFile: () => new Uint8Array() };
 * assert.equal(asksForProsody({ ...sources, args: ["--protocol=prosody", "--bad"] }), true);
 * assert.equal(asksForProsody({ ...sources, args: ["check", "--protocol", "prosody"] }), false);
 * ```
 */
export function asksForProsody(sources: ProtocolSources): boolean {
  const { args } = sources;
  let protocol: string | undefined;
  let config: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "check") return false;
    if (arg === "--") break;
    const [name, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    if (name === "--protocol") protocol ??= inline ?? args[++i];
    else if (name === "--config") config ??= inline ?? args[++i];
  }
  protocol ??= sources.env("XMPP_EXTAUTH_PROTOCOL");
  config ??= sources.env("XMPP_EXTAUTH_CONFIG");
  if (protocol === undefined && config !== undefined) {
    try {
      const data = JSON.parse(new TextDecoder().decode(sources.readFile(config)));
      if (typeof data?.protocol === "string") protocol = data.protocol;
    } catch { /* the full parse reports it */ }
  }
  return protocol === "prosody";
}
