/**
 * What the Deno and Bun adapters share: one loop that writes all bytes, the
 * password prompt's raw line reader, `tcflush` through whichever FFI the
 * runtime has, and small helpers for `fetch`. Runtime-neutral: each adapter
 * passes its own primitives.
 *
 * @module
 */

import type { AppendFile, DiscardResult, SqliteModule } from "./types.ts";

/**
 * Writes every byte with a write function that may take only part of them
 * (`Deno.stdout.writeSync`, `fs.writeSync` on a pipe), as many times as it takes.
 *
 * @example Write through a sink that takes two bytes at a time
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeAll } from "./common.ts";
 * const taken: number[] = [];
 * writeAll((bytes) => {
 *   const part = bytes.subarray(0, 2);
 *   taken.push(...part);
 *   return part.length;
 * }, Uint8Array.of(1, 2, 3, 4, 5));
 * assert.deepEqual(taken, [1, 2, 3, 4, 5]);
 * ```
 */
export function writeAll(write: (bytes: Uint8Array) => number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += write(bytes.subarray(offset));
}

/** Loads `sqlite.ts` on first use only: serving without `--cache-file` never loads it. */
export const loadSqlite = (): Promise<SqliteModule> => import("./sqlite.ts");

/** libc's tcflush, opened from one of the names below. */
export interface Libc {
  tcflush(fd: number, how: number): number;
  close(): void;
}

/** Where libc is: glibc, then musl (Alpine: x86-64, arm64), then macOS. */
const LIBC_NAMES = [
  "libc.so.6",
  "libc.musl-x86_64.so.1",
  "libc.musl-aarch64.so.1",
  "libc.so",
  "/usr/lib/libSystem.B.dylib",
];

/** `tcflush(0, TCIFLUSH)`: TCIFLUSH is 0 on Linux, 1 on the BSDs and macOS. */
export function tcflushStdin(open: (name: string) => Libc, os: string): DiscardResult {
  if (os === "windows" || os === "win32") return { ok: false, reason: "no terminals on Windows" };
  const TCIFLUSH = os === "linux" ? 0 : 1;
  for (const name of LIBC_NAMES) {
    let libc: Libc;
    try {
      libc = open(name);
    } catch {
      continue;
    }
    try {
      return libc.tcflush(0, TCIFLUSH) === 0
        ? { ok: true }
        : { ok: false, reason: "tcflush(0, TCIFLUSH) failed: stdin is not a terminal" };
    } finally {
      libc.close();
    }
  }
  return { ok: false, reason: `no C library found (tried ${LIBC_NAMES.join(", ")})` };
}

/** What {@linkcode openLogFile} reads of a file (`node:fs` `Stats`). */
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

/** How a log file may be opened, see {@linkcode openLogFile}. */
export interface OpenLogOptions {
  /**
   * The fallback log beside ejabberd's (no `--log-file`): never through a symbolic link, and a
   * file root creates there goes to the folder's owner.
   */
  readonly fallback?: boolean;
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
 * import { folderOpenToOthers } from "./common.ts";
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
      return checked(fd, () => {
        const created = regularAt(fs, fd, path);
        if (options.fallback && uid === 0) giveToFolderOwner(fs, fd, path, created);
      });
    }
    if (before.isSymbolicLink()) {
      if (options.fallback) throw new UnsafeLogFile("it is a symbolic link");
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
      return checked(fd, () => {
        const stat = fs.fstatSync(fd);
        if (stat.isFile() && stat.nlink !== 1) throw new UnsafeLogFile(linksReason(stat));
        if (!stat.isFile() && !stat.isCharacterDevice() && !stat.isFIFO()) {
          throw new UnsafeLogFile("it leads to neither a file, a device nor a pipe");
        }
        notStdout(fs, stat);
      });
    }
    const fd = fs.openSync(path, private_);
    return checked(fd, () => notStdout(fs, regularAt(fs, fd, path)));
  }

  /** Runs the checks on a new descriptor; closes it when one fails. */
  function checked(fd: number, check: () => void): number {
    try {
      check();
      return fd;
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
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

/** The URL a `fetch` call asks for. */
export function urlOf(input: RequestInfo | URL): string {
  return typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
}

/** Reads raw terminal bytes up to Enter; Ctrl-C or Ctrl-D abort. */
export async function readLineRaw(input: ReadableStream<Uint8Array>): Promise<string> {
  const reader = input.getReader();
  const bytes: number[] = [];
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const byte of value) {
        if (byte === 0x0d || byte === 0x0a) return decodeKeepingBom(Uint8Array.from(bytes));
        if (byte === 0x03 || byte === 0x04) {
          throw new DOMException("Cannot read password: cancelled", "AbortError");
        }
        if (byte === 0x7f || byte === 0x08) bytes.pop();
        else bytes.push(byte);
      }
    }
  } finally {
    reader.releaseLock();
  }
  return decodeKeepingBom(Uint8Array.from(bytes));
}

/** UTF-8 to text with a leading U+FEFF kept: it is part of the password. */
function decodeKeepingBom(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
}
