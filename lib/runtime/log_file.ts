/**
 * Opening a log file so that whoever can write its folder cannot redirect it: one opener for
 * `--log-file`, its reopen on `SIGHUP`, the fallback log and the config-error log
 * (docs/security.md, "Files the program opens"). Runtime-neutral: each adapter passes its
 * `node:fs`.
 *
 * @module
 */

import { type FileStat, folderOf, folderOpenToOthers } from "./file_trust.ts";
import type { AppendFile, OpenLogOptions } from "./types.ts";
import { writeAll } from "./common.ts";

/** The part of `node:fs` the log files need: Bun's own, Deno's on the path that opens one. */
export interface FileCalls {
  openSync(path: string, flags: number, mode?: number): number;
  closeSync(fd: number): void;
  writeSync(fd: number, bytes: Uint8Array): number;
  fstatSync(fd: number): FileStat;
  lstatSync(path: string): FileStat;
  statSync(path: string): FileStat;
  readlinkSync(path: string, encoding: "utf8"): string;
  fchownSync(fd: number, uid: number, gid: number): void;
  readonly constants: {
    readonly O_WRONLY: number;
    readonly O_APPEND: number;
    readonly O_CREAT: number;
    readonly O_EXCL: number;
    readonly O_NOFOLLOW: number;
    readonly O_NONBLOCK: number;
    readonly O_CLOEXEC?: number;
  };
}

/** A log file the program will not write to: the reason, without the path. */
export class UnsafeLogFile extends Error {
  override name = "UnsafeLogFile";
  /** The file is the reply channel (stdout). */
  readonly isStdout: boolean;
  constructor(reason: string, isStdout = false) {
    super(reason);
    this.isStdout = isStdout;
  }
}

/** The error code of a `node:fs` error. */
function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function lstatOrNone(fs: FileCalls, path: string): FileStat | undefined {
  try {
    return fs.lstatSync(path);
  } catch (error) {
    if (codeOf(error) === "ENOENT") return undefined;
    throw error;
  }
}

/** Links followed at most, as the kernel's ELOOP limit. */
const MAX_LINKS = 40;

/**
 * Why following the symbolic link at `path` could lead where someone other than `uid` and root
 * chose (a link in the chain lies in a folder others can write, or belongs to another user), or
 * undefined when every link in the chain is trusted. The chain ends at the first name that is no
 * link or does not exist (`/proc/self/fd/1`'s `pipe:[…]`: the kernel follows the descriptor there).
 */
export function untrustedLink(
  path: string,
  fs: FileCalls,
  uid: number | undefined,
): string | undefined {
  let link = path;
  for (let hop = 0; hop < MAX_LINKS; hop++) {
    const stat = lstatOrNone(fs, link);
    if (stat === undefined || !stat.isSymbolicLink()) return undefined;
    const folder = folderOf(link);
    const open = folderOpenToOthers(folder, fs.statSync(folder), uid);
    if (open !== undefined) return open;
    if (stat.uid !== 0 && stat.uid !== uid) return `${link} belongs to uid ${stat.uid}`;
    const target = fs.readlinkSync(link, "utf8");
    link = target.startsWith("/") ? target : `${folder === "/" ? "" : folder}/${target}`;
  }
  return `more than ${MAX_LINKS} symbolic links`;
}

/** Linux's O_CLOEXEC where `fs.constants` lacks it (both runtimes set it anyway). */
const LINUX_O_CLOEXEC = 0o2000000;

/**
 * Opens a log file for appending so that nobody who can write its folder can send the lines, or
 * the ownership, anywhere else, and returns the descriptor:
 *
 * - a missing file is created with `O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0640 (never through a link);
 * - an existing one is opened with `O_NOFOLLOW` and must be a regular file with one link, the very
 *   file (device and inode) at the path after the open;
 * - a symbolic link is refused for the fallback log, and followed for an explicit `--log-file` only
 *   when every link in its chain lies in a folder only `uid` and root can write and belongs to
 *   `uid` or root (then the file may also be a character device or a pipe: `/dev/stderr`);
 * - what was opened may never be stdout (compared by device and inode with descriptor 1);
 * - root's new fallback log goes to the folder's owner (`fchown`), an existing file never.
 *
 * @throws {UnsafeLogFile} when the file is refused (the descriptor is closed unwritten), or the
 *   `node:fs` error of the open.
 */
export function openLogFile(
  path: string,
  options: OpenLogOptions,
  fs: FileCalls,
  uid: number | undefined,
): number {
  const c = fs.constants;
  const append = c.O_WRONLY | c.O_APPEND | (c.O_CLOEXEC ?? LINUX_O_CLOEXEC);
  // O_NONBLOCK: a pipe planted at the path fails at once (ENXIO) or is refused below, instead of
  // blocking the start until someone reads it. Regular files ignore it.
  const private_ = append | c.O_NOFOLLOW | c.O_NONBLOCK;
  for (let attempt = 0;; attempt++) {
    const before = lstatOrNone(fs, path);
    if (before === undefined) {
      let fd: number;
      try {
        fd = fs.openSync(path, private_ | c.O_CREAT | c.O_EXCL, 0o640);
      } catch (error) {
        // Someone made the file between the lstat and the open: look again, a few times.
        if (codeOf(error) === "EEXIST" && attempt < 3) continue;
        throw error;
      }
      return checked(fs, fd, () => {
        const created = regularAt(fs, fd, path);
        if (options.fallback && uid === 0) giveToFolderOwner(fs, fd, path, created);
      });
    }
    if (before.isSymbolicLink()) {
      if (options.fallback) throw new UnsafeLogFile("it is a symbolic link");
      return openThroughLink(path, fs, uid, append);
    }
    const fd = fs.openSync(path, private_);
    return checked(fs, fd, () => notStdout(fs, regularAt(fs, fd, path)));
  }
}

/**
 * The explicit `--log-file` that is a symbolic link: followed only when {@linkcode untrustedLink}
 * finds nothing wrong with its chain, onto a file with one link, a device or a pipe, never stdout.
 */
function openThroughLink(
  path: string,
  fs: FileCalls,
  uid: number | undefined,
  append: number,
): number {
  const why = untrustedLink(path, fs, uid);
  if (why !== undefined) {
    throw new UnsafeLogFile(
      `it is a symbolic link in a folder other users can write (${why}); give the file's ` +
        "real path",
    );
  }
  // Before the open too: a socket on stdout (as Bun's child_process gives) cannot be opened
  // through /proc/self/fd/1 at all, and should be named for what it is.
  let target: FileStat | undefined;
  try {
    target = fs.statSync(path);
  } catch { /* the open below reports it */ }
  if (target !== undefined) notStdout(fs, target);
  const fd = fs.openSync(path, append);
  return checked(fs, fd, () => {
    const stat = fs.fstatSync(fd);
    if (stat.isFile() && stat.nlink !== 1) throw new UnsafeLogFile(linksReason(stat));
    if (!stat.isFile() && !stat.isCharacterDevice() && !stat.isFIFO()) {
      throw new UnsafeLogFile("it leads to neither a file, a device nor a pipe");
    }
    notStdout(fs, stat);
  });
}

/** Runs the checks on a new descriptor; closes it when one fails. */
function checked(fs: FileCalls, fd: number, check: () => void): number {
  try {
    check();
    return fd;
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

function linksReason(stat: FileStat): string {
  return `it has ${stat.nlink} hard links (a log file has one)`;
}

/** The descriptor's file, which must be a regular file with one link, the one now at `path`. */
function regularAt(fs: FileCalls, fd: number, path: string): FileStat {
  const stat = fs.fstatSync(fd);
  if (!stat.isFile()) throw new UnsafeLogFile("it is not a regular file");
  if (stat.nlink !== 1) throw new UnsafeLogFile(linksReason(stat));
  const now = lstatOrNone(fs, path);
  if (now === undefined || now.dev !== stat.dev || now.ino !== stat.ino) {
    throw new UnsafeLogFile("it was replaced while being opened");
  }
  return stat;
}

/** Throws when the opened file is the one descriptor 1 (the reply channel) is. */
function notStdout(fs: FileCalls, stat: FileStat): void {
  let out: FileStat;
  try {
    out = fs.fstatSync(1);
  } catch {
    return; // stdout closed: nothing to mix up with
  }
  if (out.dev === stat.dev && out.ino === stat.ino) {
    throw new UnsafeLogFile("it is stdout, where only replies may go", true);
  }
}

/**
 * Gives root's just-created fallback log to the owner of its folder when that is not root
 * (ejabberd's own copies must open it too), through the descriptor. Best effort.
 */
function giveToFolderOwner(fs: FileCalls, fd: number, path: string, file: FileStat): void {
  try {
    if (file.uid !== 0) return;
    const folder = fs.statSync(folderOf(path));
    if (folder.uid === 0) return;
    fs.fchownSync(fd, folder.uid, folder.gid);
  } catch { /* the file stays root's */ }
}

/**
 * An {@linkcode AppendFile} on {@linkcode openLogFile}: the same rules at start and at every
 * reopen; a refused reopen keeps the open descriptor and throws.
 */
export function appendLogFile(
  path: string,
  options: OpenLogOptions,
  fs: FileCalls,
  uid: number | undefined,
): AppendFile {
  let fd = openLogFile(path, options, fs, uid);
  const encoder = new TextEncoder();
  return {
    write: (text) => writeAll((rest) => fs.writeSync(fd, rest), encoder.encode(text)),
    reopen() {
      const next = openLogFile(path, options, fs, uid);
      fs.closeSync(fd);
      fd = next;
    },
    close: () => fs.closeSync(fd),
  };
}
