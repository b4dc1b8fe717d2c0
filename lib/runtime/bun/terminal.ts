/**
 * {@linkcode Terminal} on Bun: raw mode through `process.stdin`, `tcflush` through `bun:ffi`
 * (loaded on first use).
 *
 * @module
 */

import { readLineRaw, tcflushStdin } from "../common.ts";
import type { Terminal } from "../types.ts";
import { type BunStdioGlobal, writeAllSync } from "./stdio.ts";

const encoder = new TextEncoder();

/** The terminal as Bun drives it. */
export function bunTerminal(bun: BunStdioGlobal): Terminal {
  return {
    async readSecretLine(prompt) {
      process.stdin.setRawMode(true);
      writeAllSync(2, encoder.encode(prompt));
      try {
        return await readLineRaw(bun.stdin.stream());
      } finally {
        process.stdin.setRawMode(false);
        writeAllSync(2, encoder.encode("\n"));
      }
    },
    discardQueuedInput() {
      const bunFfi = loadBunFfi();
      if (bunFfi === undefined) return { ok: false, reason: "bun:ffi is not available" };
      const { dlopen, FFIType } = bunFfi;
      return tcflushStdin((name) => {
        const lib = dlopen(name, {
          tcflush: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
        });
        return { tcflush: (fd, how) => lib.symbols.tcflush(fd, how), close: () => lib.close() };
      }, process.platform);
    },
  };
}

/** The part of bun:ffi used here. */
interface BunFfi {
  dlopen(
    name: string,
    symbols: { tcflush: { args: unknown[]; returns: unknown } },
  ): { symbols: { tcflush(fd: number, how: number): number }; close(): void };
  FFIType: { i32: unknown };
}

/** bun:ffi, loaded on first use (importing it at start costs start-up time on every run). */
function loadBunFfi(): BunFfi | undefined {
  try {
    // Bun's synchronous require of a built-in; Deno never gets here.
    const meta = import.meta as ImportMeta & { require?: (id: string) => unknown };
    return meta.require?.("bun:ffi") as BunFfi | undefined;
  } catch {
    return undefined;
  }
}
