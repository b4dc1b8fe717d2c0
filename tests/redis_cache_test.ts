/**
 * The atomic logic of `lib/cache/redis_cache.ts` against a real redis-server:
 * a remember with a mark from before a forget writes nothing, a hold keeps
 * every remember out, a Redis that lost its data (new key) voids old marks,
 * and a stopped (SIGSTOP) Redis makes a lookup a miss at its deadline and a
 * forget false.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { openRedisCache, type RedisAuthCache } from "../lib/cache/redis_cache.ts";
import { createLogger } from "../lib/log/logger.ts";
import { detectRuntime } from "../lib/runtime/mod.ts";
import { redisMissing, type RedisServer, startRedis } from "./helpers/redis_server.ts";

const runtime = detectRuntime();
const missing = redisMissing();

describe("RedisAuthCache on a real redis-server", { skip: missing }, () => {
  let redis: RedisServer;
  let db = 0;
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", sink: (line) => lines.push(line) });
  /** A cache on database `n` (a fresh one by default). */
  const open = async (n = ++db): Promise<RedisAuthCache> =>
    await openRedisCache({
      url: `${redis.url}/${n}`,
      caCerts: [],
      prefix: "t",
      timeoutMs: 50,
      ttlMs: 0,
      staleTtlMs: 3_600_000,
      maxEntries: 100,
      logger,
      connect: (options) => runtime.connectRedis(options),
    });
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.close();
  });

  it("a remember whose mark is older than another copy's forget writes nothing", async () => {
    const a = await open();
    const b2 = await open(db);
    try {
      const mark = await b2.mark();
      assert.equal(await a.forget("alice", "example.com"), true);
      await b2.remember("auth", "alice", "example.com", "pw", mark);
      assert.equal((await a.lookup("auth", "alice", "example.com", "pw", "stale")).hit, false);
      // A mark taken after the forget: written, and served by the other copy.
      await b2.remember("auth", "alice", "example.com", "pw", await b2.mark());
      assert.equal((await a.lookup("auth", "alice", "example.com", "pw", "stale")).hit, true);
      assert.equal((await a.lookup("auth", "alice", "example.com", "nope", "stale")).hit, false);
    } finally {
      a.close();
      b2.close();
    }
  });

  it("a forget with hold keeps every remember of that user out", async () => {
    const a = await open();
    try {
      assert.equal(await a.forget("bob", "example.com", { hold: true }), true);
      await a.remember("auth", "bob", "example.com", "pw", await a.mark());
      await a.remember("isuser", "bob", "example.com");
      assert.equal((await a.lookup("isuser", "bob", "example.com", undefined, "stale")).hit, false);
      await a.remember("isuser", "carol", "example.com");
      assert.equal(
        (await a.lookup("isuser", "carol", "example.com", undefined, "stale")).hit,
        true,
      );
    } finally {
      a.close();
    }
  });

  it("a Redis that lost its data voids marks from before, and the copy reconnects", async () => {
    const a = await open();
    try {
      const mark = await a.mark();
      redis.cli("-n", String(db), "FLUSHDB");
      await a.remember("auth", "dave", "example.com", "pw", mark);
      const users = redis.cli("-n", String(db), "--scan", "--pattern", "t:u:*").trim();
      assert.equal(users, "", "a remember with a mark from before the loss wrote an entry");
      assert.match(lines.join("\n"), /cannot use --cache-url .*Redis lost its data/);
      assert.equal(await a.forget("dave", "example.com"), true, "forget after reconnecting");
      assert.equal(a.connected, true);
    } finally {
      a.close();
    }
  });

  it("a stopped Redis: a lookup is a miss at its deadline, a forget is false", async () => {
    const a = await open();
    await a.remember("isuser", "erin", "example.com");
    const pid = redis.pid;
    execFileSync("kill", ["-STOP", String(pid)]);
    try {
      assert.equal(
        (await a.lookup("isuser", "erin", "example.com", undefined, "stale")).hit,
        false,
      );
      assert.equal(a.connected, false);
      assert.equal(await a.forget("erin", "example.com"), false);
      assert.ok(
        lines.some((l) => /WARN .*cannot use --cache-url .*no answer within 50 ms/.test(l)),
      );
      assert.ok(lines.some((l) => /ERROR .*could not record a forget in --cache-url/.test(l)));
    } finally {
      execFileSync("kill", ["-CONT", String(pid)]);
      a.close();
    }
  });
});
