/**
 * {@linkcode Files} on `node:fs` under Bun (imported statically: this file is loaded under
 * Bun only).
 *
 * @module
 */

import * as fs from "node:fs";
import { appendLogFile, type FileCalls } from "../log_file.ts";
import type { Files } from "../types.ts";

/** Files as Bun reads them. */
export function bunFiles(): Files {
  return {
    readFile: (path) => new Uint8Array(fs.readFileSync(path)),
    openAppend: (path, options = {}) =>
      appendLogFile(path, options, fs as unknown as FileCalls, process.geteuid?.()),
    fileMode(path) {
      try {
        return process.platform === "win32" ? undefined : fs.statSync(path).mode;
      } catch {
        return undefined;
      }
    },
  };
}
