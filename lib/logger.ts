/**
 * The program's logger: the role `@std/log` had in the design, kept in this
 * one file so that swapping the std package back in touches nothing else.
 * One line per record, `TIME LEVEL message`, written to a sink function
 * (stderr or a log file, see `runtime.ts`). Known secrets are masked in every
 * line as a last line of defence; messages are built never to contain them.
 *
 * @module
 */

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

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** The least severe level written. */
  readonly level: LogLevel;
  /** Receives each finished line, newline included. */
  readonly sink: (line: string) => void;
  /** Strings masked as `***` wherever they appear (tokens, keys). */
  readonly secrets?: readonly string[];
  /** Written after the time on every line, e.g. `xmpp-extauth[1234]`. */
  readonly tag?: string;
  /** Clock, for tests. */
  readonly now?: () => Date;
}

/**
 * Creates a logger writing lines like
 * `2026-11-28T14:50:00.123Z WARN  auth alice@example.com: backend error: ...`.
 * A sink that throws (a full disk, a closed stderr) never takes the program down.
 *
 * @example Log to stderr at info
 * ```ts
 * import { createLogger } from "./logger.ts";
 * const log = createLogger({ level: "info", sink: (line) => console.error(line.trimEnd()) });
 * log.info("started");
 * log.debug("not written");
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  const threshold = RANK[options.level];
  // Longest first, so that a secret containing another is masked whole.
  const secrets = (options.secrets ?? []).filter((s) => s.length > 0)
    .sort((a, b) => b.length - a.length);
  const now = options.now ?? (() => new Date());
  const tag = options.tag === undefined ? "" : `${options.tag} `;
  const write = (level: LogLevel, message: string) => {
    if (RANK[level] < threshold) return;
    let text = message;
    for (const secret of secrets) {
      if (text.includes(secret)) text = text.replaceAll(secret, "***");
    }
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
  };
}

/**
 * A logger that writes nothing.
 *
 * @example
 * ```ts
 * import { silentLogger } from "./logger.ts";
 * silentLogger.warn("dropped");
 * ```
 */
export const silentLogger: Logger = createLogger({ level: "silent", sink: () => {} });
