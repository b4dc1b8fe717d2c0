/**
 * {@linkcode StateFiles} on `node:fs` under Bun.
 *
 * @module
 */

import * as fs from "node:fs";
import * as atomic from "../atomic_file.ts";
import type { StateFiles } from "../types.ts";

/** Watched and atomically written files as Bun does them. */
export function bunStateFiles(): StateFiles {
  const calls = fs as unknown as atomic.AtomicFileCalls;
  return {
    fileStamp: (path) => atomic.fileStamp((p) => fs.statSync(p), path),
    writeAtomic: (path, text) => atomic.writeAtomic(calls, path, text),
    listFolder: (path) => fs.readdirSync(path),
    removeFile: (path) => atomic.removeFile(calls, path),
    processAlive: (pid) => atomic.processAlive(calls, pid),
  };
}
