/**
 * Opening the shared cache file: the checks of the file (`prepareCacheFile`), WAL mode,
 * the layout and key (`schema.ts`), with retries while other copies of the pool set the
 * same file up; and whether the path still names the file that was opened.
 *
 * @module
 */

import { type Clock, sleep } from "../core/clock.ts";
import type { SqlDatabase } from "../runtime/sqlite.ts";
import type { SqliteModule } from "../runtime/mod.ts";
import { prepare, setUp, type Statements } from "./schema.ts";

/** How long the setup at start, and a forget, may wait for another process's lock. */
export const OPEN_BUSY_MS = 2_000;
/** How long a lookup or write may wait for a lock while serving. */
export const SERVE_BUSY_MS = 5;

/** Opened file: the database, its statements and the key of its user ids. */
export interface Store {
  readonly db: SqlDatabase;
  readonly sql: Statements;
  readonly key: CryptoKey;
  /** `dev:ino` of the path when it was opened. */
  readonly identity: string | undefined;
}

/**
 * Opens the file, retrying for up to {@linkcode OPEN_BUSY_MS} (on the monotonic clock) while
 * other copies hold it. ejabberd starts its whole pool at once, and copies racing to set up a
 * new file get SQLITE_BUSY from SQLite at once, without its busy wait (it refuses a lock
 * upgrade that could deadlock): one start in ten of two copies fell back to an unshared cache,
 * which would go on accepting a password another copy was told is gone.
 *
 * @returns the store, or why the file cannot be used.
 */
export async function openStore(
  sqlite: SqliteModule,
  path: string,
  clock: Clock,
): Promise<Store | string> {
  const started = clock.now();
  while (true) {
    const result = await openStoreOnce(sqlite, path);
    if (result !== BUSY) return result;
    if (clock.now() - started >= OPEN_BUSY_MS) {
      return `database is locked (another process held it for more than ${OPEN_BUSY_MS / 1000}s)`;
    }
    await sleep(clock, 5 + Math.random() * 20);
  }
}

/** Whether `path` still names the file `store` was opened on (one stat). */
export function stillOpenAt(sqlite: SqliteModule, path: string, store: Store): boolean {
  return sqlite.fileIdentity(path) === store.identity;
}

/** What {@linkcode openStoreOnce} returns when another connection held a lock. */
const BUSY = Symbol("busy");

async function openStoreOnce(
  sqlite: SqliteModule,
  path: string,
): Promise<Store | string | typeof BUSY> {
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
    setUp(db);
    const key = await readKey(db);
    if (key === undefined) {
      db.close();
      return "its key is missing or malformed (delete the file to start afresh)";
    }
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

/** The file's key of the user ids, as a non-extractable HMAC key; undefined if malformed. */
async function readKey(db: SqlDatabase): Promise<CryptoKey | undefined> {
  const raw = db.prepare("SELECT value FROM meta WHERE name = 'key'").get()?.value;
  if (!(raw instanceof Uint8Array) || raw.length !== 32) return undefined;
  const keyBytes = new Uint8Array(raw);
  const key = await crypto.subtle.importKey(
    "raw",
    keyBytes,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  keyBytes.fill(0);
  return key;
}
