/**
 * {@linkcode Stdio} on Bun: `Bun.stdin` and `node:fs` writes to descriptors 1 and 2
 * (imported statically: this file is loaded under Bun only).
 *
 * @module
 */

import * as fs from "node:fs";
import { writeAll } from "../common.ts";
import { stderrGoesNowhere } from "../stderr.ts";
import { isTerminal } from "../terminal.ts";
import type { Stdio } from "../types.ts";

/** The few Bun APIs used in this folder (Bun's own types are not installed). */
export interface BunStdioGlobal {
  readonly stdin: { stream(): ReadableStream<Uint8Array> };
  gc(force: boolean): void;
}

const encoder = new TextEncoder();

/** Writes every byte to a file descriptor. */
export function writeAllSync(fd: number, bytes: Uint8Array): void {
  writeAll((rest) => fs.writeSync(fd, rest), bytes);
}

/** The standard streams as Bun has them. */
export function bunStdio(bun: BunStdioGlobal): Stdio {
  return {
    stdin: () => bun.stdin.stream(),
    stdinIsTerminal: () => isTerminal(0),
    writeStdout: (bytes) => writeAllSync(1, bytes),
    writeStderr(text) {
      try {
        writeAllSync(2, encoder.encode(text));
      } catch { /* stderr closed */ }
    },
    stderrGoesNowhere: () => stderrGoesNowhere((path) => fs.readlinkSync(path, "utf8")),
  };
}
