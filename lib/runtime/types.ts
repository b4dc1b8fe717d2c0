/**
 * What the program needs from the runtime, by capability ({@linkcode ProcessInfo},
 * {@linkcode Stdio}, {@linkcode Files}, {@linkcode Http}, {@linkcode Terminal},
 * {@linkcode Sqlite}, {@linkcode Memory}), and {@linkcode Runtime}, all of them: `deno/` and
 * `bun/` implement each capability, `deno.ts` and `bun.ts` put them together and `mod.ts`
 * hands out the one of the runtime it runs on. Everything in `lib/` outside this folder takes
 * these streams and functions, so the core knows no runtime.
 *
 * @module
 */

import type { EnvironmentReport } from "./environment.ts";
import type { RedisConnection, RedisConnectOptions } from "./redis.ts";

export type { RedisConnection, RedisConnectOptions } from "./redis.ts";

/** The SQLite driver and the cache file's checks, see `sqlite.ts`. */
export type SqliteModule = typeof import("./sqlite.ts");

/** What {@linkcode Runtime.discardQueuedInput} did. */
export type DiscardResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string };

/** An append-only log file that can be reopened after logrotate moved it. */
export interface AppendFile {
  /** Appends text; throws on I/O errors (the logger catches them). */
  write(text: string): void;
  /** Opens the path again (SIGHUP) and closes the old descriptor; on a throw the old one stays. */
  reopen(): void;
  close(): void;
}

/** The process: who it is, its arguments and environment, signals, exit. */
export interface ProcessInfo {
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
  /** Calls `handler` on each delivery of the signal (ignored where unsupported). */
  onSignal(signal: "SIGHUP" | "SIGTERM" | "SIGINT", handler: () => void): void;
  exit(code: number): never;
}

/** stdin, stdout and stderr. */
export interface Stdio {
  /** stdin as a byte stream. */
  stdin(): ReadableStream<Uint8Array>;
  stdinIsTerminal(): boolean;
  /** Writes all bytes to stdout at once, synchronously; throws when stdout is closed. */
  writeStdout(bytes: Uint8Array): void;
  /** Writes text to stderr synchronously; errors are swallowed. */
  writeStderr(text: string): void;
  /** True when stderr is `/dev/null` or closed (`ejabberdctl start`): nobody reads it. */
  stderrGoesNowhere(): boolean;
}

/** Files: secrets and CA files read whole, log files appended to, permission bits. */
export interface Files {
  readFile(path: string): Uint8Array;
  /**
   * Opens a log file for appending, by the rules of `openLogFile` (log_file.ts): never through a
   * symbolic link someone else could have planted, never a file with two links, never stdout.
   * Reopening applies the same rules and keeps the old descriptor when they refuse.
   *
   * @throws {UnsafeLogFile} (log_file.ts) when the file is refused, or the open's own error.
   */
  openAppend(path: string, options?: OpenLogOptions): AppendFile;
  /** A file's permission bits (`stat`), or undefined where unknown (Windows, no such file). */
  fileMode(path: string): number | undefined;
}

/** HTTP requests to the site's API. */
export interface Http {
  /**
   * A `fetch` that trusts the given extra CA certificates (PEM) besides the
   * system's, and goes through the environment's proxy where
   * `proxyFor` (environment.ts) says so (the runtime's own proxy handling is off). `reuse: false` opens a new connection per request: Deno's
   * `fetch` silently sends a POST again when a pooled keep-alive connection
   * turns out closed, which must not happen to account creation or removal.
   */
  createFetch(caCerts: readonly string[], options?: { reuse?: boolean }): typeof fetch;
}

/** The terminal of `check` and of Prosody's prompt. */
export interface Terminal {
  /** Reads one line from the terminal with echo off. */
  readSecretLine(prompt: string): Promise<string>;
  /**
   * Discards terminal input queued on stdin and not read yet:
   * `tcflush(0, TCIFLUSH)` through libc (Bun's FFI, or Deno's with `--allow-ffi`).
   * Call it only when stdin is a terminal.
   */
  discardQueuedInput(): DiscardResult;
}

/** Redis, for `--cache-url`. */
export interface Redis {
  /** Connects to Redis (Bun's client, or node-redis under Deno; redis.ts). */
  connectRedis(options: RedisConnectOptions): Promise<RedisConnection>;
}

/** SQLite, for `--cache-file`. */
export interface Sqlite {
  /** The SQLite driver (`bun:sqlite` or `node:sqlite`) for `--cache-file`, loaded on demand. */
  loadSqlite(): Promise<SqliteModule>;
}

/** Files watched for a change and files written whole: rotated secrets, the metrics file. */
export interface StateFiles {
  /**
   * What identifies a file's content without reading it (device, inode, size, modification
   * time of what the path leads to), or undefined when it cannot be stat'ed: how a rotated
   * secret file is seen (`atomic_file.ts`).
   */
  fileStamp(path: string): string | undefined;
  /** Writes a file whole or not at all: a temporary file, then a rename (`atomic_file.ts`). */
  writeAtomic(path: string, text: string): void;
  /** The names in a folder. */
  listFolder(path: string): string[];
  /** Removes a file; a missing one is no error. */
  removeFile(path: string): void;
  /** Whether a process of this pid runs (true where that cannot be told). */
  processAlive(pid: number): boolean;
}

/** The garbage collector, where the runtime lets programs run it. */
export interface Memory {
  /**
   * Runs one full garbage collection (`Bun.gc(true)`); undefined where the runtime offers
   * none to programs (Deno).
   */
  readonly collectGarbage?: () => void;
}

/**
 * What the program needs from the runtime: every capability. A function that needs one
 * takes that one (or a `Pick` of it), so that a test fakes only what it replaces.
 */
export interface Runtime
  extends ProcessInfo, Stdio, Files, StateFiles, Http, Terminal, Sqlite, Redis, Memory {}

/** How a log file may be opened, see `openLogFile` (log_file.ts). */
export interface OpenLogOptions {
  /**
   * The fallback log beside ejabberd's (no `--log-file`): never through a symbolic link, and a
   * file root creates there goes to the folder's owner.
   */
  readonly fallback?: boolean;
}
