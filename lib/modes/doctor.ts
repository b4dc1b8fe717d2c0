/**
 * `xmpp-extauth doctor`: checks a deployment as its server will run the program (see
 * docs/doctor.md): ejabberd's (the default), Prosody's (`--prosody-config`,
 * `--prosody-wrapper`) or MongooseIM's (`--mongooseim-config`). Loaded only when asked for,
 * with the configuration readers and the system probes it needs.
 *
 * @module
 */

import type { DoctorCommand } from "../cli/doctor_args.ts";
import { DOCTOR_USAGE } from "../cli/doctor_args.ts";
import { ENV_PREFIX, SECRET_ENV } from "../cli/options.ts";
import { exitCode, jsonText, textLines } from "../doctor/findings.ts";
import type { Report } from "../doctor/findings.ts";
import { messageFormatter } from "../log/logger.ts";
import type { Runtime } from "../runtime/mod.ts";

/** Runs `doctor`; returns the exit code. */
export async function runDoctor(
  command: DoctorCommand,
  runtime: Runtime,
  print: (line: string) => void,
): Promise<number> {
  if (command.help) {
    print(DOCTOR_USAGE);
    return 0;
  }
  if ("probeCache" in command) {
    const { probeCache } = await import("../doctor/cache_probe.ts");
    return await probeCache(command.probeCache, runtime, print);
  }
  const system = await import("../runtime/system.ts");
  const request = command.request;
  let report: Report;
  if (request.prosodyConfig !== undefined || request.prosodyWrapper !== undefined) {
    const { doctorProsody } = await import("../doctor/prosody.ts");
    report = await doctorProsody(request, runtime, system);
  } else if (request.mongooseimConfig !== undefined) {
    const { doctorMongooseim } = await import("../doctor/mongooseim.ts");
    report = await doctorMongooseim(request.mongooseimConfig, request, runtime, system);
  } else {
    const { doctorEjabberd } = await import("../doctor/ejabberd.ts");
    report = await doctorEjabberd(request, runtime, system);
  }
  // Secrets the doctor itself could see: those in its own environment (never printed anyway).
  const format = messageFormatter(SECRET_ENV.map(([v]) => runtime.env(ENV_PREFIX + v)));
  if (command.json) print(jsonText(report, format));
  else for (const line of textLines(report, format)) print(line);
  return exitCode(report);
}
