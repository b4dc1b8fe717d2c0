/**
 * `xmpp-extauth doctor [--ejabberd-config FILE] [--user NAME] [--json]`: checks the deployment
 * as ejabberd will run it (see docs/doctor.md). Loaded only when asked for, with the YAML
 * library and the system probes it needs.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fail } from "../core/config_error.ts";
import { createMask } from "../log/mask.ts";
import type { Runtime } from "../runtime/mod.ts";
import { doctorEjabberd } from "../doctor/ejabberd.ts";
import { exitCode, jsonText, textLines } from "../doctor/findings.ts";
import { ENV_PREFIX, SECRET_ENV } from "../cli/options.ts";

/** `doctor --help`. */
export const DOCTOR_USAGE =
  "Usage: xmpp-extauth doctor [--ejabberd-config FILE] [--user NAME] [--json]\n" +
  "  checks every extauth_program of ejabberd's configuration as ejabberd's user runs it;\n" +
  "  exit 0 when no check failed (✗), 1 when one did, 2 on bad usage";

/** Runs `doctor` with its arguments (after `doctor`); returns the exit code. */
export async function runDoctor(
  args: readonly string[],
  runtime: Runtime,
  print: (line: string) => void,
): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        "ejabberd-config": { type: "string" },
        user: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    fail(`doctor: ${(error as Error).message.split("\n")[0]} (${DOCTOR_USAGE.split("\n")[0]})`);
  }
  if (values.help) {
    print(DOCTOR_USAGE);
    return 0;
  }
  const system = await import("../runtime/system.ts");
  const report = await doctorEjabberd(
    {
      ...(values["ejabberd-config"] === undefined
        ? {}
        : { ejabberdConfig: values["ejabberd-config"] }),
      ...(values.user === undefined ? {} : { user: values.user }),
    },
    runtime,
    system,
  );
  // Secrets the doctor itself could see: those in its own environment (never printed anyway).
  const mask = createMask(SECRET_ENV.map(([v]) => runtime.env(ENV_PREFIX + v)));
  if (values.json) print(jsonText(report, mask));
  else for (const line of textLines(report, mask)) print(line);
  return exitCode(report);
}
