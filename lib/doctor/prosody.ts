/**
 * `doctor` for Prosody (`--prosody-config FILE` or `--prosody-wrapper FILE`): finds the hosts
 * with `authentication = "external_insecure"` (or "external") and their
 * `external_auth_command`, then checks, as Prosody's user, the command (one path, no
 * arguments), the wrapper's `exec` line and its options, the program's files and API,
 * Prosody's timeout and protocol, its Lua's lpty, and the module file.
 *
 * @module
 */

import type { DoctorRequest } from "../cli/doctor_args.ts";
import { folderOf } from "../runtime/file_trust.ts";
import type { Runtime } from "../runtime/mod.ts";
import { findAccount, type Found } from "./account.ts";
import { checkReach } from "./checks/program.ts";
import { checkLpty, checkModule, findProsody, pluginPaths } from "./checks/prosody_lua.ts";
import { checkProsodySettings, checkProtocol } from "./checks/prosody_rules.ts";
import { checkWrapper } from "./checks/prosody_wrapper.ts";
import { type Add, shq, type System, type Target } from "./context.ts";
import type { Finding, Report } from "./findings.ts";
import { type LuaValue, readProsodyConfig } from "./prosody_config.ts";
import { checkProgramLine, openTarget, reportOf } from "./target.ts";

const PROSODY = {
  name: "Prosody",
  setting: "external_auth_command",
  startFailure: "Prosody logs the program's error: line",
  noLogFile: {
    status: "warn",
    message: "no --log-file: under Prosody's terminal the program logs nothing at all",
    fix: "add --log-file /var/log/prosody/xmpp-extauth.log to the wrapper",
  },
  defaultUser: "prosody",
} as const;

const MODULES: Readonly<Record<string, string>> = {
  external_insecure: "mod_auth_external_insecure",
  external: "mod_auth_external",
};

/** One external_auth_command and what applies to it. */
interface AuthGroup {
  readonly command: string;
  readonly hosts: string[];
  readonly values: Readonly<Record<string, LuaValue>>;
}

/** What the configuration says. */
interface Settings {
  readonly groups: AuthGroup[];
  readonly pluginPaths: string[];
  readonly files: string[];
}

function isProsody(argv: readonly string[]): boolean {
  return /(^|\/)lua[\d.]*$/.test(argv[0] ?? "") && argv.some((a) => /(^|\/)prosody$/.test(a));
}

/** Runs the checks and returns the report. */
export async function doctorProsody(
  request: DoctorRequest,
  runtime: Runtime,
  system: System,
): Promise<Report> {
  const findings: Finding[] = [];
  const add: Add = (f) => findings.push(f);
  const spec = { serverName: "Prosody", defaultUser: "prosody", isServer: isProsody };
  const found = findAccount(spec, request.user, runtime, system);
  const config = request.prosodyConfig ?? request.prosodyWrapper!;
  const settings = request.prosodyConfig === undefined
    ? wrapperOnly(config)
    : readSettings(config, system, add);
  const report = (f: Found = found) =>
    reportOf("prosody", config, settings?.files ?? [], f, findings);
  if (settings === undefined) return report({ ...found, account: undefined });
  if (settings.groups.length === 0) return report();
  const option = request.prosodyConfig ? "--prosody-config" : "--prosody-wrapper";
  const server = { ...PROSODY, rerun: `${option} ${shq(config)}` };
  const t = openTarget(server, found, runtime, system, add);
  if (t === undefined) return report();
  const where = request.prosodyConfig ? `in ${config}` : "in prosody.cfg.lua";
  for (const group of settings.groups) await checkGroup(t, group, where);
  const install = findProsody(t);
  await checkLpty(t, install);
  const modules = new Set(settings.groups.map((g) => MODULES[String(g.values.authentication)]!));
  const paths = pluginPaths(settings.pluginPaths, folderOf(config), install);
  for (const module of modules) await checkModule(t, module, paths);
  return report();
}

/** `--prosody-wrapper FILE`: the one command, Prosody's defaults, host `localhost`. */
function wrapperOnly(wrapper: string): Settings {
  return {
    groups: [{
      command: wrapper,
      hosts: ["localhost"],
      values: { authentication: "external_insecure" },
    }],
    pluginPaths: [],
    files: [wrapper],
  };
}

/** The hosts with external auth, grouped by command; undefined after a ✗ `config`. */
function readSettings(config: string, system: System, add: Add): Settings | undefined {
  const text = system.readText(config);
  if (text === undefined) {
    add({
      status: "fail",
      check: "config",
      message: `cannot read ${config}`,
      fix: "name Prosody's configuration with --prosody-config FILE",
    });
    return undefined;
  }
  const sections = readProsodyConfig(text);
  const global = sections[0]!.values;
  const hosts = sections.filter((s) => s.kind === "VirtualHost");
  const n = hosts.length;
  add({
    status: "ok",
    check: "config",
    message: `read ${config} (${n} VirtualHost${n === 1 ? "" : "s"})`,
  });
  const effective = (n === 0 ? [{ name: "(global)", values: {} }] : hosts).map((h) => ({
    host: h.name!,
    values: { ...global, ...h.values },
    own: Object.keys(h.values),
  }));
  const external = effective.filter((h) => String(h.values.authentication) in MODULES);
  const plugins = Array.isArray(global.plugin_paths) ? global.plugin_paths.map(String) : [];
  const settings: Settings = { groups: [], pluginPaths: plugins, files: [config] };
  if (external.length === 0) {
    add({
      status: "fail",
      check: "authentication",
      message:
        'no host has authentication = "external_insecure", so Prosody never runs the program',
      fix: `set authentication = "external_insecure" in ${config} (globally or in a VirtualHost)`,
    });
    return settings;
  }
  add({
    status: "ok",
    check: "authentication",
    message: external.map((h) =>
      `${h.host}: ${h.values.authentication}${
        h.own.includes("authentication") ? " (VirtualHost)" : ""
      }`
    ).join(", "),
  });
  groupByCommand(external, settings.groups, add);
  return settings;
}

/** The hosts by external_auth_command (✗ for a host without one). */
function groupByCommand(
  external: readonly { host: string; values: Record<string, LuaValue> }[],
  groups: AuthGroup[],
  add: Add,
) {
  for (const h of external) {
    const command = h.values.external_auth_command;
    if (typeof command !== "string" || command === "") {
      add({
        status: "fail",
        check: "external_auth_command",
        host: h.host,
        message: "not set: the module has no program to run",
        fix: `set external_auth_command = "/usr/local/bin/xmpp-extauth-prosody" (a wrapper script)`,
      });
      continue;
    }
    const group = groups.find((g) => g.command === command);
    if (group) group.hosts.push(h.host);
    else groups.push({ command, hosts: [h.host], values: h.values });
  }
}

/** One external_auth_command: one path, reachable, its wrapper, then the program's checks. */
async function checkGroup(t: Target, group: AuthGroup, where: string): Promise<void> {
  const command = group.command;
  if (/\s/.test(command.trim()) || !command.startsWith("/")) {
    const spaced = /\s/.test(command.trim());
    t.add({
      status: "fail",
      check: "external_auth_command",
      message: spaced
        ? `"${command}": Prosody runs it as one file name, without a shell, so it cannot ` +
          "carry arguments"
        : `"${command}": not an absolute path (Prosody does not search PATH)`,
      fix: spaced
        ? "put the program and its options in a wrapper script (exec PROGRAM --protocol " +
          "prosody ...) and name only the script"
        : "give the absolute path of the wrapper script",
    });
    return;
  }
  if (!await checkReach(t, command, "external_auth_command")) return;
  const argv = checkWrapper(t, command);
  if (argv === undefined) return;
  const hosts = group.hosts.filter((h) => h !== "(global)");
  const probeHosts = hosts.length > 0 ? hosts : ["localhost"];
  const settings = {
    protocol: group.values.external_auth_protocol,
    timeout: group.values.external_auth_timeout,
    where,
  };
  await checkProgramLine(t, argv, probeHosts, (options, args) => {
    checkProtocol(t, options, args);
    checkProsodySettings(t, options, settings);
  });
}
