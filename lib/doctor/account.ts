/**
 * Whom `doctor` checks as, and with which environment: the user of the running server (found
 * in `/proc`) with its own environment, else the server's usual user with the environment
 * systemd gives a service, else `--user NAME`.
 *
 * @module
 */

import { ConfigError } from "../cli/config.ts";
import type { Runtime } from "../runtime/mod.ts";
import type { ServerProcess, UserEntry } from "../runtime/system.ts";
import type { Account, System } from "./context.ts";

/** systemd's PATH for services. */
export const SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** How to find a server's account. */
export interface AccountSpec {
  /** `ejabberd`, `Prosody`, `MongooseIM`: as messages name it. */
  readonly serverName: string;
  /** The user its packages create. */
  readonly defaultUser: string;
  /** Whether a command line is the running server. */
  readonly isServer: (argv: readonly string[]) => boolean;
}

/** The account, its environment, and where they came from. */
export interface Found {
  readonly account: Account | undefined;
  readonly env: Record<string, string>;
  readonly from: string;
}

/** The account to check as: `--user`, else the running server's, else the usual user. */
export function findAccount(
  spec: AccountSpec,
  user: string | undefined,
  runtime: Runtime,
  system: System,
): Found {
  const running = user === undefined ? system.findProcess(spec.isServer) : undefined;
  const entry = user !== undefined
    ? system.lookupUser(user)
    : running !== undefined
    ? system.lookupUser(String(running.uid))
    : system.lookupUser(spec.defaultUser);
  if (user !== undefined && entry === undefined) {
    throw new ConfigError(`doctor: --user ${user}: no such user`);
  }
  const account = accountOf(entry, running, system);
  if (running?.env !== undefined) {
    return {
      account,
      env: { ...running.env },
      from: `from the running ${spec.serverName} (pid ${running.pid}), with its environment`,
    };
  }
  const from = user !== undefined
    ? "as asked (--user)"
    : running !== undefined
    ? `from the running ${spec.serverName} (pid ${running.pid})`
    : entry !== undefined
    ? `no running ${spec.serverName}: its passwd entry`
    : `no ${spec.serverName} user: this user`;
  const env: Record<string, string> = {
    PATH: SERVICE_PATH,
    ...(account ? { HOME: account.home, USER: account.name, LOGNAME: account.name } : {}),
    ...(entry ? { SHELL: entry.shell } : {}),
    LANG: runtime.env("LANG") ?? "C.UTF-8",
  };
  return { account, env, from: `${from}, systemd's environment` };
}

function accountOf(
  entry: UserEntry | undefined,
  running: ServerProcess | undefined,
  system: System,
): Account | undefined {
  const gid = running?.gid ?? entry?.gid;
  if (gid === undefined) return undefined;
  const group = system.groupName(gid) ?? String(gid);
  if (entry !== undefined) {
    return { name: entry.name, uid: entry.uid, gid, group, home: entry.home };
  }
  return { name: String(running!.uid), uid: running!.uid, gid, group, home: "/" };
}
