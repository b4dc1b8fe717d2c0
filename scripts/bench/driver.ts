/**
 * The benchmark's driver: child processes, and {@linkcode Bridge}, which drives a program as
 * ejabberd does (one frame out, one 4-byte reply back, checked).
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT: string = fileURLToPath(new URL("../..", import.meta.url));

export function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("XMPP_EXTAUTH_")) env[k] = v;
  }
  return env;
}

export function run(argv: string[], timeoutMs = 600_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd ?? "", args, {
      cwd: ROOT,
      env: { ...childEnv(), NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Uint8Array) => out += new TextDecoder().decode(c));
    child.stderr.on("data", (c: Uint8Array) => out += new TextDecoder().decode(c));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: -1, out: String(e) });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out });
    });
  });
}

export async function version(argv: string[]): Promise<string> {
  const r = await run(argv, 30_000);
  return r.code === 0 ? (r.out.trim().split("\n")[0] ?? "") : "not available";
}

/** A bridge process driven as ejabberd drives it: one frame out, one 4-byte reply back. */
export class Bridge {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  exitedAt = 0;
  stderrBytes = 0;
  private stderrTail = "";
  private buf = new Uint8Array(64);
  private len = 0;
  private waiter: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private dead: Error | null = null;

  constructor(argv: string[]) {
    const [cmd, ...args] = argv;
    this.child = spawn(cmd ?? "", args, {
      cwd: ROOT,
      env: childEnv(),
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.pid = this.child.pid ?? -1;
    this.child.stdout?.on("data", (chunk: Uint8Array) => this.onData(chunk));
    this.child.stderr?.on("data", (chunk: Uint8Array) => {
      this.stderrBytes += chunk.length;
      this.stderrTail = (this.stderrTail + new TextDecoder().decode(chunk)).slice(-2000);
    });
    this.exited = new Promise((resolve) => {
      this.child.on("error", (e) => {
        this.die(new Error(`Cannot start ${argv.join(" ")}: ${e.message}`));
        resolve({ code: -1, signal: null });
      });
      this.child.on("exit", (code, signal) => {
        this.exitedAt = performance.now();
        this.die(new Error(`bridge exited (code ${code}, signal ${signal})`));
        resolve({ code, signal });
      });
    });
    this.child.stdin?.on("error", () => {});
  }

  private die(e: Error): void {
    this.dead ??= e;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(this.dead);
  }

  private onData(chunk: Uint8Array): void {
    if (this.len + chunk.length > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + chunk.length));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(chunk, this.len);
    this.len += chunk.length;
    if (this.len >= 4 && this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve();
    }
  }

  /** Pending bytes that no request asked for. */
  get stray(): number {
    return this.len;
  }

  get stderr(): string {
    return this.stderrTail;
  }

  /** Sends one frame and resolves to the reply's last byte (0 false, 1 true, 2 error). */
  async request(frame: Uint8Array): Promise<number> {
    if (this.len !== 0) {
      throw new Error(`${this.len} unexpected byte(s) on stdout before a request`);
    }
    if (this.dead !== null) throw this.dead;
    this.child.stdin?.write(frame);
    if (this.len < 4) {
      await new Promise<void>((resolve, reject) => this.waiter = { resolve, reject });
    }
    const b = this.buf;
    const len = this.stray;
    if (len !== 4 || b[0] !== 0 || b[1] !== 2 || b[2] !== 0 || (b[3] ?? 9) > 2) {
      const hex = Array.from(b.subarray(0, Math.min(len, 16)), (x) => x.toString(16)).join(" ");
      throw new Error(`malformed reply (${len} bytes: ${hex})`);
    }
    this.len = 0;
    return b[3] ?? 9;
  }

  /** Closes stdin (as ejabberd does on timeout) and waits for the exit; kills it after 5 s. */
  async close(): Promise<{ exitMs: number; exitedOnEof: boolean }> {
    const t0 = performance.now();
    this.child.stdin?.end();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), 5_000));
    const r = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (r === "timeout") {
      this.child.kill("SIGKILL");
      await this.exited;
      return { exitMs: NaN, exitedOnEof: false };
    }
    return { exitMs: this.exitedAt - t0, exitedOnEof: true };
  }
}

/** The resolved path of a command on PATH, or undefined. */
export async function which(cmd: string): Promise<string | undefined> {
  const r = await run(["sh", "-c", `command -v ${cmd}`], 10_000);
  const path = r.out.trim();
  if (r.code !== 0 || path === "") return undefined;
  const real = await run(["readlink", "-f", path], 10_000);
  return real.out.trim() || path;
}

/** A promise that resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
