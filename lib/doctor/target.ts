/**
 * The start of every deployment check: the account found (or a ✗ `user`), the probe that
 * runs commands as it, and the checks of one program's command line in their order
 * (reach, identity, options, the server's own rules, files, `--cache-url`, the API per host).
 *
 * @module
 */

import type { Config } from "../cli/config.ts";
import type { Runtime } from "../runtime/mod.ts";
import type { Found } from "./account.ts";
import { checkApi } from "./checks/api.ts";
import { checkCacheUrl } from "./checks/cache_url.ts";
import { checkFiles } from "./checks/files.ts";
import { checkIdentity, checkOptions, checkReach, programArgs } from "./checks/program.ts";
import type { Add, ServerInfo, System, Target } from "./context.ts";
import type { Finding, Report } from "./findings.ts";

/** The report of a deployment so far. */
export function reportOf(
  server: Report["server"],
  config: string,
  files: readonly string[],
  found: Found,
  findings: readonly Finding[],
): Report {
  const a = found.account;
  return {
    server,
    config,
    files,
    ...(a ? { user: { name: a.name, uid: a.uid, gid: a.gid } } : {}),
    userFrom: found.from,
    findings,
  };
}

/** The target to check as, or undefined after a ✗ `user` (no such user, or not root). */
export function openTarget(
  server: ServerInfo & { readonly defaultUser: string; readonly rerun: string },
  found: Found,
  runtime: Runtime,
  system: System,
  add: Add,
): Target | undefined {
  const account = found.account;
  if (account === undefined) {
    add({
      status: "fail",
      check: "user",
      message: `no running ${server.name} and no user ${server.defaultUser}: cannot check as ` +
        `${server.name}'s user`,
      fix: `name the user ${server.name} runs as with --user NAME`,
    });
    return undefined;
  }
  const self = system.currentUid();
  if (self !== 0 && self !== account.uid) {
    add({
      status: "fail",
      check: "user",
      message: `cannot check as ${account.name}: only root can run a command as another user`,
      fix: "run doctor as root",
      command: `sudo xmpp-extauth doctor ${server.rerun}`,
    });
    return undefined;
  }
  const env = found.env;
  return {
    server,
    account,
    env,
    probe: (argv, timeoutMs = 30_000) =>
      system.runAs(account, argv, { env, cwd: account.home, timeoutMs }),
    runtime,
    system,
    add,
  };
}

/** What a server adds to a program's checks once its options are known. */
export type ServerRules = (options: Config, args: readonly string[]) => void;

/**
 * Every check of one program's command line, in order; the hosts whose API check failed.
 * `rules` adds the server's own checks of the options (MongooseIM's `--server`, ...).
 */
export async function checkProgramLine(
  t: Target,
  argv: readonly string[],
  hosts: readonly string[],
  rules?: ServerRules,
): Promise<string[]> {
  if (!await checkReach(t, argv[0]!)) return [];
  if (!await checkIdentity(t, argv)) return [];
  const args = programArgs(argv);
  const options = checkOptions(t, args);
  if (options === undefined) return [];
  rules?.(options, args);
  await checkFiles(t, options, argv);
  await checkCacheUrl(t, argv.slice(0, argv.length - args.length), args, options);
  const failed: string[] = [];
  for (const host of hosts) {
    if (await checkApi(t, host, argv, options)) failed.push(host);
  }
  return failed;
}
