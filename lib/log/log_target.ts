/**
 * Where log lines go when nobody would read stderr, and where a configuration error is written
 * besides stderr, so that an admin who only sees ejabberd's "Failed to start external
 * authentication program" finds the reason.
 *
 * - No `--log-file` and stderr is `/dev/null` or closed (`ejabberdctl start`): the program logs
 *   to `xmpp-extauth.log` in the folder of ejabberd's own log (`$EJABBERD_LOG_PATH`, which
 *   `ejabberdctl` exports to the programs it starts), else `/var/log/ejabberd/xmpp-extauth.log`.
 *   The system log was not chosen: neither Deno nor Bun can send to `/dev/log` (a Unix datagram
 *   socket) without unstable flags, containers usually have no syslog daemon, and ejabberd's
 *   admins look in ejabberd's log folder first.
 * - A configuration error is appended to the log file the arguments, the environment or the
 *   config file name, read leniently (`cli/early_args.ts`, by main.ts), since the strict parse
 *   is what failed.
 *
 * @module
 */

import { createLogger } from "./logger.ts";
import type { Runtime } from "../runtime/mod.ts";

/** The fallback file's name, next to ejabberd's log. */
export const FALLBACK_LOG_NAME = "xmpp-extauth.log";
/** The folder used when ejabberd did not say where its log is (Debian's and ejabberd's default). */
export const FALLBACK_LOG_DIR = "/var/log/ejabberd";

/**
 * The fallback log file: beside `$EJABBERD_LOG_PATH`, else in `/var/log/ejabberd`.
 *
 * @example Under ejabberd's container
 * ```ts
 * import assert from "node:assert/strict";
 * const env = (name: string) =>
 *   name === "EJABBERD_LOG_PATH" ? "/opt/ejabberd/logs/ejabberd.log" : undefined;
 * assert.equal(fallbackLogFile(env), "/opt/ejabberd/logs/xmpp-extauth.log");
 * assert.equal(fallbackLogFile(() => undefined), "/var/log/ejabberd/xmpp-extauth.log");
 * ```
 */
export function fallbackLogFile(env: (name: string) => string | undefined): string {
  const ejabberdLog = env("EJABBERD_LOG_PATH") ?? "";
  const slash = ejabberdLog.lastIndexOf("/");
  const dir = slash > 0 ? ejabberdLog.slice(0, slash) : FALLBACK_LOG_DIR;
  return `${dir}/${FALLBACK_LOG_NAME}`;
}

/**
 * The log file to use when the configuration names none: the fallback file when stderr goes
 * nowhere (ejabberd's framing only: under Prosody stderr is the reply channel), else none.
 *
 * @example Where logs go when stderr leads nowhere
 * ```ts
 * import assert from "node:assert/strict";
 * const quiet = { stderrGoesNowhere: () => true, env: () => undefined };
 * assert.equal(fallbackFor("ejabberd", quiet), "/var/log/ejabberd/xmpp-extauth.log");
 * assert.equal(fallbackFor("prosody", quiet), undefined);
 * ```
 */
export function fallbackFor(
  protocol: "ejabberd" | "prosody",
  runtime: Pick<Runtime, "stderrGoesNowhere" | "env">,
): string | undefined {
  if (protocol !== "ejabberd" || !runtime.stderrGoesNowhere()) return undefined;
  return fallbackLogFile(runtime.env);
}

/** Where {@linkcode reportConfigError} writes, as main.ts read it from the command line. */
export interface ErrorLogTarget {
  /** The log file the command line names, read leniently (`cli/early_args.ts`), if any. */
  readonly logFile: string | undefined;
  /** Whether the fallback file may be used when it names none (not for `check`: it has stdout). */
  readonly mayFallBack: boolean;
}

/**
 * Appends a configuration error to the log file the command line names, or, when it names
 * none, the run may fall back and stderr goes nowhere, to the fallback file. Returns the file
 * written, or `undefined`; never throws (the message already went to stderr).
 *
 * @example Report a configuration error (main.ts; writes to the real log file)
 * ```ts ignore
 * import { reportConfigError } from "./log_target.ts";
 * import { detectRuntime } from "../runtime/mod.ts";
 * reportConfigError(error.message, { logFile: "/var/log/x.log", mayFallBack: true }, detectRuntime());
 * ```
 */
export function reportConfigError(
  message: string,
  target: ErrorLogTarget,
  runtime: Pick<Runtime, "env" | "pid" | "openAppend" | "stderrGoesNowhere">,
): string | undefined {
  let path: string | undefined;
  try {
    path = target.logFile;
    const fallback = path === undefined && target.mayFallBack;
    if (fallback) path = fallbackFor("ejabberd", runtime);
    if (path === undefined) return undefined;
    // The same rules as the log itself: never stdout (`--log-file /dev/stdout` is itself the
    // error being reported), never through a planted link; a refusal throws, and stderr has it.
    const file = runtime.openAppend(path, { fallback });
    try {
      createLogger({
        level: "error",
        sink: (line) => file.write(line),
        tag: `xmpp-extauth[${runtime.pid}]`,
      }).error(`configuration error, exiting with status 2: ${message}`);
    } finally {
      file.close();
    }
    return path;
  } catch {
    return undefined;
  }
}
