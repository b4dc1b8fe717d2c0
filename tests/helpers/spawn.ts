/**
 * Spawning xmpp-extauth the way ejabberd does: a child process with pipes for
 * stdin, stdout and stderr, 2-byte length-framed requests in, 4-byte replies
 * out. Works under Deno and Bun (`node:child_process`), for three runners:
 * `deno run -A main.ts`, `bun main.ts`, and a compiled binary named by the
 * environment variable `EXTAUTH_TEST_BINARY`.
 *
 * Children get a clean environment: the test process's own variables (an
 * `XMPP_EXTAUTH_*` there would make the program exit 2) are not passed on.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { Buffer } from "node:buffer";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { concat, frame, hex } from "./bytes.ts";

/** The repository root (where main.ts is). */
export const REPO_ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The program's entry point. */
export const MAIN_TS: string = resolve(REPO_ROOT, "main.ts");

/** ejabberd's "true" reply. */
export const TRUE: Uint8Array = Uint8Array.of(0, 2, 0, 1);
/** ejabberd's "false" reply. */
export const FALSE: Uint8Array = Uint8Array.of(0, 2, 0, 0);
/** The error reply: well framed, neither true nor false. */
export const ERROR: Uint8Array = Uint8Array.of(0, 2, 0, 2);

/** How the program is started. */
export interface Runner {
  readonly name: "deno" | "bun" | "binary";
  readonly command: string;
  /** Arguments before the program's own. */
  readonly prefix: readonly string[];
}

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const isBun = typeof process.versions.bun === "string";

/**
 * A `skip` for tests that build real executables or packages: they test scripts the release
 * runs under Deno, so they run once, under `deno test`, not again under `bun test`.
 */
export const ONCE_ON_DENO: string | false = isBun
  ? "builds real executables or packages: runs once, under deno test"
  : false;

/** `deno run -A main.ts`, with this very deno when the tests run under Deno. */
export const DENO: Runner = {
  name: "deno",
  command: isDeno ? process.execPath : "deno",
  prefix: ["run", "-A", MAIN_TS],
};

/** `bun main.ts`, with this very bun when the tests run under Bun. */
export const BUN: Runner = {
  name: "bun",
  command: isBun ? process.execPath : "bun",
  prefix: [MAIN_TS],
};

/**
 * How to run a TypeScript file with the runtime that runs the tests:
 * `[deno, "run", "-A", script]` or `[bun, script]`.
 */
export function scriptCommand(script: string): [string, ...string[]] {
  return isBun ? [process.execPath, script] : [process.execPath, "run", "-A", script];
}

/** The compiled binary from `EXTAUTH_TEST_BINARY`, or undefined when it is not set. */
export function binaryRunner(): Runner | undefined {
  const path = process.env.EXTAUTH_TEST_BINARY;
  if (path === undefined || path === "") return undefined;
  const fromCwd = resolve(process.cwd(), path);
  const command = existsSync(fromCwd) ? fromCwd : resolve(REPO_ROOT, path);
  if (!existsSync(command)) {
    throw new Error(`EXTAUTH_TEST_BINARY=${path}: no such file (build it first)`);
  }
  return { name: "binary", command, prefix: [] };
}

/**
 * The runners to test: the compiled binary alone when `EXTAUTH_TEST_BINARY` is
 * set (`deno task test:binary`; the source was tested just before), else deno and bun.
 */
export function runners(): Runner[] {
  const binary = binaryRunner();
  return binary === undefined ? [DENO, BUN] : [binary];
}

const encoder = new TextEncoder();

/** The byte helpers, re-exported for the black-box tests (their one copy is in bytes.ts). */
export { concat, frame, hex };

/** The name of a reply, or undefined for anything that is not one of the three. */
export function replyName(bytes: Uint8Array): "true" | "false" | "error" | undefined {
  if (bytes.length !== 4 || bytes[0] !== 0 || bytes[1] !== 2 || bytes[2] !== 0) return undefined;
  return bytes[3] === 1 ? "true" : bytes[3] === 0 ? "false" : bytes[3] === 2 ? "error" : undefined;
}

/** Variables passed to every child; everything else of the test's environment is dropped. */
const PASSED_ON = ["PATH", "HOME", "TMPDIR", "DENO_DIR", "XDG_CACHE_HOME", "BUN_INSTALL"];

/** A clean environment for a child, plus `extra`. */
export function cleanEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of PASSED_ON) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...extra };
}

/** Options of {@linkcode startExtauth} and {@linkcode runExtauth}. */
export interface SpawnOptions {
  /** Extra environment variables (on top of {@linkcode cleanEnv}). */
  readonly env?: Readonly<Record<string, string>>;
  /** How long a reply or the exit may take before the test fails (default 10 s). */
  readonly waitMs?: number;
  /** The working directory (default: the repository). */
  readonly cwd?: string;
}

/** How a child ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: string | null;
}

/** A running xmpp-extauth with ejabberd's side of the pipes. */
export class Extauth {
  readonly #child: ChildProcess;
  readonly #waitMs: number;
  readonly #stdout: Buffer[] = [];
  #stdoutLength = 0;
  #stderr = "";
  #consumed = 0;
  #exit: Exit | undefined;
  readonly #exited: Promise<Exit>;
  #wake: (() => void)[] = [];

  constructor(runner: Runner, args: readonly string[], options: SpawnOptions = {}) {
    this.#waitMs = options.waitMs ?? 10_000;
    this.#child = spawn(runner.command, [...runner.prefix, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: cleanEnv(options.env),
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#child.stdout!.on("data", (chunk: Buffer) => {
      this.#stdout.push(chunk);
      this.#stdoutLength += chunk.length;
      this.#notify();
    });
    this.#child.stderr!.setEncoding("utf8");
    this.#child.stderr!.on("data", (text: string) => {
      this.#stderr += text;
      this.#notify();
    });
    // Writing to a child that has exited raises EPIPE here; the test sees the exit instead.
    this.#child.stdin!.on("error", () => {});
    this.#exited = new Promise<Exit>((resolve) => {
      this.#child.on("error", (error) => {
        this.#stderr += `spawn failed: ${error.message}\n`;
        this.#exit = { code: null, signal: "spawn-error" };
        this.#notify();
        resolve(this.#exit);
      });
      this.#child.on("close", (code, signal) => {
        this.#exit = { code, signal };
        this.#notify();
        resolve(this.#exit);
      });
    });
  }

  #notify() {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }

  /** The process id (for reading /proc/PID). */
  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** Everything written to stdout so far. */
  get stdout(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.#stdout, this.#stdoutLength));
  }

  /** Everything written to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** The exit, once the child has ended and its pipes are closed. */
  get exitStatus(): Exit | undefined {
    return this.#exit;
  }

  /** Writes raw bytes to stdin; resolves once they are handed to the pipe. */
  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      const stdin = this.#child.stdin!;
      if (stdin.destroyed || stdin.writableEnded) return resolve();
      stdin.write(bytes, () => resolve());
    });
  }

  /** Writes one request frame and waits for exactly one 4-byte reply. */
  async request(payload: string | Uint8Array): Promise<Uint8Array> {
    await this.write(frame(payload));
    return await this.readReply();
  }

  /** Waits for the next 4 bytes of stdout. */
  async readReply(): Promise<Uint8Array> {
    const [reply] = await this.readReplies(1);
    return reply!;
  }

  /** Waits for the next `n` replies (4 bytes each). */
  async readReplies(n: number): Promise<Uint8Array[]> {
    const want = this.#consumed + 4 * n;
    await this.#until(() => this.#stdoutLength >= want, `${n} reply(ies)`);
    const all = this.stdout;
    const replies: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      replies.push(all.slice(this.#consumed + 4 * i, this.#consumed + 4 * i + 4));
    }
    this.#consumed = want;
    return replies;
  }

  async #until(done: () => boolean, what: string): Promise<void> {
    if (done()) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no ${what} within ${this.#waitMs} ms${this.#describe()}`)),
        this.#waitMs,
      );
    });
    try {
      while (!done()) {
        if (this.#exit !== undefined) {
          throw new Error(`process exited before ${what}${this.#describe()}`);
        }
        await Promise.race([new Promise<void>((r) => this.#wake.push(r)), timeout]);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  #describe(): string {
    const exit = this.#exit === undefined
      ? "still running"
      : `exit ${this.#exit.code ?? this.#exit.signal}`;
    return ` (${exit}; stdout ${hex(this.stdout)}; stderr: ${this.#stderr.slice(-2000)})`;
  }

  /**
   * Waits until stderr, from the offset `from` on, matches `pattern` (a log line arrived);
   * resolves with the offset just past the match. Fails after the wait limit or at the exit.
   */
  async waitForStderr(pattern: RegExp, from = 0): Promise<number> {
    const find = () =>
      new RegExp(pattern.source, pattern.flags.replace("g", "")).exec(
        this.#stderr.slice(from),
      );
    await this.#until(() => find() !== null, `stderr matching ${pattern}`);
    const match = find()!;
    return from + match.index + match[0].length;
  }

  /** Closes stdin (ejabberd stopping or restarting the program). */
  closeStdin(): void {
    this.#child.stdin!.end();
  }

  /** Waits for the exit, failing after the wait limit. */
  async waitExit(): Promise<Exit> {
    await this.#until(() => this.#exit !== undefined, "exit");
    return await this.#exited;
  }

  /**
   * Closes stdin, waits for the exit and checks that stdout holds exactly the
   * replies read so far: nothing more, nothing less. Returns the exit code.
   */
  async finish(): Promise<number | null> {
    this.closeStdin();
    const exit = await this.waitExit();
    if (this.#stdoutLength !== this.#consumed) {
      throw new Error(
        `stdout holds ${this.#stdoutLength} bytes, ${this.#consumed} were read as replies: ` +
          hex(this.stdout.slice(this.#consumed, this.#consumed + 64)),
      );
    }
    return exit.code;
  }

  /** Kills the child (SIGKILL) if it still runs. */
  kill(): void {
    if (this.#exit === undefined) this.#child.kill("SIGKILL");
  }
}

/** Starts xmpp-extauth with `args` under `runner`. Call `kill()` in a `finally`. */
export function startExtauth(
  runner: Runner,
  args: readonly string[],
  options: SpawnOptions = {},
): Extauth {
  return new Extauth(runner, args, options);
}

/** Runs `fn` with a started process, killing it afterwards whatever happens. */
export async function withExtauth<T>(
  runner: Runner,
  args: readonly string[],
  options: SpawnOptions,
  fn: (p: Extauth) => Promise<T>,
): Promise<T> {
  const p = startExtauth(runner, args, options);
  try {
    return await fn(p);
  } finally {
    p.kill();
  }
}

/** The result of {@linkcode runExtauth}. */
export interface RunResult {
  readonly code: number | null;
  readonly stdout: Uint8Array;
  readonly stdoutText: string;
  readonly stderr: string;
}

/** Options of {@linkcode runExtauth}. */
export interface RunOptions extends SpawnOptions {
  /** Bytes for stdin, then end of input; `"open"` leaves stdin open (never written, never closed). */
  readonly stdin?: string | Uint8Array | "open";
}

/** Runs xmpp-extauth to its end (help, version, check, bad usage) and collects its output. */
export async function runExtauth(
  runner: Runner,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return await withExtauth(runner, args, options, async (p) => {
    const stdin = options.stdin ?? "";
    if (stdin !== "open") {
      await p.write(typeof stdin === "string" ? encoder.encode(stdin) : stdin);
      p.closeStdin();
    }
    const exit = await p.waitExit();
    const stdout = p.stdout;
    return {
      code: exit.code,
      stdout,
      stdoutText: new TextDecoder().decode(stdout),
      stderr: p.stderr,
    };
  });
}

/** How {@linkcode runWithStderr} sets up the child's stderr: /dev/null, closed before exec, or a pipe we read. */
export type Stderr = "devnull" | "closed" | "pipe";

/** The result of {@linkcode runWithStderr}. */
export interface Ran {
  readonly code: number | null;
  readonly stdout: Uint8Array;
  readonly stderr: string;
}

/**
 * Runs the program with `stdin` and then end of input, its stderr set up as asked
 * (what ejabberd does: its copies' stderr is /dev/null). Fails after 20 s.
 */
export function runWithStderr(
  runner: Runner,
  args: readonly string[],
  stderr: Stderr,
  env: Record<string, string>,
  stdin: Uint8Array = new Uint8Array(),
): Promise<Ran> {
  const command = stderr === "closed" ? "/bin/sh" : runner.command;
  const argv = stderr === "closed"
    ? ["-c", 'exec "$@" 2>&-', "sh", runner.command, ...runner.prefix, ...args]
    : [...runner.prefix, ...args];
  const child = spawn(command, argv, {
    cwd: REPO_ROOT,
    env: cleanEnv(env),
    stdio: ["pipe", "pipe", stderr === "pipe" ? "pipe" : "ignore"],
  });
  const out: Uint8Array[] = [];
  let err = "";
  child.stdout!.on("data", (chunk: Uint8Array) => out.push(chunk));
  child.stderr?.on("data", (chunk: Uint8Array) => (err += new TextDecoder().decode(chunk)));
  child.stdin!.on("error", () => {});
  child.stdin!.end(stdin);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no exit within 20 s (stdout ${hex(concat(...out))}, stderr ${err})`));
    }, 20_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: concat(...out), stderr: err });
    });
  });
}

/**
 * Waits until `done()` holds (a line reached a file), checking on each tick of 20 ms;
 * fails after 15 s or when `p` exits first.
 */
export async function waitUntil(done: () => boolean, what: string, p: Extauth): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${p.stderr}`);
    if (p.exitStatus !== undefined) throw new Error(`exited waiting for ${what}: ${p.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Asserts that a reply is exactly the expected 4 bytes. */
export function assertReply(actual: Uint8Array, expected: Uint8Array, label: string) {
  assert.equal(
    hex(actual),
    hex(expected),
    `${label}: got ${replyName(actual) ?? "garbage"} (${hex(actual)}), ` +
      `expected ${replyName(expected)} (${hex(expected)})`,
  );
}
