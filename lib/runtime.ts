/**
 * The runtime adapter: the only module that touches `Deno.*` or `Bun.*`.
 * Everything else takes the streams and functions of {@linkcode Runtime}, so
 * the core knows no runtime (the shape of hono's `src/adapter/`).
 *
 * @module
 */

import {
  type EnvironmentReport,
  inspectEnvironment,
  type Proxy,
  proxyFor,
  type ProxySettings,
} from "./environment.ts";
import { stderrGoesNowhere } from "./runtime/stderr.ts";

// node:fs only under Bun: importing it under Deno costs ~9 MiB RSS and ~20 ms of start-up.
const fs: typeof import("node:fs") | undefined = "Bun" in globalThis
  ? await import("node:fs")
  : undefined;

/** The SQLite driver and the cache file's checks, see `runtime/sqlite.ts`. */
export type SqliteModule = typeof import("./runtime/sqlite.ts");

/** Loads `runtime/sqlite.ts` on first use only: serving without `--cache-file` never loads it. */
const loadSqlite = (): Promise<SqliteModule> => import("./runtime/sqlite.ts");

/** The few Bun APIs used here (Bun's own types are not installed). */
interface BunGlobal {
  readonly stdin: { stream(): ReadableStream<Uint8Array> };
}

/** What {@linkcode Runtime.discardQueuedInput} did. */
export type DiscardResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string };

/** An append-only log file that can be reopened after logrotate moved it. */
export interface AppendFile {
  /** Appends text; throws on I/O errors (the logger catches them). */
  write(text: string): void;
  /** Closes and opens the path again (SIGHUP). */
  reopen(): void;
  close(): void;
}

/** What the program needs from the runtime. */
export interface Runtime {
  readonly name: "deno" | "bun";
  /** The runtime's own version, e.g. `deno 2.9.6`. */
  readonly version: string;
  readonly pid: number;
  /**
   * What the environment held that could weaken the program (see
   * environment.ts): already removed from it when the adapter was made; a
   * `refusal` must stop the program before it does anything else.
   */
  readonly environment: EnvironmentReport;
  /** Command-line arguments after the program name. */
  args(): string[];
  env(name: string): string | undefined;
  /** Every environment variable, for option validation. */
  envNames(): string[];
  /** stdin as a byte stream. */
  stdin(): ReadableStream<Uint8Array>;
  stdinIsTerminal(): boolean;
  /** Writes all bytes to stdout at once, synchronously; throws when stdout is closed. */
  writeStdout(bytes: Uint8Array): void;
  /** Writes text to stderr synchronously; errors are swallowed. */
  writeStderr(text: string): void;
  /** True when stderr is `/dev/null` or closed (`ejabberdctl start`): nobody reads it. */
  stderrGoesNowhere(): boolean;
  readFile(path: string): Uint8Array;
  openAppend(path: string): AppendFile;
  /** Calls `handler` on each delivery of the signal (ignored where unsupported). */
  onSignal(signal: "SIGHUP" | "SIGTERM" | "SIGINT", handler: () => void): void;
  /**
   * A `fetch` that trusts the given extra CA certificates (PEM) besides the
   * system's, and goes through the environment's proxy where
   * {@linkcode proxyFor} says so (the runtime's own proxy handling is off). `reuse: false` opens a new connection per request: Deno's
   * `fetch` silently sends a POST again when a pooled keep-alive connection
   * turns out closed, which must not happen to account creation or removal.
   */
  createFetch(caCerts: readonly string[], options?: { reuse?: boolean }): typeof fetch;
  /** The SQLite driver (`bun:sqlite` or `node:sqlite`) for `--cache-file`, loaded on demand. */
  loadSqlite(): Promise<SqliteModule>;
  /** Reads one line from the terminal with echo off. */
  readSecretLine(prompt: string): Promise<string>;
  /**
   * Discards terminal input queued on stdin and not read yet:
   * `tcflush(0, TCIFLUSH)` through libc (Bun's FFI, or Deno's with `--allow-ffi`).
   * Call it only when stdin is a terminal.
   */
  discardQueuedInput(): DiscardResult;
  /** A file's permission bits (`stat`), or undefined where unknown (Windows, no such file). */
  fileMode(path: string): number | undefined;
  /** Whether `path` (symbolic links followed) is the very file, pipe or terminal stdout is. */
  isStdout(path: string): boolean;
  exit(code: number): never;
}

const encoder = new TextEncoder();

function writeAllSync(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) {
    offset += fs!.writeSync(fd, bytes, offset, bytes.length - offset);
  }
}

function appendFile(path: string): AppendFile {
  let fd = fs!.openSync(path, "a", 0o640);
  return {
    write: (text) => writeAllSync(fd, encoder.encode(text)),
    reopen() {
      const next = fs!.openSync(path, "a", 0o640);
      fs!.closeSync(fd);
      fd = next;
    },
    close: () => fs!.closeSync(fd),
  };
}

function denoAppendFile(path: string): AppendFile {
  const open = () => Deno.openSync(path, { append: true, create: true, mode: 0o640 });
  let file = open();
  return {
    write(text) {
      const bytes = encoder.encode(text);
      let offset = 0;
      while (offset < bytes.length) offset += file.writeSync(bytes.subarray(offset));
    },
    reopen() {
      const next = open();
      file.close();
      file = next;
    },
    close: () => file.close(),
  };
}

function denoRuntime(): Runtime {
  const D = Deno;
  const environment = inspectEnvironment((name) => D.env.get(name));
  for (const name of environment.remove) D.env.delete(name);
  return {
    name: "deno",
    version: `deno ${D.version.deno}`,
    pid: D.pid,
    environment,
    args: () => [...D.args],
    env: (name) => D.env.get(name),
    envNames: () => Object.keys(D.env.toObject()),
    stdin: () => D.stdin.readable,
    stdinIsTerminal: () => D.stdin.isTerminal(),
    writeStdout(bytes) {
      let offset = 0;
      while (offset < bytes.length) offset += D.stdout.writeSync(bytes.subarray(offset));
    },
    writeStderr(text) {
      try {
        const bytes = encoder.encode(text);
        let offset = 0;
        while (offset < bytes.length) offset += D.stderr.writeSync(bytes.subarray(offset));
      } catch { /* stderr closed: nowhere left to report */ }
    },
    stderrGoesNowhere: () => stderrGoesNowhere(D.readLinkSync),
    readFile: (path) => D.readFileSync(path),
    openAppend: denoAppendFile,
    onSignal(signal, handler) {
      try {
        D.addSignalListener(signal, handler);
      } catch { /* not supported on this OS (Windows: SIGHUP) */ }
    },
    createFetch(caCerts, options) {
      const reuse = options?.reuse ?? true;
      const settings = environment.proxy;
      const clients = new Map<string, Deno.HttpClient>();
      const clientFor = (proxy: Proxy | undefined) => {
        const key = proxy?.url ?? "";
        let client = clients.get(key);
        if (client === undefined) {
          client = D.createHttpClient({
            caCerts: [...caCerts],
            ...(reuse ? {} : { poolMaxIdlePerHost: 0 }),
            ...(proxy === undefined ? {} : {
              proxy: {
                url: proxy.url,
                ...(proxy.username === undefined
                  ? {}
                  : { basicAuth: { username: proxy.username, password: proxy.password ?? "" } }),
              },
            }),
          });
          clients.set(key, client);
        }
        return client;
      };
      if (caCerts.length === 0 && reuse && !usesProxy(settings)) return fetch;
      return ((input: RequestInfo | URL, init?: RequestInit) =>
        fetch(input, {
          ...init,
          client: clientFor(proxyFor(settings, urlOf(input))),
        } as RequestInit)) as typeof fetch;
    },
    loadSqlite,
    async readSecretLine(prompt) {
      // Echo off before the prompt appears, so that nothing typed after it is shown.
      D.stdin.setRaw(true);
      D.stderr.writeSync(encoder.encode(prompt));
      try {
        return await readLineRaw(D.stdin.readable);
      } finally {
        D.stdin.setRaw(false);
        D.stderr.writeSync(encoder.encode("\n"));
      }
    },
    fileMode(path) {
      try {
        return D.statSync(path).mode ?? undefined;
      } catch {
        return undefined;
      }
    },
    isStdout(path) {
      try {
        // /dev/fd/1 is stdout itself (Linux: /proc/self/fd/1; macOS: fdesc).
        const [file, out] = [D.statSync(path), D.statSync("/dev/fd/1")];
        return file.dev === out.dev && file.ino !== null && file.ino === out.ino;
      } catch {
        return false;
      }
    },
    discardQueuedInput() {
      // Without the permission Deno.dlopen would prompt on the terminal, which is Prosody's.
      if (D.permissions.querySync({ name: "ffi" }).state !== "granted") {
        return { ok: false, reason: "Deno runs without --allow-ffi, which tcflush needs" };
      }
      return tcflushStdin((name) => {
        const lib = D.dlopen(name, { tcflush: { parameters: ["i32", "i32"], result: "i32" } });
        return { tcflush: (fd, how) => lib.symbols.tcflush(fd, how), close: () => lib.close() };
      }, D.build.os);
    },
    exit: (code) => D.exit(code),
  };
}

function bunRuntime(bun: BunGlobal): Runtime {
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
    stdinIsTerminal: () => Boolean(process.stdin.isTTY),
    writeStdout: (bytes) => writeAllSync(1, bytes),
    writeStderr(text) {
      try {
        writeAllSync(2, encoder.encode(text));
      } catch { /* stderr closed */ }
    },
    stderrGoesNowhere: () => stderrGoesNowhere((path) => fs!.readlinkSync(path, "utf8")),
    readFile: (path) => new Uint8Array(fs!.readFileSync(path)),
    openAppend: appendFile,
    onSignal(signal, handler) {
      process.on(signal, handler);
    },
    createFetch(caCerts) {
      // Bun's fetch never re-sends a request on its own: one client serves both kinds.
      // decompress: false — Bun inflates a gzip body even when the request asked for
      // identity, and not in bounded steps (a 1 GiB gzip bomb: 242 MiB RSS).
      const settings = environment.proxy;
      const tls = caCerts.length === 0 ? {} : { tls: { ca: [...caCerts] } };
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
        return process.platform === "win32" ? undefined : fs!.statSync(path).mode;
      } catch {
        return undefined;
      }
    },
    isStdout(path) {
      try {
        const [file, out] = [fs!.statSync(path), fs!.fstatSync(1)];
        return file.dev === out.dev && file.ino === out.ino;
      } catch {
        return false;
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

/** libc's tcflush, opened from one of the names below. */
interface Libc {
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
function tcflushStdin(open: (name: string) => Libc, os: string): DiscardResult {
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

/** Whether any request may go through a proxy. */
function usesProxy(settings: ProxySettings): boolean {
  return settings.http !== undefined || settings.https !== undefined;
}

/** The URL a `fetch` call asks for. */
function urlOf(input: RequestInfo | URL): string {
  return typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
}

/** A proxy as Bun's `proxy` option takes it: credentials in the URL. */
function proxyUrl(proxy: Proxy): string {
  if (proxy.username === undefined) return proxy.url;
  const credentials = `${encodeURIComponent(proxy.username)}:${
    encodeURIComponent(proxy.password ?? "")
  }@`;
  return proxy.url.replace("//", `//${credentials}`);
}

/** Reads raw terminal bytes up to Enter; Ctrl-C or Ctrl-D abort. */
async function readLineRaw(input: ReadableStream<Uint8Array>): Promise<string> {
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

/**
 * Under Bun, restarts this very process (`execve`: same PID, same stdin, stdout and stderr)
 * with JavaScriptCore's JIT off, unless `BUN_JSC_useJIT` is already set: by this restart, or
 * by an admin who wants the JIT (`BUN_JSC_useJIT=1`). ejabberd runs one copy per pool slot
 * and virtual host; with the JIT on, each copy compiles the request path to machine code,
 * private to that copy, and 16 copies grew from 93 to 145 MiB PSS under load (38 to 52 MiB
 * for 4 copies), against 80 to 84 MiB with the JIT off (`deno task bench`, "16 copies").
 * The variable is read only when the VM starts, and `--compile-exec-argv` cannot carry it,
 * hence the restart (a few ms). Call it before anything else is loaded. Does nothing under
 * Deno, on Windows (no `execve`), with a terminal on stdin (Prosody's pty: `bun:ffi` needs
 * the JIT) or when `execve` fails.
 *
 * @example Restart first, then load the program
 * ```ts ignore
 * import { restartWithoutJit } from "./runtime.ts";
 * restartWithoutJit();
 * const { parseCommand } = await import("./config.ts");
 * ```
 */
export function restartWithoutJit(): void {
  const bun = (globalThis as { Bun?: { main: string } }).Bun;
  if (bun === undefined || process.platform === "win32") return;
  if (process.env.BUN_JSC_useJIT !== undefined) return;
  // A terminal on stdin is Prosody's pty (one process, not a pool) or an admin: keep the JIT.
  // bun:ffi, which discards the queries Prosody queued before the start, needs it.
  if (process.stdin.isTTY) return;
  const execve = (process as unknown as {
    execve?: (file: string, args: string[], env: Record<string, string | undefined>) => never;
  }).execve;
  if (typeof execve !== "function") return;
  // A compiled executable's script lives inside it (/$bunfs/... or B:/~BUN/...): its own
  // arguments follow directly; `bun main.ts` needs bun's flags and the script path again.
  const compiled = bun.main.includes("$bunfs") || bun.main.includes("~BUN");
  // Started through a dynamic loader (`/lib/ld-musl-x86_64.so.1 … xmpp-extauth`): execPath
  // is the loader (musl's libc.so), not this file, and would not know what to run. Keep the JIT.
  if (compiled && process.argv0.includes("/")) {
    try {
      if (fs!.realpathSync(process.argv0) !== process.execPath) return;
    } catch {
      return;
    }
  }
  const args = compiled
    ? process.argv.slice(2)
    : [...process.execArgv, process.argv[1] ?? bun.main, ...process.argv.slice(2)];
  try {
    // argv[0] as ejabberd gave it (`ps`, and tools that find the pool by name, see the same
    // name before and after; process.execPath has symlinks resolved).
    execve.call(process, process.execPath, [process.argv0 || process.execPath, ...args], {
      ...process.env,
      BUN_JSC_useJIT: "0",
    });
  } catch {
    // Keep running, with the JIT.
  }
}

/**
 * Returns the adapter for the runtime this code runs on.
 *
 * @throws {Error} on a runtime that is neither Deno nor Bun.
 * @example Write a reply to stdout
 * ```ts
 * import { detectRuntime } from "./runtime.ts";
 * const runtime = detectRuntime();
 * runtime.writeStderr(`running on ${runtime.version}\n`);
 * ```
 */
export function detectRuntime(): Runtime {
  const g = globalThis as { Deno?: unknown; Bun?: BunGlobal };
  if (g.Bun !== undefined) return bunRuntime(g.Bun);
  if (g.Deno !== undefined) return denoRuntime();
  throw new Error("Cannot start: xmpp-extauth runs on Deno or Bun");
}
