/**
 * `doctor` for ejabberd: reads its configuration, finds every host with `auth_method:
 * external`, and checks each `extauth_program` as ejabberd will run it — as ejabberd's user,
 * with the environment ejabberd gives it. Every "can that user read/enter/write it" is asked of
 * the kernel in a child process running as that user (`runAs`), never worked out from mode
 * bits; mode bits are read only to say who else can read a secret.
 *
 * @module
 */

import { ConfigError } from "../cli/config.ts";
import type { DoctorRequest } from "../cli/doctor_args.ts";
import type { Runtime } from "../runtime/mod.ts";
import { findAccount } from "./account.ts";
import { checkSettings } from "./checks/ejabberd_settings.ts";
import { checkPool } from "./checks/ejabberd_settings.ts";
import { checkCommand } from "./checks/program.ts";
import { type Add, shq, type System, type Target } from "./context.ts";
import { authMethods, type HostSettings, readEjabberdConfig } from "./ejabberd_config.ts";
import type { Finding, Report } from "./findings.ts";
import { checkProgramLine, openTarget, reportOf } from "./target.ts";

/** Where the local ejabberd keeps its configuration, in the order ejabberdctl looks. */
export const DEFAULT_CONFIGS: readonly string[] = [
  "/etc/ejabberd/ejabberd.yml",
  "/opt/ejabberd/conf/ejabberd.yml",
];

const EJABBERD = {
  name: "ejabberd",
  setting: "extauth_program",
  startFailure: "ejabberd logs it as 'Failed to start external authentication program'",
  noLogFile: {
    status: "ok",
    message: "no --log-file: the program logs to ejabberd's stderr (the journal under " +
      "systemd; lost with `ejabberdctl start`)",
  },
  defaultUser: "ejabberd",
} as const;

/** The ejabberd configuration file: the one asked for, `$EJABBERD_CONFIG_PATH`, or the first that exists. */
function configPath(request: DoctorRequest, runtime: Runtime, system: System): string {
  if (request.ejabberdConfig !== undefined) return request.ejabberdConfig;
  const fromEnv = runtime.env("EJABBERD_CONFIG_PATH");
  if (fromEnv) return fromEnv;
  return DEFAULT_CONFIGS.find((p) => system.statPath(p) !== undefined) ?? DEFAULT_CONFIGS[0]!;
}

/** Whether a command line is ejabberd's Erlang VM. */
function isEjabberd(argv: readonly string[]): boolean {
  return /(^|\/)beam(\.smp)?$/.test(argv[0] ?? "") && argv.some((a) => /ejabberd/.test(a));
}

/** Runs the checks and returns the report. */
export async function doctorEjabberd(
  request: DoctorRequest,
  runtime: Runtime,
  system: System,
): Promise<Report> {
  const config = configPath(request, runtime, system);
  const findings: Finding[] = [];
  const add: Add = (f) => findings.push(f);
  const spec = { serverName: "ejabberd", defaultUser: "ejabberd", isServer: isEjabberd };
  const found = findAccount(spec, request.user, runtime, system);
  let parsed;
  try {
    parsed = await readEjabberdConfig(config, system.readText);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    add({
      status: "fail",
      check: "config",
      message: error.message,
      fix: request.ejabberdConfig === undefined
        ? "name ejabberd's configuration with --ejabberd-config FILE"
        : "fix the file (ejabberd would not start with it either)",
    });
    return reportOf("ejabberd", config, [], { ...found, account: undefined }, findings);
  }
  const n = parsed.hosts.length;
  add({
    status: "ok",
    check: "config",
    message: `read ${parsed.files.join(", ")} (${n} host${n === 1 ? "" : "s"})`,
  });
  const report = () => reportOf("ejabberd", config, parsed.files, found, findings);
  const external = externalHosts(parsed.hosts, add);
  if (external.length === 0) return report();
  const server = { ...EJABBERD, rerun: `--ejabberd-config ${shq(config)}` };
  const t = openTarget(server, found, runtime, system, add);
  if (t === undefined) return report();
  const apiFailed = await checkPrograms(t, external);
  checkPool(external, system.cpuCount(), add);
  for (const host of external) checkSettings(host, config, apiFailed.has(host.host), add);
  return report();
}

/** The hosts with external auth (✓ `hosts`), or none (✗). */
function externalHosts(hosts: readonly HostSettings[], add: Add): HostSettings[] {
  const external = hosts.filter((h) => authMethods(h.options).includes("external"));
  if (external.length === 0) {
    add({
      status: "fail",
      check: "hosts",
      message: "no host has auth_method: external, so ejabberd never runs the program",
      fix: "set auth_method: external (globally, or under host_config for a host)",
    });
    return external;
  }
  const names = external.map((h) =>
    h.ownOptions.includes("auth_method") ? `${h.host} (host_config)` : h.host
  );
  add({ status: "ok", check: "hosts", message: `auth_method external: ${names.join(", ")}` });
  return external;
}

/** Each distinct `extauth_program` once, the API per host; the hosts whose API failed. */
async function checkPrograms(t: Target, external: readonly HostSettings[]): Promise<Set<string>> {
  const byProgram = new Map<string, HostSettings[]>();
  for (const host of external) {
    const program = host.options.extauth_program;
    if (typeof program !== "string" || program.trim() === "") {
      t.add({
        status: "fail",
        check: "extauth_program",
        host: host.host,
        message: "auth_method external but no extauth_program",
        fix: "set extauth_program: /usr/local/bin/xmpp-extauth --url https://... " +
          "(an absolute path)",
      });
      continue;
    }
    byProgram.set(program, [...byProgram.get(program) ?? [], host]);
  }
  const apiFailed = new Set<string>();
  for (const [program, hosts] of byProgram) {
    const names = hosts.map((h) => h.host);
    const argv = checkCommand(t, program, `extauth_program of ${names.join(", ")}`);
    if (argv === undefined) continue;
    for (const host of await checkProgramLine(t, argv, names)) apiFailed.add(host);
  }
  return apiFailed;
}
