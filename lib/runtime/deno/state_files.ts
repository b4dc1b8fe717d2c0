/**
 * {@linkcode StateFiles} on `Deno.*`, and `node:fs` (loaded on first use, see `files.ts`) where
 * a file is written with `O_NOFOLLOW`.
 *
 * @module
 */

import * as atomic from "../atomic_file.ts";
import type { StateFiles } from "../types.ts";

/** `node:fs`, on first use only: serving without these files never loads it. */
function nodeFs(): atomic.AtomicFileCalls {
  const process = (globalThis as unknown as {
    process: { getBuiltinModule(name: string): unknown };
  }).process;
  return process.getBuiltinModule("node:fs") as atomic.AtomicFileCalls;
}

/** Watched and atomically written files as Deno does them. */
export function denoStateFiles(D: typeof Deno): StateFiles {
  return {
    fileStamp: (path) =>
      atomic.fileStamp((p) => {
        const s = D.statSync(p);
        return { dev: s.dev, ino: s.ino ?? 0, size: s.size, mtimeMs: s.mtime?.getTime() ?? 0 };
      }, path),
    writeAtomic: (path, text) => atomic.writeAtomic(nodeFs(), path, text),
    listFolder: (path) => [...D.readDirSync(path)].map((entry) => entry.name),
    removeFile: (path) => atomic.removeFile(nodeFs(), path),
    processAlive: (pid) => atomic.processAlive(nodeFs(), pid),
  };
}
