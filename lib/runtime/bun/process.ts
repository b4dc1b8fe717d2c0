/**
 * {@linkcode ProcessInfo} on Bun's `process`.
 *
 * @module
 */

import type { EnvironmentReport } from "../environment.ts";
import type { ProcessInfo } from "../types.ts";

/** The process as Bun shows it; `environment` was inspected (and cleaned) by the caller. */
export function bunProcess(environment: EnvironmentReport): ProcessInfo {
  return {
    name: "bun",
    version: `bun ${process.versions.bun}`,
    pid: process.pid,
    environment,
    args: () => process.argv.slice(2),
    env: (name) => process.env[name],
    envNames: () => Object.keys(process.env),
    onSignal(signal, handler) {
      process.on(signal, handler);
    },
    exit: (code) => process.exit(code),
  };
}
