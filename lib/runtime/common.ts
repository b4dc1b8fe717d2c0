/**
 * What the Deno and Bun adapters share: one loop that writes all bytes, the
 * password prompt's raw line reader, `tcflush` through whichever FFI the
 * runtime has, and small helpers for `fetch`. Runtime-neutral: each adapter
 * passes its own primitives.
 *
 * @module
 */

import type { DiscardResult, SqliteModule } from "./types.ts";

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
