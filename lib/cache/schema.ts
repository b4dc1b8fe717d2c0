/**
 * The layout of the shared cache file and its statements: `meta` (the key of the
 * user ids, the forget counter `seq`, `pruned_seq`, the layout version), `users`
 * (per user id: times, verifier, LRU sequence) and `forgets` (per user id: the
 * `seq` of its last forget, when, and until when no remember may write it).
 * Every remember writes only under the condition of {@linkcode allowed}.
 *
 * @module
 */

import type { SqlDatabase, SqlStatement } from "../runtime/sqlite.ts";

/** The layout of the file; a file of another version loses its users at open. */
const SCHEMA_VERSION = 2;

/** The prepared statements of an open file. */
export interface Statements {
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

/** Prepares every statement of {@linkcode Statements} on an open file. */
export function prepare(db: SqlDatabase): Statements {
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

/**
 * Creates the tables and the key of a new file, and empties a file of another layout (whose
 * users cannot be trusted); in one transaction that takes the write lock first. Throws what
 * SQLite throws (SQLITE_BUSY when another copy holds the lock).
 */
export function setUp(db: SqlDatabase): void {
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
}
