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
 * Storage faults never change a reply: a busy database skips the write (debug
 * line); a missing directory, a read-only, corrupt or locked file, or one that
 * group or others can read, gives one warning and the in-process cache.
 *
 * @module
 */

import {
  AuthCache,
  type CacheLookup,
  encodeInput,
  type EntryTimes,
  type Freshness,
  type OutageCache,
  semantics,
  toKey,
} from "./auth_cache.ts";
import { checkNumber } from "./check_number.ts";
import type { Logger } from "./logger.ts";
import { type CachedOperation, hasPassword } from "./operations.ts";
import type { SqlDatabase, SqliteError, SqlStatement } from "./runtime/sqlite.ts";
import type { SqliteModule } from "./runtime/mod.ts";

/** scrypt's parameters for the password verifiers in the file. */
export const KDF = {
  /** CPU/memory cost: 16 MiB per computation (128 · N · r bytes). */
  N: 16_384,
  r: 8,
  p: 1,
  saltBytes: 16,
  keyBytes: 32,
  /** The first byte of a verifier: these parameters. */
  version: 1,
} as const;
const VERIFIER_BYTES = 1 + KDF.saltBytes + KDF.keyBytes;

/** How long the setup at start may wait for another process's lock. */
const OPEN_BUSY_MS = 2_000;
/** How long a lookup or write may wait for a lock while serving. */
const SERVE_BUSY_MS = 5;

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
  /** Wall-clock milliseconds; defaults to `Date.now()`. */
  readonly now?: () => number;
}

const MISS: CacheLookup = { hit: false };

/** The part of `node:crypto` used here. */
type NodeCrypto = Pick<typeof import("node:crypto"), "scrypt" | "timingSafeEqual">;
let nodeCrypto: NodeCrypto | undefined;

/**
 * `node:crypto`, loaded on first use: in the single bundled executable a static import of a
 * built-in is evaluated at every start, and serving without `--cache-file` never needs it
 * (about 4 ms of start-up with the JIT off).
 */
async function loadCrypto(): Promise<NodeCrypto> {
  return nodeCrypto ??= await import("node:crypto");
}

async function kdf(input: Uint8Array, salt: Uint8Array): Promise<Uint8Array> {
  const { scrypt } = await loadCrypto();
  return await new Promise((resolve, reject) =>
    scrypt(input, salt, KDF.keyBytes, {
      N: KDF.N,
      r: KDF.r,
      p: KDF.p,
      maxmem: 256 * KDF.N * KDF.r,
    }, (error, key) => error ? reject(error) : resolve(new Uint8Array(key)))
  );
}

async function makeVerifier(input: Uint8Array): Promise<Uint8Array> {
  const verifier = new Uint8Array(VERIFIER_BYTES);
  verifier[0] = KDF.version;
  crypto.getRandomValues(verifier.subarray(1, 1 + KDF.saltBytes));
  verifier.set(await kdf(input, verifier.subarray(1, 1 + KDF.saltBytes)), 1 + KDF.saltBytes);
  return verifier;
}

async function matchesVerifier(input: Uint8Array, verifier: Uint8Array): Promise<boolean> {
  if (verifier.length !== VERIFIER_BYTES || verifier[0] !== KDF.version) return false;
  const key = await kdf(input, verifier.subarray(1, 1 + KDF.saltBytes));
  return (await loadCrypto()).timingSafeEqual(key, verifier.subarray(1 + KDF.saltBytes));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A password this process has verified: its HMAC, and the verifier it matched. */
interface Known {
  readonly verifier: Uint8Array;
  readonly mac: Uint8Array<ArrayBuffer>;
}

interface Statements {
  readonly get: SqlStatement;
  readonly touch: SqlStatement;
  readonly exists: SqlStatement;
  readonly password: SqlStatement;
  readonly refresh: SqlStatement;
  readonly evict: SqlStatement;
  readonly forget: SqlStatement;
  readonly expirePassword: SqlStatement;
  readonly expireEntry: SqlStatement;
  readonly count: SqlStatement;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
  id BLOB PRIMARY KEY,
  exists_at INTEGER NOT NULL,
  password_at INTEGER,
  verifier BLOB,
  used INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS users_used ON users (used);
`;
const NEXT_USED = "(SELECT coalesce(max(used), 0) + 1 FROM users)";

function prepare(db: SqlDatabase): Statements {
  return {
    get: db.prepare("SELECT exists_at, password_at, verifier FROM users WHERE id = ?"),
    touch: db.prepare(`UPDATE users SET used = ${NEXT_USED} WHERE id = ?`),
    exists: db.prepare(
      `INSERT INTO users (id, exists_at, used) VALUES (?, ?, ${NEXT_USED}) ` +
        "ON CONFLICT (id) DO UPDATE SET exists_at = max(exists_at, excluded.exists_at), " +
        "used = excluded.used",
    ),
    password: db.prepare(
      "INSERT INTO users (id, exists_at, password_at, verifier, used) " +
        `VALUES (?, ?, ?, ?, ${NEXT_USED}) ON CONFLICT (id) DO UPDATE SET ` +
        "exists_at = max(exists_at, excluded.exists_at), password_at = excluded.password_at, " +
        "verifier = excluded.verifier, used = excluded.used",
    ),
    // The same password again: new times, only if nobody changed the verifier meanwhile.
    refresh: db.prepare(
      "UPDATE users SET exists_at = max(exists_at, ?), password_at = max(password_at, ?), " +
        `used = ${NEXT_USED} WHERE id = ? AND verifier = ?`,
    ),
    evict: db.prepare(
      "DELETE FROM users WHERE used <= " +
        "(SELECT used FROM users ORDER BY used DESC LIMIT 1 OFFSET ?)",
    ),
    forget: db.prepare("DELETE FROM users WHERE id = ?"),
    expirePassword: db.prepare(
      "UPDATE users SET password_at = NULL, verifier = NULL WHERE id = ? AND password_at <= ?",
    ),
    expireEntry: db.prepare(
      "DELETE FROM users WHERE id = ?1 AND exists_at <= ?2 " +
        "AND (password_at IS NULL OR password_at <= ?2)",
    ),
    count: db.prepare("SELECT count(*) AS n FROM users"),
  };
}

/** Opened file: the database, its statements and the key of its user ids. */
interface Store {
  readonly db: SqlDatabase;
  readonly sql: Statements;
  readonly key: CryptoKey;
}

/**
 * Opens the file, retrying for up to {@linkcode OPEN_BUSY_MS} while other copies hold it.
 * ejabberd starts its whole pool at once, and copies racing to set up a new file get
 * SQLITE_BUSY from SQLite at once, without its busy wait (it refuses a lock upgrade that
 * could deadlock): one start in ten of two copies fell back to an unshared cache, which
 * would go on accepting a password another copy was told is gone.
 */
async function openStore(options: SharedCacheOptions): Promise<Store | string> {
  const started = Date.now();
  while (true) {
    const result = await openStoreOnce(options);
    if (result !== BUSY) return result;
    if (Date.now() - started >= OPEN_BUSY_MS) {
      return `database is locked (another process held it for more than ${OPEN_BUSY_MS / 1000}s)`;
    }
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
  }
}

/** What {@linkcode openStoreOnce} returns when another connection held a lock. */
const BUSY = Symbol("busy");

async function openStoreOnce(options: SharedCacheOptions): Promise<Store | string | typeof BUSY> {
  const { sqlite, path } = options;
  const problem = sqlite.prepareCacheFile(path);
  if (problem !== undefined) return problem;
  let db: SqlDatabase | undefined;
  try {
    db = await sqlite.openSqlite(path);
    db.exec(`PRAGMA busy_timeout = ${OPEN_BUSY_MS}`);
    const mode = db.prepare("PRAGMA journal_mode = WAL").get()?.journal_mode;
    if (mode !== "wal") {
      db.close();
      return `SQLite cannot use WAL mode there (journal mode ${String(mode)})`;
    }
    db.exec("PRAGMA synchronous = NORMAL");
    // The write lock first (the busy wait applies to taking it), then read and write: no
    // read lock to upgrade, which SQLite would refuse at once to another copy doing the same.
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(SCHEMA);
      const fresh = crypto.getRandomValues(new Uint8Array(32));
      db.prepare("INSERT OR IGNORE INTO meta (name, value) VALUES ('key', ?)").run(fresh);
      fresh.fill(0);
      db.exec("COMMIT");
    } catch (error) {
      try {
        db.exec("ROLLBACK");
      } catch { /* no transaction left to roll back */ }
      throw error;
    }
    const raw = db.prepare("SELECT value FROM meta WHERE name = 'key'").get()?.value;
    if (!(raw instanceof Uint8Array) || raw.length !== 32) {
      db.close();
      return "its key is missing or malformed (delete the file to start afresh)";
    }
    const keyBytes = new Uint8Array(raw);
    const key = await crypto.subtle.importKey(
      "raw",
      keyBytes,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    keyBytes.fill(0);
    const sql = prepare(db);
    sql.count.get(); // reads a page of the table: a corrupt file fails here, not later
    db.exec(`PRAGMA busy_timeout = ${SERVE_BUSY_MS}`);
    return { db, sql, key };
  } catch (error) {
    try {
      db?.close();
    } catch { /* already failed */ }
    const e = sqlite.classify(error);
    return e.kind === "busy" ? BUSY : e.message;
  }
}

/**
 * Opens the shared cache at `options.path`, or, when the file cannot be
 * used, logs one warning and returns an in-process {@linkcode AuthCache}.
 * Returns a disabled in-process cache at once when both TTLs are 0.
 *
 * @example Open a shared cache
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { createLogger } from "./logger.ts";
 * import { detectRuntime } from "./runtime/mod.ts";
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
  checkNumber("auth cache", "ttlMs", options.ttlMs);
  checkNumber("auth cache", "staleTtlMs", options.staleTtlMs);
  checkNumber("auth cache", "maxEntries", options.maxEntries, { integer: true });
  const memory = await AuthCache.create(options);
  if (!memory.enabled) return memory;
  const store = await openStore(options);
  if (typeof store === "string") {
    options.logger.warn(
      `cannot use --cache-file ${options.path}: ${store}; using an in-process cache instead ` +
        "(not shared by the pool, lost on restart)",
    );
    return memory;
  }
  return new SharedAuthCache(options, store, memory);
}

/**
 * The file-backed cache. Made by {@linkcode openSharedCache}; falls back to
 * its in-process twin for good after a storage error other than a busy lock.
 */
export class SharedAuthCache implements OutageCache {
  readonly enabled = true;
  private store: Store | undefined;
  private readonly fallback: AuthCache;
  private readonly path: string;
  private readonly logger: Logger;
  private readonly classify: SqliteModule["classify"];
  private readonly ttlMs: number;
  private readonly staleMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** The file's key for user ids. */
  private readonly fileKey: CryptoKey;
  /** This process's key for {@linkcode Known.mac}; never leaves the process. */
  private readonly ownKey: Promise<CryptoKey>;
  /** Passwords verified by this process, by base64 user id; least recently used first. */
  private readonly known = new Map<string, Known>();

  /** Use {@linkcode openSharedCache}. */
  constructor(options: SharedCacheOptions, store: Store, fallback: AuthCache) {
    this.store = store;
    this.fileKey = store.key;
    this.fallback = fallback;
    this.path = options.path;
    this.logger = options.logger;
    this.classify = options.sqlite.classify;
    this.ttlMs = options.ttlMs;
    this.staleMs = Math.max(options.ttlMs, options.staleTtlMs);
    this.maxEntries = options.maxEntries;
    const clock = options.now;
    this.now = clock === undefined ? () => Date.now() : () => clock();
    this.ownKey = crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
  }

  /** Whether the file is in use (false after a fall-back to the in-process cache). */
  get shared(): boolean {
    return this.store !== undefined;
  }

  /** The number of users in the file (or in the fall-back cache). */
  get size(): number {
    const store = this.store;
    if (store === undefined) return this.fallback.size;
    return Number(this.read(() => store.sql.count.get()?.n) ?? 0);
  }

  /** See {@linkcode AuthCache.lookup}. */
  async lookup(
    op: CachedOperation,
    user: string,
    server: string,
    password: string | undefined,
    freshness: Freshness,
  ): Promise<CacheLookup> {
    if (this.store === undefined) {
      return this.fallback.lookup(op, user, server, password, freshness);
    }
    const window = semantics.window(freshness, this.ttlMs, this.staleMs);
    if (window <= 0 || (hasPassword(op) && password === undefined)) return MISS;
    const id = await this.id(user, server);
    const row = this.getRow(id);
    if (row === undefined) return MISS;
    const now = this.now();
    const expired = semantics.expired(row.times, now, this.staleMs);
    if (expired.entry) {
      this.write((sql) => sql.expireEntry.run(id, now - this.staleMs));
      return MISS;
    }
    let times = row.times;
    let verifier = row.verifier;
    if (expired.password) {
      this.write((sql) => sql.expirePassword.run(id, now - this.staleMs));
      times = { existsAt: times.existsAt, passwordAt: undefined };
      verifier = undefined;
    }
    const at = semantics.answerAt(op, times);
    if (at === undefined) return MISS;
    const result = semantics.judge(at, now, window);
    if (!result.hit) return MISS;
    if (hasPassword(op)) {
      const known = await this.knows(id, user, server, password!, verifier!);
      if (known === "no") return MISS;
      if (known === "unknown") {
        // A fresh answer never pays the KDF: ask the API, whose "yes" teaches this process.
        if (freshness === "fresh") return MISS;
        const input = encodeInput(user, server, password);
        const same = await matchesVerifier(input, verifier!);
        if (!same) {
          input.fill(0);
          return MISS;
        }
        await this.learn(id, input, verifier!);
        input.fill(0);
        // Forgotten, or given a new password, by some process while the KDF ran?
        const again = this.getRow(id);
        if (again?.verifier === undefined || !sameBytes(again.verifier, verifier!)) return MISS;
      }
    }
    this.write((sql) => sql.touch.run(id));
    return result;
  }

  /** See {@linkcode AuthCache.remember}. */
  async remember(
    op: CachedOperation,
    user: string,
    server: string,
    password?: string,
  ): Promise<void> {
    if (this.store === undefined) return this.fallback.remember(op, user, server, password);
    const id = await this.id(user, server);
    const now = this.now();
    if (!hasPassword(op) || password === undefined) {
      if (this.write((sql) => sql.exists.run(id, now)) !== undefined) this.evict();
      return;
    }
    const row = this.getRow(id);
    const stored = row?.verifier;
    if (stored !== undefined) {
      const known = await this.knows(id, user, server, password, stored);
      let same = known === "yes";
      if (known === "unknown") {
        const input = encodeInput(user, server, password);
        same = await matchesVerifier(input, stored);
        if (same) await this.learn(id, input, stored);
        input.fill(0);
      }
      // The same password again: new times for the verifier already there, no new KDF.
      if (same && (this.write((sql) => sql.refresh.run(now, now, id, stored)) ?? 0) > 0) return;
    }
    const input = encodeInput(user, server, password);
    const verifier = await makeVerifier(input);
    if (this.write((sql) => sql.password.run(id, now, now, verifier)) !== undefined) {
      await this.learn(id, input, verifier);
      this.evict();
    }
    input.fill(0);
  }

  /** See {@linkcode AuthCache.forget}. */
  async forget(user: string, server: string): Promise<void> {
    if (this.store === undefined) return this.fallback.forget(user, server);
    const id = await this.id(user, server);
    this.known.delete(toKey(id));
    // Never skipped on contention like other writes: a forget that did not happen would let a
    // refused or replaced password in through another copy. It may wait up to OPEN_BUSY_MS.
    const store = this.store;
    try {
      store.db.exec(`PRAGMA busy_timeout = ${OPEN_BUSY_MS}`);
      try {
        store.sql.forget.run(id);
      } finally {
        store.db.exec(`PRAGMA busy_timeout = ${SERVE_BUSY_MS}`);
      }
    } catch (error) {
      const e: SqliteError = this.classify(error);
      this.logger.warn(
        `cannot use --cache-file ${this.path} any more: could not forget a user (${e.message}); ` +
          "using an in-process cache from now on (not shared by the pool, lost on restart)",
      );
      this.close();
    }
  }

  /** Closes the file (the cache keeps working in-process). */
  close(): void {
    const store = this.store;
    this.store = undefined;
    try {
      store?.db.close();
    } catch { /* closing is best effort */ }
  }

  private async id(user: string, server: string): Promise<Uint8Array> {
    const data = encodeInput(user, server);
    return new Uint8Array(await crypto.subtle.sign("HMAC", this.fileKey, data));
  }

  /**
   * Whether this process already verified `password` against `verifier`:
   * `"yes"`, `"no"` (it verified another password against this very
   * verifier), or `"unknown"`. Costs one HMAC, never the KDF.
   */
  private async knows(
    id: Uint8Array,
    user: string,
    server: string,
    password: string,
    verifier: Uint8Array,
  ): Promise<"yes" | "no" | "unknown"> {
    const slot = toKey(id);
    const known = this.known.get(slot);
    if (known === undefined || !sameBytes(known.verifier, verifier)) return "unknown";
    const data = encodeInput(user, server, password);
    const same = await crypto.subtle.verify("HMAC", await this.ownKey, known.mac, data);
    data.fill(0);
    if (!same) return "no";
    this.known.delete(slot);
    this.known.set(slot, known);
    return "yes";
  }

  /** Notes that the password in `input` matches `verifier`. */
  private async learn(id: Uint8Array, input: Uint8Array, verifier: Uint8Array): Promise<void> {
    const slot = toKey(id);
    const mac = new Uint8Array(
      await crypto.subtle.sign("HMAC", await this.ownKey, input as Uint8Array<ArrayBuffer>),
    );
    this.known.delete(slot);
    this.known.set(slot, { verifier, mac });
    for (const oldest of this.known.keys()) {
      if (this.known.size <= this.maxEntries) break;
      this.known.delete(oldest);
    }
  }

  private getRow(id: Uint8Array):
    | { times: EntryTimes; verifier: Uint8Array | undefined }
    | undefined {
    const store = this.store;
    if (store === undefined) return undefined;
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
    const e: SqliteError = this.classify(error);
    if (e.kind === "busy") {
      if (this.logger.enabled("debug")) {
        this.logger.debug(`--cache-file ${this.path} is busy: skipped one ${what}`);
      }
      return;
    }
    this.logger.warn(
      `cannot use --cache-file ${this.path} any more: ${e.message}; using an in-process cache ` +
        "from now on (not shared by the pool, lost on restart)",
    );
    this.close();
  }
}
