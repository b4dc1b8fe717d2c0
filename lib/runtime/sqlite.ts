/**
 * The runtime's built-in SQLite driver behind one small interface:
 * `bun:sqlite` under Bun, `node:sqlite` under Deno (which needs
 * `--allow-read` and `--allow-write` for the file). Loaded only when
 * `--cache-file` is given (see `loadSqlite` in `common.ts`), so that
 * serving without it loads neither the driver nor `node:fs`.
 *
 * Also the file-system side of the cache file: it is created `0600` before
 * SQLite opens it, and one that group or others may read or write, a symbolic
 * link, or one in a folder other users can write is refused.
 *
 * @module
 */

import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  realpathSync,
  type Stats,
  statSync,
  unlinkSync,
} from "node:fs";
import { folderOf, folderOpenToOthers } from "./file_trust.ts";

/** SQLite's `SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW`. */
const OPEN_FLAGS = 0x2 | 0x4 | 0x01000000;

/** A bound parameter: numbers, text, bytes or NULL. */
export type SqlValue = number | string | Uint8Array | null;
/** A row, by column name. */
export type SqlRow = Readonly<Record<string, unknown>>;

/** One prepared statement. */
export interface SqlStatement {
  /** Runs the statement; returns how many rows it changed. */
  run(...params: SqlValue[]): number;
  /** The first row, or undefined. */
  get(...params: SqlValue[]): SqlRow | undefined;
}

/** An open database. Every method throws {@linkcode SqliteError} on failure. */
export interface SqlDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  close(): void;
}

/**
 * What went wrong, in SQLite's terms: `busy` (another connection holds the
 * lock longer than the busy timeout), `readonly`, `corrupt` (not a database,
 * malformed), `cantopen` (missing directory, no permission), `other`.
 */
export type SqliteErrorKind = "busy" | "readonly" | "corrupt" | "cantopen" | "other";

/** An error from the driver, classified. The message is SQLite's own. */
export class SqliteError extends Error {
  override name = "SqliteError";
  readonly kind: SqliteErrorKind;
  constructor(kind: SqliteErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

/**
 * Classifies a driver error. `bun:sqlite` sets `code` (`SQLITE_BUSY`, ...);
 * `node:sqlite` under Deno gives only SQLite's message, so both are read.
 */
export function classify(error: unknown): SqliteError {
  if (error instanceof SqliteError) return error;
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : "";
  const message = typeof e?.message === "string" ? e.message : String(error);
  const text = `${code} ${message}`;
  const kind: SqliteErrorKind = /SQLITE_BUSY|SQLITE_LOCKED|database is locked|table is locked/
      .test(text)
    ? "busy"
    : /SQLITE_READONLY|readonly database|read-only/.test(text)
    ? "readonly"
    : /SQLITE_CORRUPT|SQLITE_NOTADB|not a database|malformed/.test(text)
    ? "corrupt"
    : /SQLITE_CANTOPEN|unable to open|SQLITE_PERM|SQLITE_AUTH/.test(text)
    ? "cantopen"
    : "other";
  // node:sqlite appends the path to "unable to open database file": keep SQLite's words only.
  return new SqliteError(kind, message.replace(/^(unable to open database file):.*$/, "$1"));
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw classify(error);
  }
}

interface DriverStatement {
  run(...params: SqlValue[]): { changes: number | bigint };
  get(...params: SqlValue[]): unknown;
}
interface DriverDatabase {
  exec(sql: string): void;
  prepare(sql: string): DriverStatement;
  close(): void;
}

function adapt(db: DriverDatabase): SqlDatabase {
  return {
    exec: (sql) => wrap(() => db.exec(sql)),
    prepare(sql) {
      const statement = wrap(() => db.prepare(sql));
      return {
        run: (...params) => wrap(() => Number(statement.run(...params).changes)),
        get: (...params) =>
          wrap(() => (statement.get(...params) ?? undefined) as SqlRow | undefined),
      };
    },
    close: () => wrap(() => db.close()),
  };
}

/**
 * Opens (creating it when missing) a SQLite database with the runtime's own
 * driver. Under Bun with `SQLITE_OPEN_NOFOLLOW`: SQLite refuses a path with a
 * symbolic link anywhere in it, so the folder is resolved first (a link among
 * the folders is the admin's; the file itself must not be one). `node:sqlite`
 * takes no open flags: under Deno only {@linkcode prepareCacheFile}'s checks hold.
 *
 * @throws {SqliteError} when the file cannot be opened.
 * @example Open a database in memory
 * ```ts
 * import assert from "node:assert/strict";
 * import { openSqlite } from "./sqlite.ts";
 * const db = await openSqlite(":memory:");
 * assert.deepEqual({ ...db.prepare("SELECT 1 + 1 AS two").get() }, { two: 2 });
 * db.close();
 * ```
 */
export async function openSqlite(path: string): Promise<SqlDatabase> {
  // The module names are not literals, so that neither runtime's type checker tries to resolve
  // the other's driver.
  if ("Bun" in globalThis) {
    const name = "bun:sqlite";
    const { Database } = await import(name) as {
      Database: new (path: string, flags: number) => DriverDatabase;
    };
    return adapt(wrap(() => new Database(resolveFolder(path), OPEN_FLAGS)));
  }
  const name = "node:sqlite";
  const { DatabaseSync } = await import(name) as {
    DatabaseSync: new (path: string) => DriverDatabase;
  };
  return adapt(wrap(() => new DatabaseSync(path)));
}

/** Why a cache file may not be used, or undefined when it may. */
export type FileProblem = string | undefined;

/** `path` with its folder's symbolic links resolved; `:memory:` and `file:` URIs as they are. */
function resolveFolder(path: string): string {
  if (path === ":memory:" || path.startsWith("file:")) return path;
  let folder: string;
  try {
    folder = realpathSync(folderOf(path));
  } catch {
    return path; // no such folder: SQLite says so in its own words
  }
  return `${folder === "/" ? "" : folder}/${path.slice(path.lastIndexOf("/") + 1)}`;
}

/** What SQLite opens beside the database file (WAL mode, and a rollback journal). */
const COMPANIONS = ["-wal", "-shm", "-journal"];

/** The process's user: the owner of `/proc/self`, else `process.geteuid`, else unknown. */
function processUid(): number | undefined {
  try {
    return statSync("/proc/self").uid;
  } catch {
    const p = (globalThis as { process?: { geteuid?: () => number } }).process;
    try {
      return p?.geteuid?.();
    } catch {
      return undefined;
    }
  }
}

function lstatOrNone(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Why a file SQLite would open may not be used: a link, not a file, two links, another owner. */
function fileProblem(stat: Stats, uid: number | undefined, name: string): FileProblem {
  if (stat.isSymbolicLink()) return `${name} is a symbolic link`;
  if (!stat.isFile()) return `${name} is not a regular file`;
  if (stat.nlink !== 1) return `${name} has ${stat.nlink} hard links`;
  if (uid !== undefined && stat.uid !== uid) return `${name} belongs to uid ${stat.uid}`;
  return undefined;
}

/**
 * Checks the cache file and what lies beside it, and creates the file `0600`
 * (`O_CREAT|O_EXCL|O_NOFOLLOW`) when it does not exist. SQLite opens the file
 * and its `-wal`, `-shm` and `-journal` by name, so nobody but the process's
 * user and root may be able to write the folder (its owner is one of them, no
 * group or other write bit, sticky or not); the file and any of the three
 * beside it must be a regular file with one link, owned by the process's user,
 * never a symbolic link; group and others may neither read nor write the file.
 * Returns a problem in words, or undefined.
 *
 * @example Check a cache file
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { prepareCacheFile } from "./sqlite.ts";
 * const dir = mkdtempSync(`${tmpdir()}/cache-`);
 * assert.equal(prepareCacheFile(`${dir}/cache.db`), undefined);
 * ```
 */
export function prepareCacheFile(path: string): FileProblem {
  const uid = processUid();
  try {
    const existing = lstatOrNone(path);
    if (existing?.isSymbolicLink()) return "it is a symbolic link (give the file's real path)";
    if (existing !== undefined && !existing.isFile()) return "it is not a regular file";
    const folder = folderOf(path);
    const open = folderOpenToOthers(folder, statSync(folder), uid);
    if (open !== undefined) {
      return `other users can write its folder (${open}): use a folder only the server's ` +
        "user can write";
    }
    for (const suffix of COMPANIONS) {
      const companion = lstatOrNone(path + suffix);
      const problem = companion && fileProblem(companion, uid, `its ${suffix} file`);
      if (problem !== undefined) return problem;
    }
  } catch (error) {
    return describeFsError(error);
  }
  let fd: number;
  try {
    fd = openSync(
      path,
      constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_RDWR,
      0o600,
    );
  } catch (error) {
    if ((error as { code?: string }).code !== "EEXIST") return describeFsError(error);
    try {
      // O_NONBLOCK: a pipe put there in the meantime is refused below, not waited on.
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      return (error as { code?: string }).code === "ELOOP"
        ? "it is a symbolic link (give the file's real path)"
        : describeFsError(error);
    }
  }
  let stat: Stats;
  try {
    stat = fstatSync(fd);
    const now = lstatOrNone(path);
    if (now === undefined || now.dev !== stat.dev || now.ino !== stat.ino) {
      return "it was replaced while being checked";
    }
  } catch (error) {
    return describeFsError(error);
  } finally {
    closeSync(fd);
  }
  const problem = fileProblem(stat, uid, "it");
  if (problem !== undefined) return problem;
  const mode = stat.mode & 0o777;
  if ((mode & 0o066) !== 0) {
    return `its mode is ${mode.toString(8).padStart(4, "0")}: group or others may read or ` +
      "write it (chmod 600 it)";
  }
  return undefined;
}

function describeFsError(error: unknown): string {
  const code = (error as { code?: string }).code;
  switch (code) {
    case "ENOENT":
      return "no such directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    default:
      return (error as Error).message ?? String(error);
  }
}

/**
 * What the path names now, as `dev:ino`, or undefined when nothing is there
 * (or it cannot be read): a cache file deleted or replaced while open shows a
 * different answer than at open. One `stat`, no open.
 *
 * @example The same file, then none
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { fileIdentity } from "./sqlite.ts";
 * const path = `${mkdtempSync(`${tmpdir()}/cache-`)}/cache.db`;
 * writeFileSync(path, "");
 * assert.equal(fileIdentity(path), fileIdentity(path));
 * rmSync(path);
 * assert.equal(fileIdentity(path), undefined);
 * ```
 */
export function fileIdentity(path: string): string | undefined {
  try {
    const stat = statSync(path);
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Removes a cache file, then its `-wal` and `-shm` (in that order: a `-wal`
 * without its database could be replayed into a new file at the same path).
 * Works on a full disk and under another process's lock. Returns `"absent"`
 * when nothing (or no regular file) was there to remove, `"removed"`, or the
 * problem in words.
 *
 * @example Remove a database and its companions
 * ```ts
 * import assert from "node:assert/strict";
 * import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { removeCacheFile } from "./sqlite.ts";
 * const path = `${mkdtempSync(`${tmpdir()}/cache-`)}/cache.db`;
 * for (const name of [path, `${path}-wal`, `${path}-shm`]) writeFileSync(name, "");
 * assert.equal(removeCacheFile(path), "removed");
 * assert.equal(existsSync(`${path}-wal`), false);
 * assert.equal(removeCacheFile(path), "absent");
 * ```
 */
export function removeCacheFile(path: string): "absent" | "removed" | string {
  try {
    const stat = lstatSync(path);
    if (!stat.isFile() && !stat.isSymbolicLink()) return "absent";
    unlinkSync(path);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return "absent";
    return describeFsError(error);
  }
  for (const companion of [`${path}-wal`, `${path}-shm`]) {
    try {
      unlinkSync(companion);
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT") {
        return `${companion}: ${describeFsError(error)}`;
      }
    }
  }
  return "removed";
}
