/**
 * Measures what the shared outage cache (`--cache-file`) adds per request,
 * against the in-process cache: the cache operations the pipeline runs for
 * one `auth` or `isuser`, each timed over many repetitions on a file with
 * `users` entries (10,000 by default, `--cache-size`'s default).
 *
 * Rows:
 * - fresh hit: a `--cache-ttl` hit of a password this process verified
 *   (a stat of the path, user-id HMAC, one SQLite read, the HMAC check, the LRU write);
 * - mark: what a login that goes to the API reads first (a stat, the forget counter);
 * - confirmed again: the API said yes to a password this process verified
 *   (the `remember` after each login with `--stale-ttl` only);
 * - isuser remember / hit;
 * - first confirmation: the API said yes to a password this process has not
 *   verified (one scrypt, N = 2^14, r = 8, p = 1, and one write);
 * - stale, not yet verified here: the first answer from the file by a process
 *   that never saw this password (one scrypt).
 *
 * - forget: what a change, or a definite "no", records (before and after the change);
 * - the same rows for `--cache-url`, on a `redis-server` this script starts on 127.0.0.1
 *   (skipped when none is installed): one round trip per call, Lua scripts for writes.
 *
 * Run: `deno run -A scripts/cache_file_bench.ts [users]`, `bun scripts/cache_file_bench.ts [users]`.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { AuthCache } from "../lib/cache/memory_cache.ts";
import { silentLogger } from "../lib/log/logger.ts";
import { detectRuntime } from "../lib/runtime/mod.ts";
import { openSharedCache, SharedAuthCache } from "../lib/cache/shared_cache.ts";
import { openRedisCache } from "../lib/cache/redis_cache.ts";
import { redisMissing, startRedis } from "../tests/helpers/redis_server.ts";

const users = Number(process.argv[2] ?? 10_000);
const runtime = detectRuntime();
const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-cache-bench-"));
const SERVER = "example.com";
const options = { ttlMs: 60_000, staleTtlMs: 3_600_000, maxEntries: Math.max(users, 10_000) };

async function shared(path: string): Promise<SharedAuthCache> {
  const cache = await openSharedCache({
    ...options,
    path,
    logger: silentLogger,
    sqlite: await runtime.loadSqlite(),
  });
  if (!(cache instanceof SharedAuthCache)) throw new Error("the cache file could not be used");
  return cache;
}

/** Median and 95th percentile, in microseconds, of `n` runs of `fn(i)`. */
async function time(n: number, fn: (i: number) => Promise<unknown>): Promise<string> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    samples.push((performance.now() - t0) * 1000);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  const fmt = (us: number) => us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${us.toFixed(0)} µs`;
  return `median ${fmt(at(0.5)).padStart(8)}   p95 ${fmt(at(0.95)).padStart(8)}`;
}

const must = async (result: Promise<{ hit: boolean }>) => {
  if (!(await result).hit) throw new Error("expected a hit");
};

try {
  const path = join(dir, "cache.db");
  const cache = await shared(path);
  const memory = await AuthCache.create(options);
  // Fill the file: isuser entries (no KDF), plus the users the rows below use.
  for (let i = 0; i < users; i++) await cache.remember("isuser", `filler${i}`, SERVER);
  const N = 2_000;
  const K = 20; // KDF rows: each costs tens of milliseconds
  for (let i = 0; i < K; i++) await cache.remember("auth", `known${i}`, SERVER, `pw${i}`);
  for (let i = 0; i < K; i++) await memory.remember("auth", `known${i}`, SERVER, `pw${i}`);
  const rows: [string, string][] = [];
  rows.push([
    "in-process cache, fresh hit",
    await time(
      N,
      (i) => must(memory.lookup("auth", `known${i % K}`, SERVER, `pw${i % K}`, "fresh")),
    ),
  ]);
  rows.push([
    "file, fresh hit (password verified here)",
    await time(
      N,
      (i) => must(cache.lookup("auth", `known${i % K}`, SERVER, `pw${i % K}`, "fresh")),
    ),
  ]);
  rows.push(["file, mark before asking the API", await time(N, () => cache.mark())]);
  rows.push([
    "file, same password confirmed again",
    await time(N, (i) => cache.remember("auth", `known${i % K}`, SERVER, `pw${i % K}`)),
  ]);
  rows.push([
    "file, isuser remembered",
    await time(N, (i) => cache.remember("isuser", `filler${i % users}`, SERVER)),
  ]);
  rows.push([
    "file, isuser fresh hit",
    await time(
      N,
      (i) => must(cache.lookup("isuser", `filler${i % users}`, SERVER, undefined, "fresh")),
    ),
  ]);
  rows.push([
    "file, first confirmation of a password (scrypt)",
    await time(K, (i) => cache.remember("auth", `new${i}`, SERVER, `pw${i}`)),
  ]);
  const other = await shared(path);
  rows.push([
    "file, stale answer not yet verified here (scrypt)",
    await time(K, (i) => must(other.lookup("auth", `known${i}`, SERVER, `pw${i}`, "stale"))),
  ]);
  rows.push([
    "file, the same stale answer again (verified here)",
    await time(
      N,
      (i) => must(other.lookup("auth", `known${i % K}`, SERVER, `pw${i % K}`, "stale")),
    ),
  ]);
  rows.push([
    "file, forget",
    await time(N, (i) => cache.forget(`filler${i % users}`, SERVER)),
  ]);
  const why = redisMissing();
  if (why === undefined) {
    const server = await startRedis();
    try {
      const redis = await openRedisCache({
        ...options,
        url: `${server.url}/0`,
        caCerts: [],
        prefix: "bench",
        timeoutMs: 1_000,
        logger: silentLogger,
        connect: (o) => runtime.connectRedis(o),
      });
      for (let i = 0; i < users; i++) await redis.remember("isuser", `filler${i}`, SERVER);
      for (let i = 0; i < K; i++) await redis.remember("auth", `known${i}`, SERVER, `pw${i}`);
      rows.push([
        "redis, fresh hit (password verified here)",
        await time(
          N,
          (i) => must(redis.lookup("auth", `known${i % K}`, SERVER, `pw${i % K}`, "fresh")),
        ),
      ]);
      rows.push(["redis, mark before asking the API", await time(N, () => redis.mark())]);
      rows.push([
        "redis, same password confirmed again",
        await time(N, (i) => redis.remember("auth", `known${i % K}`, SERVER, `pw${i % K}`)),
      ]);
      rows.push([
        "redis, isuser remembered",
        await time(N, (i) => redis.remember("isuser", `filler${i % users}`, SERVER)),
      ]);
      rows.push([
        "redis, isuser fresh hit",
        await time(
          N,
          (i) => must(redis.lookup("isuser", `filler${i % users}`, SERVER, undefined, "fresh")),
        ),
      ]);
      rows.push([
        "redis, forget",
        await time(N, (i) => redis.forget(`filler${i % users}`, SERVER)),
      ]);
      redis.close();
    } finally {
      await server.close();
    }
  } else {
    rows.push(["redis rows skipped", why]);
  }
  console.log(`${runtime.version}, ${users} users in the file (and in Redis)`);
  for (const [name, result] of rows) console.log(`  ${name.padEnd(52)} ${result}`);
  cache.close();
  other.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
