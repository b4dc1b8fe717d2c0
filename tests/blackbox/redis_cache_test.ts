/**
 * `--cache-url`: the outage cache in a real `redis-server` (started by the
 * test on 127.0.0.1), shared by two "nodes" of a cluster, each a pool of two
 * real processes. A login through one node is served by the other during an
 * outage; a change through one node is refused by the other, also when a
 * confirmation crosses it; with Redis killed, logins are still answered by
 * the API and changes are not sent; after a restart the cache is back.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Api, startApi } from "../helpers/api_server.ts";
import { redisMissing, type RedisServer, startRedis } from "../helpers/redis_server.ts";
import {
  assertReply,
  ERROR,
  type Extauth,
  FALSE,
  type Runner,
  runners,
  startExtauth,
  TRUE,
} from "../helpers/spawn.ts";

const T = { timeout: 120_000 };
const OLD = "Old-Pw-4711-leakcheck";
const NEW = "New-Pw-0815-leakcheck";
const TOKEN = "Tok-9f3e-leakcheck";
const REDIS_PASSWORD = "Redis-Pw-77-leakcheck";
const missing = redisMissing();

/** A node of the cluster: `n` processes as ejabberd starts them, on one cache option. */
function node(runner: Runner, api: Api, cache: readonly string[], n = 2): Extauth[] {
  return Array.from({ length: n }, () =>
    startExtauth(runner, [
      "--url",
      api.url,
      "--stale-ttl",
      "1h",
      ...cache,
      "--retries",
      "0",
      "--breaker-failures",
      "0",
    ], { waitMs: 60_000 }));
}

/** Runs `fn`, then checks clean exits, exact stdout, and no secret in any log. */
async function withNodes(
  nodes: Extauth[][],
  fn: () => Promise<void>,
): Promise<void> {
  const all = nodes.flat();
  try {
    await fn();
    for (const p of all) assert.equal(await p.finish(), 0, `exit code; stderr: ${p.stderr}`);
  } finally {
    for (const p of all) p.kill();
  }
  for (const p of all) {
    for (const secret of [OLD, NEW, TOKEN, REDIS_PASSWORD]) {
      assert.ok(!p.stderr.includes(secret), `a secret is in a log line: ${p.stderr}`);
    }
  }
}

/** A promise and the function that settles it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => open = resolve);
  return { promise, open };
}

/** Every key and value in Redis, as text. */
function dump(redis: RedisServer): string {
  const keys = redis.cli("--scan").split("\n").filter((k) => k !== "");
  let out = "";
  for (const key of keys) {
    const type = redis.cli("TYPE", key).trim();
    out += `${key}\n${redis.cli(type === "hash" ? "HGETALL" : "GET", key)}\n`;
  }
  return out;
}

for (const runner of runners()) {
  describe(`--cache-url: one outage cache in Redis for a cluster (${runner.name})`, {
    skip: missing,
  }, () => {
    let api: Api;
    let redis: RedisServer;
    let dbs = 0;
    /** A fresh database for each case (Redis has 16). */
    const url = () => `${redis.url}/${++dbs % 16}`;
    before(async () => {
      api = await startApi({ users: { "alice@example.com": OLD } });
      redis = await startRedis();
    });
    after(async () => {
      await api?.close();
      await redis?.close();
    });

    it(
      "a login on node A is served by node B during an outage (separate files: refused)",
      T,
      async () => {
        api.reset();
        const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-redis-files-"));
        try {
          // Today's behaviour with one --cache-file per machine: B knows nothing of A's login.
          const fa = node(runner, api, ["--cache-file", join(dir, "a.db")]);
          const fb = node(runner, api, ["--cache-file", join(dir, "b.db")]);
          await withNodes([fa, fb], async () => {
            assertReply(await fa[0]!.request(`auth:alice:example.com:${OLD}`), TRUE, "login on A");
            api.setMode("status500");
            for (const p of fb) {
              assertReply(await p.request(`auth:alice:example.com:${OLD}`), ERROR, "B, own file");
            }
          });
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
        api.reset();
        const cache = ["--cache-url", url()];
        const a = node(runner, api, cache);
        const b = node(runner, api, cache);
        await withNodes([a, b], async () => {
          assertReply(await a[0]!.request(`auth:alice:example.com:${OLD}`), TRUE, "login on A");
          assertReply(await a[1]!.request("isuser:alice:example.com"), TRUE, "isuser on A");
          api.setMode("status500");
          for (const [i, p] of b.entries()) {
            assertReply(await p.request(`auth:alice:example.com:${OLD}`), TRUE, `B${i} stale`);
            assertReply(await p.request("isuser:alice:example.com"), TRUE, `B${i} isuser`);
            assertReply(await p.request(`auth:alice:example.com:${NEW}`), ERROR, `B${i} wrong pw`);
          }
        });
      },
    );

    const changes: [string, string][] = [
      ["setpass", `setpass:alice:example.com:${NEW}`],
      ["removeuser", "removeuser:alice:example.com"],
    ];
    for (const [op, request] of changes) {
      it(
        `a ${op} through node A, crossing a confirmation through node B, is refused by B`,
        T,
        async () => {
          api.reset();
          const cache = ["--cache-url", url()];
          const a = node(runner, api, cache);
          const b = node(runner, api, cache);
          await withNodes([a, b], async () => {
            assertReply(await b[1]!.request(`auth:alice:example.com:${OLD}`), TRUE, "first login");
            // B's login is confirmed by the API, whose answer is held until A's change is
            // answered: B's remember comes after A's forgets.
            const held = gate();
            const arrived = gate();
            api.queueModes("login", { hold: held.promise, arrived: arrived.open });
            const confirmation = b[0]!.request(`auth:alice:example.com:${OLD}`);
            await arrived.promise;
            assertReply(await a[0]!.request(request), TRUE, op);
            held.open();
            assertReply(await confirmation, TRUE, "B's login, confirmed before the change");
            api.setMode("status500");
            for (const [i, p] of [...a, ...b].entries()) {
              assertReply(await p.request(`auth:alice:example.com:${OLD}`), ERROR, `copy ${i}`);
            }
            const late = node(runner, api, cache, 1);
            await withNodes([late], async () => {
              assertReply(await late[0]!.request(`auth:alice:example.com:${OLD}`), ERROR, "new");
            });
          });
        },
      );
    }

    it(
      "Redis killed mid-run: the API still answers, changes are not sent, one warning each way",
      T,
      async () => {
        api.reset();
        const cache = ["--cache-url", url()];
        const a = node(runner, api, cache, 1);
        let down = false; // a failure while Redis is down must not leave it down for the next test
        await withNodes([a], async () => {
          const p = a[0]!;
          assertReply(await p.request(`auth:alice:example.com:${OLD}`), TRUE, "login");
          down = true;
          await redis.stop();
          await p.waitForStderr(
            /WARN {1,2}cannot use --cache-url redis:\/\/127\.0\.0\.1:\d+\/\d+: /,
          );
          for (let i = 0; i < 3; i++) {
            assertReply(await p.request(`auth:alice:example.com:${OLD}`), TRUE, `login ${i}`);
            assertReply(await p.request(`auth:alice:example.com:${NEW}`), FALSE, `wrong ${i}`);
          }
          const from = api.requests.length;
          assertReply(await p.request(`setpass:alice:example.com:${NEW}`), ERROR, "setpass");
          assert.deepEqual(api.since(from).map((r) => r.endpoint), [], "the API got the change");
          assert.equal(api.users.get("alice@example.com"), OLD);
          // The reply can arrive before the log line that precedes it: wait for the line.
          await p.waitForStderr(
            /ERROR {1,2}setpass alice@example\.com: not sent to the API: the outage cache could not forget/,
          );
          await redis.restart();
          down = false;
          // Data lost (no persistence): the copy connects again on its own (backoff), finds a
          // new key, and records the forget it could not record first.
          await p.waitForStderr(/--cache-url \S+ is reachable again/);
          assertReply(await p.request(`auth:alice:example.com:${OLD}`), TRUE, "login, Redis back");
          assertReply(await p.request(`setpass:alice:example.com:${NEW}`), TRUE, "setpass, back");
          assertReply(await p.request(`auth:alice:example.com:${NEW}`), TRUE, "login, new");
          api.setMode("status500");
          assertReply(await p.request(`auth:alice:example.com:${NEW}`), TRUE, "stale, new");
          assertReply(await p.request(`auth:alice:example.com:${OLD}`), ERROR, "stale, old");
          assert.equal(p.stderr.match(/cannot use --cache-url/g)?.length, 1, p.stderr);
          assert.equal(p.stderr.match(/--cache-url \S+ is reachable again/g)?.length, 1, p.stderr);
        }).finally(async () => {
          if (down) await redis.restart();
        });
      },
    );

    it("two key prefixes on one Redis do not see each other", T, async () => {
      api.reset();
      const db = url();
      const a = node(runner, api, ["--cache-url", db, "--cache-prefix", "site-a"], 1);
      const b = node(runner, api, ["--cache-url", db, "--cache-prefix", "site-b"], 1);
      const a2 = node(runner, api, ["--cache-url", db, "--cache-prefix", "site-a"], 1);
      await withNodes([a, b, a2], async () => {
        assertReply(await a[0]!.request(`auth:alice:example.com:${OLD}`), TRUE, "login on A");
        api.setMode("status500");
        assertReply(await b[0]!.request(`auth:alice:example.com:${OLD}`), ERROR, "other prefix");
        assertReply(await a2[0]!.request(`auth:alice:example.com:${OLD}`), TRUE, "same prefix");
        const keys = redis.cli("-n", db.split("/").pop()!, "--scan").split("\n").filter(Boolean);
        assert.deepEqual(keys.filter((k) => !k.startsWith("site-a:")), ["site-b:k"]);
        assert.ok(keys.some((k) => /^site-a:u:[0-9a-f]{64}$/.test(k)), keys.join(" "));
      });
    });
  });

  describe(`--cache-url with a password and TLS (${runner.name})`, { skip: missing }, () => {
    let api: Api;
    let redis: RedisServer;
    let dir: string;
    before(async () => {
      api = await startApi({ users: { "alice@example.com": OLD } });
      redis = await startRedis({ password: REDIS_PASSWORD, tls: true });
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-redis-tls-"));
      writeFileSync(join(dir, "redis-password"), `${REDIS_PASSWORD}\n`, { mode: 0o600 });
      writeFileSync(join(dir, "token"), `${TOKEN}\n`, { mode: 0o600 });
    });
    after(async () => {
      await api?.close();
      await redis?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it(
      "rediss:// with --ca-file and --cache-password-file; no name, password or token in Redis",
      T,
      async () => {
        const cache = [
          "--cache-url",
          `${redis.url}/0`,
          "--ca-file",
          redis.caFile!,
          "--cache-password-file",
          join(dir, "redis-password"),
          "--token-file",
          join(dir, "token"),
        ];
        const a = node(runner, api, cache, 1);
        const b = node(runner, api, cache, 1);
        await withNodes([a, b], async () => {
          assertReply(await a[0]!.request(`auth:alice:example.com:${OLD}`), TRUE, "login on A");
          api.setMode("status500");
          assertReply(await b[0]!.request(`auth:alice:example.com:${OLD}`), TRUE, "stale on B");
          const all = dump(redis);
          assert.match(all, /xmpp-extauth:u:[0-9a-f]{64}/);
          for (const secret of ["alice", "example.com", OLD, TOKEN, REDIS_PASSWORD]) {
            assert.ok(!all.includes(secret), `${secret} is in Redis:\n${all}`);
          }
          assert.doesNotMatch(a[0]!.stderr + b[0]!.stderr, /cannot use --cache-url/);
        });
      },
    );
  });
}
