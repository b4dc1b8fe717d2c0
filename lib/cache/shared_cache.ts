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
import { checkNumber } from "../core/check_number.ts";
import type { Logger } from "../log/logger.ts";
import { type CachedOperation, hasPassword } from "../core/operations.ts";
import type { SqlDatabase, SqliteError, SqlStatement } from "../runtime/sqlite.ts";
import type { SqliteModule } from "../runtime/mod.ts";

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
/** How long a copy that cannot use the file waits before it tries again. */
export const RETRY_MS = 30_000;
/** How long a `forgets` row is kept: far beyond any request's deadline. */
const FORGETS_KEPT_MS = 3_600_000;
/** How often one process prunes old `forgets` rows. */
const PRUNE_EVERY_MS = 60_000;
/** The layout of the file; a file of another version loses its users at open. */
const SCHEMA_VERSION = 2;

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

/** A new verifier of `input`: version byte, random salt, scrypt (also used by redis_cache.ts). */
export async function makeVerifier(input: Uint8Array): Promise<Uint8Array> {
  const verifier = new Uint8Array(VERIFIER_BYTES);
  verifier[0] = KDF.version;
  crypto.getRandomValues(verifier.subarray(1, 1 + KDF.saltBytes));
  verifier.set(await kdf(input, verifier.subarray(1, 1 + KDF.saltBytes)), 1 + KDF.saltBytes);
  return verifier;
}

/** Whether `input` matches `verifier` (one scrypt). */
export async function matchesVerifier(input: Uint8Array, verifier: Uint8Array): Promise<boolean> {
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
  readonly seq: SqlStatement;
  readonly touch: SqlStatement;
  readonly exists: SqlStatement;
  readonly password: SqlStatement;
  readonly refresh: SqlStatement;
  readonly evict: SqlStatement;
  readonly bump: SqlStatement;
  readonly tombstone: SqlStatement;
  readonly forget: SqlStatement;
  readonly prunedSeq: SqlStatement;
  readonly prune: SqlStatement;
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
CREATE TABLE IF NOT EXISTS forgets (
  id BLOB PRIMARY KEY,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  hold INTEGER NOT NULL
) WITHOUT ROWID;
`;
const NEXT_USED = "(SELECT coalesce(max(used), 0) + 1 FROM users)";

/**
 * The condition of every remember: no forget of user `?id` since the login's
 * mark `?since`, none holding it at `?now`, none pruned since the mark.
 */
function allowed(id: number, since: number, now: number): string {
  return `NOT EXISTS (SELECT 1 FROM forgets WHERE id = ?${id} AND (seq > ?${since} ` +
    `OR hold > ?${now})) AND (SELECT value FROM meta WHERE name = 'pruned_seq') <= ?${since}`;
}

function prepare(db: SqlDatabase): Statements {
  return {
    get: db.prepare("SELECT exists_at, password_at, verifier FROM users WHERE id = ?"),
    seq: db.prepare("SELECT value AS seq FROM meta WHERE name = 'seq'"),
    touch: db.prepare(`UPDATE users SET used = ${NEXT_USED} WHERE id = ?`),
    // (id, now, since)
    exists: db.prepare(
      `INSERT INTO users (id, exists_at, used) SELECT ?1, ?2, ${NEXT_USED} ` +
        `WHERE ${allowed(1, 3, 2)} ` +
        "ON CONFLICT (id) DO UPDATE SET exists_at = max(exists_at, excluded.exists_at), " +
        "used = excluded.used",
    ),
    // (id, now, verifier, since)
    password: db.prepare(
      "INSERT INTO users (id, exists_at, password_at, verifier, used) " +
        `SELECT ?1, ?2, ?2, ?3, ${NEXT_USED} WHERE ${allowed(1, 4, 2)} ` +
        "ON CONFLICT (id) DO UPDATE SET " +
        "exists_at = max(exists_at, excluded.exists_at), password_at = excluded.password_at, " +
        "verifier = excluded.verifier, used = excluded.used",
    ),
    // The same password again: new times, only if nobody changed the verifier meanwhile.
    // (id, now, verifier, since)
    refresh: db.prepare(
      "UPDATE users SET exists_at = max(exists_at, ?2), password_at = max(password_at, ?2), " +
        `used = ${NEXT_USED} WHERE id = ?1 AND verifier = ?3 AND ${allowed(1, 4, 2)}`,
    ),
    evict: db.prepare(
      "DELETE FROM users WHERE used <= " +
        "(SELECT used FROM users ORDER BY used DESC LIMIT 1 OFFSET ?)",
    ),
    bump: db.prepare("UPDATE meta SET value = value + 1 WHERE name = 'seq'"),
    // (id, now, hold until)
    tombstone: db.prepare(
      "INSERT INTO forgets (id, seq, at, hold) " +
        "VALUES (?1, (SELECT value FROM meta WHERE name = 'seq'), ?2, ?3) " +
        "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, at = excluded.at, " +
        "hold = max(hold, excluded.hold)",
    ),
    forget: db.prepare("DELETE FROM users WHERE id = ?"),
    // (older than, now)
    prunedSeq: db.prepare(
      "UPDATE meta SET value = max(value, coalesce((SELECT max(seq) FROM forgets " +
        "WHERE at < ?1 AND hold <= ?2), 0)) WHERE name = 'pruned_seq'",
    ),
    prune: db.prepare("DELETE FROM forgets WHERE at < ?1 AND hold <= ?2"),
    // (id, older than, ahead of)
    expirePassword: db.prepare(
      "UPDATE users SET password_at = NULL, verifier = NULL WHERE id = ?1 " +
        "AND (password_at <= ?2 OR password_at > ?3)",
    ),
    expireEntry: db.prepare(
      "DELETE FROM users WHERE id = ?1 AND ((exists_at <= ?2 " +
        "AND (password_at IS NULL OR password_at <= ?2)) OR exists_at > ?3 OR password_at > ?3)",
    ),
    count: db.prepare("SELECT count(*) AS n FROM users"),
  };
}

/** Opened file: the database, its statements and the key of its user ids. */
interface Store {
  readonly db: SqlDatabase;
  readonly sql: Statements;
  readonly key: CryptoKey;
  /** `dev:ino` of the path when it was opened. */
  readonly identity: string | undefined;
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
  const identity = sqlite.fileIdentity(path);
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
      const version = db.prepare("SELECT value FROM meta WHERE name = 'schema'").get()?.value;
      if (Number(version) !== SCHEMA_VERSION) {
        // A file of the first layout has no record of its forgets: its users cannot be trusted.
        db.exec("DELETE FROM users");
        db.exec("DELETE FROM forgets");
        db.exec(
          `INSERT OR REPLACE INTO meta (name, value) VALUES ('schema', ${SCHEMA_VERSION}), ` +
            "('seq', 0), ('pruned_seq', 0)",
        );
      }
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
    return { db, sql, key, identity };
  } catch (error) {
    try {
      db?.close();
    } catch { /* already failed */ }
    const e = sqlite.classify(error);
    return e.kind === "busy" ? BUSY : e.message;
  }
}

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
  checkNumber("auth cache", "ttlMs", options.ttlMs);
  checkNumber("auth cache", "staleTtlMs", options.staleTtlMs);
  checkNumber("auth cache", "maxEntries", options.maxEntries, { integer: true });
  const memory = await AuthCache.create(options);
  if (!memory.enabled) return memory;
  const cache = new SharedAuthCache(options);
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
  private readonly options: SharedCacheOptions;
  private readonly path: string;
  private readonly logger: Logger;
  private readonly sqlite: SqliteModule;
  private readonly ttlMs: number;
  private readonly staleMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** This process's key for {@linkcode Known.mac}; never leaves the process. */
  private readonly ownKey: Promise<CryptoKey>;
  /** Passwords verified by this process in the open file, by base64 user id; LRU first. */
  private readonly known = new Map<string, Known>();
  /** When (performance.now()) to try the file again; while no store. */
  private retryAt = 0;
  /** Why the file could not be used last; undefined while it is in use. */
  private problem: string | undefined;
  /** When (performance.now()) this process last pruned old forgets. */
  private prunedAt = -Infinity;

  /** Use {@linkcode openSharedCache}. */
  constructor(options: SharedCacheOptions) {
    this.options = options;
    this.path = options.path;
    this.logger = options.logger;
    this.sqlite = options.sqlite;
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
    const store = await openStore(this.options);
    if (typeof store === "string") {
      this.retryAt = performance.now() + RETRY_MS;
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
      if (this.sqlite.fileIdentity(this.path) === store.identity) return store;
      this.logger.warn(
        `--cache-file ${this.path} was removed or replaced: nothing more is served from the ` +
          "file this process had open; opening the path afresh",
      );
      this.close();
    } else if (!now && performance.now() < this.retryAt) {
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
    const now = this.now();
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
        if (this.store !== store) {
          input.fill(0);
          return MISS;
        }
        await this.learn(id, input, verifier!);
        input.fill(0);
        // Forgotten, or given a new password, by some process while the KDF ran?
        if (this.store !== store) return MISS;
        const again = this.getRow(store, id);
        if (again?.verifier === undefined || !sameBytes(again.verifier, verifier!)) return MISS;
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
    const now = this.now();
    if (!hasPassword(op) || password === undefined) {
      if ((this.write((sql) => sql.exists.run(id, now, since)) ?? 0) > 0) this.evict();
      return;
    }
    const row = this.getRow(store, id);
    const stored = row?.verifier;
    if (stored !== undefined) {
      const known = await this.knows(id, user, server, password, stored);
      let same = known === "yes";
      if (known === "unknown") {
        const input = encodeInput(user, server, password);
        same = await matchesVerifier(input, stored);
        if (same && this.store === store) await this.learn(id, input, stored);
        input.fill(0);
      }
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
      await this.learn(id, input, verifier);
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
      this.known.delete(toKey(id));
      try {
        this.forgetIn(store, id, options.hold === true);
        return true;
      } catch (error) {
        cause = this.sqlite.classify(error).message;
      }
    }
    this.close();
    this.retryAt = performance.now() + RETRY_MS;
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
    const now = this.now();
    db.exec(`PRAGMA busy_timeout = ${OPEN_BUSY_MS}`);
    try {
      db.exec("BEGIN IMMEDIATE");
      try {
        sql.bump.run();
        sql.tombstone.run(id, now, hold ? now + HOLD_MS : 0);
        sql.forget.run(id);
        const due = performance.now() - this.prunedAt >= PRUNE_EVERY_MS;
        if (due) {
          sql.prunedSeq.run(now - FORGETS_KEPT_MS, now);
          sql.prune.run(now - FORGETS_KEPT_MS, now);
        }
        db.exec("COMMIT");
        if (due) this.prunedAt = performance.now();
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
    this.retryAt = performance.now() + RETRY_MS;
    this.close();
  }
}
