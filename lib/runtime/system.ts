/**
 * What `xmpp-extauth doctor` needs from the system and nothing else does: users and groups
 * (`getent`), the running server's process (`/proc`), `stat`, the CPU count, and running a
 * command as another user (`setpriv`), so that every permission is checked by the kernel for
 * that user rather than worked out from mode bits. `node:` modules only, which Deno and Bun
 * both provide; loaded by `lib/doctor/` on demand, never when serving.
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { readdirSync, readFileSync, statSync } from "node:fs";
import process from "node:process";

/** One passwd entry. */
export interface UserEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

/** A running process found in `/proc`: who it runs as and its environment. */
export interface ServerProcess {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** Its environment; undefined when `/proc/PID/environ` cannot be read (not root). */
  readonly env?: Readonly<Record<string, string>>;
}

/** What `stat` says of a path (following links). */
export interface PathStat {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly isDirectory: boolean;
  readonly isFile: boolean;
}

/** What a command run by {@linkcode runAs} did. */
export interface RunResult {
  /** The exit code; undefined when it was killed or could not start. */
  readonly code: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** Why it could not be started, if so. */
  readonly error?: string;
}

/** The passwd entry of a user name or numeric uid (through NSS, as `getent passwd`). */
export function lookupUser(nameOrUid: string): UserEntry | undefined {
  const run = spawnSync("getent", ["passwd", nameOrUid], { encoding: "utf8" });
  const fields = run.status === 0 ? run.stdout.split("\n")[0]!.split(":") : [];
  if (fields.length < 7) return undefined;
  return {
    name: fields[0]!,
    uid: Number(fields[2]),
    gid: Number(fields[3]),
    home: fields[5]!,
    shell: fields[6]!,
  };
}

/** The name of a group id, or undefined. */
export function groupName(gid: number): string | undefined {
  const run = spawnSync("getent", ["group", String(gid)], { encoding: "utf8" });
  return run.status === 0 ? run.stdout.split(":")[0] : undefined;
}

/** This process's user id (0 for root). */
export function currentUid(): number {
  return process.getuid?.() ?? -1;
}

/** How many processes ejabberd starts per host by default: the logical CPUs. */
export function cpuCount(): number {
  return availableParallelism();
}

/** The first process whose command line `matches`, read from `/proc`. */
export function findProcess(
  matches: (argv: readonly string[]) => boolean,
): ServerProcess | undefined {
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter((a) => a);
      if (!matches(argv)) continue;
      const status = readFileSync(`/proc/${entry}/status`, "utf8");
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      const gid = Number(/^Gid:\s+(\d+)/m.exec(status)?.[1]);
      let env: Record<string, string> | undefined;
      try {
        env = {};
        for (const pair of readFileSync(`/proc/${entry}/environ`, "utf8").split("\0")) {
          const eq = pair.indexOf("=");
          if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
      } catch {
        env = undefined;
      }
      return { pid: Number(entry), uid, gid, ...(env === undefined ? {} : { env }) };
    } catch { /* gone meanwhile, or not ours to read */ }
  }
  return undefined;
}

/** `stat` of a path, or undefined when it does not exist or cannot be reached. */
export function statPath(path: string): PathStat | undefined {
  try {
    const s = statSync(path);
    return {
      mode: s.mode,
      uid: s.uid,
      gid: s.gid,
      isDirectory: s.isDirectory(),
      isFile: s.isFile(),
    };
  } catch {
    return undefined;
  }
}

/** Reads a text file, or undefined. */
export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * Runs `argv` as the user `as` (its uid, gid and supplementary groups, through `setpriv`) with
 * exactly the environment `env`, stdin empty, in `cwd`; kills it after `timeoutMs`. When `as`
 * is this process's own user, runs it directly.
 */
export function runAs(
  as: { readonly uid: number; readonly gid: number; readonly name?: string },
  argv: readonly string[],
  options: { env: Readonly<Record<string, string>>; cwd: string; timeoutMs: number },
): Promise<RunResult> {
  const direct = as.uid === currentUid();
  const groups = as.name !== undefined ? ["--init-groups"] : ["--clear-groups"];
  const [command, ...args] = direct
    ? argv
    : ["setpriv", `--reuid=${as.uid}`, `--regid=${as.gid}`, ...groups, "--", ...argv];
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let child;
    try {
      child = spawn(command!, args, {
        env: { ...options.env },
        cwd: statPath(options.cwd)?.isDirectory ? options.cwd : "/",
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (error) {
      resolve({ code: undefined, stdout, stderr, timedOut, error: (error as Error).message });
      return;
    }
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.stdout.on("data", (chunk: Uint8Array) => stdout += new TextDecoder().decode(chunk));
    child.stderr.on("data", (chunk: Uint8Array) => stderr += new TextDecoder().decode(chunk));
    let failed: string | undefined;
    child.on("error", (error: Error) => failed = error.message);
    child.on("close", (code: number | null) => {
      clearTimeout(timer);
      resolve({
        code: code ?? undefined,
        stdout,
        stderr,
        timedOut,
        ...(failed === undefined ? {} : { error: failed }),
      });
    });
  });
}
