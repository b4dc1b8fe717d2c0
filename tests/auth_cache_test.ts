import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { AuthCache, type AuthCacheOptions } from "../lib/cache/memory_cache.ts";
import { readClock } from "./helpers/clock.ts";
import { containsBytes } from "./helpers/bytes.ts";

const SERVER = "example.com";

/** A cache on a clock the test moves by hand. */
async function makeCache(
  options: Partial<AuthCacheOptions> = {},
): Promise<{ cache: AuthCache; clock: { now: number } }> {
  const clock = { now: 1_000_000 };
  const cache = await AuthCache.create({
    ttlMs: 1_000,
    staleTtlMs: 10_000,
    maxEntries: 100,
    clock: readClock(() => clock.now),
    ...options,
  });
  return { cache, clock };
}

/** Everything reachable from `root`: strings, and the bytes of typed arrays and buffers. */
function walk(root: unknown): { strings: string[]; buffers: Uint8Array[]; maps: number } {
  const strings: string[] = [];
  const buffers: Uint8Array[] = [];
  let maps = 0;
  const seen = new Set<unknown>();
  const visit = (value: unknown): void => {
    if (typeof value === "string") {
      strings.push(value);
      return;
    }
    if ((typeof value !== "object" && typeof value !== "function") || value === null) return;
    if (seen.has(value)) return;
    seen.add(value);
    if (ArrayBuffer.isView(value)) {
      // The whole underlying buffer, once: a view may show only part of it.
      if (!seen.has(value.buffer)) visit(value.buffer);
      return;
    }
    if (value instanceof ArrayBuffer) {
      buffers.push(new Uint8Array(value));
      return;
    }
    if (value instanceof Map) {
      maps++;
      for (const [k, v] of value) {
        visit(k);
        visit(v);
      }
    }
    if (value instanceof Set) { for (const v of value) visit(v); }
    for (const key of Reflect.ownKeys(value)) {
      if (typeof key === "string") strings.push(key);
      const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
      if (descriptor && "value" in descriptor) visit(descriptor.value);
    }
  };
  visit(root);
  return { strings, buffers, maps };
}

describe("AuthCache", () => {
  it("serves a success while fresh, then only as stale, then not at all", async () => {
    const { cache, clock } = await makeCache();
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
    assert.deepEqual(await cache.lookup("auth", "alice", SERVER, "s3cret", "fresh"), {
      hit: false,
    });
    assert.deepEqual(await cache.lookup("auth", "alice", SERVER, "s3cret", "stale"), {
      hit: true,
      ageMs: 1_000,
    });
    clock.now = start + 9_999;
    assert.deepEqual(await cache.lookup("isuser", "alice", SERVER, undefined, "stale"), {
      hit: true,
      ageMs: 9_999,
    });
    clock.now = start + 10_000;
    assert.deepEqual(await cache.lookup("auth", "alice", SERVER, "s3cret", "stale"), {
      hit: false,
    });
    assert.deepEqual(await cache.lookup("isuser", "alice", SERVER, undefined, "stale"), {
      hit: false,
    });
    assert.equal(cache.size, 0, "an entry too old to ever hit is dropped when looked up");
  });

  it("uses the TTL as stale window when --stale-ttl is shorter", async () => {
    const { cache, clock } = await makeCache({ ttlMs: 5_000, staleTtlMs: 1_000 });
    const start = clock.now;
    await cache.remember("isuser", "alice", SERVER);
    clock.now = start + 4_000;
    assert.equal((await cache.lookup("isuser", "alice", SERVER, undefined, "stale")).hit, true);
    clock.now = start + 5_000;
    assert.equal((await cache.lookup("isuser", "alice", SERVER, undefined, "stale")).hit, false);
  });

  it("with only --stale-ttl, never answers fresh but does answer stale", async () => {
    const { cache } = await makeCache({ ttlMs: 0, staleTtlMs: 10_000 });
    assert.equal(cache.enabled, true);
    await cache.remember("auth", "alice", SERVER, "s3cret");
    assert.deepEqual(await cache.lookup("auth", "alice", SERVER, "s3cret", "fresh"), {
      hit: false,
    });
    assert.equal((await cache.lookup("auth", "alice", SERVER, "s3cret", "stale")).hit, true);
  });

  it("matches auth only on the remembered password and user", async () => {
    const { cache } = await makeCache();
    await cache.remember("auth", "alice", SERVER, "s3cret");
    for (
      const [user, server, password] of [
        ["alice", SERVER, "wrong"],
        ["alice", SERVER, "s3cret "],
        ["alice", SERVER, ""],
        ["bob", SERVER, "s3cret"],
        ["alice", "example.org", "s3cret"],
        ["Alice", SERVER, "s3cret"],
      ] as const
    ) {
      const result = await cache.lookup("auth", user, server, password, "stale");
      assert.equal(result.hit, false, `${user}@${server} with another password`);
    }
    assert.equal((await cache.lookup("auth", "alice", SERVER, undefined, "stale")).hit, false);
    assert.equal((await cache.lookup("auth", "alice", SERVER, "s3cret", "stale")).hit, true);
  });

  it("lets a successful auth confirm existence, but not an isuser a password", async () => {
    const { cache } = await makeCache();
    await cache.remember("auth", "alice", SERVER, "s3cret");
    await cache.remember("isuser", "bob", SERVER);
    assert.equal((await cache.lookup("isuser", "alice", SERVER, undefined, "fresh")).hit, true);
    assert.equal((await cache.lookup("auth", "bob", SERVER, "", "fresh")).hit, false);
    assert.equal((await cache.lookup("auth", "bob", SERVER, "anything", "fresh")).hit, false);
  });

  it("keeps the password time apart from a later isuser", async () => {
    const { cache, clock } = await makeCache();
    const start = clock.now;
    await cache.remember("auth", "alice", SERVER, "s3cret");
    clock.now = start + 900;
    await cache.remember("isuser", "alice", SERVER);
    clock.now = start + 1_500;
    assert.equal((await cache.lookup("auth", "alice", SERVER, "s3cret", "fresh")).hit, false);
    assert.deepEqual(await cache.lookup("isuser", "alice", SERVER, undefined, "fresh"), {
      hit: true,
      ageMs: 600,
    });
  });

  it("replaces the old password with a new successful one", async () => {
    const { cache } = await makeCache();
    await cache.remember("auth", "alice", SERVER, "old-password");
    await cache.remember("auth", "alice", SERVER, "new-password");
    assert.equal(cache.size, 1);
    assert.equal((await cache.lookup("auth", "alice", SERVER, "old-password", "stale")).hit, false);
    assert.equal((await cache.lookup("auth", "alice", SERVER, "new-password", "stale")).hit, true);
  });

  it("forgets a user (definite no, setpass, removeuser) and nobody else", async () => {
    const { cache } = await makeCache();
    await cache.remember("auth", "alice", SERVER, "s3cret");
    await cache.remember("auth", "bob", SERVER, "hunter2");
    await cache.forget("alice", SERVER);
    assert.equal(cache.size, 1);
    assert.equal((await cache.lookup("auth", "alice", SERVER, "s3cret", "stale")).hit, false);
    assert.equal((await cache.lookup("isuser", "alice", SERVER, undefined, "stale")).hit, false);
    assert.equal((await cache.lookup("auth", "bob", SERVER, "hunter2", "stale")).hit, true);
    await cache.forget("nobody", SERVER);
    assert.equal(cache.size, 1);
  });

  it("keeps users whose names only differ in where a separator falls apart", async () => {
    const { cache } = await makeCache();
    await cache.remember("auth", "a", "b:c", "pw");
    await cache.remember("auth", "a@b", "c", "pw");
    await cache.remember("isuser", "x", "yz");
    assert.equal(cache.size, 3);
    assert.equal((await cache.lookup("auth", "a:b", "c", "pw", "fresh")).hit, false);
    assert.equal((await cache.lookup("auth", "a", "b@c", "pw", "fresh")).hit, false);
    assert.equal((await cache.lookup("isuser", "xy", "z", undefined, "fresh")).hit, false);
    assert.equal((await cache.lookup("isuser", "x\0", "yz", undefined, "fresh")).hit, false);
    await cache.remember("auth", "p", SERVER, "q");
    assert.equal((await cache.lookup("auth", "p", SERVER, "q\0", "fresh")).hit, false);
    assert.equal((await cache.lookup("auth", "p", SERVER, "q", "fresh")).hit, true);
  });

  it("handles non-ASCII users and passwords as UTF-8", async () => {
    const { cache } = await makeCache();
    await cache.remember("auth", "jürgen", "bücher.example", "pässwörd 🔑");
    assert.equal(
      (await cache.lookup("auth", "jürgen", "bücher.example", "pässwörd 🔑", "fresh")).hit,
      true,
    );
    // "ü" precomposed vs "u" + combining diaeresis: different bytes, different passwords.
    assert.equal(
      (await cache.lookup("auth", "jürgen", "bücher.example", "pa\u0308sswörd 🔑", "fresh")).hit,
      false,
    );
  });

  it("evicts the least recently used user, a hit counting as a use", async () => {
    const { cache } = await makeCache({ maxEntries: 3 });
    await cache.remember("isuser", "a", SERVER);
    await cache.remember("isuser", "b", SERVER);
    await cache.remember("isuser", "c", SERVER);
    assert.equal((await cache.lookup("isuser", "a", SERVER, undefined, "fresh")).hit, true);
    await cache.remember("isuser", "d", SERVER); // b is now the least recently used
    assert.equal(cache.size, 3);
    assert.equal((await cache.lookup("isuser", "b", SERVER, undefined, "fresh")).hit, false);
    await cache.remember("isuser", "c", SERVER); // remembering again is a use too: a is oldest
    await cache.remember("isuser", "e", SERVER);
    assert.equal((await cache.lookup("isuser", "a", SERVER, undefined, "fresh")).hit, false);
    for (const user of ["c", "d", "e"]) {
      assert.equal(
        (await cache.lookup("isuser", user, SERVER, undefined, "fresh")).hit,
        true,
        user,
      );
    }
  });

  it("does not let a miss count as a use", async () => {
    const { cache } = await makeCache({ maxEntries: 2 });
    await cache.remember("auth", "a", SERVER, "right");
    await cache.remember("auth", "b", SERVER, "right");
    assert.equal((await cache.lookup("auth", "a", SERVER, "wrong", "fresh")).hit, false);
    await cache.remember("auth", "c", SERVER, "right");
    assert.equal((await cache.lookup("isuser", "a", SERVER, undefined, "fresh")).hit, false);
    assert.equal((await cache.lookup("isuser", "b", SERVER, undefined, "fresh")).hit, true);
  });

  it(
    "stays at --cache-size entries with 100,000 distinct users",
    { timeout: 120_000 },
    async () => {
      const { cache } = await makeCache({ maxEntries: 10_000 });
      // Batches of 1,000 users remembered concurrently: within a batch the order is up to the
      // crypto threads, but every batch is done before the next one starts.
      for (let batch = 0; batch < 100; batch++) {
        const users = Array.from({ length: 1_000 }, (_, i) => batch * 1_000 + i);
        await Promise.all(users.map((i) => cache.remember("auth", `user${i}`, SERVER, `pw${i}`)));
        assert.equal(cache.size, Math.min(10_000, (batch + 1) * 1_000));
      }
      for (const i of [0, 50_000, 89_999]) {
        assert.equal(
          (await cache.lookup("isuser", `user${i}`, SERVER, undefined, "fresh")).hit,
          false,
        );
      }
      for (const i of [90_000, 95_000, 99_999]) {
        assert.equal((await cache.lookup("auth", `user${i}`, SERVER, `pw${i}`, "fresh")).hit, true);
      }
      assert.equal(cache.size, 10_000);
    },
  );

  it("is a no-op when disabled, without hashing anything", async () => {
    for (
      const options of [
        { ttlMs: 0, staleTtlMs: 0, maxEntries: 10_000 },
        { ttlMs: 60_000, staleTtlMs: 60_000, maxEntries: 0 },
      ]
    ) {
      const cache = await AuthCache.create(options);
      assert.equal(cache.enabled, false);
      const subtle = crypto.subtle;
      const original = { sign: subtle.sign, verify: subtle.verify };
      let calls = 0;
      const count = () => {
        calls++;
        return Promise.reject(new Error("hashed"));
      };
      Object.assign(subtle, { sign: count, verify: count });
      try {
        await cache.remember("auth", "alice", SERVER, "s3cret");
        await cache.remember("isuser", "alice", SERVER);
        assert.deepEqual(await cache.lookup("auth", "alice", SERVER, "s3cret", "fresh"), {
          hit: false,
        });
        assert.deepEqual(await cache.lookup("isuser", "alice", SERVER, undefined, "stale"), {
          hit: false,
        });
        await cache.forget("alice", SERVER);
      } finally {
        Object.assign(subtle, original);
      }
      assert.equal(calls, 0);
      assert.equal(cache.size, 0);
    }
  });

  it("checks that the replacement of crypto.subtle in the test above takes effect", async () => {
    // Guards the no-hashing test against passing only because the stub is ignored.
    const { cache } = await makeCache();
    const subtle = crypto.subtle;
    const original = { sign: subtle.sign };
    Object.assign(subtle, { sign: () => Promise.reject(new Error("hashed")) });
    try {
      await assert.rejects(cache.remember("isuser", "alice", SERVER), /hashed/);
    } finally {
      Object.assign(subtle, original);
    }
    await cache.remember("isuser", "alice", SERVER);
    assert.equal(cache.size, 1);
  });

  it("rejects options that make no sense", async () => {
    for (
      const [options, message] of [
        [{ ttlMs: -1, staleTtlMs: 0, maxEntries: 1 }, /ttlMs must be a finite number >= 0, got -1/],
        [{ ttlMs: 1, staleTtlMs: NaN, maxEntries: 1 }, /staleTtlMs .* got NaN/],
        [{ ttlMs: Infinity, staleTtlMs: 0, maxEntries: 1 }, /ttlMs .* got Infinity/],
        [{ ttlMs: 1, staleTtlMs: 0, maxEntries: 1.5 }, /maxEntries must be a whole number/],
      ] as const
    ) {
      await assert.rejects(AuthCache.create(options), (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /^Cannot create auth cache: /);
        assert.match(error.message, message);
        return true;
      });
    }
  });

  it("keys two caches differently", async () => {
    const first = await makeCache();
    const second = await makeCache();
    await first.cache.remember("auth", "alice", SERVER, "s3cret");
    await second.cache.remember("auth", "alice", SERVER, "s3cret");
    const ids = (cache: AuthCache) => walk(cache).strings.filter((s) => s.length === 44);
    const [firstIds, secondIds] = [ids(first.cache), ids(second.cache)];
    assert.equal(firstIds.length, 1);
    assert.equal(secondIds.length, 1);
    assert.notEqual(firstIds[0], secondIds[0]);
    const macs = (cache: AuthCache) =>
      walk(cache).buffers.filter((b) => b.length === 32).map((b) => b.join());
    assert.equal(macs(first.cache).length, 1);
    assert.notDeepEqual(macs(first.cache), macs(second.cache));
  });

  it("holds no password, user or server name, in any encoding", async () => {
    const { cache } = await makeCache();
    const secrets = ["correct horse battery staple", "pässwörd 🔑", "hunter2"];
    const users = ["alice-the-user", "jürgen", "bob"];
    for (const [i, password] of secrets.entries()) {
      await cache.remember("auth", users[i]!, "server.example", password);
      await cache.remember("auth", users[i]!, "server.example", password + "-old");
      await cache.remember("auth", users[i]!, "server.example", password);
    }
    const found = walk(cache);
    // The walk must actually reach the entries, or this test could not fail.
    assert.equal(found.maps, 2); // the entries, and the users held after an unanswered change
    assert.equal(found.strings.filter((s) => s.length === 44).length, 3);
    assert.ok(found.buffers.filter((b) => b.length === 32).length >= 3);
    const encoder = new TextEncoder();
    const forms = (text: string): string[] => [
      text,
      btoa(String.fromCharCode(...encoder.encode(text))),
      [...encoder.encode(text)].map((b) => b.toString(16).padStart(2, "0")).join(""),
      encodeURIComponent(text),
    ];
    for (const needle of [...secrets, ...users, "server.example"]) {
      for (const form of forms(needle)) {
        assert.ok(!found.strings.some((s) => s.includes(form)), "found a name or password");
      }
      for (const bytes of [encoder.encode(needle), new TextEncoder().encode(needle.slice(0, 6))]) {
        assert.ok(!found.buffers.some((b) => containsBytes(b, bytes)), "found the bytes");
      }
    }
    assert.equal(JSON.stringify(cache).includes("hunter2"), false);
  });
});
