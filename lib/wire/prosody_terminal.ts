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

/** The exit status after a fatal error in Prosody mode: the module starts the program again. */
export const PROSODY_RETRY_EXIT = 0;

/** The longest message kept in an `error:` line (lpty reads 4096 bytes at most). */
const MAX_MESSAGE = 1000;

/**
 * Makes text from anywhere safe for one log line: control characters
 * (newlines, ESC, BEL, NUL, DEL, C1, the Unicode line separators) become
 * `\xNN` or `\uNNNN`, and the text is cut to `max` characters.
 *
 * @example Escape a newline and an ESC
 * ```ts
 * import assert from "node:assert/strict";
 * import { oneLine } from "./prosody_terminal.ts";
 * assert.equal(oneLine("a\nb\x1b[1A"), "a\\x0ab\\x1b[1A");
 * ```
 */
export function oneLine(text: string, max = MAX_MESSAGE): string {
  // deno-lint-ignore no-control-regex
  const escaped = text.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
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
  return new TextEncoder().encode(`error: xmpp-extauth: ${oneLine(message)}\n`);
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
