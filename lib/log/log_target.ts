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
 *   config file name, read leniently, since the strict parse is what failed.
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

/** Where the log file setting may come from, as in `parseCommand`. */
export interface LogFileSources {
  readonly args: readonly string[];
  readonly env: (name: string) => string | undefined;
  readonly readFile: (path: string) => Uint8Array;
}

/** The last value of `--name VALUE` or `--name=VALUE` before a `--`, if any. */
function flagValue(args: readonly string[], name: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") break;
    if (arg === `--${name}`) found = args[i + 1];
    else if (arg.startsWith(`--${name}=`)) found = arg.slice(name.length + 3);
  }
  return found === "" ? undefined : found;
}

/**
 * The `--log-file` a command line asks for, read leniently (a command line the strict parse
 * refused): flag, then `XMPP_EXTAUTH_LOG_FILE`, then `"log-file"` in the config file named by
 * `--config` or `XMPP_EXTAUTH_CONFIG`; `undefined` when none can be read.
 *
 * @example A typo elsewhere on the line does not hide the log file
 * ```ts
 * import assert from "node:assert/strict";
 * const file = findLogFile({
 *   args: ["--url", "http://127.0.0.1/api", "--tiemout", "3s", "--log-file", "/var/log/x.log"],
 *   env: () => undefined,
 *   readFile: () => new Uint8Array(),
 * });
 * assert.equal(file, "/var/log/x.log");
 * ```
 */
export function findLogFile(sources: LogFileSources): string | undefined {
  const direct = flagValue(sources.args, "log-file") ??
    (sources.env("XMPP_EXTAUTH_LOG_FILE") || undefined);
  if (direct !== undefined) return direct;
  const config = flagValue(sources.args, "config") ??
    (sources.env("XMPP_EXTAUTH_CONFIG") || undefined);
  if (config === undefined) return undefined;
  try {
    const data: unknown = JSON.parse(new TextDecoder().decode(sources.readFile(config)));
    const value = (data as Record<string, unknown> | null)?.["log-file"];
    return typeof value === "string" && value !== "" ? value : undefined;
  } catch {
    return undefined;
  }
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

/**
 * Appends a configuration error to the log file the command line names (read leniently), or,
 * when it names none and stderr goes nowhere, to the fallback file. Returns the file written,
 * or `undefined`; never throws (the message already went to stderr).
 *
 * @example Report a configuration error (main.ts; writes to the real log file)
 * ```ts ignore
 * import { reportConfigError } from "./log_target.ts";
 * import { detectRuntime } from "../runtime/mod.ts";
 * reportConfigError(error.message, detectRuntime());
 * ```
 */
export function reportConfigError(message: string, runtime: Runtime): string | undefined {
  let path: string | undefined;
  try {
    path = findLogFile({ args: runtime.args(), env: runtime.env, readFile: runtime.readFile });
    const isCheck = runtime.args().includes("check");
    const fallback = path === undefined && !isCheck;
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
