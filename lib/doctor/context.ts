/**
 * What every `doctor` check shares: the account the checks run as, the probe that runs a
 * command as that account with the server's environment, the server being checked (its name
 * and the setting that holds the command), and small helpers (shell quoting, mode text, the
 * kernel's answer to `test -r/-w/-x`).
 *
 * @module
 */

import { folderOf } from "../runtime/file_trust.ts";
import type { Runtime } from "../runtime/mod.ts";
import type { Finding } from "./findings.ts";

/** The system module (`lib/runtime/system.ts`). */
export type System = typeof import("../runtime/system.ts");

/** The user the checks run as. */
export interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly group: string;
  readonly home: string;
}

/** Runs argv as the account, with the server's environment. */
export type Probe = (argv: readonly string[], timeoutMs?: number) => ReturnType<System["runAs"]>;

/** Records one finding. */
export type Add = (f: Finding) => void;

/** The server a report is about, as its messages name it. */
export interface ServerInfo {
  /** `ejabberd`, `Prosody`, `MongooseIM`. */
  readonly name: string;
  /** The setting that holds the command: `extauth_program`, `external_auth_command`, ... */
  readonly setting: string;
  /** How the server logs a program that refuses to start. */
  readonly startFailure: string;
  /** What to say when the program has no `--log-file`. */
  readonly noLogFile: Omit<Finding, "check">;
}

/** Everything a check of one deployment needs. */
export interface Target {
  readonly server: ServerInfo;
  readonly account: Account;
  readonly env: Readonly<Record<string, string>>;
  readonly probe: Probe;
  readonly runtime: Runtime;
  readonly system: System;
  readonly add: Add;
}

/** A word quoted for `/bin/sh` when it needs it. */
export const shq = (s: string): string =>
  /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;

/** `0640`. */
export const modeText = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, "0");

/** Asks the kernel, as the account, each `test -r/-w/-x PATH`; true where it holds. */
export async function access(
  probe: Probe,
  tests: readonly (readonly [string, string])[],
): Promise<boolean[]> {
  if (tests.length === 0) return [];
  const script = 'for a; do if test "-${a%%:*}" "${a#*:}"; then echo 1; else echo 0; fi; done';
  const run = await probe(["/bin/sh", "-c", script, "sh", ...tests.map(([m, p]) => `${m}:${p}`)]);
  const answers = run.stdout.trim().split("\n");
  return tests.map((_, i) => answers[i] === "1");
}

/** The folders above `path`, `/` first. */
export function foldersAbove(path: string): string[] {
  const out: string[] = [];
  let folder = folderOf(path);
  while (true) {
    out.unshift(folder);
    if (folder === "/" || folder === ".") break;
    folder = folderOf(folder);
  }
  return out;
}

/** The first executable `name` in `path` (a PATH value), or undefined; `name` with a slash is itself. */
export function whichIn(system: System, name: string, path: string): string | undefined {
  const candidates = name.includes("/")
    ? [name]
    : path.split(":").map((d) => `${d || "."}/${name}`);
  return candidates.find((p) => {
    const stat = system.statPath(p);
    return stat !== undefined && stat.isFile && (stat.mode & 0o111) !== 0;
  });
}
