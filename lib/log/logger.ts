/**
 * The program's own logger (std has removed `log/`, so there is no package to
 * swap in): one line per record, `TIME LEVEL message`, written to a sink function
 * (stderr or a log file, see `runtime/`). Known secrets are masked in every
 * line, in every encoding (`mask.ts`), as a last line of defence; messages are
 * built never to contain them. Control characters are escaped in every line,
 * so text that came from outside (user and server names, an API's message, an
 * error text) can never start a line of its own or drive the terminal.
 *
 * @module
 */

import { createMask } from "./mask.ts";

/** Log levels, from the most to the least verbose; `silent` logs nothing. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** Every level name, for option validation. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

const RANK: Readonly<Record<LogLevel, number>> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
  silent: 100,
};
const LABEL: Readonly<Record<LogLevel, string>> = {
  debug: "DEBUG",
  info: "INFO ",
  warn: "WARN ",
  error: "ERROR",
  silent: "",
};

/** A logger. `enabled` lets callers skip building a message nobody reads. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  enabled(level: LogLevel): boolean;
}

/** A logger whose mask can learn new secrets (a rotated token: `router.ts`'s reload). */
export interface MaskingLogger extends Logger {
  /** Masks these too from now on; the secrets known before stay masked. */
  addSecrets(secrets: readonly string[]): void;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** The least severe level written. */
  readonly level: LogLevel;
  /** Receives each finished line, newline included. */
  readonly sink: (line: string) => void;
  /** Strings masked as `***` wherever they appear, in every encoding (tokens, keys). */
  readonly secrets?: readonly string[];
  /** Written after the time on every line, e.g. `xmpp-extauth[1234]`. */
  readonly tag?: string;
  /** Clock, for tests. */
  readonly now?: () => Date;
}

/** C0 and C1 controls, DEL, the Unicode line and paragraph separators, and bidi overrides. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const SHORT: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Escapes every control character, so that a text from outside stays on its
 * line and cannot move the cursor, ring the bell or recolour a terminal:
 * newline, CR and tab become `\n`, `\r`, `\t`; other C0 and C1 controls and
 * DEL `\xHH`; U+2028, U+2029 and the bidi overrides `\uHHHH`.
 *
 * @example Keep a forged line on the line it came in
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeControl } from "./logger.ts";
 * assert.equal(escapeControl("evil\n2026 ERROR forged\x1b[1A"), "evil\\n2026 ERROR forged\\x1b[1A");
 * ```
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return SHORT[c] ??
      (code < 0x100
        ? `\\x${code.toString(16).padStart(2, "0")}`
        : `\\u${code.toString(16).padStart(4, "0")}`);
  });
}

/**
 * Creates a logger writing lines like
 * `2026-11-28T14:50:00.123Z WARN  auth alice@example.com: backend error: ...`.
 * A sink that throws (a full disk, a closed stderr) never takes the program down.
 *
 * @example Log to stderr at info
 * ```ts
 * import assert from "node:assert/strict";
 * import { createLogger } from "./logger.ts";
 * const lines: string[] = [];
 * const log = createLogger({ level: "info", sink: (line) => lines.push(line) });
 * log.info("started");
 * log.debug("not written");
 * assert.equal(lines.length, 1);
 * assert.match(lines[0]!, /^\S+Z INFO {2}started\n$/);
 * ```
 */
export function createLogger(options: LoggerOptions): MaskingLogger {
  const threshold = RANK[options.level];
  const known = new Set(options.secrets ?? []);
  let mask = createMask([...known]);
  const now = options.now ?? (() => new Date());
  const tag = options.tag === undefined ? "" : `${options.tag} `;
  const write = (level: LogLevel, message: string) => {
    if (RANK[level] < threshold) return;
    // Mask first: a secret holding a control character is still found whole.
    const text = escapeControl(mask(message));
    try {
      options.sink(`${now().toISOString()} ${tag}${LABEL[level]} ${text}\n`);
    } catch {
      // Logging must never break serving.
    }
  };
  return {
    debug: (m) => write("debug", m),
    info: (m) => write("info", m),
    warn: (m) => write("warn", m),
    error: (m) => write("error", m),
    enabled: (level) => RANK[level] >= threshold,
    addSecrets(secrets) {
      const before = known.size;
      for (const secret of secrets) if (secret !== "") known.add(secret);
      if (known.size !== before) mask = createMask([...known]);
    },
  };
}

/**
 * A logger that writes nothing.
 *
 * @example A logger that drops everything
 * ```ts
 * import assert from "node:assert/strict";
 * import { silentLogger } from "./logger.ts";
 * silentLogger.warn("dropped");
 * assert.equal(silentLogger.enabled("error"), false);
 * ```
 */
export const silentLogger: Logger = createLogger({ level: "silent", sink: () => {} });
