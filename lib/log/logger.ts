/**
 * The program's own logger (std has removed `log/`, so there is no package to
 * swap in): one line per record, `TIME LEVEL message`, written to a sink function
 * (stderr or a log file, see `runtime/`). Known secrets are masked in every
 * line, in every encoding (`mask.ts`), as a last line of defence; messages are
 * built never to contain them. Control characters are escaped in every line
 * (`sanitize.ts`), so text that came from outside (user and server names, an
 * API's message, an error text) can never start a line of its own or drive the
 * terminal. Both are the steps of {@linkcode messageFormatter}, which `check`
 * reuses for the lines it prints.
 *
 * @module
 */

import { createMask } from "./mask.ts";
import { sanitize } from "./sanitize.ts";

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

/** Formats a message's text for a line; see {@linkcode messageFormatter}. */
export type MessageFormatter = (message: string) => string;

/**
 * The formatter of every message's text: each known secret masked, in every
 * encoding (`mask.ts`), then every control character escaped (`sanitize.ts`).
 * Mask first: a secret holding a control character is still found whole. The
 * logger formats each message with it; `check` each line it prints.
 *
 * @example A token echoed with a forged line
 * ```ts
 * import assert from "node:assert/strict";
 * import { messageFormatter } from "./logger.ts";
 * const format = messageFormatter(["t0ken"]);
 * assert.equal(format("Bearer t0ken\nERROR forged"), "Bearer ***\\nERROR forged");
 * ```
 */
export function messageFormatter(secrets: readonly (string | undefined)[]): MessageFormatter {
  const mask = createMask(secrets);
  return (message) => sanitize(mask(message));
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
  let format = messageFormatter([...known]);
  const now = options.now ?? (() => new Date());
  const tag = options.tag === undefined ? "" : `${options.tag} `;
  const write = (level: LogLevel, message: string) => {
    if (RANK[level] < threshold) return;
    const text = format(message);
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
      if (known.size !== before) format = messageFormatter([...known]);
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
