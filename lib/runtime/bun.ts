/**
 * The Bun adapter: the {@linkcode Runtime} on `Bun.*`, `process` and
 * `node:fs` (imported statically: this file is loaded under Bun only).
 *
 * @module
 */

import * as fs from "node:fs";
import { inspectEnvironment, type Proxy, proxyFor } from "./environment.ts";
import { appendLogFile, type FileCalls } from "./log_file.ts";
import * as atomic from "./atomic_file.ts";
import { loadSqlite, readLineRaw, tcflushStdin, urlOf, writeAll } from "./common.ts";
import { stderrGoesNowhere } from "./stderr.ts";
import { isTerminal } from "./terminal.ts";
import type { Runtime } from "./types.ts";

/** The few Bun APIs used here (Bun's own types are not installed). */
export interface BunGlobal {
  readonly stdin: { stream(): ReadableStream<Uint8Array> };
  gc(force: boolean): void;
}

const encoder = new TextEncoder();

/** Writes every byte to a file descriptor. */
function writeAllSync(fd: number, bytes: Uint8Array): void {
  writeAll((rest) => fs.writeSync(fd, rest), bytes);
}

/**
 * Makes the Bun adapter; the environment is inspected (and cleaned) once, here.
 *
 * @example Ask the runtime for its version
 * ```ts ignore
 * import { createBunRuntime } from "./bun.ts";
 * createBunRuntime((globalThis as any).Bun).version; // "bun 1.4.4"
 * ```
 */
export function createBunRuntime(bun: BunGlobal): Runtime {
  const environment = inspectEnvironment((name) => process.env[name]);
  for (const name of environment.remove) delete process.env[name];
  return {
    name: "bun",
    version: `bun ${process.versions.bun}`,
    pid: process.pid,
    environment,
    args: () => process.argv.slice(2),
    env: (name) => process.env[name],
    envNames: () => Object.keys(process.env),
    stdin: () => bun.stdin.stream(),
    stdinIsTerminal: () => isTerminal(0),
    writeStdout: (bytes) => writeAllSync(1, bytes),
    writeStderr(text) {
      try {
        writeAllSync(2, encoder.encode(text));
      } catch { /* stderr closed */ }
    },
    stderrGoesNowhere: () => stderrGoesNowhere((path) => fs.readlinkSync(path, "utf8")),
    readFile: (path) => new Uint8Array(fs.readFileSync(path)),
    openAppend: (path, options = {}) =>
      appendLogFile(path, options, fs as unknown as FileCalls, process.geteuid?.()),
    onSignal(signal, handler) {
      process.on(signal, handler);
    },
    createFetch(caCerts) {
      // Bun's fetch never re-sends a request on its own: one client serves both kinds.
      // decompress: false — Bun inflates a gzip body even when the request asked for
      // identity, and not in bounded steps (a 1 GiB gzip bomb: 242 MiB RSS).
      const settings = environment.proxy;
      const tls = caCerts.length === 0 ? {} : { tls: { ca: [...caCerts] } };
      if (settings.http === undefined && settings.https === undefined) {
        // No proxy at all: nothing to decide per request (no URL parse on the hot path).
        const extra = { decompress: false, ...tls };
        return ((input: RequestInfo | URL, init?: RequestInit) =>
          fetch(input, { ...init, ...extra } as unknown as RequestInit)) as typeof fetch;
      }
      return ((input: RequestInfo | URL, init?: RequestInit) => {
        const proxy = proxyFor(settings, urlOf(input));
        return fetch(input, {
          ...init,
          decompress: false,
          ...tls,
          ...(proxy === undefined ? {} : { proxy: proxyUrl(proxy) }),
        } as unknown as RequestInit);
      }) as typeof fetch;
    },
    loadSqlite,
    collectGarbage: () => bun.gc(true),
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
    fileMode(path) {
      try {
        return process.platform === "win32" ? undefined : fs.statSync(path).mode;
      } catch {
        return undefined;
      }
    },
    fileStamp: (path) => atomic.fileStamp((p) => fs.statSync(p), path),
    writeAtomic: (path, text) =>
      atomic.writeAtomic(fs as unknown as atomic.AtomicFileCalls, path, text),
    listFolder: (path) => fs.readdirSync(path),
    removeFile: (path) => atomic.removeFile(fs as unknown as atomic.AtomicFileCalls, path),
    processAlive: (pid) => atomic.processAlive(fs as unknown as atomic.AtomicFileCalls, pid),
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
    exit: (code) => process.exit(code),
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

/** A proxy as Bun's `proxy` option takes it: credentials in the URL. */
function proxyUrl(proxy: Proxy): string {
  if (proxy.username === undefined) return proxy.url;
  const credentials = `${encodeURIComponent(proxy.username)}:${
    encodeURIComponent(proxy.password ?? "")
  }@`;
  return proxy.url.replace("//", `//${credentials}`);
}
