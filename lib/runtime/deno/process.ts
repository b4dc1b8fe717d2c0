/**
 * {@linkcode ProcessInfo} on `Deno.*`.
 *
 * @module
 */

import type { EnvironmentReport } from "../environment.ts";
import type { ProcessInfo } from "../types.ts";

/** The process as Deno shows it; `environment` was inspected (and cleaned) by the caller. */
export function denoProcess(D: typeof Deno, environment: EnvironmentReport): ProcessInfo {
  return {
    name: "deno",
    version: `deno ${D.version.deno}`,
    pid: D.pid,
    environment,
    args: () => [...D.args],
    env: (name) => D.env.get(name),
    envNames: () => Object.keys(D.env.toObject()),
    onSignal(signal, handler) {
      try {
        D.addSignalListener(signal, handler);
      } catch { /* not supported on this OS (Windows: SIGHUP) */ }
    },
    exit: (code) => D.exit(code),
  };
}
