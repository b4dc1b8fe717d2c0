/**
 * An in-memory cache of successful `auth` and `isuser` answers, so that
 * logins keep working for a while when the site's API cannot answer
 * (`--cache-ttl`, `--stale-ttl`, `--cache-size`).
 *
 * Passwords are never kept. Each user has one entry, found by an
 * HMAC-SHA-256 of the user and server under a random key made at start-up
 * (non-extractable, via Web Crypto); the entry holds the times at which the
 * API last confirmed that the user exists and that a password was right, and
 * the HMAC of that password. Only successes are remembered; a definite "no",
 * a password change or a removal forgets the user. The number of entries is
 * bounded, the least recently used going first.
 *
 * @module
 */

import { encodeBase64 } from "../core/base64.ts";
import { assertNumber } from "../core/assert_number.ts";
import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { type CachedOperation, hasPassword } from "../core/operations.ts";

/**
 * How old a remembered answer may be: `"fresh"` (younger than `ttlMs`, used
 * instead of asking the API) or `"stale"` (younger than the larger of `ttlMs`
 * and `staleTtlMs`, used when the API cannot answer).
 */
export type Freshness = "fresh" | "stale";

/** The result of {@linkcode AuthCache.lookup}. */
export type CacheLookup =
  | { readonly hit: true; readonly ageMs: number }
  | { readonly hit: false };

/**
 * What the request pipeline needs from an outage cache: this module's
 * in-process {@linkcode AuthCache}, or the file-backed one of
 * `shared_cache.ts` (`--cache-file`) that the whole pool shares.
 */
export interface OutageCache {
  /** Whether the cache does anything at all. */
  readonly enabled: boolean;
  /** See {@linkcode AuthCache.lookup}. */
  lookup(
    op: CachedOperation,
    user: string,
    server: string,
    password: string | undefined,
    freshness: Freshness,
  ): Promise<CacheLookup>;
  /** See {@linkcode AuthCache.mark}. */
  mark(): Promise<CacheMark>;
  /** See {@linkcode AuthCache.remember}. */
  remember(
    op: CachedOperation,
    user: string,
    server: string,
    password?: string,
    mark?: CacheMark,
  ): Promise<void>;
  /** See {@linkcode AuthCache.forget}. */
  forget(user: string, server: string, options?: ForgetOptions): Promise<boolean>;
}

/**
 * Taken before a login asks the API ({@linkcode OutageCache.mark}): its
 * remember writes only if no forget of that user came since, in this cache
 * (`cache` is the store the mark was read from; null when there was none).
 */
export interface CacheMark {
  readonly cache: object | null;
  readonly seq: number;
}

/** Options of {@linkcode OutageCache.forget}. */
export interface ForgetOptions {
  /**
   * The change's answer never came (timeout, error): the site may apply it
   * later, so no remember of this user for {@linkcode HOLD_MS}.
   */
  readonly hold?: boolean;
}

/** How long no remember of a user follows a change whose answer never came. */
export const HOLD_MS = 3_600_000;

/** A time further ahead of the clock than this (a copy whose clock ran ahead) never hits. */
export const FUTURE_TOLERANCE_MS = 1_000;

/** The times remembered for one user, in milliseconds of the cache's clock. */
export interface EntryTimes {
  /** When the API last confirmed that the user exists (`isuser` or `auth` true). */
  readonly existsAt: number;
  /** When the API accepted the remembered password; undefined when none is remembered. */
  readonly passwordAt: number | undefined;
}

/**
 * The semantics every outage cache shares, as pure functions of the times
 * remembered, the clock and the two windows: which time an answer relies on,
 * whether it is young enough, and what can never hit again.
 */
export const semantics = {
  /** The window for a lookup: `ttlMs` for fresh answers, the larger of both for stale ones. */
  window(freshness: Freshness, ttlMs: number, staleMs: number): number {
    return freshness === "fresh" ? ttlMs : staleMs;
  },
  /** The time an answer relies on: existence for `isuser`, the password's for `auth`. */
  answerAt(op: CachedOperation, times: EntryTimes): number | undefined {
    return hasPassword(op) ? times.passwordAt : times.existsAt;
  },
  /**
   * A hit with its age when `at` is younger than `windowMs`; a time up to
   * {@linkcode FUTURE_TOLERANCE_MS} ahead is age 0, one further ahead never hits.
   */
  judge(at: number, now: number, windowMs: number): CacheLookup {
    if (at - now > FUTURE_TOLERANCE_MS) return MISS;
    const ageMs = Math.max(0, now - at);
    return ageMs < windowMs ? { hit: true, ageMs } : MISS;
  },
  /**
   * What can never hit again: a password older than the stale window, the
   * whole entry when nothing in it is younger; and the whole entry when a time
   * in it is more than {@linkcode FUTURE_TOLERANCE_MS} ahead (it would never age).
   */
  expired(times: EntryTimes, now: number, staleMs: number): { password: boolean; entry: boolean } {
    const ahead = (at: number | undefined) => at !== undefined && at - now > FUTURE_TOLERANCE_MS;
    const future = ahead(times.existsAt) || ahead(times.passwordAt);
    const password = future ||
      (times.passwordAt !== undefined && now - times.passwordAt >= staleMs);
    const noPassword = password || times.passwordAt === undefined;
    return { password, entry: future || (noPassword && now - times.existsAt >= staleMs) };
  },
} as const;

/** Options for {@linkcode AuthCache.create}. */
export interface AuthCacheOptions {
  /** How long a success may be served instead of asking the API (`--cache-ttl`); 0 = never. */
  readonly ttlMs: number;
  /** How long a success may be served when the API cannot answer (`--stale-ttl`); 0 = never. */
  readonly staleTtlMs: number;
  /** The most users remembered at once (`--cache-size`); 0 disables the cache. */
  readonly maxEntries: number;
  /**
   * The clock whose monotonic time the windows run on: the program's one clock, which
   * serving passes. Optional only for `openSharedCache`'s check of the options, which keeps
   * no entry; without it, {@linkcode SYSTEM_CLOCK}.
   */
  readonly clock?: Clock;
}

/** What the cache knows about one user. Holds MACs and times only. */
interface Entry {
  /** When the API last confirmed that the user exists (`isuser` or `auth` true). */
  existsAt: number;
  /** HMAC of the last password the API accepted, or undefined. */
  passwordMac: Uint8Array<ArrayBuffer> | undefined;
  /** When the API accepted that password. */
  passwordAt: number;
}

const MISS: CacheLookup = { hit: false };
const TAG_USER = 1;
const TAG_PASSWORD = 2;
const encoder = new TextEncoder();

/**
 * Encodes the user and server, and the password if given, unambiguously:
 * a tag byte (so a user MAC can never equal a password MAC), then each string
 * as a 4-byte big-endian byte length followed by its UTF-8 bytes, so that
 * ("a", "b:c") and ("a:b", "c") or ("a@b", "c") and ("a", "b@c") differ.
 */
export function encodeInput(
  user: string,
  server: string,
  password?: string,
): Uint8Array<ArrayBuffer> {
  const parts = password === undefined
    ? [encoder.encode(user), encoder.encode(server)]
    : [encoder.encode(user), encoder.encode(server), encoder.encode(password)];
  let length = 1;
  for (const part of parts) length += 4 + part.length;
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  bytes[0] = password === undefined ? TAG_USER : TAG_PASSWORD;
  let offset = 1;
  for (const part of parts) {
    view.setUint32(offset, part.length);
    bytes.set(part, offset + 4);
    offset += 4 + part.length;
  }
  // The encoded password is in this buffer: wipe the copies once they are hashed.
  for (const part of parts) part.fill(0);
  return bytes;
}

/** base64 of a 32-byte MAC: a compact Map key (44 characters). */
export function toKey(mac: ArrayBuffer | Uint8Array): string {
  return encodeBase64(mac);
}

/**
 * A bounded, least-recently-used cache of successful `auth` and `isuser`
 * answers that never holds a password. Create it with
 * {@linkcode AuthCache.create}. When both TTLs are 0 (or `maxEntries` is 0)
 * the cache is disabled: every method returns at once without hashing.
 *
 * Lifecycle of a request: look up a `"fresh"` answer first; on a miss ask the
 * API (after {@linkcode AuthCache.mark}); on a definite true call
 * {@linkcode AuthCache.remember} with that mark; on a definite false call
 * {@linkcode AuthCache.forget}, and around every change (before it is sent
 * and after, whatever the answer); when the API cannot answer, look up a
 * `"stale"` answer and log that it was served.
 *
 * @example Remember a login and serve it while the API is down
 * ```ts
 * import assert from "node:assert/strict";
 * import { AuthCache } from "./memory_cache.ts";
 * const cache = await AuthCache.create({
 *   ttlMs: 60_000,
 *   staleTtlMs: 3_600_000,
 *   maxEntries: 10_000,
 *   clock: { now: () => 0, wall: () => 0, after: () => () => {} },
 * });
 * await cache.remember("auth", "alice", "example.com", "s3cret");
 * const right = await cache.lookup("auth", "alice", "example.com", "s3cret", "fresh");
 * assert.deepEqual(right, { hit: true, ageMs: 0 });
 * const wrong = await cache.lookup("auth", "alice", "example.com", "wrong", "stale");
 * assert.deepEqual(wrong, { hit: false });
 * await cache.forget("alice", "example.com"); // e.g. after a successful setpass
 * assert.equal(cache.size, 0);
 * ```
 */
export class AuthCache implements OutageCache {
  /** Whether the cache does anything at all (a TTL above 0 and room for entries). */
  readonly enabled: boolean;
  // Plain (TypeScript-only) private fields rather than #fields, so that tests can walk the
  // whole object and show that no password, user or server name is in it.
  private readonly key: CryptoKey | undefined;
  private readonly ttlMs: number;
  private readonly staleMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** Entries by base64 HMAC of the user and server; Map order = least recently used first. */
  private readonly entries = new Map<string, Entry>();
  /** Forgets so far: a remember whose mark is older writes nothing. */
  private generation = 0;
  /** Users not to remember until the time given (a change whose answer never came). */
  private readonly holds = new Map<string, number>();

  private constructor(options: AuthCacheOptions, key: CryptoKey | undefined) {
    this.enabled = key !== undefined;
    this.key = key;
    this.ttlMs = options.ttlMs;
    this.staleMs = Math.max(options.ttlMs, options.staleTtlMs);
    this.maxEntries = options.maxEntries;
    const clock = options.clock ?? SYSTEM_CLOCK;
    this.now = () => clock.now();
  }

  /**
   * Makes a cache with a fresh random, non-extractable HMAC-SHA-256 key (no
   * key is made when the cache is disabled).
   *
   * @throws {RangeError} if a TTL is negative or not finite, or `maxEntries`
   * is not a whole number >= 0.
   *
   * @example Create a cache from the command-line options
   * ```ts
   * import assert from "node:assert/strict";
   * import { AuthCache } from "./memory_cache.ts";
   * const cache = await AuthCache.create({ ttlMs: 0, staleTtlMs: 3_600_000, maxEntries: 10_000 });
   * assert.equal(cache.enabled, true);
   * ```
   */
  static async create(options: AuthCacheOptions): Promise<AuthCache> {
    assertNumber("auth cache", "ttlMs", options.ttlMs);
    assertNumber("auth cache", "staleTtlMs", options.staleTtlMs);
    assertNumber("auth cache", "maxEntries", options.maxEntries, { integer: true });
    const enabled = (options.ttlMs > 0 || options.staleTtlMs > 0) && options.maxEntries > 0;
    const key = enabled
      ? await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
        "verify",
      ])
      : undefined;
    return new AuthCache(options, key);
  }

  /**
   * The number of users remembered.
   *
   * @example Count the entries
   * ```ts
   * import assert from "node:assert/strict";
   * import { AuthCache } from "./memory_cache.ts";
   * const cache = await AuthCache.create({ ttlMs: 60_000, staleTtlMs: 0, maxEntries: 10 });
   * await cache.remember("isuser", "alice", "example.com");
   * assert.equal(cache.size, 1);
   * ```
   */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Looks for a remembered success. For `"auth"` the password must be the
   * last one the API accepted for this user; for `"isuser"` the password is
   * ignored. A hit makes the user the most recently used. Entries too old to
   * ever hit again are dropped on the way.
   *
   * @example Serve a remembered answer only while it is fresh
   * ```ts
   * import assert from "node:assert/strict";
   * import { AuthCache } from "./memory_cache.ts";
   * let time = 0;
   * const cache = await AuthCache.create({
   *   ttlMs: 1_000,
   *   staleTtlMs: 10_000,
   *   maxEntries: 100,
   *   clock: { now: () => time, wall: () => time, after: () => () => {} },
   * });
   * await cache.remember("isuser", "alice", "example.com");
   * time = 5_000;
   * assert.deepEqual(await cache.lookup("isuser", "alice", "example.com", undefined, "fresh"), { hit: false });
   * assert.deepEqual(await cache.lookup("isuser", "alice", "example.com", undefined, "stale"), { hit: true, ageMs: 5000 });
   * ```
   */
  async lookup(
    op: CachedOperation,
    user: string,
    server: string,
    password: string | undefined,
    freshness: Freshness,
  ): Promise<CacheLookup> {
    const key = this.key;
    if (key === undefined) return MISS;
    const window = semantics.window(freshness, this.ttlMs, this.staleMs);
    if (window <= 0 || (hasPassword(op) && password === undefined)) return MISS;
    const id = await this.id(key, user, server);
    const entry = this.entries.get(id);
    if (entry === undefined) return MISS;
    const now = this.now();
    if (this.expire(id, entry, now)) return MISS;
    const mac = entry.passwordMac;
    const at = semantics.answerAt(op, times(entry));
    if (at === undefined) return MISS;
    const result = semantics.judge(at, now, window);
    if (!result.hit) return MISS;
    if (hasPassword(op)) {
      const data = encodeInput(user, server, password);
      // verify() compares the whole MAC in constant time.
      const same = await crypto.subtle.verify("HMAC", key, mac!, data);
      data.fill(0);
      if (!same) return MISS;
    }
    // The user may have been forgotten, or given a new password, while verify() ran.
    if (this.entries.get(id) !== entry) return MISS;
    if (hasPassword(op) && entry.passwordMac !== mac) return MISS;
    this.entries.delete(id);
    this.entries.set(id, entry);
    return result;
  }

  /**
   * Remembers a definite true from the API. A successful `"auth"` records its
   * password's MAC (replacing the previous password) and also confirms that
   * the user exists; without a password it only confirms that the user
   * exists. The user becomes the most recently used; the least recently used
   * users beyond `maxEntries` are dropped.
   *
   * @example Remember a successful login
   * ```ts
   * import assert from "node:assert/strict";
   * import { AuthCache } from "./memory_cache.ts";
   * const clock = { now: () => 0, wall: () => 0, after: () => () => {} };
   * const options = { ttlMs: 60_000, staleTtlMs: 0, maxEntries: 10, clock };
   * const cache = await AuthCache.create(options);
   * await cache.remember("auth", "alice", "example.com", "s3cret");
   * const exists = await cache.lookup("isuser", "alice", "example.com", undefined, "fresh");
   * assert.deepEqual(exists, { hit: true, ageMs: 0 });
   * ```
   */
  async remember(
    op: CachedOperation,
    user: string,
    server: string,
    password?: string,
    mark?: CacheMark,
  ): Promise<void> {
    const key = this.key;
    if (key === undefined) return;
    if (mark !== undefined && (mark.cache !== this || mark.seq !== this.generation)) return;
    const now = this.now();
    const id = await this.id(key, user, server);
    const held = this.holds.get(id);
    if (held !== undefined) {
      if (held > now) return;
      this.holds.delete(id);
    }
    if (mark !== undefined && mark.seq !== this.generation) return;
    let passwordMac: Uint8Array<ArrayBuffer> | undefined;
    if (hasPassword(op) && password !== undefined) {
      const data = encodeInput(user, server, password);
      passwordMac = new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
      data.fill(0);
    }
    const entry = this.entries.get(id);
    if (entry === undefined) {
      this.entries.set(id, { existsAt: now, passwordMac, passwordAt: now });
    } else {
      entry.existsAt = Math.max(entry.existsAt, now);
      if (passwordMac !== undefined) {
        entry.passwordMac = passwordMac;
        entry.passwordAt = now;
      }
      this.entries.delete(id);
      this.entries.set(id, entry);
    }
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }

  /**
   * Forgets everything about a user: call it after a definite false for
   * `auth` or `isuser`, and before and after every change (`setpass`,
   * `tryregister`, `removeuser`, `removeuser3`), whatever its answer. With
   * `hold` (a change whose answer never came) the user is not remembered for
   * {@linkcode HOLD_MS}. True when no entry of the user can be served any more
   * (always, in memory).
   *
   * @example Forget a user whose password changed
   * ```ts
   * import assert from "node:assert/strict";
   * import { AuthCache } from "./memory_cache.ts";
   * const cache = await AuthCache.create({ ttlMs: 60_000, staleTtlMs: 0, maxEntries: 10 });
   * await cache.remember("auth", "alice", "example.com", "old");
   * await cache.forget("alice", "example.com");
   * assert.equal(cache.size, 0);
   * ```
   */
  async forget(user: string, server: string, options: ForgetOptions = {}): Promise<boolean> {
    const key = this.key;
    if (key === undefined) return true;
    this.generation++;
    const id = await this.id(key, user, server);
    this.entries.delete(id);
    if (options.hold === true) {
      this.holds.delete(id);
      this.holds.set(id, this.now() + HOLD_MS);
      for (const oldest of this.holds.keys()) {
        if (this.holds.size <= this.maxEntries) break;
        this.holds.delete(oldest);
      }
    }
    return true;
  }

  /**
   * Taken before a login asks the API: {@linkcode AuthCache.remember} with it
   * writes nothing if a forget came since. One process answers one request at
   * a time, so here that only guards the pipeline's order.
   *
   * @example A forget between the mark and the remember
   * ```ts
   * import assert from "node:assert/strict";
   * import { AuthCache } from "./memory_cache.ts";
   * const cache = await AuthCache.create({ ttlMs: 60_000, staleTtlMs: 0, maxEntries: 10 });
   * const mark = await cache.mark();
   * await cache.forget("alice", "example.com");
   * await cache.remember("auth", "alice", "example.com", "old", mark);
   * assert.equal(cache.size, 0);
   * ```
   */
  mark(): Promise<CacheMark> {
    return Promise.resolve({ cache: this, seq: this.generation });
  }

  private async id(key: CryptoKey, user: string, server: string): Promise<string> {
    return toKey(await crypto.subtle.sign("HMAC", key, encodeInput(user, server)));
  }

  /** Drops what can never hit again (older than the stale window); true when the entry went. */
  private expire(id: string, entry: Entry, now: number): boolean {
    const expired = semantics.expired(times(entry), now, this.staleMs);
    if (expired.password) entry.passwordMac = undefined;
    if (expired.entry) this.entries.delete(id);
    return expired.entry;
  }
}

function times(entry: Entry): EntryTimes {
  return {
    existsAt: entry.existsAt,
    passwordAt: entry.passwordMac === undefined ? undefined : entry.passwordAt,
  };
}
