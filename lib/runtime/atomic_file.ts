/**
 * Files written whole or not at all (the metrics file for node_exporter's textfile collector),
 * and the stamps by which a secret file's change is seen. Runtime-neutral: each adapter passes
 * its `node:fs`.
 *
 * A file is written to a temporary name in its own folder, created with
 * `O_CREAT|O_EXCL|O_NOFOLLOW` (never through a link someone planted, never into a file someone
 * else made), then renamed over the target: a reader sees the old file or the new one, never a
 * part. `rename` replaces a link at the target itself, never what it points to.
 *
 * @module
 */

import { writeAll } from "./common.ts";

/** The part of `node:fs` used here. */
export interface AtomicFileCalls {
  openSync(path: string, flags: number, mode?: number): number;
  closeSync(fd: number): void;
  writeSync(fd: number, bytes: Uint8Array): number;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
  readdirSync(path: string): string[];
  statSync(path: string): { readonly dev: number; readonly ino: number; readonly size: number };
  readonly constants: {
    readonly O_WRONLY: number;
    readonly O_CREAT: number;
    readonly O_EXCL: number;
    readonly O_NOFOLLOW: number;
  };
}

/** The error code of a `node:fs` error. */
function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** The temporary name `path` is written under first: hidden, not ending in `.prom`. */
export function temporaryName(path: string): string {
  const slash = path.lastIndexOf("/");
  return `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.tmp`;
}

/**
 * Writes `text` to `path` atomically (see the module's doc), mode 0644: the collector runs as
 * another user. A temporary file left by an earlier process of the same pid is removed first.
 */
export function writeAtomic(fs: AtomicFileCalls, path: string, text: string): void {
  const c = fs.constants;
  const temporary = temporaryName(path);
  const flags = c.O_WRONLY | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW;
  let fd: number;
  try {
    fd = fs.openSync(temporary, flags, 0o644);
  } catch (error) {
    if (codeOf(error) !== "EEXIST") throw error;
    fs.unlinkSync(temporary);
    fd = fs.openSync(temporary, flags, 0o644);
  }
  try {
    writeAll((rest) => fs.writeSync(fd, rest), new TextEncoder().encode(text));
  } catch (error) {
    fs.closeSync(fd);
    fs.unlinkSync(temporary);
    throw error;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(temporary, path);
  } catch (error) {
    fs.unlinkSync(temporary);
    throw error;
  }
}

/** Removes a file; a missing one is no error. */
export function removeFile(fs: AtomicFileCalls, path: string): void {
  try {
    fs.unlinkSync(path);
  } catch (error) {
    if (codeOf(error) !== "ENOENT") throw error;
  }
}

/**
 * Whether a process of this pid runs (here: `/proc/PID` exists). Where `/proc` is missing
 * (not Linux) every pid counts as alive, so that nothing of a live process is ever removed.
 */
export function processAlive(fs: AtomicFileCalls, pid: number): boolean {
  try {
    fs.statSync("/proc/self");
  } catch {
    return true;
  }
  try {
    fs.statSync(`/proc/${pid}`);
    return true;
  } catch (error) {
    return codeOf(error) !== "ENOENT";
  }
}

/**
 * What identifies a file's content without reading it: device, inode, size and modification
 * time of what the path leads to (links followed, so a Kubernetes `..data` swap shows), or
 * undefined when it cannot be stat'ed.
 */
export function fileStamp(
  stat: (path: string) => {
    readonly dev: number;
    readonly ino: number;
    readonly size: number;
    readonly mtimeMs: number;
  },
  path: string,
): string | undefined {
  try {
    const s = stat(path);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return undefined;
  }
}
