/**
 * The one sanitizer of text that came from outside (user and server names, an
 * API's message, an error text, a command-line value) before it is written out:
 * every log line, every line `check` prints, the warnings on stderr, the
 * configuration error in the log file and Prosody's `error:` reply. Every
 * control character is escaped, so that such text stays on its line, can never
 * start a line of its own (a forged log record) and cannot drive a terminal
 * (move the cursor, ring the bell, recolour, reverse the text).
 *
 * The escapes, one format everywhere: newline, CR and tab as `\n`, `\r`, `\t`;
 * other C0 and C1 controls and DEL as `\xHH`; U+2028, U+2029 and the bidi
 * overrides and isolates (U+202A–U+202E, U+2066–U+2069) as `\uHHHH`. Unlike
 * logtape's `sanitize.ts` (the model), nothing is preserved: no colour sequence
 * and no newline, since every consumer here is one line.
 *
 * @module
 */

/** C0 and C1 controls, DEL, the Unicode line and paragraph separators, and bidi overrides. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const SHORT: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Escapes every control character (see the module doc for the format).
 * Printable text, backslashes included, is kept as it is.
 *
 * @example Keep a forged line on the line it came in
 * ```ts
 * import assert from "node:assert/strict";
 * import { sanitize } from "./sanitize.ts";
 * assert.equal(sanitize("evil\n2026 ERROR forged\x1b[1A"), "evil\\n2026 ERROR forged\\x1b[1A");
 * assert.equal(sanitize("a\x00b\x7f\u0085\u2028\u202e"), "a\\x00b\\x7f\\x85\\u2028\\u202e");
 * assert.equal(sanitize("naïve \\3a 😀"), "naïve \\3a 😀");
 * ```
 */
export function sanitize(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return SHORT[c] ??
      (code < 0x100
        ? `\\x${code.toString(16).padStart(2, "0")}`
        : `\\u${code.toString(16).padStart(4, "0")}`);
  });
}
