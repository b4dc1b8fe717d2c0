/**
 * `xmpp-extauth doctor`'s own options (they are not the serving options): which server's
 * configuration to read, the user to check as, `--json`, and the child side of the
 * `--cache-url` check (`--probe-cache -- ARGS`, which doctor runs as the server's user).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fail } from "../core/config_error.ts";

/** `doctor --help`. */
export const DOCTOR_USAGE =
  "Usage: xmpp-extauth doctor [--ejabberd-config FILE | --prosody-config FILE | " +
  "--prosody-wrapper FILE | --mongooseim-config FILE] [--user NAME] [--json]\n" +
  "  checks the external auth program of the server's configuration as the server's user runs " +
  "it\n  (ejabberd when no other server is named); exit 0 when no check failed (✗), 1 when one " +
  "did, 2 on bad usage";

/** What `doctor` was asked. */
export interface DoctorRequest {
  readonly ejabberdConfig?: string;
  readonly prosodyConfig?: string;
  readonly prosodyWrapper?: string;
  readonly mongooseimConfig?: string;
  /** Check as this user instead of the server's. */
  readonly user?: string;
}

/** The parsed `doctor` command line. */
export type DoctorCommand =
  | { readonly kind: "doctor"; readonly help: true }
  | { readonly kind: "doctor"; readonly help?: false; readonly probeCache: readonly string[] }
  | {
    readonly kind: "doctor";
    readonly help?: false;
    readonly request: DoctorRequest;
    readonly json: boolean;
  };

/** Every option of `doctor` (for the docs' check that each --option named exists). */
export const DOCTOR_OPTION_NAMES: readonly string[] = [
  "ejabberd-config",
  "prosody-config",
  "prosody-wrapper",
  "mongooseim-config",
  "user",
  "json",
  "help",
  "probe-cache",
];

const SERVER_OPTIONS = [
  ["ejabberd-config", "ejabberdConfig"],
  ["prosody-config", "prosodyConfig"],
  ["prosody-wrapper", "prosodyWrapper"],
  ["mongooseim-config", "mongooseimConfig"],
] as const;

/**
 * Parses what follows `doctor`.
 *
 * @throws {ConfigError} for an unknown option, or two servers at once.
 * @example One server, as another user
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDoctorArgs } from "./doctor_args.ts";
 * const c = parseDoctorArgs(["--prosody-config", "/etc/prosody/prosody.cfg.lua", "--user", "p"]);
 * assert.deepEqual(c, {
 *   kind: "doctor", json: false,
 *   request: { prosodyConfig: "/etc/prosody/prosody.cfg.lua", user: "p" },
 * });
 * ```
 */
export function parseDoctorArgs(args: readonly string[]): DoctorCommand {
  if (args[0] === "--probe-cache") {
    return { kind: "doctor", probeCache: args.slice(args[1] === "--" ? 2 : 1) };
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        "ejabberd-config": { type: "string" },
        "prosody-config": { type: "string" },
        "prosody-wrapper": { type: "string" },
        "mongooseim-config": { type: "string" },
        user: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    fail(`doctor: ${(error as Error).message.split("\n")[0]} (${DOCTOR_USAGE.split("\n")[0]})`);
  }
  if (values.help) return { kind: "doctor", help: true };
  const request: Record<string, string> = {};
  for (const [option, field] of SERVER_OPTIONS) {
    const value = values[option];
    if (typeof value === "string") request[field] = value;
  }
  const named = SERVER_OPTIONS.filter(([o]) => values[o] !== undefined).map(([o]) => `--${o}`);
  if (named.length > 1) fail(`doctor: give one of ${named.join(", ")}, not several`);
  if (typeof values.user === "string") request.user = values.user;
  return { kind: "doctor", request, json: values.json === true };
}
