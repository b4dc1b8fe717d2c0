/**
 * Wiring of the serving mode: logger, routes, cache, pipeline and loop, from a
 * {@linkcode Config} and a {@linkcode Runtime}. `main.ts` calls this and exits
 * with the code it returns.
 *
 * @module
 */

import { AuthCache } from "./auth_cache.ts";
import { createAuthenticator, errorMustStand, setpassFailureFor } from "./authenticator.ts";
import { type Config, ConfigError } from "./config.ts";
import { formatDuration } from "./duration.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createRouter } from "./router.ts";
import type { AppendFile, Runtime } from "./runtime.ts";
import { EJABBERD, PROSODY, serve } from "./serve.ts";
import { VERSION } from "./version.ts";

/** A logger and its sink, as the config asks. */
export interface Logging {
  readonly logger: Logger;
  /** Reopens the log file (SIGHUP); a no-op when logging to stderr. */
  readonly reopen: () => void;
}

/**
 * Sets up logging: to `--log-file` when given, else stderr, except in Prosody
 * mode where stderr is the reply channel and logs go to the file or nowhere.
 * Secrets from the environment and `fileSecrets` are masked in every line.
 *
 * @throws {ConfigError} when the log file cannot be opened.
 * @example
 * ```ts
 * import { createLogging } from "./app.ts";
 * // const { logger } = createLogging(config, runtime);
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
  if (config.logFile !== undefined) {
    let file: AppendFile;
    try {
      file = runtime.openAppend(config.logFile);
    } catch (error) {
      throw new ConfigError(
        `Cannot open --log-file ${config.logFile}: ${(error as Error).message}`,
      );
    }
    const logger = createLogger({
      level: config.logLevel,
      sink: (line) => file.write(line),
      secrets,
      tag: `xmpp-extauth[${runtime.pid}]`,
    });
    return {
      logger,
      reopen: () => {
        try {
          file.reopen();
        } catch (error) {
          logger.error(`cannot reopen ${config.logFile}: ${(error as Error).message}`);
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

/**
 * Serves ejabberd (or Prosody) on the runtime's stdin and stdout until end of
 * input, and returns the exit code.
 *
 * @throws {ConfigError} when a secret or CA file is unusable (before reading stdin).
 * @example
 * ```ts
 * import { runServe } from "./app.ts";
 * // runtime.exit(await runServe(config, runtime));
 * ```
 */
export async function runServe(config: Config, runtime: Runtime): Promise<number> {
  const router = await createRouter(config, runtime.readFile);
  const { logger, reopen } = createLogging(config, runtime, router.secrets);
  runtime.onSignal("SIGHUP", reopen);
  const fetchers = createFetch(config, runtime);
  const cache = await AuthCache.create({
    ttlMs: config.cacheTtlMs,
    staleTtlMs: config.staleTtlMs,
    maxEntries: config.cacheSize,
  });
  // ejabberd caches any true/false reply to setpass as a successful change.
  const setpassFailure = setpassFailureFor(config.protocol);
  const handle = createAuthenticator({
    router,
    ...fetchers,
    logger,
    cache,
    policy: { timeoutMs: config.timeoutMs, deadlineMs: config.deadlineMs, retries: config.retries },
    breakerFailures: config.breakerFailures,
    breakerCooldownMs: config.breakerCooldownMs,
    setpassFailure,
  });
  if (logger.enabled("info")) {
    const apis = router.routes.map((r) => `${r.name === "*" ? "" : `${r.name}=`}${r.urlTemplate}`);
    logger.info(
      `xmpp-extauth ${VERSION} (${runtime.version}) serving ${config.protocol} → ${
        apis.join(", ")
      }; timeout ${formatDuration(config.timeoutMs)}, deadline ${
        formatDuration(config.deadlineMs)
      }, on error reply ${config.onError}`,
    );
  }
  if (config.protocol === "ejabberd" && runtime.stdinIsTerminal()) {
    logger.warn(
      "stdin is a terminal: this mode expects ejabberd's framed requests; to try a login by " +
        "hand use: xmpp-extauth check auth USER SERVER --url ...",
    );
  }
  const result = await serve({
    input: runtime.stdin(),
    write: runtime.writeStdout,
    handle,
    protocol: config.protocol === "prosody" ? PROSODY : EJABBERD,
    logger,
    onError: config.onError,
    errorStands: (payload) => errorMustStand(payload, setpassFailure),
  });
  logger.info(
    `${result.reason === "eof" ? "stdin closed" : "stdout closed"} after ${result.requests} ` +
      "requests; exiting",
  );
  return 0;
}

/** The two `fetch` functions the pipeline uses. */
export interface Fetchers {
  /** For `auth`, `isuser`, `setpass`: keeps connections alive. */
  readonly fetch: typeof fetch;
  /** For `tryregister`, `removeuser`, `removeuser3`: never sends a request twice. */
  readonly fetchOnce: typeof fetch;
}

/**
 * The `fetch` functions to use: the runtime's own, trusting `--ca-file` when
 * given, and one that never re-sends for operations that must run once.
 *
 * @throws {ConfigError} when the CA file is unreadable or holds no certificate.
 * @example
 * ```ts
 * import { createFetch } from "./app.ts";
 * // const { fetch, fetchOnce } = createFetch(config, runtime);
 * ```
 */
export function createFetch(config: Config, runtime: Runtime): Fetchers {
  const caCerts: string[] = [];
  if (config.caFile !== undefined) {
    let pem: string;
    try {
      pem = new TextDecoder().decode(runtime.readFile(config.caFile));
    } catch (error) {
      throw new ConfigError(`Cannot read --ca-file ${config.caFile}: ${(error as Error).message}`);
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new ConfigError(`Cannot use --ca-file ${config.caFile}: no PEM certificate in it`);
    }
    caCerts.push(pem);
  }
  return {
    fetch: runtime.createFetch(caCerts),
    fetchOnce: runtime.createFetch(caCerts, { reuse: false }),
  };
}
