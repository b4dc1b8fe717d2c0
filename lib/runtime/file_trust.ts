/**
 * Whether a folder or a file can be trusted not to be redirected by another user: the
 * checks the log files (`log_file.ts`) and the cache file (`sqlite.ts`) share. No imports.
 *
 * @module
 */

/** What `openLogFile` reads of a file (`node:fs` `Stats`). */
export interface FileStat {
  readonly dev: number;
  readonly ino: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  isFile(): boolean;
  isSymbolicLink(): boolean;
  isCharacterDevice(): boolean;
  isFIFO(): boolean;
}

/** The folder a path is in: `/a/b` for `/a/b/c`, `/` for `/c`, `.` for `c`. */
export function folderOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

/**
 * Why a folder can be written by a user other than `uid` and root (OpenSSH's StrictModes, the
 * kernel's `protected_symlinks`: its owner must be `uid` or root and no group or other write bit
 * may be set, sticky or not), or undefined when it cannot.
 *
 * @example A sticky /tmp is not private; a root folder is
 * ```ts
 * import assert from "node:assert/strict";
 * import { folderOpenToOthers } from "./file_trust.ts";
 * const stat = (mode: number, uid = 0) => ({ mode: 0o40000 | mode, uid });
 * assert.equal(folderOpenToOthers("/tmp", stat(0o1777), 107), "/tmp has mode 1777");
 * assert.equal(folderOpenToOthers("/srv", stat(0o755, 65534), 107), "/srv belongs to uid 65534");
 * assert.equal(folderOpenToOthers("/var/log", stat(0o755), 107), undefined);
 * ```
 */
export function folderOpenToOthers(
  folder: string,
  stat: Pick<FileStat, "mode" | "uid">,
  uid: number | undefined,
): string | undefined {
  if (stat.uid !== 0 && stat.uid !== uid) return `${folder} belongs to uid ${stat.uid}`;
  if ((stat.mode & 0o022) !== 0) {
    return `${folder} has mode ${(stat.mode & 0o7777).toString(8).padStart(4, "0")}`;
  }
  return undefined;
}
