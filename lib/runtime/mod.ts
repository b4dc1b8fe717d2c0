/**
 * The runtime adapter, the only code that touches `Deno.*` or `Bun.*` (the
 * shape of hono's `src/adapter/<runtime>/`): `types.ts` names the capabilities
 * (process, stdio, files, HTTP, terminal, SQLite, memory), `deno/` and `bun/`
 * implement each in a small file, `deno.ts` and `bun.ts` put them together
 * into the {@linkcode Runtime}; this module loads the one for the runtime it
 * runs on, and only that one, so Deno never loads `node:fs`. `common.ts` holds
 * what both share, `stderr.ts` and `sqlite.ts` the runtime-level pieces of
 * logging and `--cache-file`.
 *
 * @module
 */

import type { BunGlobal } from "./bun.ts";
import type { Runtime } from "./types.ts";

export type { AppendFile, DiscardResult, Runtime, SqliteModule } from "./types.ts";
export type {
  Files,
  Http,
  Memory,
  ProcessInfo,
  Sqlite,
  StateFiles,
  Stdio,
  Terminal,
} from "./types.ts";
export type { RedisConnection, RedisConnectOptions } from "./types.ts";
export type { OpenLogOptions } from "./types.ts";
export { UnsafeLogFile } from "./log_file.ts";

const g = globalThis as { Deno?: unknown; Bun?: BunGlobal };

// Two literal imports, not one computed one, so that `bun build` bundles both adapters.
const adapter = g.Bun !== undefined
  ? await import("./bun.ts")
  : g.Deno !== undefined
  ? await import("./deno.ts")
  : undefined;

/**
 * Returns the adapter for the runtime this code runs on.
 *
 * @throws {Error} on a runtime that is neither Deno nor Bun.
 * @example Write to stderr through the adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { detectRuntime } from "./mod.ts";
 * const runtime = detectRuntime();
 * assert.match(runtime.version, /^(deno|bun) /);
 * runtime.writeStderr(`running on ${runtime.version}\n`);
 * ```
 */
export function detectRuntime(): Runtime {
  if (adapter !== undefined && "createBunRuntime" in adapter) {
    return adapter.createBunRuntime(g.Bun!);
  }
  if (adapter !== undefined && "createDenoRuntime" in adapter) return adapter.createDenoRuntime();
  throw new Error("Cannot start: xmpp-extauth runs on Deno or Bun");
}
