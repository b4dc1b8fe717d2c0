/**
 * The runtime adapter: the only module that touches `Deno.*` or `Bun.*`.
 * Everything else takes the streams and functions of {@linkcode Runtime}, so
 * the core knows no runtime (the shape of hono's `src/adapter/`).
 *
 * @module
 */

// node:fs only under Bun: importing it under Deno costs ~9 MiB RSS and ~20 ms of start-up.
const fs: typeof import("node:fs") | undefined = "Bun" in globalThis
  ? await import("node:fs")
  : undefined;

/** The few Bun APIs used here (Bun's own types are not installed). */
interface BunGlobal {
  readonly stdin: { stream(): ReadableStream<Uint8Array> };
}

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
  readFile(path: string): Uint8Array;
  openAppend(path: string): AppendFile;
  /** Calls `handler` on each delivery of the signal (ignored where unsupported). */
  onSignal(signal: "SIGHUP" | "SIGTERM" | "SIGINT", handler: () => void): void;
  /**
   * A `fetch` that trusts the given extra CA certificates (PEM) besides the
   * system's. `reuse: false` opens a new connection per request: Deno's
   * `fetch` silently sends a POST again when a pooled keep-alive connection
   * turns out closed, which must not happen to account creation or removal.
   */
  createFetch(caCerts: readonly string[], options?: { reuse?: boolean }): typeof fetch;
  /** Reads one line from the terminal with echo off. */
  readSecretLine(prompt: string): Promise<string>;
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
  return {
    name: "deno",
    version: `deno ${D.version.deno}`,
    pid: D.pid,
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
    readFile: (path) => D.readFileSync(path),
    openAppend: denoAppendFile,
    onSignal(signal, handler) {
      try {
        D.addSignalListener(signal, handler);
      } catch { /* not supported on this OS (Windows: SIGHUP) */ }
    },
    createFetch(caCerts, options) {
      const reuse = options?.reuse ?? true;
      if (caCerts.length === 0 && reuse) return fetch;
      const client = D.createHttpClient({
        caCerts: [...caCerts],
        ...(reuse ? {} : { poolMaxIdlePerHost: 0 }),
      });
      return ((input: RequestInfo | URL, init?: RequestInit) =>
        fetch(input, { ...init, client } as RequestInit)) as typeof fetch;
    },
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
    exit: (code) => D.exit(code),
  };
}

function bunRuntime(bun: BunGlobal): Runtime {
  return {
    name: "bun",
    version: `bun ${process.versions.bun}`,
    pid: process.pid,
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
    readFile: (path) => new Uint8Array(fs!.readFileSync(path)),
    openAppend: appendFile,
    onSignal(signal, handler) {
      process.on(signal, handler);
    },
    createFetch(caCerts) {
      // Bun's fetch never re-sends a request on its own: one client serves both kinds.
      if (caCerts.length === 0) return fetch;
      const tls = { ca: [...caCerts] };
      return ((input: RequestInfo | URL, init?: RequestInit) =>
        fetch(input, { ...init, tls } as RequestInit)) as typeof fetch;
    },
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
    exit: (code) => process.exit(code),
  };
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
        if (byte === 0x0d || byte === 0x0a) return new TextDecoder().decode(Uint8Array.from(bytes));
        if (byte === 0x03 || byte === 0x04) throw new Error("Cannot read password: cancelled");
        if (byte === 0x7f || byte === 0x08) bytes.pop();
        else bytes.push(byte);
      }
    }
  } finally {
    reader.releaseLock();
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
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
 * Deno, on Windows (no `execve`) or when `execve` fails.
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
  const execve = (process as unknown as {
    execve?: (file: string, args: string[], env: Record<string, string | undefined>) => never;
  }).execve;
  if (typeof execve !== "function") return;
  // A compiled executable's script lives inside it (/$bunfs/... or B:/~BUN/...): its own
  // arguments follow directly; `bun main.ts` needs bun's flags and the script path again.
  const compiled = bun.main.includes("$bunfs") || bun.main.includes("~BUN");
  const args = compiled
    ? process.argv.slice(2)
    : [...process.execArgv, process.argv[1] ?? bun.main, ...process.argv.slice(2)];
  try {
    execve.call(process, process.execPath, [process.execPath, ...args], {
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
