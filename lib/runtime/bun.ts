/**
 * The Bun adapter: the {@linkcode Runtime} on `Bun.*`, `process` and `node:fs`, put together
 * from one small implementation per capability in `bun/` (they import `node:fs` statically:
 * this file is loaded under Bun only). Heavy modules (`bun:ffi`, `bun:sqlite`) are loaded on
 * first use, not at start.
 *
 * @module
 */

import { inspectEnvironment } from "./environment.ts";
import { loadSqlite } from "./common.ts";
import { bunFiles } from "./bun/files.ts";
import { bunHttp } from "./bun/http.ts";
import { bunProcess } from "./bun/process.ts";
import { bunStdio, type BunStdioGlobal } from "./bun/stdio.ts";
import { bunStateFiles } from "./bun/state_files.ts";
import { bunTerminal } from "./bun/terminal.ts";
import { connectBun } from "./redis.ts";
import type { Runtime } from "./types.ts";

/** The Bun APIs the adapter uses (Bun's own types are not installed). */
export type BunGlobal = BunStdioGlobal & {
  readonly RedisClient: Parameters<typeof connectBun>[0];
};

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
    ...bunProcess(environment),
    ...bunStdio(bun),
    ...bunFiles(),
    ...bunStateFiles(),
    ...bunHttp(environment.proxy),
    ...bunTerminal(bun),
    connectRedis: (options) => connectBun(bun.RedisClient, options),
    loadSqlite,
    collectGarbage: () => bun.gc(true),
  };
}
