/**
 * The checks of a program's command line: how `/bin/sh` splits it, whether the server's user
 * can reach and execute the program, whether it is this program (`--version`), and whether
 * its options parse as the program parses them.
 *
 * @module
 */

import { type Config, ConfigError, parseCommand } from "../../cli/config.ts";
import { access, foldersAbove, modeText, shq, type Target } from "../context.ts";
import { shellWords } from "../shell_words.ts";

/** `/bin/sh`'s words of a command line, or undefined (with a ✗) when it cannot run it. */
export function checkCommand(
  t: Target,
  command: string,
  what: string,
): readonly string[] | undefined {
  const split = shellWords(command);
  if (split.error !== undefined || split.words.length === 0) {
    t.add({
      status: "fail",
      check: "command",
      message: `${what}: ${split.error ?? "empty"}: /bin/sh cannot run it`,
      fix: "quote each argument with single quotes, and close every quote",
    });
    return undefined;
  }
  const argv = split.words;
  const notes = split.notes.length > 0;
  t.add({
    status: notes ? "warn" : "ok",
    check: "command",
    message: notes
      ? `/bin/sh splits it into ${argv.length} words, and: ${split.notes.join("; ")}`
      : `/bin/sh splits it into ${argv.length} words: ${argv.map(shq).join(" ")}`,
    ...(notes
      ? { fix: "put such characters in single quotes, or use --config FILE for the options" }
      : {}),
  });
  return argv;
}

/** The absolute path of a program name (through the user's PATH), or undefined (with a ✗). */
async function resolveProgram(t: Target, name: string): Promise<string | undefined> {
  if (name.includes("/")) return name;
  const found = await t.probe(["/bin/sh", "-c", 'command -v "$1"', "sh", name]);
  const resolved = found.stdout.trim();
  if (found.code !== 0 || !resolved.startsWith("/")) {
    t.add({
      status: "fail",
      check: "program",
      message: `${name} is not found in ${t.server.name}'s PATH (${t.env.PATH ?? "unset"})`,
      fix: `give ${t.server.setting} the program's absolute path`,
    });
    return undefined;
  }
  t.add({
    status: "warn",
    check: "program",
    message: `${name} is found through PATH as ${resolved}`,
    fix: `give ${t.server.setting} the absolute path ${resolved}`,
  });
  return resolved;
}

/** Whether the user can enter every folder above the program and execute it (✓ or ✗). */
export async function checkReach(t: Target, name: string, check = "program"): Promise<boolean> {
  const path = await resolveProgram(t, name);
  if (path === undefined) return false;
  const { account, system, server } = t;
  const folders = foldersAbove(path);
  const entered = await access(t.probe, [...folders.map((f) => ["x", f] as const), ["x", path]]);
  const blocked = folders.findIndex((_, i) => !entered[i]);
  const sandboxed = /^\/(root|home|run\/user)(\/|$)/.test(path);
  if (blocked >= 0) {
    const folder = folders[blocked]!;
    const stat = system.statPath(folder);
    const why = stat === undefined
      ? "does not exist"
      : `is not searchable by ${account.name} (mode ${modeText(stat.mode)}, owner uid ${stat.uid})`;
    const base = path.slice(path.lastIndexOf("/") + 1);
    t.add({
      status: "fail",
      check,
      message: `${account.name} cannot reach ${path}: the folder ${folder} ${why}`,
      ...(stat === undefined ? { fix: `fix the path in ${server.setting}` } : sandboxed
        ? {
          fix: `move the program out of ${folder} (systemd's ProtectHome hides it from ` +
            `${server.name} anyway) and point ${server.setting} at the new path`,
          command: `install -m 0755 ${shq(path)} /usr/local/bin/${shq(base)}`,
        }
        : {
          fix: `let ${account.name} enter ${folder}, or move the program`,
          command: `chmod o+x ${shq(folder)}`,
        }),
    });
    return false;
  }
  if (!entered[folders.length]) {
    const missing = system.statPath(path) === undefined;
    t.add({
      status: "fail",
      check,
      message: `${account.name} cannot execute ${path}${missing ? ": no such file" : ""}`,
      ...(missing
        ? { fix: `fix the path in ${server.setting}` }
        : { fix: "make it executable for all", command: `chmod 0755 ${shq(path)}` }),
    });
    return false;
  }
  t.add({
    status: sandboxed ? "warn" : "ok",
    check,
    message: `${account.name} can execute ${path} and enter every folder above it` +
      (sandboxed ? `, but systemd's ProtectHome=true (Debian's unit) hides ${path}` : ""),
    ...(sandboxed ? { fix: "install it outside /root, /home and /run/user" } : {}),
  });
  return true;
}

/** Whether `ARGV --version`, as the user, says it is xmpp-extauth (✓, or ! / ✗). */
export async function checkIdentity(t: Target, argv: readonly string[]): Promise<boolean> {
  const version = await t.probe([...argv, "--version"], 20_000);
  const said = (version.stdout.split("\n")[0] ?? "").trim().slice(0, 120);
  if (/^xmpp-extauth \S+/.test(said)) {
    t.add({ status: "ok", check: "identity", message: said });
    return true;
  }
  const shown = argv.map(shq).join(" ");
  const last = version.stderr.trim().split("\n").slice(-1)[0];
  t.add({
    status: version.code === 0 ? "warn" : "fail",
    check: "identity",
    message: version.code === 0
      ? `not xmpp-extauth: "${shown} --version" says "${said}"`
      : `"${shown} --version" failed as ${t.account.name}` +
        (version.timedOut ? " (no answer in 20 s)" : ` (exit ${version.code ?? "?"})`) +
        (last ? `: ${last}` : ""),
    fix: "the other checks need xmpp-extauth; see the program's own documentation",
  });
  return false;
}

/** The program's arguments in a command line (after `main.ts` when run from source). */
export function programArgs(argv: readonly string[]): string[] {
  const mainAt = argv.findIndex((a) => /(^|\/)main\.ts$/.test(a));
  return argv.slice(mainAt >= 0 ? mainAt + 1 : 1);
}

/** The options, parsed as the program parses them with the server's environment; or a ✗. */
export function checkOptions(t: Target, args: readonly string[]): Config | undefined {
  const env = t.env;
  let config: Config;
  try {
    const command = parseCommand({
      args,
      env: (name) => env[name],
      envNames: () => Object.keys(env),
      readFile: t.runtime.readFile,
    });
    if (command.kind !== "serve") {
      t.add({
        status: "fail",
        check: "options",
        message: `the options make the program ${command.kind}, not serve`,
        fix: "remove the option that asks for it",
      });
      return undefined;
    }
    config = command.config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    t.add({
      status: "fail",
      check: "options",
      message: error.message,
      fix: `the program refuses to start with these options (${t.server.startFailure}); ` +
        `correct ${t.server.setting}`,
    });
    return undefined;
  }
  t.add({
    status: "ok",
    check: "options",
    message: `valid: ${args.length} arguments` +
      (config.warnings.length > 0 ? `; warnings: ${config.warnings.join("; ")}` : ""),
  });
  return config;
}
