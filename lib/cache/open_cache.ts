/**
 * Picks the outage cache of a run: in-process (no option), the SQLite file of
 * `--cache-file` (one machine), or Redis (`--cache-url`, a cluster). The
 * shared stores (SQLite, scrypt, the Redis client) are loaded only when an
 * option asks for them.
 *
 * @module
 */

import { AuthCache, type OutageCache } from "./memory_cache.ts";
import { ConfigError } from "../core/config_error.ts";
import type { Clock } from "../core/clock.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime/mod.ts";

/** `--cache-url` and its options (`--cache-password-file`, `--cache-prefix`, `--cache-timeout`). */
export interface CacheUrlConfig {
  /** The URL without credentials (a user name, when given, is in `username`). */
  readonly url: string;
  readonly username?: string;
  readonly passwordFile?: string;
  readonly prefix: string;
  readonly timeoutMs: number;
}

/** The part of the configuration (`Config` of cli/config.ts) that picks the cache. */
export interface CacheConfig {
  readonly cacheTtlMs: number;
  readonly staleTtlMs: number;
  readonly cacheSize: number;
  readonly cacheFile?: string;
  readonly cacheUrl?: CacheUrlConfig;
  readonly caFile?: string;
}

/**
 * The outage cache `config` asks for.
 *
 * @throws {ConfigError} when `--cache-password-file` or `--ca-file` cannot be used.
 */
export async function openCache(
  config: CacheConfig,
  runtime: Runtime,
  logger: Logger,
  clock: Clock,
): Promise<OutageCache> {
  const cacheOptions = {
    ttlMs: config.cacheTtlMs,
    staleTtlMs: config.staleTtlMs,
    maxEntries: config.cacheSize,
    clock,
  };
  const off = config.cacheTtlMs === 0 && config.staleTtlMs === 0;
  const shared = config.cacheFile !== undefined
    ? `--cache-file ${config.cacheFile}`
    : config.cacheUrl !== undefined
    ? `--cache-url ${config.cacheUrl.url}`
    : undefined;
  if (shared !== undefined && off) {
    logger.warn(
      `${shared} is not used: the outage cache is off (give --stale-ttl, e.g. 1h, or --cache-ttl)`,
    );
  }
  if (off || shared === undefined) return await AuthCache.create(cacheOptions);
  if (config.cacheFile !== undefined) {
    return await (await import("./shared_cache.ts")).openSharedCache({
      ...cacheOptions,
      path: config.cacheFile,
      logger,
      sqlite: await runtime.loadSqlite(),
    });
  }
  const redis = config.cacheUrl!;
  const password = redis.passwordFile === undefined
    ? undefined
    : readPasswordFile(runtime, redis.passwordFile);
  const caCerts: string[] = [];
  if (redis.url.startsWith("rediss:") && config.caFile !== undefined) {
    caCerts.push(new TextDecoder().decode(runtime.readFile(config.caFile)));
  }
  return await (await import("./redis_cache.ts")).openRedisCache({
    ...cacheOptions,
    url: redis.url,
    ...(redis.username === undefined ? {} : { username: redis.username }),
    ...(password === undefined ? {} : { password }),
    caCerts,
    prefix: redis.prefix,
    timeoutMs: redis.timeoutMs,
    logger,
    connect: (options) => runtime.connectRedis(options),
  });
}

/** The password of `--cache-password-file`: one line; messages never show it. */
function readPasswordFile(runtime: Runtime, path: string): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(runtime.readFile(path));
  } catch (error) {
    throw new ConfigError(`Cannot read --cache-password-file ${path}: ${(error as Error).message}`);
  }
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  if (lines.length !== 1) {
    throw new ConfigError(
      `Cannot use --cache-password-file ${path}: it must hold one line (it holds ${lines.length})`,
    );
  }
  const line = lines[0]!.trim();
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(line)) {
    throw new ConfigError(`Cannot use --cache-password-file ${path}: a control character`);
  }
  return line;
}
