/**
 * Prosody's rules for the program's options: `--protocol prosody` (Prosody speaks lines, and
 * its `ejabberd` mode is broken), `external_auth_protocol` "generic", and an answer that comes
 * well inside `external_auth_timeout` (a late answer is read as the answer to the next query).
 *
 * @module
 */

import type { Config } from "../../cli/config.ts";
import { readEarlyCommand } from "../../cli/early_args.ts";
import { formatDuration } from "../../cli/duration.ts";
import type { Target } from "../context.ts";
import type { LuaValue } from "../prosody_config.ts";

/** Prosody's default `external_auth_timeout`, in seconds. */
export const PROSODY_TIMEOUT_S = 5;
/** How far inside Prosody's timeout the program's deadline should end. */
const MARGIN_MS = 1000;

/** The Prosody settings the rules read, for one command. */
export interface ProsodyAuthSettings {
  readonly protocol: LuaValue | undefined;
  readonly timeout: LuaValue | undefined;
  /** Where they are set, for the fix: the config file, or "the wrapper only". */
  readonly where: string;
}

/** `--protocol prosody`. */
export function checkProtocol(t: Target, options: Config, args: readonly string[]) {
  const asked = readEarlyCommand({
    args,
    env: (name) => t.env[name],
    readFile: t.runtime.readFile,
  }).setting("protocol");
  if (options.protocol === "prosody") {
    t.add({ status: "ok", check: "protocol", message: "--protocol prosody" });
  } else if (asked === "ejabberd") {
    t.add({
      status: "warn",
      check: "protocol",
      message: "--protocol ejabberd: Prosody's ejabberd mode is broken (lpty writes up to the " +
        "first NUL byte, and every framed query under 256 bytes starts with one)",
      fix: 'use --protocol prosody in the wrapper, with external_auth_protocol = "generic"',
    });
  } else {
    t.add({
      status: "fail",
      check: "protocol",
      message: "no --protocol prosody: the program would answer in ejabberd's binary framing, " +
        "which Prosody cannot read",
      fix: "add --protocol prosody to the wrapper's exec line (not only to a --config file, so " +
        "that even a config file that cannot be read is reported on Prosody's terminal)",
    });
  }
}

/** `external_auth_protocol` "generic" (or absent) and the deadline inside `external_auth_timeout`. */
export function checkProsodySettings(t: Target, options: Config, s: ProsodyAuthSettings) {
  if (s.protocol === undefined || s.protocol === "generic") {
    t.add({
      status: "ok",
      check: "external_auth_protocol",
      message: s.protocol === undefined ? "generic (the default)" : "generic",
    });
  } else {
    t.add({
      status: s.protocol === "ejabberd" ? "warn" : "fail",
      check: "external_auth_protocol",
      message: `${JSON.stringify(s.protocol)}: ` +
        (s.protocol === "ejabberd"
          ? "its queries never reach the program (lpty cuts writes at the first NUL)"
          : 'not a protocol of the module ("generic" or "ejabberd")'),
      fix: `set external_auth_protocol = "generic" ${s.where} (or remove it)`,
    });
  }
  const seconds = typeof s.timeout === "number" ? s.timeout : PROSODY_TIMEOUT_S;
  const timeoutMs = seconds * 1000;
  const deadline = formatDuration(options.deadlineMs);
  const said = `external_auth_timeout ${seconds} s${s.timeout === undefined ? " (default)" : ""}`;
  if (options.deadlineMs + MARGIN_MS <= timeoutMs) {
    t.add({
      status: "ok",
      check: "external_auth_timeout",
      message: `${said}: the program answers within its --deadline ${deadline}`,
    });
    return;
  }
  const late = options.deadlineMs >= timeoutMs;
  t.add({
    status: late ? "fail" : "warn",
    check: "external_auth_timeout",
    message: `${said}, --deadline ${deadline}: ` +
      (late
        ? "Prosody gives up before the program answers, and then reads that late answer as " +
          "the answer to the next query (a wrong password can be accepted)"
        : `less than ${MARGIN_MS / 1000} s between the deadline and Prosody's timeout`),
    fix: `make external_auth_timeout at least ${
      Math.ceil((options.deadlineMs + MARGIN_MS) / 1000)
    } ${s.where}, or lower --deadline in the wrapper`,
  });
}
