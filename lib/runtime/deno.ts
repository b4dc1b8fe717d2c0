/**
 * The Deno adapter: the {@linkcode Runtime} on `Deno.*`, put together from one small
 * implementation per capability in `deno/`. It imports no `node:` module (importing
 * `node:fs` under Deno costs ~9 MiB RSS and ~10 ms of start-up), so serving loads nothing
 * it does not use. The one exception is a log file: opening one loads `node:fs` (see
 * `deno/files.ts`), for `O_NOFOLLOW` and `fchown`, which `Deno.*` lacks.
 *
 * @module
 */

import { inspectEnvironment } from "./environment.ts";
import { loadSqlite } from "./common.ts";
import { denoFiles } from "./deno/files.ts";
import { denoHttp } from "./deno/http.ts";
import { denoProcess } from "./deno/process.ts";
import { denoStateFiles } from "./deno/state_files.ts";
import { denoStdio } from "./deno/stdio.ts";
import { denoTerminal } from "./deno/terminal.ts";
import { connectNodeRedis } from "./redis.ts";
import type { Runtime } from "./types.ts";

/**
 * Makes the Deno adapter; the environment is inspected (and cleaned) once, here.
 *
 * @example Ask the runtime for its version
 * ```ts ignore
 * import { createDenoRuntime } from "./deno.ts";
 * createDenoRuntime().version; // "deno 2.9.6"
 * ```
 */
export function createDenoRuntime(): Runtime {
  const D = Deno;
  const environment = inspectEnvironment((name) => D.env.get(name));
  for (const name of environment.remove) D.env.delete(name);
  return {
    ...denoProcess(D, environment),
    ...denoStdio(D),
    ...denoFiles(D),
    ...denoStateFiles(D),
    ...denoHttp(D, environment.proxy),
    ...denoTerminal(D),
    connectRedis: connectNodeRedis,
    loadSqlite,
  };
}
