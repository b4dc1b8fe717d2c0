/**
 * Opening the shared cache file (store.ts) while other copies of the pool set it up: the
 * retries on SQLITE_BUSY and when they give up, through openSharedCache, on a clock whose
 * timers fire at once.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OutageCache } from "../lib/cache/memory_cache.ts";
import { createLogger } from "../lib/log/logger.ts";
import { detectRuntime } from "../lib/runtime/mod.ts";
import { openSharedCache, SharedAuthCache } from "../lib/cache/shared_cache.ts";
import { instantClock } from "./helpers/clock.ts";

const SERVER = "example.com";
const sqlite = await detectRuntime().loadSqlite();
const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-store-"));
let files = 0;

after(() => rmSync(dir, { recursive: true, force: true }));

const hit = async (
  cache: OutageCache,
  op: "auth" | "isuser",
  user: string,
  password: string | undefined,
  freshness: "fresh" | "stale",
) => (await cache.lookup(op, user, SERVER, password, freshness)).hit;

describe("opening the file while other copies set it up", () => {
  /** The runtime's SQLite, whose `BEGIN IMMEDIATE` fails with SQLITE_BUSY `times` times. */
  function busyAtFirst(times: number) {
    let left = times;
    const module: typeof sqlite = {
      ...sqlite,
      async openSqlite(path: string) {
        const db = await sqlite.openSqlite(path);
        return {
          exec(sql: string) {
            if (sql === "BEGIN IMMEDIATE" && left > 0) {
              left--;
              throw new sqlite.SqliteError("busy", "database is locked");
            }
            db.exec(sql);
          },
          prepare: (sql: string) => db.prepare(sql),
          close: () => db.close(),
        };
      },
    };
    return { module, left: () => left };
  }

  const openWith = async (module: typeof sqlite, lines: string[]) =>
    await openSharedCache({
      path: join(dir, `cache-${++files}.db`),
      ttlMs: 0,
      staleTtlMs: 10_000,
      maxEntries: 100,
      logger: createLogger({ level: "debug", sink: (line) => lines.push(line) }),
      sqlite: module,
      clock: instantClock(),
    });

  it("waits out an immediate SQLITE_BUSY (a copy racing to create the file) and shares the file", async () => {
    // SQLite answers a refused lock upgrade with SQLITE_BUSY at once, without its busy wait;
    // ejabberd's pool starting at once hit that in about one start in ten.
    const busy = busyAtFirst(3);
    const lines: string[] = [];
    const cache = await openWith(busy.module, lines);
    assert.equal(busy.left(), 0);
    assert.ok(cache instanceof SharedAuthCache, lines.join(""));
    assert.equal(cache.shared, true);
    assert.deepEqual(lines.filter((l) => /WARN/.test(l)), []);
    cache.close();
  });

  it("gives up after 2 s of contention, with one error, to no cache at all (no private one)", async () => {
    const lines: string[] = [];
    const cache = await openWith(busyAtFirst(Infinity).module, lines);
    assert.ok(cache instanceof SharedAuthCache && !cache.shared);
    assert.equal(lines.length, 1, lines.join(""));
    assert.match(
      lines[0]!,
      /ERROR {1,2}cannot use --cache-file .*: database is locked \(another process held it for more than 2s\); no outage cache until it can be used \(tried again every 30s;/,
    );
    // A private cache would serve what the pool's other copies were told is gone.
    await cache.remember("auth", "alice", SERVER, "s3cret");
    assert.equal(await hit(cache, "auth", "alice", "s3cret", "stale"), false);
  });
});
