/**
 * Wiring of the serving mode: logger, routes, cache, pipeline and loop, from a
 * {@linkcode Config} and a {@linkcode Runtime}. `main.ts` calls this and exits
 * with the code it returns.
 *
 * @module
 */

import { openCache } from "../cache/open_cache.ts";
import { createAuthenticator } from "../auth/pipeline.ts";
import { createReplyPolicy, errorAnswer, replySettingsOf } from "../auth/reply_policy.ts";
import { SYSTEM_CLOCK } from "../core/clock.ts";
import { type Config, ConfigError } from "../cli/config.ts";
import { formatDuration } from "../cli/duration.ts";
import { describeProxy, proxyFor, type ProxySettings } from "../runtime/environment.ts";
import { startIdleCollector } from "./idle_gc.ts";
import { fallbackFor } from "../log/log_target.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { createFetchers } from "../api/fetchers.ts";
import { createRouter, type Route } from "../api/router.ts";
import { type AppendFile, type Runtime, UnsafeLogFile } from "../runtime/mod.ts";
import { EJABBERD, PROSODY, serve } from "../wire/serve_loop.ts";
import { VERSION } from "../core/version.ts";

/** The quiet spell after which an idle copy collects its garbage once (see idle_gc.ts). */
export const IDLE_GC_MS = 10_000;

/** A logger and its sink, as the config asks. */
export interface Logging {
  readonly logger: Logger;
  /** Reopens the log file (SIGHUP); a no-op when logging to stderr. */
  readonly reopen: () => void;
}

/**
 * Sets up logging: to `--log-file` when given, else stderr, except in Prosody
 * mode where stderr is the reply channel and logs go to the file or nowhere.
 * When stderr goes nowhere (`ejabberdctl start`) and no file is given, logs go
 * to the fallback file beside ejabberd's log (see `log_target.ts`).
 * Secrets from the environment and `fileSecrets` are masked in every line.
 *
 * @throws {ConfigError} when the log file cannot be opened.
 * @example Log as the config asks (needs a parsed config and the runtime)
 * ```ts ignore
 * import { createLogging } from "./serve.ts";
 * const { logger, reopen } = createLogging(config, runtime, router.secrets);
 * runtime.onSignal("SIGHUP", reopen);
 * ```
 */
export function createLogging(
  config: Config,
  runtime: Runtime,
  fileSecrets: readonly string[] = [],
): Logging {
  const secrets = [
    ...Object.values(config.envSecrets).filter((s): s is string => s !== undefined),
    ...fileSecrets,
  ];
  // No --log-file and nobody reads stderr (ejabberdctl start): a file beside ejabberd's log.
  const fallback = config.logFile === undefined && config.logLevel !== "silent"
    ? fallbackFor(config.protocol, runtime)
    : undefined;
  const logFile = config.logFile ?? fallback;
  let file: AppendFile | undefined;
  if (logFile !== undefined) {
    try {
      // Never through a link someone else could plant, never stdout; root's new fallback file
      // goes to the folder's owner, so that ejabberd's own copies can open it too.
      file = runtime.openAppend(logFile, { fallback: fallback !== undefined });
    } catch (error) {
      // The fallback is a best effort: without it, stderr (nowhere) is all there is.
      if (fallback === undefined) throw logFileError(logFile, error);
    }
  }
  if (file !== undefined) {
    const out = file;
    const logger = createLogger({
      level: config.logLevel,
      sink: (line) => out.write(line),
      secrets,
      tag: `xmpp-extauth[${runtime.pid}]`,
    });
    if (fallback !== undefined) {
      logger.warn(
        `stderr goes nowhere (/dev/null or closed) and no --log-file was given: logging to ` +
          `${fallback}; choose the file with --log-file`,
      );
    }
    return {
      logger,
      reopen: () => {
        try {
          out.reopen();
        } catch (error) {
          logger.error(
            `cannot reopen ${logFile}: ${(error as Error).message}; still logging to the file ` +
              "opened before",
          );
        }
      },
    };
  }
  const level = config.protocol === "prosody" ? "silent" : config.logLevel;
  return {
    logger: createLogger({
      level,
      sink: (line) => runtime.writeStderr(line),
      secrets,
      tag: `xmpp-extauth[${runtime.pid}]`,
    }),
    reopen: () => {},
  };
}

/** The configuration error for a `--log-file` that cannot be used. */
function logFileError(path: string, error: unknown): ConfigError {
  if (error instanceof UnsafeLogFile) {
    return new ConfigError(
      `Cannot use --log-file ${path}: ${error.message}` +
        (error.isStdout ? " (log to a file, or leave --log-file out to log to stderr)" : ""),
    );
  }
  return new ConfigError(`Cannot open --log-file ${path}: ${(error as Error).message}`);
}

/**
 * Serves ejabberd (or Prosody) on the runtime's stdin and stdout until end of
 * input, and returns the exit code.
 *
 * @throws {ConfigError} when a secret or CA file is unusable (before reading stdin).
 * @example Serve until stdin closes (main.ts; reads the real stdin)
 * ```ts ignore
 * import { runServe } from "./serve.ts";
 * runtime.exit(await runServe(config, runtime));
 * ```
 */
export async function runServe(config: Config, runtime: Runtime): Promise<number> {
  if (config.protocol === "prosody" && runtime.stdinIsTerminal()) discardRacedQueries(runtime);
  const clock = SYSTEM_CLOCK;
  const router = await createRouter(config, runtime.readFile, runtime.fileMode);
  const { logger, reopen } = createLogging(config, runtime, router.secrets);
  for (const warning of [...config.warnings, ...router.warnings]) logger.warn(warning);
  for (const warning of runtime.environment.warnings) logger.warn(warning);
  runtime.onSignal("SIGHUP", reopen);
  const fetchers = createFetchers(config, runtime);
  const cache = await openCache(config, runtime, logger, clock);
  const replies = createReplyPolicy(replySettingsOf(config));
  const handle = createAuthenticator({
    router,
    ...fetchers,
    logger,
    cache,
    policy: { timeoutMs: config.timeoutMs, deadlineMs: config.deadlineMs, retries: config.retries },
    breakerFailures: config.breakerFailures,
    breakerCooldownMs: config.breakerCooldownMs,
    replies,
    clock,
  });
  logStart(config, runtime, logger, router.routes, errorAnswer(replies.settings));
  // A heap grown under load shrinks back once requests stop (no collection runs otherwise in
  // an idle process): one full collection per quiet spell of IDLE_GC_MS to twice that.
  const collectGarbage = runtime.collectGarbage;
  const idle = collectGarbage === undefined
    ? undefined
    : startIdleCollector({ collect: collectGarbage, everyMs: IDLE_GC_MS, clock });
  const result = await serve({
    input: runtime.stdin(),
    write: runtime.writeStdout,
    handle: idle === undefined ? handle : (payload) => {
      idle.touch();
      return handle(payload);
    },
    protocol: config.protocol === "prosody" ? PROSODY : EJABBERD,
    logger,
    replies,
  });
  idle?.stop();
  logger.info(
    `${result.reason === "eof" ? "stdin closed" : "stdout closed"} after ${result.requests} ` +
      `request${result.requests === 1 ? "" : "s"}; exiting`,
  );
  return 0;
}

/**
 * The start-up lines: what is served and how (`onErrorReply`, from the reply policy), the
 * proxies, and a warning when ejabberd's mode reads a terminal.
 */
function logStart(
  config: Config,
  runtime: Runtime,
  logger: Logger,
  routes: readonly Route[],
  onErrorReply: string,
): void {
  if (logger.enabled("info")) {
    const apis = routes.map((r) => `${r.name === "*" ? "" : `${r.name}=`}${r.urlTemplate}`);
    logger.info(
      `xmpp-extauth ${VERSION} (${runtime.version}) serving ${config.protocol}${
        config.server === "mongooseim" ? " (mongooseim: true/false only)" : ""
      } → ${apis.join(", ")}; timeout ${formatDuration(config.timeoutMs)}, deadline ${
        formatDuration(config.deadlineMs)
      }, on error reply ${onErrorReply}`,
    );
  }
  logProxies(logger, runtime.environment.proxy, routes.map((r) => r.urlTemplate));
  if (config.protocol === "ejabberd" && runtime.stdinIsTerminal()) {
    logger.warn(
      "stdin is a terminal: this mode expects ejabberd's framed requests; to try a login by " +
        "hand use: xmpp-extauth check auth USER SERVER --url ...",
    );
  }
}

/**
 * Logs which proxy, if any, each API's requests go through, when the
 * environment names a proxy (the credentials in a proxy URL masked).
 */
function logProxies(logger: Logger, settings: ProxySettings, templates: readonly string[]): void {
  if (settings.http === undefined && settings.https === undefined) return;
  for (const template of templates) {
    const url = template.replaceAll("{server}", "example.com");
    const proxy = proxyFor(settings, url);
    logger.info(
      `requests to ${template} ${
        proxy === undefined
          ? "go direct (loopback or NO_PROXY)"
          : `go through the proxy ${describeProxy(proxy)}`
      }${template.includes("{server}") ? " (NO_PROXY is checked per domain)" : ""}`,
    );
  }
}

/**
 * Discards the queries Prosody wrote before the program started: the
 * terminal may have echoed them back to Prosody as their answer (see
 * `prosody.ts`). Refuses to serve when that is impossible, rather than
 * answering one step behind.
 *
 * @throws {ConfigError} when queued input cannot be discarded.
 */
function discardRacedQueries(runtime: Runtime): void {
  const result = runtime.discardQueuedInput();
  if (!result.ok) {
    throw new ConfigError(
      `Cannot serve Prosody on a terminal: queries written before the start cannot be ` +
        `discarded (${result.reason}), and answering them could put every answer one step behind`,
    );
  }
}
