/**
 * `doctor` for ejabberd: reads its configuration, finds every host with `auth_method:
 * external`, and checks each `extauth_program` as ejabberd will run it — as ejabberd's user,
 * with the environment ejabberd gives it. Every "can that user read/enter/write it" is asked of
 * the kernel in a child process running as that user (`runAs`), never worked out from mode
 * bits; mode bits are read only to say who else can read a secret.
 *
 * @module
 */

import { type Config, ConfigError, parseCommand } from "../cli/config.ts";
import { folderOf, folderOpenToOthers } from "../runtime/file_trust.ts";
import type { Runtime } from "../runtime/mod.ts";
import {
  authMethods,
  type HostSettings,
  moduleNames,
  readEjabberdConfig,
} from "./ejabberd_config.ts";
import type { Finding, Report } from "./findings.ts";
import { shellWords } from "./shell_words.ts";

/** The system module (`lib/runtime/system.ts`). */
export type System = typeof import("../runtime/system.ts");

/** Where the local ejabberd keeps its configuration, in the order ejabberdctl looks. */
export const DEFAULT_CONFIGS: readonly string[] = [
  "/etc/ejabberd/ejabberd.yml",
  "/opt/ejabberd/conf/ejabberd.yml",
];

/** systemd's PATH for services (ejabberd's under Debian's unit). */
const SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Memory of the compiled binary (docs/performance.md): the first copy, and each further one. */
const FIRST_COPY_MIB = 28;
const FURTHER_COPY_MIB = 5;

/** What `doctor` was asked. */
export interface DoctorRequest {
  readonly ejabberdConfig?: string;
  /** Check as this user instead of ejabberd's. */
  readonly user?: string;
}

/** The user the checks run as. */
interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly group: string;
  readonly home: string;
}

/** Runs argv as the account, with ejabberd's environment. */
type Probe = (argv: readonly string[], timeoutMs?: number) => ReturnType<System["runAs"]>;

const shq = (s: string) => /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;

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

/** The account and environment to check with, and where they came from. */
function findAccount(request: DoctorRequest, runtime: Runtime, system: System) {
  const running = request.user === undefined ? system.findProcess(isEjabberd) : undefined;
  const entry = request.user !== undefined
    ? system.lookupUser(request.user)
    : running !== undefined
    ? system.lookupUser(String(running.uid))
    : system.lookupUser("ejabberd");
  if (request.user !== undefined && entry === undefined) {
    throw new ConfigError(`doctor: --user ${request.user}: no such user`);
  }
  let account: Account | undefined;
  if (entry !== undefined) {
    account = {
      name: entry.name,
      uid: entry.uid,
      gid: running?.gid ?? entry.gid,
      group: system.groupName(running?.gid ?? entry.gid) ?? String(running?.gid ?? entry.gid),
      home: entry.home,
    };
  } else if (running !== undefined) {
    account = {
      name: String(running.uid),
      uid: running.uid,
      gid: running.gid,
      group: system.groupName(running.gid) ?? String(running.gid),
      home: "/",
    };
  }
  let from: string;
  let env: Record<string, string>;
  if (running?.env !== undefined) {
    from = `from the running ejabberd (pid ${running.pid}), with its environment`;
    env = { ...running.env };
  } else {
    from = request.user !== undefined
      ? "as asked (--user)"
      : running !== undefined
      ? `from the running ejabberd (pid ${running.pid})`
      : entry !== undefined
      ? "no running ejabberd: its passwd entry"
      : "no ejabberd user: this user";
    env = {
      PATH: SERVICE_PATH,
      ...(account ? { HOME: account.home, USER: account.name, LOGNAME: account.name } : {}),
      ...(entry ? { SHELL: entry.shell } : {}),
      LANG: runtime.env("LANG") ?? "C.UTF-8",
    };
    from += ", systemd's environment";
  }
  return { account, env, from };
}

/** Asks the kernel, as the account, each `test -r/-w/-x PATH`; true where it holds. */
async function access(probe: Probe, tests: readonly (readonly [string, string])[]) {
  if (tests.length === 0) return [];
  const script = 'for a; do if test "-${a%%:*}" "${a#*:}"; then echo 1; else echo 0; fi; done';
  const run = await probe(["/bin/sh", "-c", script, "sh", ...tests.map(([m, p]) => `${m}:${p}`)]);
  const answers = run.stdout.trim().split("\n");
  return tests.map((_, i) => answers[i] === "1");
}

const modeText = (mode: number) => (mode & 0o7777).toString(8).padStart(4, "0");

/** The folders above `path`, `/` first. */
function foldersAbove(path: string): string[] {
  const out: string[] = [];
  let folder = folderOf(path);
  while (true) {
    out.unshift(folder);
    if (folder === "/" || folder === ".") break;
    folder = folderOf(folder);
  }
  return out;
}

/** Runs the checks and returns the report. */
export async function doctorEjabberd(
  request: DoctorRequest,
  runtime: Runtime,
  system: System,
): Promise<Report> {
  const config = configPath(request, runtime, system);
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);
  const { account, env, from } = findAccount(request, runtime, system);
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
    return { server: "ejabberd", config, files: [], userFrom: from, findings };
  }
  add({
    status: "ok",
    check: "config",
    message: `read ${parsed.files.join(", ")} (${parsed.hosts.length} host` +
      `${parsed.hosts.length === 1 ? "" : "s"})`,
  });
  const report = (): Report => ({
    server: "ejabberd",
    config,
    files: parsed.files,
    ...(account ? { user: { name: account.name, uid: account.uid, gid: account.gid } } : {}),
    userFrom: from,
    findings,
  });
  const external = parsed.hosts.filter((h) => authMethods(h.options).includes("external"));
  if (external.length === 0) {
    add({
      status: "fail",
      check: "hosts",
      message: "no host has auth_method: external, so ejabberd never runs the program",
      fix: "set auth_method: external (globally, or under host_config for a host)",
    });
    return report();
  }
  add({
    status: "ok",
    check: "hosts",
    message: `auth_method external: ${
      external.map((h) => h.ownOptions.includes("auth_method") ? `${h.host} (host_config)` : h.host)
        .join(", ")
    }`,
  });
  if (account === undefined) {
    add({
      status: "fail",
      check: "user",
      message: "no running ejabberd and no user ejabberd: cannot check as ejabberd's user",
      fix: "name the user ejabberd runs as with --user NAME",
    });
    return report();
  }
  const self = system.currentUid();
  if (self !== 0 && self !== account.uid) {
    add({
      status: "fail",
      check: "user",
      message: `cannot check as ${account.name}: only root can run a command as another user`,
      fix: "run doctor as root",
      command: `sudo xmpp-extauth doctor --ejabberd-config ${shq(config)}`,
    });
    return report();
  }
  const probe: Probe = (argv, timeoutMs = 30_000) =>
    system.runAs(account, argv, { env, cwd: account.home, timeoutMs });

  // One program can serve several hosts; check each command line once, the API per host.
  const byProgram = new Map<string, HostSettings[]>();
  for (const host of external) {
    const program = host.options.extauth_program;
    if (typeof program !== "string" || program.trim() === "") {
      add({
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
    await checkProgram(program, hosts, account, env, probe, runtime, system, add, apiFailed);
  }
  checkPool(external, system, add);
  for (const host of external) checkSettings(host, config, apiFailed.has(host.host), add);
  return report();
}

/** Every check of one `extauth_program` and the hosts it serves. */
async function checkProgram(
  program: string,
  hosts: readonly HostSettings[],
  account: Account,
  env: Readonly<Record<string, string>>,
  probe: Probe,
  runtime: Runtime,
  system: System,
  add: (f: Finding) => void,
  apiFailed: Set<string>,
): Promise<void> {
  const names = hosts.map((h) => h.host).join(", ");
  const split = shellWords(program);
  if (split.error !== undefined || split.words.length === 0) {
    add({
      status: "fail",
      check: "command",
      message: `extauth_program of ${names}: ${split.error ?? "empty"}: /bin/sh cannot run it`,
      fix: "quote each argument with single quotes, and close every quote",
    });
    return;
  }
  const argv = split.words;
  add({
    status: split.notes.length > 0 ? "warn" : "ok",
    check: "command",
    message: split.notes.length > 0
      ? `/bin/sh splits it into ${argv.length} words, and: ${split.notes.join("; ")}`
      : `/bin/sh splits it into ${argv.length} words: ${argv.map(shq).join(" ")}`,
    ...(split.notes.length > 0
      ? { fix: "put such characters in single quotes, or use --config FILE for the options" }
      : {}),
  });

  // The program: found, and every folder above it enterable by the user.
  let path = argv[0]!;
  if (!path.includes("/")) {
    const found = await probe(["/bin/sh", "-c", 'command -v "$1"', "sh", path]);
    const resolved = found.stdout.trim();
    if (found.code !== 0 || !resolved.startsWith("/")) {
      add({
        status: "fail",
        check: "program",
        message: `${path} is not found in ejabberd's PATH (${env.PATH ?? "unset"})`,
        fix: "give extauth_program the program's absolute path",
      });
      return;
    }
    add({
      status: "warn",
      check: "program",
      message: `${path} is found through PATH as ${resolved}`,
      fix: `give extauth_program the absolute path ${resolved}`,
    });
    path = resolved;
  }
  const folders = foldersAbove(path);
  const entered = await access(probe, [...folders.map((f) => ["x", f] as const), ["x", path]]);
  const blocked = folders.findIndex((_, i) => !entered[i]);
  const sandboxed = /^\/(root|home|run\/user)(\/|$)/.test(path);
  if (blocked >= 0) {
    const folder = folders[blocked]!;
    const stat = system.statPath(folder);
    const why = stat === undefined
      ? "does not exist"
      : `is not searchable by ${account.name} (mode ${modeText(stat.mode)}, owner uid ${stat.uid})`;
    const name = path.slice(path.lastIndexOf("/") + 1);
    add({
      status: "fail",
      check: "program",
      message: `${account.name} cannot reach ${path}: the folder ${folder} ${why}`,
      ...(stat === undefined ? { fix: "fix the path in extauth_program" } : sandboxed
        ? {
          fix: `move the program out of ${folder} (systemd's ProtectHome hides it from ` +
            `ejabberd anyway) and point extauth_program at the new path`,
          command: `install -m 0755 ${shq(path)} /usr/local/bin/${shq(name)}`,
        }
        : {
          fix: `let ${account.name} enter ${folder}, or move the program`,
          command: `chmod o+x ${shq(folder)}`,
        }),
    });
    return;
  }
  if (!entered[folders.length]) {
    add({
      status: "fail",
      check: "program",
      message: `${account.name} cannot execute ${path}` +
        (system.statPath(path) === undefined ? ": no such file" : ""),
      ...(system.statPath(path) === undefined
        ? { fix: "fix the path in extauth_program" }
        : { fix: "make it executable for all", command: `chmod 0755 ${shq(path)}` }),
    });
    return;
  }
  add({
    status: sandboxed ? "warn" : "ok",
    check: "program",
    message: `${account.name} can execute ${path} and enter every folder above it` +
      (sandboxed ? `, but systemd's ProtectHome=true (Debian's unit) hides ${path}` : ""),
    ...(sandboxed ? { fix: "install it outside /root, /home and /run/user" } : {}),
  });

  // Is it this program?
  const version = await probe([...argv, "--version"], 20_000);
  const said = (version.stdout.split("\n")[0] ?? "").trim().slice(0, 120);
  if (!/^xmpp-extauth \S+/.test(said)) {
    add({
      status: version.code === 0 ? "warn" : "fail",
      check: "identity",
      message: version.code === 0
        ? `not xmpp-extauth: "${argv.map(shq).join(" ")} --version" says "${said}"`
        : `"${argv.map(shq).join(" ")} --version" failed as ${account.name}` +
          (version.timedOut ? " (no answer in 20 s)" : ` (exit ${version.code ?? "?"})`) +
          (version.stderr.trim() ? `: ${version.stderr.trim().split("\n").slice(-1)[0]}` : ""),
      fix: "the other checks need xmpp-extauth; see the program's own documentation",
    });
    return;
  }
  add({ status: "ok", check: "identity", message: said });

  // The options, parsed as the program parses them, with ejabberd's environment.
  const mainAt = argv.findIndex((a) => /(^|\/)main\.ts$/.test(a));
  const args = argv.slice(mainAt >= 0 ? mainAt + 1 : 1);
  let options: Config;
  try {
    const command = parseCommand({
      args,
      env: (name) => env[name],
      envNames: () => Object.keys(env),
      readFile: runtime.readFile,
    });
    if (command.kind !== "serve") {
      add({
        status: "fail",
        check: "options",
        message: `the options make the program ${command.kind}, not serve`,
        fix: "remove the option that asks for it",
      });
      return;
    }
    options = command.config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    add({
      status: "fail",
      check: "options",
      message: error.message,
      fix: "the program refuses to start with these options (ejabberd logs it as " +
        "'Failed to start external authentication program'); correct extauth_program",
    });
    return;
  }
  add({
    status: "ok",
    check: "options",
    message: `valid: ${args.length} arguments` +
      (options.warnings.length > 0 ? `; warnings: ${options.warnings.join("; ")}` : ""),
  });

  await checkFiles(options, argv, env, account, probe, system, add);

  for (const host of hosts) {
    const failed = await checkApi(host.host, argv, options, account, probe, add);
    if (failed) apiFailed.add(host.host);
  }
}

/** Secret files readable by the user only; the log and cache files writable by it. */
async function checkFiles(
  options: Config,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  account: Account,
  probe: Probe,
  system: System,
  add: (f: Finding) => void,
): Promise<void> {
  const secrets: [string, string][] = [];
  const routes = [options.route, ...Object.values(options.domains)].filter((r) => r !== undefined);
  for (const route of routes) {
    if (route.tokenFile) secrets.push(["token file", route.tokenFile]);
    if (route.hmacSecretFile) secrets.push(["hmac secret file", route.hmacSecretFile]);
    if (route.basicAuthFile) secrets.push(["basic auth file", route.basicAuthFile]);
    for (const [name, file] of route.headerFiles) secrets.push([`header file ${name}`, file]);
  }
  const unique = [...new Map(secrets.map(([k, p]) => [p, k])).entries()];
  const readable = await access(probe, unique.map(([p]) => ["r", p] as const));
  const fixOwner = (p: string) => `chown root:${account.group} ${shq(p)} && chmod 0640 ${shq(p)}`;
  unique.forEach(([file, check], i) => {
    const stat = system.statPath(file);
    if (!readable[i]) {
      add({
        status: "fail",
        check,
        message: `${account.name} cannot read ${file}` +
          (stat === undefined
            ? " (no such file, or a folder above it is closed)"
            : ` (mode ${modeText(stat.mode)}, owner uid ${stat.uid}, group gid ${stat.gid})`),
        fix: `let ${account.name} (and nobody else) read it`,
        command: fixOwner(file),
      });
      return;
    }
    const others = stat !== undefined && (stat.mode & 0o007) !== 0;
    const group = stat !== undefined && (stat.mode & 0o070) !== 0 && stat.uid !== account.uid &&
      stat.gid !== account.gid && stat.gid !== 0;
    if (stat !== undefined && (others || group)) {
      add({
        status: "fail",
        check,
        message: `${file} can be read by ${others ? "every user" : `group gid ${stat.gid}`} ` +
          `(mode ${modeText(stat.mode)})`,
        fix: `let ${account.name} and nobody else read it`,
        command: stat.uid === account.uid ? `chmod 0600 ${shq(file)}` : fixOwner(file),
      });
      return;
    }
    add({ status: "ok", check, message: `${file}: readable by ${account.name} only` });
  });

  const configFile =
    argv.map((a, i) =>
      a.startsWith("--config=") ? a.slice(9) : a === "--config" ? argv[i + 1] : undefined
    )
      .find((v) => v !== undefined) ?? env.XMPP_EXTAUTH_CONFIG;
  const plain: [string, string][] = [];
  if (configFile) plain.push(["config file", configFile]);
  if (options.caFile) plain.push(["ca file", options.caFile]);
  const plainReadable = await access(probe, plain.map(([, p]) => ["r", p] as const));
  plain.forEach(([check, file], i) => {
    add(
      plainReadable[i]
        ? { status: "ok", check, message: `${file}: readable by ${account.name}` }
        : {
          status: "fail",
          check,
          message: `${account.name} cannot read ${file}`,
          fix: `let ${account.name} read it`,
          command: `chgrp ${account.group} ${shq(file)} && chmod g+r ${shq(file)}`,
        },
    );
  });

  for (const [check, file] of [["log file", options.logFile], ["cache file", options.cacheFile]]) {
    if (file === undefined) {
      if (check === "log file") {
        add({
          status: "ok",
          check,
          message: "no --log-file: the program logs to ejabberd's stderr (the journal under " +
            "systemd; lost with `ejabberdctl start`)",
        });
      }
      continue;
    }
    await checkWritable(check!, file, account, probe, system, add);
  }

  const paths = [argv[0]!, ...unique.map(([p]) => p), options.logFile, options.cacheFile]
    .filter((p): p is string => p !== undefined);
  const privateTmp = paths.filter((p) => /^\/(var\/)?tmp\//.test(p));
  if (privateTmp.length > 0) {
    add({
      status: "warn",
      check: "sandbox",
      message: `${privateTmp.join(", ")}: under Debian's unit (PrivateTmp=true) ejabberd ` +
        "has its own /tmp and /var/tmp and does not see these",
      fix: "keep the program's files in /etc/xmpp-extauth, /var/lib/ejabberd or /var/log/ejabberd",
    });
  }
}

/** A log or cache file the user must be able to append to (or create in a private folder). */
async function checkWritable(
  check: string,
  file: string,
  account: Account,
  probe: Probe,
  system: System,
  add: (f: Finding) => void,
): Promise<void> {
  const folder = folderOf(file);
  const exists = system.statPath(file) !== undefined;
  const [ok] = await access(
    probe,
    exists ? [["w", file]] : [["w", folder]],
  );
  const [enter] = exists ? [true] : await access(probe, [["x", folder]]);
  const own = `install -d -o ${account.name} -g ${account.group} -m 0750 ${shq(folder)}`;
  if (!ok || !enter) {
    add({
      status: "fail",
      check,
      message: exists
        ? `${account.name} cannot write ${file}`
        : `${account.name} cannot create ${file}: the folder ${folder} ` +
          (system.statPath(folder) === undefined ? "does not exist" : "is not writable by it"),
      fix: exists ? `give the file to ${account.name}` : `give ${folder} to ${account.name}`,
      command: exists ? `chown ${account.name}:${account.group} ${shq(file)}` : own,
    });
    return;
  }
  const stat = system.statPath(folder);
  const open = stat === undefined ? undefined : folderOpenToOthers(folder, stat, account.uid);
  if (open !== undefined) {
    add({
      status: "fail",
      check,
      message: `${folder} can be written by other users (${open}): the program refuses ` +
        `a ${check} there (another user could plant a link)`,
      fix: `use a folder that only ${account.name} and root can write`,
      command: own,
    });
    return;
  }
  add({
    status: "ok",
    check,
    message: `${file}: writable by ${account.name}, in a private folder`,
  });
}

/**
 * Asks the API `isuser` for a made-up name, as the user, through the program's own `check`
 * (so exactly its options, files and TLS settings): a definite false within the deadline is
 * right; no password is sent.
 */
async function checkApi(
  host: string,
  argv: readonly string[],
  options: Config,
  account: Account,
  probe: Probe,
  add: (f: Finding) => void,
): Promise<boolean> {
  const name = `doctor-probe-${crypto.randomUUID().slice(0, 8)}`;
  const run = await probe([...argv, "check", "isuser", name, host], options.deadlineMs + 20_000);
  const out = run.stdout.split("\n");
  const http = out.find((l) => /^HTTP \d+ in /.test(l));
  const url = out.find((l) => l.startsWith("POST "))?.slice(5) ?? "";
  if (run.code === 1) {
    add({
      status: "ok",
      check: "api",
      host,
      message: `isuser ${name}@${host}: a definite false (${http ?? "answered"}; no password sent)`,
    });
    if (url.startsWith("https:")) {
      add({
        status: "ok",
        check: "tls",
        host,
        message: `${new URL(url).host}: certificate verified`,
      });
    } else if (url.startsWith("http:") && !/^http:\/\/(127\.|\[::1\]|localhost[:/])/.test(url)) {
      add({
        status: "warn",
        check: "tls",
        host,
        message: `${url}: plain HTTP to another machine: passwords cross the network in clear`,
        fix: "serve the API over https:// and point --url at it",
      });
    }
    return false;
  }
  if (run.code === 0) {
    add({
      status: "fail",
      check: "api",
      host,
      message: `isuser ${name}@${host}: the API says this made-up user exists (${http ?? "true"})`,
      fix: "isuser must answer false for a name that does not exist, or every name looks " +
        "taken (registration fails, messages to mistyped names are kept); see README, " +
        "'The HTTP contract'",
    });
    return true;
  }
  const error = out.find((l) => l.startsWith("error"));
  const hint = out.find((l) => l.startsWith("hint: "))?.slice(6);
  const tls = error !== undefined && /^error \(tls\)/.test(error);
  const stderr = run.stderr.trim().split("\n").filter((l) => l && !/warning:/.test(l)).slice(-1)[0];
  add({
    status: "fail",
    check: tls ? "tls" : "api",
    host,
    message: run.timedOut
      ? `isuser ${name}@${host}: no answer within ${(options.deadlineMs + 20_000) / 1000} s`
      : error !== undefined
      ? `isuser ${name}@${host} as ${account.name}: ${error}`
      : `isuser ${name}@${host} as ${account.name} failed: ${stderr ?? `exit ${run.code ?? "?"}`}`,
    fix: hint ?? "see the message; `xmpp-extauth check isuser USER HOST` with the same options " +
        "shows the request",
  });
  return true;
}

/** The pool size per host and the memory the processes take together. */
function checkPool(hosts: readonly HostSettings[], system: System, add: (f: Finding) => void) {
  const pools = new Map<string, number>();
  for (const host of hosts) {
    const o = host.options;
    const size = typeof o.extauth_pool_size === "number"
      ? o.extauth_pool_size
      : typeof o.extauth_instances === "number"
      ? o.extauth_instances
      : system.cpuCount();
    pools.set(
      typeof o.extauth_pool_name === "string" ? `pool:${o.extauth_pool_name}` : host.host,
      size,
    );
  }
  const total = [...pools.values()].reduce((a, b) => a + b, 0);
  const mib = FIRST_COPY_MIB + FURTHER_COPY_MIB * Math.max(0, total - 1);
  add({
    status: "ok",
    check: "pool",
    message: `${total} process${total === 1 ? "" : "es"} (${
      [...pools].map(([k, n]) => `${k}: ${n}`).join(", ")
    }; the default is one per CPU): about ${mib} MiB for the compiled binary, shared pages ` +
      "counted once (docs/performance.md)",
  });
}

/** The ejabberd settings that break sites with external auth. */
function checkSettings(
  host: HostSettings,
  config: string,
  apiFailed: boolean,
  add: (f: Finding) => void,
) {
  const o = host.options;
  const where = (key: string) =>
    host.ownOptions.includes(key)
      ? `under host_config: ${host.host}: in ${config}`
      : `in ${config} (or under host_config: ${host.host}: for this host only)`;
  const modules = moduleNames(o);
  if (o.auth_use_cache !== false) {
    const life = o.auth_cache_life_time ?? "1 hour";
    add({
      status: "warn",
      check: "auth_use_cache",
      host: host.host,
      message:
        `on (${o.auth_use_cache === undefined ? "ejabberd's default when absent" : "set"}):` +
        ` after a password change on the site, ejabberd keeps accepting the old password and ` +
        `refusing the new one for up to auth_cache_life_time (${life})`,
      fix: `set auth_use_cache: false ${where("auth_use_cache")}, then reload`,
      command: "ejabberdctl reload_config && ejabberdctl clear_cache",
    });
  } else {
    add({ status: "ok", check: "auth_use_cache", host: host.host, message: "off" });
  }
  if (o.extauth_instances !== undefined) {
    add({
      status: "warn",
      check: "extauth_instances",
      host: host.host,
      message: "the old name of extauth_pool_size",
      fix: `rename it to extauth_pool_size ${where("extauth_instances")}`,
    });
  }
  if (o.extauth_cache !== undefined) {
    add({
      status: "warn",
      check: "extauth_cache",
      host: host.host,
      message: "deprecated and ignored by ejabberd; auth_use_cache is the cache",
      fix: `remove extauth_cache ${where("extauth_cache")}`,
    });
  }
  if (modules.includes("mod_fail2ban")) {
    add({
      status: apiFailed ? "fail" : "warn",
      check: "mod_fail2ban",
      host: host.host,
      message: "counts every failed login per IP, errors included: while the API is down, " +
        `users' addresses get banned (c2s_max_auth_failures)${
          apiFailed ? ", and it is down now" : ""
        }`,
      fix: "fix the API first; consider --stale-ttl (remembered logins during an outage) or " +
        "removing mod_fail2ban",
    });
  }
  if (modules.includes("mod_auth_fast")) {
    add({
      status: "warn",
      check: "mod_auth_fast",
      host: host.host,
      message: "FAST token logins (ejabberd 24.12+) never ask the program: a password changed " +
        "or an account blocked on the site does not end a token",
      fix: `remove mod_auth_fast ${where("modules")}, or end a user's tokens from the site`,
      command: "ejabberdctl kick_user USER HOST",
    });
  }
  if (o.auth_external_user_exists_check !== false && modules.includes("mod_last")) {
    add({
      status: "warn",
      check: "auth_external_user_exists_check",
      host: host.host,
      message: "on (ejabberd 23.10+ default): a user the API says does not exist still counts " +
        "as existing while mod_last has data for it",
      fix: `set auth_external_user_exists_check: false ${where("auth_external_user_exists_check")}`,
    });
  }
}
