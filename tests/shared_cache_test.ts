/**
 * The file-backed outage cache (`--cache-file`): the same semantics as the
 * in-process cache on a clock the test moves, shared by several caches on one
 * file (as by several processes), and what the file holds. The black-box
 * tests through the real program are in shared_cache_blackbox_test.ts.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OutageCache } from "../lib/cache/memory_cache.ts";
import { createLogger } from "../lib/log/logger.ts";
import { detectRuntime } from "../lib/runtime/mod.ts";
import { SYSTEM_CLOCK } from "../lib/core/clock.ts";
import { openSharedCache, SharedAuthCache } from "../lib/cache/shared_cache.ts";
import { containsBytes } from "./helpers/bytes.ts";

const SERVER = "example.com";
const sqlite = await detectRuntime().loadSqlite();
const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-shared-cache-"));
let files = 0;

after(() => rmSync(dir, { recursive: true, force: true }));

interface Opened {
  cache: SharedAuthCache;
  clock: { now: number };
  lines: string[];
  path: string;
}

/** A shared cache on a new file (or on `path`), on a clock the test moves by hand. */
async function open(
  options: { ttlMs?: number; staleTtlMs?: number; maxEntries?: number; path?: string } = {},
  clock = { now: 1_700_000_000_000 },
): Promise<Opened> {
  const path = options.path ?? join(dir, `cache-${++files}.db`);
  const lines: string[] = [];
  const cache = await openSharedCache({
    path,
    ttlMs: options.ttlMs ?? 1_000,
    staleTtlMs: options.staleTtlMs ?? 10_000,
    maxEntries: options.maxEntries ?? 100,
    logger: createLogger({ level: "debug", sink: (line) => lines.push(line) }),
    sqlite,
    clock: { ...SYSTEM_CLOCK, wall: () => clock.now },
  });
  assert.ok(cache instanceof SharedAuthCache, `not a shared cache: ${lines.join("")}`);
  return { cache, clock, lines, path };
}

const hit = async (
  cache: OutageCache,
  op: "auth" | "isuser",
  user: string,
  password: string | undefined,
  freshness: "fresh" | "stale",
) => (await cache.lookup(op, user, SERVER, password, freshness)).hit;

describe("SharedAuthCache semantics (as AuthCache, on wall-clock time)", () => {
  it("serves a success while fresh, then only as stale, then not at all", async () => {
    const { cache, clock } = await open();
    const start = clock.now;
    await cache.remember("auth", "alice", SERVER, "s3cret");
    assert.deepEqual(await cache.lookup("auth", "alice", SERVER, "s3cret", "fresh"), {
      hit: true,
      ageMs: 0,
    });
    clock.now = start + 999;
    assert.deepEqual(await cache.lookup("auth", "alice", SERVER, "s3cret", "fresh"), {
      hit: true,
      ageMs: 999,
    });
    clock.now = start + 1_000;
    assert.equal(await hit(cache, "auth", "alice", "s3cret", "fresh"), false);
    assert.deepEqual(await cache.lookup("auth", "alice", SERVER, "s3cret", "stale"), {
      hit: true,
      ageMs: 1_000,
    });
    clock.now = start + 9_999;
    assert.equal(await hit(cache, "isuser", "alice", undefined, "stale"), true);
    clock.now = start + 10_000;
    assert.equal(await hit(cache, "auth", "alice", "s3cret", "stale"), false);
    assert.equal(await hit(cache, "isuser", "alice", undefined, "stale"), false);
    assert.equal(cache.size, 0, "an entry too old to ever hit is dropped when looked up");
  });

  it("matches auth only on the remembered password and user", async () => {
    const { cache } = await open();
    await cache.remember("auth", "alice", SERVER, "s3cret");
    for (const [user, password] of [["alice", "wrong"], ["alice", "s3cret "], ["bob", "s3cret"]]) {
      assert.equal(
        await hit(cache, "auth", user!, password, "stale"),
        false,
        `${user}/${password}`,
      );
    }
    assert.equal(await hit(cache, "auth", "alice", undefined, "stale"), false);
    assert.equal(await hit(cache, "auth", "alice", "s3cret", "stale"), true);
  });

  it("replaces the old password with a new successful one; forgets a user", async () => {
    const { cache } = await open();
    await cache.remember("auth", "alice", SERVER, "old-password");
    await cache.remember("auth", "alice", SERVER, "new-password");
    await cache.remember("auth", "bob", SERVER, "hunter2");
    assert.equal(cache.size, 2);
    assert.equal(await hit(cache, "auth", "alice", "old-password", "stale"), false);
    assert.equal(await hit(cache, "auth", "alice", "new-password", "stale"), true);
    await cache.forget("alice", SERVER);
    assert.equal(await hit(cache, "auth", "alice", "new-password", "stale"), false);
    assert.equal(await hit(cache, "isuser", "alice", undefined, "stale"), false);
    assert.equal(await hit(cache, "auth", "bob", "hunter2", "stale"), true);
    assert.equal(cache.size, 1);
  });

  it("keeps the password time apart from a later isuser", async () => {
    const { cache, clock } = await open();
    const start = clock.now;
    await cache.remember("auth", "alice", SERVER, "s3cret");
    clock.now = start + 900;
    await cache.remember("isuser", "alice", SERVER);
    clock.now = start + 1_500;
    assert.equal(await hit(cache, "auth", "alice", "s3cret", "fresh"), false);
    assert.deepEqual(await cache.lookup("isuser", "alice", SERVER, undefined, "fresh"), {
      hit: true,
      ageMs: 600,
    });
  });

  it("evicts the least recently used user beyond --cache-size, a hit counting as a use", async () => {
    const { cache } = await open({ maxEntries: 3 });
    await cache.remember("isuser", "a", SERVER);
    await cache.remember("isuser", "b", SERVER);
    await cache.remember("isuser", "c", SERVER);
    assert.equal(await hit(cache, "isuser", "a", undefined, "fresh"), true);
    await cache.remember("isuser", "d", SERVER); // b is now the least recently used
    assert.equal(cache.size, 3);
    assert.equal(await hit(cache, "isuser", "b", undefined, "fresh"), false);
    await cache.remember("isuser", "c", SERVER); // remembering again is a use too: a is oldest
    await cache.remember("isuser", "e", SERVER);
    assert.equal(await hit(cache, "isuser", "a", undefined, "fresh"), false);
    for (const user of ["c", "d", "e"]) {
      assert.equal(await hit(cache, "isuser", user, undefined, "fresh"), true, user);
    }
  });
});

describe("SharedAuthCache shared by several processes", () => {
  it("serves, stale, what another cache on the file learnt; a forget reaches all", async () => {
    const first = await open();
    const second = await open({ path: first.path }, first.clock);
    await first.cache.remember("auth", "alice", SERVER, "s3cret");
    assert.equal(await hit(second.cache, "auth", "alice", "s3cret", "stale"), true);
    assert.equal(await hit(second.cache, "auth", "alice", "wrong", "stale"), false);
    assert.equal(await hit(second.cache, "isuser", "alice", undefined, "fresh"), true);
    await second.cache.forget("alice", SERVER);
    assert.equal(await hit(first.cache, "auth", "alice", "s3cret", "fresh"), false);
    assert.equal(await hit(first.cache, "auth", "alice", "s3cret", "stale"), false);
  });

  it("never runs the KDF for a fresh answer: a password this process never verified asks the API", async () => {
    const first = await open();
    const second = await open({ path: first.path }, first.clock);
    await first.cache.remember("auth", "alice", SERVER, "s3cret");
    // The first cache verified this password when it remembered it: a fresh hit, by HMAC.
    assert.equal(await hit(first.cache, "auth", "alice", "s3cret", "fresh"), true);
    // The second has only the file's scrypt verifier: no fresh answer from it...
    assert.equal(await hit(second.cache, "auth", "alice", "s3cret", "fresh"), false);
    // ...until it verified the password once, with the KDF, for a stale answer or a remember.
    assert.equal(await hit(second.cache, "auth", "alice", "s3cret", "stale"), true);
    assert.equal(await hit(second.cache, "auth", "alice", "s3cret", "fresh"), true);
  });

  it("does not rewrite the verifier when the API confirms the same password again", async () => {
    const first = await open();
    const second = await open({ path: first.path }, first.clock);
    await first.cache.remember("auth", "alice", SERVER, "s3cret");
    const verifier = async () => (await onlyRow(first.path)).verifier;
    const before = await verifier();
    assert.ok(before instanceof Uint8Array && before.length === 49);
    await second.cache.remember("auth", "alice", SERVER, "s3cret");
    first.clock.now += 500;
    await first.cache.remember("auth", "alice", SERVER, "s3cret");
    assert.deepEqual(
      await verifier(),
      before,
      "the verifier changed: other processes must pay the KDF",
    );
    // Both still answer fresh from their HMAC of it.
    assert.equal(await hit(first.cache, "auth", "alice", "s3cret", "fresh"), true);
    assert.equal(await hit(second.cache, "auth", "alice", "s3cret", "fresh"), true);
  });

  it("loses no update when many caches write at once", { timeout: 120_000 }, async () => {
    const first = await open({ maxEntries: 1_000 });
    const others = [1, 2, 3].map(() => open({ path: first.path, maxEntries: 1_000 }, first.clock));
    const all = [first, ...await Promise.all(others)];
    await Promise.all(all.map(async ({ cache }, i) => {
      for (let n = 0; n < 50; n++) await cache.remember("isuser", `user${i}-${n}`, SERVER);
    }));
    assert.equal(first.cache.size, 200);
    for (const [i, { cache }] of all.entries()) {
      assert.equal(await hit(cache, "isuser", `user${(i + 1) % 4}-49`, undefined, "fresh"), true);
    }
    const db = await sqlite.openSqlite(first.path);
    assert.deepEqual({ ...db.prepare("PRAGMA integrity_check").get() }, { integrity_check: "ok" });
    db.close();
  });
});

/** The one row of `users`, read through a new connection as another process would. */
async function onlyRow(path: string): Promise<Record<string, unknown>> {
  const db = await sqlite.openSqlite(path);
  try {
    return { ...db.prepare("SELECT * FROM users").get() };
  } finally {
    db.close();
  }
}

describe("the cache file", () => {
  it("is created 0600 and holds no user, server or password in any encoding", async () => {
    const { cache, path } = await open();
    const secrets = ["correct horse battery staple", "pässwörd 🔑", "hunter2"];
    const users = ["alice-the-user", "jürgen", "bob"];
    for (const [i, password] of secrets.entries()) {
      await cache.remember("auth", users[i]!, "server.example", password);
    }
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const encoder = new TextEncoder();
    const forms = (text: string): Uint8Array[] =>
      [
        text,
        btoa(String.fromCharCode(...encoder.encode(text))),
        [...encoder.encode(text)].map((b) => b.toString(16).padStart(2, "0")).join(""),
        encodeURIComponent(text),
      ].map((form) => encoder.encode(form));
    // The database and its write-ahead log, whatever has reached either.
    const stored = readdirSync(dir).filter((name) => name.startsWith(path.split("/").pop()!))
      .map((name) => new Uint8Array(readFileSync(join(dir, name))));
    assert.ok(stored.length >= 1 && stored.some((bytes) => bytes.length > 0));
    for (const needle of [...secrets, ...users, "server.example"]) {
      for (const form of forms(needle)) {
        assert.ok(!stored.some((bytes) => containsBytes(bytes, form)), "found a name or password");
      }
    }
    // The entries are there (so the search above looked at them).
    const found = await cache.lookup("auth", "jürgen", "server.example", "pässwörd 🔑", "stale");
    assert.equal(found.hit, true);
    assert.equal(cache.size, 3);
  });
});
