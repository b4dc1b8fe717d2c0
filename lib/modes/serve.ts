/**
 * Wiring of the serving mode: logger, routes, cache, pipeline and loop, from a
 * {@linkcode Config} and a {@linkcode Runtime}. `main.ts` calls this and exits
 * with the code it returns.
 *
 * @module
 */

import { openCache } from "../cache/open_cache.ts";
import { createAuthenticator } from "../auth/pipeline.ts";
import {
  createReplyPolicy,
  errorAnswer,
  type ReplyPolicy,
  replySettingsOf,
} from "../auth/reply_policy.ts";
import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { type Config, ConfigError } from "../cli/config.ts";
import { formatDuration } from "../cli/duration.ts";
import { describeProxy, proxyFor, type ProxySettings } from "../runtime/environment.ts";
import { startIdleCollector } from "./idle_gc.ts";
import { fallbackFor } from "../log/log_target.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { createRotatingFetch, type RotatingFetchers } from "../api/fetchers.ts";
import { createRotatingRouter, type RotatingRouter } from "../api/rotation.ts";
import type { Route } from "../api/router.ts";
import { Metrics } from "../metrics/metrics.ts";
import { type Exporter, startExporter } from "../metrics/exporter.ts";
import { NO_RECORDER } from "../metrics/recorder.ts";
import { type AppendFile, type Runtime, UnsafeLogFile } from "../runtime/mod.ts";
import { EJABBERD, PROSODY, serve, type ServeResult } from "../wire/serve_loop.ts";
import type { Verdict } from "../wire/protocol.ts";
import { VERSION } from "../core/version.ts";

/** How often the secret and CA files are checked for a change (off the request path). */
export const SECRET_CHECK_MS = 1_000;

/** The quiet spell after which an idle copy collects its garbage once (see idle_gc.ts). */
export const IDLE_GC_MS = 10_000;

/** A logger and its sink, as the config asks. */
export interface Logging {
  readonly logger: Logger;
  /** Reopens the log file (SIGHUP); a no-op when logging to stderr. */
  readonly reopen: () => void;
  /** Masks these secrets too from now on (a rotated one); the earlier ones stay masked. */
  readonly addSecrets: (secrets: readonly string[]) => void;
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
  if (logFile !== undefined) {
    const file = openLogFile(logFile, fallback, runtime);
    if (file !== undefined) return fileLogging(config, runtime, secrets, file, logFile, fallback);
  }
  const level = config.protocol === "prosody" ? "silent" : config.logLevel;
  const logger = createLogger({
    level,
    sink: (line) => runtime.writeStderr(line),
    secrets,
    tag: `xmpp-extauth[${runtime.pid}]`,
  });
  return { logger, reopen: () => {}, addSecrets: (more) => logger.addSecrets(more) };
}

/**
 * Opens the log file; undefined when the fallback file cannot be opened.
 *
 * @throws {ConfigError} when a `--log-file` the admin named cannot be opened.
 */
function openLogFile(
  logFile: string,
  fallback: string | undefined,
  runtime: Runtime,
): AppendFile | undefined {
  try {
    // Never through a link someone else could plant, never stdout; root's new fallback file
    // goes to the folder's owner, so that ejabberd's own copies can open it too.
    return runtime.openAppend(logFile, { fallback: fallback !== undefined });
  } catch (error) {
    // The fallback is a best effort: without it, stderr (nowhere) is all there is.
    if (fallback === undefined) throw logFileError(logFile, error);
    return undefined;
  }
}

/** Logging to an open file, reopened on SIGHUP; a fallback file says so in its first line. */
function fileLogging(
  config: Config,
  runtime: Runtime,
  secrets: readonly string[],
  out: AppendFile,
  logFile: string,
  fallback: string | undefined,
): Logging {
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
    addSecrets: (more) => logger.addSecrets(more),
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
  const router = await createRotatingRouter(config, {
    readFile: runtime.readFile,
    fileMode: runtime.fileMode,
    stamp: runtime.fileStamp,
  }, clock);
  const { logger, reopen, addSecrets } = createLogging(config, runtime, router.secrets);
  for (const warning of [...config.warnings, ...router.warnings]) logger.warn(warning);
  for (const warning of runtime.environment.warnings) logger.warn(warning);
  const rotating = createRotatingFetch(config, runtime);
  const watcher = watchSecrets(config, runtime, logger, clock, router, rotating, addSecrets);
  runtime.onSignal("SIGHUP", () => {
    reopen();
    watcher.now();
  });
  const metrics = config.metricsFile !== undefined || config.statsIntervalMs > 0
    ? new Metrics()
    : undefined;
  const replies = createReplyPolicy(replySettingsOf(config));
  const handle = createAuthenticator({
    router,
    ...rotating.fetchers,
    logger,
    cache: await openCache(config, runtime, logger, clock),
    policy: { timeoutMs: config.timeoutMs, deadlineMs: config.deadlineMs, retries: config.retries },
    breakerFailures: config.breakerFailures,
    breakerCooldownMs: config.breakerCooldownMs,
    replies,
    clock,
    recorder: metrics ?? NO_RECORDER,
  });
  const exporter = exportMetrics(config, runtime, logger, clock, metrics);
  logStart(config, runtime, logger, router.routes, errorAnswer(replies.settings));
  const result = await serveStdin(config, runtime, logger, clock, handle, replies);
  watcher.stop();
  exporter?.stop();
  logger.info(
    `${result.reason === "eof" ? "stdin closed" : "stdout closed"} after ${result.requests} ` +
      `request${result.requests === 1 ? "" : "s"}; exiting`,
  );
  return 0;
}

/** The metrics file and the summary line, when the config asks for them. */
function exportMetrics(
  config: Config,
  runtime: Runtime,
  logger: Logger,
  clock: Clock,
  metrics: Metrics | undefined,
): Exporter | undefined {
  if (metrics === undefined) return undefined;
  return startExporter({
    metrics,
    runtime,
    clock,
    logger,
    ...(config.metricsFile === undefined ? {} : { file: config.metricsFile }),
    statsIntervalMs: config.statsIntervalMs,
  });
}

/** The serving loop on stdin and stdout, with the idle collector beside it. */
async function serveStdin(
  config: Config,
  runtime: Runtime,
  logger: Logger,
  clock: Clock,
  handle: (payload: Uint8Array) => Promise<Verdict>,
  replies: ReplyPolicy,
): Promise<ServeResult> {
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
  return result;
}

/** The check of the secret and CA files: every {@linkcode SECRET_CHECK_MS}, or `now()`. */
interface SecretWatcher {
  /** Checks at once, re-reading every file (SIGHUP). */
  now(): void;
  stop(): void;
}

/**
 * Re-reads the secret and CA files when they change (docs/rotation.md): stamps compared every
 * {@linkcode SECRET_CHECK_MS} on a timer, never on a request's path; one check at a time.
 */
function watchSecrets(
  config: Config,
  runtime: Runtime,
  logger: Logger,
  clock: Clock,
  router: RotatingRouter,
  rotating: RotatingFetchers,
  addSecrets: (secrets: readonly string[]) => void,
): SecretWatcher {
  if (router.files.length === 0 && config.caFile === undefined) {
    return { now() {}, stop() {} };
  }
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const check = (force: boolean): Promise<void> => {
    if (running !== undefined) {
      // A SIGHUP during a check: one more full check right after it.
      again ||= force;
      return running;
    }
    rotating.reload({ stamp: runtime.fileStamp, logger, force });
    running = router.reload({
      stamp: runtime.fileStamp,
      readFile: runtime.readFile,
      fileMode: runtime.fileMode,
      addSecret: (secret) => addSecrets([secret]),
      logger,
      force,
    }).finally(() => {
      running = undefined;
      if (again && !stopped) {
        again = false;
        void check(true);
      }
    });
    return running;
  };
  let cancel = () => {};
  const tick = () => {
    void check(false).finally(() => {
      if (!stopped) cancel = clock.after(SECRET_CHECK_MS, tick);
    });
  };
  cancel = clock.after(SECRET_CHECK_MS, tick);
  return {
    now: () => void check(true),
    stop() {
      stopped = true;
      cancel();
    },
  };
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
