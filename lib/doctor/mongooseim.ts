/**
 * `doctor` for MongooseIM (`--mongooseim-config mongooseim.toml`): reads `[auth.external]`
 * (`program`, `instances`) with smol-toml, loaded here only; checks the program line as
 * ejabberd's is checked (MongooseIM starts it with Erlang's `open_port({spawn, ...})`, through
 * `/bin/sh`), then MongooseIM's own rules: `--server mongooseim` (any reply but true or false
 * crashes its worker) and a deadline inside its 10 s call timeout.
 *
 * @module
 */

import type { Config } from "../cli/config.ts";
import type { DoctorRequest } from "../cli/doctor_args.ts";
import { formatDuration } from "../cli/duration.ts";
import type { Runtime } from "../runtime/mod.ts";
import { findAccount } from "./account.ts";
import { poolFinding } from "./checks/ejabberd_settings.ts";
import { checkCommand } from "./checks/program.ts";
import { type Add, shq, type System, type Target } from "./context.ts";
import type { Finding, Report } from "./findings.ts";
import { checkProgramLine, openTarget, reportOf } from "./target.ts";

/** MongooseIM gives up on a call after 10 s (60 s for the first one after a start). */
const CALL_TIMEOUT_MS = 10_000;

const MONGOOSEIM = {
  name: "MongooseIM",
  setting: "[auth.external] program",
  startFailure: "MongooseIM's external auth worker does not start",
  noLogFile: {
    status: "ok",
    message: "no --log-file: the program logs to MongooseIM's stderr",
  },
  defaultUser: "mongooseim",
} as const;

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function isMongooseim(argv: readonly string[]): boolean {
  return /(^|\/)beam(\.smp)?$/.test(argv[0] ?? "") && argv.some((a) => /mongooseim/.test(a));
}

/** Runs the checks and returns the report. */
export async function doctorMongooseim(
  config: string,
  request: DoctorRequest,
  runtime: Runtime,
  system: System,
): Promise<Report> {
  const findings: Finding[] = [];
  const add: Add = (f) => findings.push(f);
  const spec = { serverName: "MongooseIM", defaultUser: "mongooseim", isServer: isMongooseim };
  const found = findAccount(spec, request.user, runtime, system);
  const toml = await readToml(config, system, add);
  if (toml === undefined) {
    return reportOf("mongooseim", config, [], { ...found, account: undefined }, findings);
  }
  const report = () => reportOf("mongooseim", config, [config], found, findings);
  const external = authExternal(toml, config, add);
  if (external === undefined) return report();
  const server = { ...MONGOOSEIM, rerun: `--mongooseim-config ${shq(config)}` };
  const t = openTarget(server, found, runtime, system, add);
  if (t === undefined) return report();
  const general = isTable(toml.general) ? toml.general : {};
  const hosts = Array.isArray(general.hosts) ? general.hosts.map(String) : ["localhost"];
  const argv = checkCommand(t, external.program, "[auth.external] program");
  if (argv !== undefined) {
    await checkProgramLine(t, argv, hosts, (options) => checkMongooseimRules(t, options));
  }
  poolFinding(new Map([["[auth.external]", external.instances]]), "instances, default 1", add);
  return report();
}

/** The file read as TOML; undefined after a ✗ `config`. */
async function readToml(config: string, system: System, add: Add): Promise<Table | undefined> {
  const text = system.readText(config);
  let problem = text === undefined ? `cannot read ${config}` : undefined;
  if (text !== undefined) {
    try {
      const { parse } = await import("smol-toml");
      const toml = parse(text) as Table;
      add({ status: "ok", check: "config", message: `read ${config}` });
      return toml;
    } catch (error) {
      problem = `${config}: ${(error as Error).message.split("\n")[0]}`;
    }
  }
  add({
    status: "fail",
    check: "config",
    message: problem!,
    fix: "fix the file (MongooseIM would not start with it either)",
  });
  return undefined;
}

/** `[auth.external]` with its program, and `external` among `[auth] methods` when listed. */
function authExternal(toml: Table, config: string, add: Add) {
  const auth = isTable(toml.auth) ? toml.auth : {};
  const external = isTable(auth.external) ? auth.external : undefined;
  const methods = Array.isArray(auth.methods) ? auth.methods.map(String) : undefined;
  if (external === undefined || (methods !== undefined && !methods.includes("external"))) {
    add({
      status: "fail",
      check: "auth.external",
      message: external === undefined
        ? `no [auth.external] in ${config}: MongooseIM never runs the program`
        : `[auth] methods = ${JSON.stringify(methods)} does not list "external"`,
      fix: 'add [auth.external] with program = "..." (and "external" to [auth] methods if it ' +
        "is set)",
    });
    return undefined;
  }
  if (typeof external.program !== "string" || external.program.trim() === "") {
    add({
      status: "fail",
      check: "auth.external",
      message: "[auth.external] has no program",
      fix: 'set program = "/usr/local/bin/xmpp-extauth --server mongooseim --url https://..."',
    });
    return undefined;
  }
  const instances = typeof external.instances === "number" ? external.instances : 1;
  add({
    status: "ok",
    check: "auth.external",
    message: `program set, ${instances} instance${instances === 1 ? "" : "s"}` +
      (methods === undefined ? "" : `; methods ${JSON.stringify(methods)}`),
  });
  return { program: external.program, instances };
}

/** `--server mongooseim`, and the deadline inside MongooseIM's 10 s call timeout. */
function checkMongooseimRules(t: Target, options: Config) {
  t.add(
    options.server === "mongooseim"
      ? { status: "ok", check: "server", message: "--server mongooseim (true or false only)" }
      : {
        status: "fail",
        check: "server",
        message: "no --server mongooseim: an API failure is answered with an error reply, " +
          "which crashes MongooseIM's external auth worker",
        fix: "add --server mongooseim to [auth.external] program",
      },
  );
  const deadline = formatDuration(options.deadlineMs);
  t.add(
    options.deadlineMs < CALL_TIMEOUT_MS
      ? {
        status: "ok",
        check: "deadline",
        message: `${deadline}, inside MongooseIM's 10 s call timeout`,
      }
      : {
        status: "fail",
        check: "deadline",
        message: `${deadline}: MongooseIM gives up on a call after 10 s, before this answer`,
        fix: "add --server mongooseim (its default deadline is 8 s), or --deadline 8s",
      },
  );
}
