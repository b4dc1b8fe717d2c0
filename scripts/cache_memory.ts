/**
 * Measures the memory the auth cache takes: remembers successful logins for
 * up to 100,000 distinct users (each with its password) in a cache bounded
 * to `--cache-size` entries, and prints heap and RSS after a full GC at
 * checkpoints. With a bound of 10,000 the figures must stay flat from 10,000
 * users on.
 *
 * Run (GC exposed so the figures mean something):
 *   deno run --v8-flags=--expose-gc scripts/cache_memory.ts [users] [cache-size] [concurrency]
 *   bun scripts/cache_memory.ts [users] [cache-size] [concurrency]
 *
 * Defaults: 100000 users, cache-size 10000, concurrency 1 (one request at a time, as
 * ejabberd sends them to one extauth process).
 *
 * @module
 */

import process from "node:process";
import { AuthCache } from "../lib/auth_cache.ts";

const users = Number(process.argv[2] ?? 100_000);
const maxEntries = Number(process.argv[3] ?? 10_000);
const BATCH = Number(process.argv[4] ?? 1);

function collect(): boolean {
  const global = globalThis as Record<string, unknown>;
  const bun = global["Bun"] as { gc?: (force: boolean) => void } | undefined;
  if (typeof bun?.gc === "function") {
    bun.gc(true);
    return true;
  }
  const gc = global["gc"];
  if (typeof gc === "function") {
    gc();
    gc();
    return true;
  }
  return false;
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1).padStart(9);
}

const rows: string[] = [
  `${"users".padStart(9)} ${"entries".padStart(8)} ${"heapUsed".padStart(9)} ${
    "heapTotal".padStart(9)
  } ${"external".padStart(9)} ${"rss".padStart(9)}  (MiB)`,
];
function checkpoint(done: number, cache: AuthCache | undefined): void {
  collect();
  const m = process.memoryUsage();
  rows.push(
    `${String(done).padStart(9)} ${String(cache?.size ?? 0).padStart(8)} ${mib(m.heapUsed)} ${
      mib(m.heapTotal)
    } ${mib(m.external)} ${mib(m.rss)}`,
  );
}

if (!collect()) {
  console.error("No GC exposed: run with deno --v8-flags=--expose-gc, or with bun.");
}
checkpoint(0, undefined);
const cache = await AuthCache.create({ ttlMs: 3_600_000, staleTtlMs: 3_600_000, maxEntries });
const marks = new Set(
  [1_000, maxEntries, 2 * maxEntries, users / 4, users / 2, users].filter((n) => n > 0),
);
for (let done = 0; done < users;) {
  const end = Math.min(users, done + BATCH);
  const pending: Promise<void>[] = [];
  for (let i = done; i < end; i++) {
    pending.push(cache.remember("auth", `user${i}`, "example.com", `password-${i}-${i * 7919}`));
  }
  await Promise.all(pending);
  done = end;
  for (const mark of marks) {
    if (mark > done - BATCH && mark <= done) checkpoint(done, cache);
  }
}
console.log(
  `${navigator.userAgent}, ${users} users, cache-size ${maxEntries}, concurrency ${BATCH}`,
);
for (const row of rows) console.log(row);
