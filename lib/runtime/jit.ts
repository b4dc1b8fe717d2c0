/**
 * The Bun build's JIT switch: restart the process in place with
 * JavaScriptCore's JIT off, so that ejabberd's pool of copies does not each
 * keep private machine code. Its own module, loaded before the adapter, so
 * that the restart happens before anything else is loaded.
 *
 * @module
 */

/**
 * What the restart sets in the environment (an admin's own value of either is kept):
 * - `BUN_JSC_useJIT=0`: no machine code per copy (see {@linkcode restartWithoutJit});
 * - `BUN_JSC_smallHeapSize`: the heap `--smol` may fill before a collection, 2 MiB instead
 *   of 1. With the JIT off every collection is a full one of the whole live heap, so a larger
 *   heap means fewer pauses, at the cost of a little memory per copy (the measurements:
 *   docs/performance.md, "Why the code is shaped this way"). The idle collection
 *   (idle_gc.ts) gives it back once requests stop.
 */
export const RESTART_ENV = {
  BUN_JSC_useJIT: "0",
  BUN_JSC_smallHeapSize: String(2 * 1024 * 1024),
} as const;

/**
 * Under Bun, restarts this very process (`execve`: same PID, same stdin, stdout and stderr)
 * with JavaScriptCore's JIT off, unless `BUN_JSC_useJIT` is already set: by this restart, or
 * by an admin who wants the JIT (`BUN_JSC_useJIT=1`). ejabberd runs one copy per pool slot
 * and virtual host; with the JIT on, each copy compiles the request path to machine code,
 * private to that copy, and the pool's memory grows under load far more than with the JIT
 * off (docs/performance.md). The variable is read only when the VM starts, and `--compile-exec-argv` cannot carry it,
 * hence the restart (a few ms). Call it before anything else is loaded. Does nothing under
 * Deno, on Windows (no `execve`), with a terminal on stdin (Prosody's pty: `bun:ffi` needs
 * the JIT), when started through a dynamic loader, or when `execve` fails.
 *
 * @example Restart first, then load the program
 * ```ts ignore
 * import { restartWithoutJit } from "./jit.ts";
 * await restartWithoutJit();
 * const { detectRuntime } = await import("./mod.ts");
 * ```
 */
export async function restartWithoutJit(): Promise<void> {
  const bun = (globalThis as { Bun?: { main: string } }).Bun;
  if (bun === undefined || process.platform === "win32") return;
  if (process.env.BUN_JSC_useJIT !== undefined) return;
  // A terminal on stdin is Prosody's pty (one process, not a pool) or an admin: keep the JIT.
  // bun:ffi, which discards the queries Prosody queued before the start, needs it.
  // (terminal.ts loads node:fs, which Deno must not load at start: imported here, under Bun.)
  if ((await import("./terminal.ts")).isTerminal(0)) return;
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
    // node:fs only here, under Bun: Deno never loads it.
    const { realpathSync } = await import("node:fs");
    try {
      if (realpathSync(process.argv0) !== process.execPath) return;
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
      ...RESTART_ENV,
      ...process.env,
    });
  } catch {
    // Keep running, with the JIT.
  }
}
