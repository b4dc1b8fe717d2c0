/**
 * The outage cache shared by every process of ejabberd's pool, kept in one
 * SQLite file (`--cache-file`) so that it also survives restarts. Same
 * semantics as the in-process {@linkcode AuthCache} (the shared `semantics`
 * of `auth_cache.ts`), on wall-clock time.
 *
 * What the file holds (no user name, no server name, no password):
 * - `meta`: a random 32-byte HMAC key, made once with the file;
 * - `users`: per user, `id` = HMAC-SHA-256(key, user, server), the times at
 *   which the API last confirmed the user and the password, the password's
 *   verifier (`01` ‖ 16-byte random salt ‖ 32-byte scrypt with N = 2^14,
 *   r = 8, p = 1 of the user, server and password), and an LRU sequence.
 *
 * The KDF runs only when this process does not yet know a password: when the
 * API confirms one this process has not verified before, and for a stale
 * answer while the API is down. Every process keeps, in memory, the
 * HMAC (under its own random non-extractable key) of each password it has
 * verified, tied to the verifier it checked it against; a fresh lookup uses
 * only that, so `--cache-ttl` hits never pay the KDF.
 *
 * - `forgets`: per user id, the `seq` (a counter in `meta`) of its last
 *   forget, when it was, and until when no remember may write it (a change
 *   whose answer never came). A login reads `seq` before asking the API
 *   ({@linkcode SharedAuthCache.mark}); its remember writes, in one
 *   statement, only if no forget of that user has a higher `seq` (and none
 *   was pruned since it started: `pruned_seq` in `meta`).
 *
 * Once the site may have applied a change, no copy serves the old password:
 * the pipeline forgets before and after each change, a forget is one write
 * transaction, and a copy that cannot write it removes the file (every copy
 * checks at each lookup that the path is still the file it opened) or, when
 * even that fails, says so and the change is not sent. A copy that cannot use
 * the file runs with no outage cache (never a private one, which would miss
 * the other copies' forgets) and tries the file again every
 * {@linkcode RETRY_MS}.
 *
 * This file holds the cache's logic; `kdf.ts` the verifiers, `schema.ts` the tables and
 * statements, `store.ts` the opening of the file.
 *
 * @module
 */

import {
  AuthCache,
  type CacheLookup,
  type CacheMark,
  encodeInput,
  type EntryTimes,
  type ForgetOptions,
  type Freshness,
  FUTURE_TOLERANCE_MS,
  HOLD_MS,
  type OutageCache,
  semantics,
  toKey,
} from "./memory_cache.ts";
import { assertNumber } from "../core/assert_number.ts";
import type { Logger } from "../log/logger.ts";
import { type CachedOperation, hasPassword } from "../core/operations.ts";
import type { SqliteError } from "../runtime/sqlite.ts";
import type { SqliteModule } from "../runtime/mod.ts";
import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { makeVerifier, matchesVerifier, sameVerifier } from "./kdf.ts";
import { KnownPasswords } from "./known_passwords.ts";
import type { Statements } from "./schema.ts";
import { OPEN_BUSY_MS, openStore, SERVE_BUSY_MS, stillOpenAt, type Store } from "./store.ts";

/** How long a copy that cannot use the file waits before it tries again. */
export const RETRY_MS = 30_000;
/** How long a `forgets` row is kept: far beyond any request's deadline. */
const FORGETS_KEPT_MS = 3_600_000;
/** How often one process prunes old `forgets` rows. */
const PRUNE_EVERY_MS = 60_000;
/** Options of {@linkcode openSharedCache}. */
export interface SharedCacheOptions {
  /** The cache file (`--cache-file`). */
  readonly path: string;
  readonly ttlMs: number;
  readonly staleTtlMs: number;
  readonly maxEntries: number;
  readonly logger: Logger;
  /** The runtime's SQLite module (`runtime.loadSqlite()`). */
  readonly sqlite: SqliteModule;
  /**
   * The wall clock stamps the file's entries (shared by every process); the monotonic one
   * times the retries and the pruning. Defaults to {@linkcode SYSTEM_CLOCK}.
   */
  readonly clock?: Clock;
}

const MISS: CacheLookup = { hit: false };

/**
 * Opens the shared cache at `options.path`. When the file cannot be used it
 * logs one error and returns a cache that serves nothing until the file can be
 * opened (tried again every {@linkcode RETRY_MS}): never a private in-process
 * cache, which would not see the other copies' forgets. Returns a disabled
 * in-process cache at once when both TTLs are 0.
 *
 * @example Open a shared cache
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { createLogger } from "../log/logger.ts";
 * import { detectRuntime } from "../runtime/mod.ts";
 * import { openSharedCache } from "./shared_cache.ts";
 * const cache = await openSharedCache({
 *   path: `${mkdtempSync(`${tmpdir()}/cache-`)}/cache.db`,
 *   ttlMs: 0,
 *   staleTtlMs: 3_600_000,
 *   maxEntries: 10_000,
 *   logger: createLogger({ level: "warn", sink: () => {} }),
 *   sqlite: await detectRuntime().loadSqlite(),
 * });
 * await cache.remember("isuser", "alice", "example.com");
 * assert.equal((await cache.lookup("isuser", "alice", "example.com", undefined, "stale")).hit, true);
 * ```
 */
export async function openSharedCache(options: SharedCacheOptions): Promise<OutageCache> {
  assertNumber("auth cache", "ttlMs", options.ttlMs);
  assertNumber("auth cache", "staleTtlMs", options.staleTtlMs);
  assertNumber("auth cache", "maxEntries", options.maxEntries, { integer: true });
  const memory = await AuthCache.create(options);
  if (!memory.enabled) return memory;
  const cache = new SharedAuthCache({ ...options, clock: options.clock ?? SYSTEM_CLOCK });
  await cache.open();
  return cache;
}

const NO_MARK: CacheMark = { cache: null, seq: -1 };

/**
 * The file-backed cache. Made by {@linkcode openSharedCache}. Without a usable
 * file it serves nothing and remembers nothing; it tries the file again every
 * {@linkcode RETRY_MS}, and at once when it must record a forget.
 */
export class SharedAuthCache implements OutageCache {
  readonly enabled = true;
  private store: Store | undefined;
  private readonly path: string;
  private readonly logger: Logger;
  private readonly sqlite: SqliteModule;
  private readonly ttlMs: number;
  private readonly staleMs: number;
  private readonly maxEntries: number;
  private readonly clock: Clock;
  /** Passwords verified by this process in the open file, by base64 user id. */
  private readonly known: KnownPasswords<Uint8Array>;
  /** When (monotonic) to try the file again; while no store. */
  private retryAt = 0;
  /** Why the file could not be used last; undefined while it is in use. */
  private problem: string | undefined;
  /** When (monotonic) this process last pruned old forgets. */
  private prunedAt = -Infinity;

  /** Use {@linkcode openSharedCache}. */
  constructor(options: SharedCacheOptions & { readonly clock: Clock }) {
    this.path = options.path;
    this.logger = options.logger;
    this.sqlite = options.sqlite;
    this.ttlMs = options.ttlMs;
    this.staleMs = Math.max(options.ttlMs, options.staleTtlMs);
    this.maxEntries = options.maxEntries;
    this.clock = options.clock;
    this.known = new KnownPasswords(options.maxEntries, sameVerifier);
  }

  /** Whether the file is in use. */
  get shared(): boolean {
    return this.store !== undefined;
  }

  /** The number of users in the file (0 without one). */
  get size(): number {
    const store = this.store;
    if (store === undefined) return 0;
    return Number(this.read(() => store.sql.count.get()?.n) ?? 0);
  }

  /** Opens the file (at start, and again after a fault); logs why not, once per fault. */
  async open(): Promise<Store | undefined> {
    const store = await openStore(this.sqlite, this.path, this.clock);
    if (typeof store === "string") {
      this.retryAt = this.clock.now() + RETRY_MS;
      if (this.problem === undefined) {
        this.logger.error(
          `cannot use --cache-file ${this.path}: ${store}; no outage cache until it can be used ` +
            `(tried again every ${RETRY_MS / 1000}s; not a private cache, which would miss the ` +
            "pool's password changes)",
        );
      }
      this.problem = store;
      return undefined;
    }
    if (this.problem !== undefined) this.logger.info(`--cache-file ${this.path} is in use again`);
    this.problem = undefined;
    this.store = store;
    return store;
  }

  /**
   * The open file, if the path still names it (one stat); else it drops it and
   * opens the path afresh. Without a file, tries again once {@linkcode RETRY_MS}
   * passed, or at once when `now` is set.
   */
  private async current(now = false): Promise<Store | undefined> {
    const store = this.store;
    if (store !== undefined) {
      if (stillOpenAt(this.sqlite, this.path, store)) return store;
      this.logger.warn(
        `--cache-file ${this.path} was removed or replaced: nothing more is served from the ` +
          "file this process had open; opening the path afresh",
      );
      this.close();
    } else if (!now && this.clock.now() < this.retryAt) {
      return undefined;
    }
    return await this.open();
  }

  /** See {@linkcode AuthCache.lookup}. */
  async lookup(
    op: CachedOperation,
    user: string,
    server: string,
    password: string | undefined,
    freshness: Freshness,
  ): Promise<CacheLookup> {
    const window = semantics.window(freshness, this.ttlMs, this.staleMs);
    if (window <= 0 || (hasPassword(op) && password === undefined)) return MISS;
    const store = await this.current();
    if (store === undefined) return MISS;
    const id = await this.id(store, user, server);
    const row = this.getRow(store, id);
    if (row === undefined) return MISS;
    const now = this.clock.wall();
    const expired = semantics.expired(row.times, now, this.staleMs);
    if (expired.entry) {
      this.write((sql) => sql.expireEntry.run(id, now - this.staleMs, now + FUTURE_TOLERANCE_MS));
      return MISS;
    }
    let times = row.times;
    let verifier = row.verifier;
    if (expired.password) {
      this.write((sql) =>
        sql.expirePassword.run(id, now - this.staleMs, now + FUTURE_TOLERANCE_MS)
      );
      times = { existsAt: times.existsAt, passwordAt: undefined };
      verifier = undefined;
    }
    const at = semantics.answerAt(op, times);
    if (at === undefined) return MISS;
    const result = semantics.judge(at, now, window);
    if (!result.hit) return MISS;
    if (hasPassword(op)) {
      // A fresh answer never pays the KDF: ask the API, whose "yes" teaches this process.
      const match = await this.known.matches(
        toKey(id),
        user,
        server,
        password!,
        verifier!,
        freshness === "fresh" ? undefined : (input) => matchesVerifier(input, verifier!),
        () => this.store === store,
      );
      if (match === "no") return MISS;
      if (match === "verified") {
        // Forgotten, or given a new password, by some process while the KDF ran?
        if (this.store !== store) return MISS;
        const again = this.getRow(store, id);
        if (again?.verifier === undefined || !sameVerifier(again.verifier, verifier!)) return MISS;
      }
    }
    this.write((sql) => sql.touch.run(id));
    return result;
  }

  /**
   * Read before a login asks the API: the file's forget counter. A remember
   * with this mark writes only if no forget of the user came since, in any copy.
   */
  async mark(): Promise<CacheMark> {
    const store = await this.current();
    if (store === undefined) return NO_MARK;
    const seq = this.read(() => store.sql.seq.get()?.seq);
    return seq === undefined || seq === null ? NO_MARK : { cache: store, seq: Number(seq) };
  }

  /**
   * See {@linkcode AuthCache.remember}. With a `mark` from {@linkcode mark}, writes only if no
   * copy forgot the user since (checked in the write itself); without one (tests, benchmarks),
   * if none forgot it since now.
   */
  async remember(
    op: CachedOperation,
    user: string,
    server: string,
    password?: string,
    mark?: CacheMark,
  ): Promise<void> {
    const store = this.store;
    if (store === undefined) return;
    if (mark !== undefined && mark.cache !== store) return;
    const since = mark?.seq ?? Number(this.read(() => store.sql.seq.get()?.seq) ?? NaN);
    if (!Number.isFinite(since)) return;
    const id = await this.id(store, user, server);
    const now = this.clock.wall();
    if (!hasPassword(op) || password === undefined) {
      if ((this.write((sql) => sql.exists.run(id, now, since)) ?? 0) > 0) this.evict();
      return;
    }
    const row = this.getRow(store, id);
    const stored = row?.verifier;
    if (stored !== undefined) {
      const same = await this.known.matches(
        toKey(id),
        user,
        server,
        password,
        stored,
        (input) => matchesVerifier(input, stored),
        () => this.store === store,
      ) !== "no";
      // The same password again: new times for the verifier already there, no new KDF.
      if (same && (this.write((sql) => sql.refresh.run(id, now, stored, since)) ?? 0) > 0) return;
    }
    const input = encodeInput(user, server, password);
    const verifier = await makeVerifier(input);
    if (this.store !== store) {
      input.fill(0);
      return;
    }
    if ((this.write((sql) => sql.password.run(id, now, verifier, since)) ?? 0) > 0) {
      await this.known.learn(toKey(id), input, verifier);
      this.evict();
    }
    input.fill(0);
  }

  /**
   * See {@linkcode AuthCache.forget}: one write transaction (the counter, the user's `forgets`
   * row, the user's row gone), waiting up to {@linkcode OPEN_BUSY_MS} for a lock. A forget that
   * cannot be written removes the file, so that no copy serves from it; false when even that
   * failed (the caller must then not send a change).
   */
  async forget(user: string, server: string, options: ForgetOptions = {}): Promise<boolean> {
    const store = await this.current(true);
    let cause = this.problem ?? "it could not be opened";
    if (store !== undefined) {
      const id = await this.id(store, user, server);
      this.known.forget(toKey(id));
      try {
        this.forgetIn(store, id, options.hold === true);
        return true;
      } catch (error) {
        cause = this.sqlite.classify(error).message;
      }
    }
    this.close();
    this.retryAt = this.clock.now() + RETRY_MS;
    this.problem ??= cause;
    const removed = this.sqlite.removeCacheFile(this.path);
    if (removed === "absent") return true;
    if (removed === "removed") {
      this.logger.error(
        `could not record a forget in --cache-file ${this.path} (${cause}): removed it, with ` +
          "its -wal and -shm, so that no copy of the pool serves from it; no outage cache here " +
          `until it can be used again (tried every ${RETRY_MS / 1000}s)`,
      );
      return true;
    }
    this.logger.error(
      `could not record a forget in --cache-file ${this.path} (${cause}), nor remove it ` +
        `(${removed}): other copies may serve a password the site replaced; remove the file`,
    );
    return false;
  }

  private forgetIn(store: Store, id: Uint8Array, hold: boolean): void {
    const { db, sql } = store;
    const now = this.clock.wall();
    db.exec(`PRAGMA busy_timeout = ${OPEN_BUSY_MS}`);
    try {
      db.exec("BEGIN IMMEDIATE");
      try {
        sql.bump.run();
        sql.tombstone.run(id, now, hold ? now + HOLD_MS : 0);
        sql.forget.run(id);
        const due = this.clock.now() - this.prunedAt >= PRUNE_EVERY_MS;
        if (due) {
          sql.prunedSeq.run(now - FORGETS_KEPT_MS, now);
          sql.prune.run(now - FORGETS_KEPT_MS, now);
        }
        db.exec("COMMIT");
        if (due) this.prunedAt = this.clock.now();
      } catch (error) {
        try {
          db.exec("ROLLBACK");
        } catch { /* no transaction left to roll back */ }
        throw error;
      }
    } finally {
      try {
        db.exec(`PRAGMA busy_timeout = ${SERVE_BUSY_MS}`);
      } catch { /* the connection is dropped anyway */ }
    }
  }

  /** Closes the file; the cache serves nothing until it is opened again. */
  close(): void {
    const store = this.store;
    this.store = undefined;
    this.known.clear();
    try {
      store?.db.close();
    } catch { /* closing is best effort */ }
  }

  private async id(store: Store, user: string, server: string): Promise<Uint8Array> {
    const data = encodeInput(user, server);
    return new Uint8Array(await crypto.subtle.sign("HMAC", store.key, data));
  }

  private getRow(store: Store, id: Uint8Array):
    | { times: EntryTimes; verifier: Uint8Array | undefined }
    | undefined {
    if (this.store !== store) return undefined;
    const row = this.read(() => store.sql.get.get(id));
    if (row === undefined) return undefined;
    const passwordAt = row.password_at;
    const verifier = row.verifier;
    return {
      times: {
        existsAt: Number(row.exists_at),
        passwordAt: passwordAt === null || passwordAt === undefined
          ? undefined
          : Number(passwordAt),
      },
      verifier: verifier instanceof Uint8Array ? verifier : undefined,
    };
  }

  private evict(): void {
    this.write((sql) => sql.evict.run(this.maxEntries));
  }

  /** A read; undefined when busy or failed (a miss, never another reply). */
  private read<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      this.failed(error, "read");
      return undefined;
    }
  }

  /** A write; undefined when busy (skipped) or failed, else what `fn` returned. */
  private write<T>(fn: (sql: Statements) => T): T | undefined {
    const store = this.store;
    if (store === undefined) return undefined;
    try {
      return fn(store.sql);
    } catch (error) {
      this.failed(error, "write");
      return undefined;
    }
  }

  private failed(error: unknown, what: "read" | "write"): void {
    const e: SqliteError = this.sqlite.classify(error);
    if (e.kind === "busy") {
      if (this.logger.enabled("debug")) {
        this.logger.debug(`--cache-file ${this.path} is busy: skipped one ${what}`);
      }
      return;
    }
    this.logger.error(
      `cannot use --cache-file ${this.path} any more: ${e.message}; no outage cache until it ` +
        `can be used again (tried every ${RETRY_MS / 1000}s)`,
    );
    this.problem = e.message;
    this.retryAt = this.clock.now() + RETRY_MS;
    this.close();
  }
}
