/**
 * {@linkcode Files} on `Deno.*`, and `node:fs` for log files only (see {@linkcode nodeFs}).
 *
 * @module
 */

import { appendLogFile, type FileCalls } from "../log_file.ts";
import type { Files } from "../types.ts";

/**
 * `node:fs`, loaded on the first log file only: `Deno.openSync` has no `O_NOFOLLOW` and Deno has
 * no `fchown`, which the log files need (see `openLogFile` in log_file.ts). Deno's `node:fs`
 * passes numeric flags through to `open(2)` (checked: `O_NOFOLLOW` on a link gives ELOOP).
 */
function nodeFs(): FileCalls {
  const process = (globalThis as unknown as {
    process: { getBuiltinModule(name: string): unknown };
  }).process;
  return process.getBuiltinModule("node:fs") as FileCalls;
}

/**
 * The process's user id without a permission prompt (it would read the terminal): `Deno.uid`
 * when `--allow-sys` granted it, else the owner of `/proc/self`; undefined where neither says.
 */
function processUid(D: typeof Deno, fs: FileCalls): number | undefined {
  try {
    if (D.permissions.querySync({ name: "sys", kind: "uid" }).state === "granted") {
      return D.uid() ?? undefined;
    }
    return fs.statSync("/proc/self").uid;
  } catch {
    return undefined;
  }
}

/** Files as Deno reads them. */
export function denoFiles(D: typeof Deno): Files {
  return {
    readFile: (path) => D.readFileSync(path),
    openAppend(path, options = {}) {
      const fs = nodeFs();
      return appendLogFile(path, options, fs, processUid(D, fs));
    },
    fileMode(path) {
      try {
        return D.statSync(path).mode ?? undefined;
      } catch {
        return undefined;
      }
    },
  };
}
