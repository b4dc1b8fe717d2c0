/**
 * One result of `doctor` and how results are shown: a line per check (✓ / ! / ✗) with the fix
 * in words and the command to run, or the JSON for scripts. Every line goes through the
 * logger's `messageFormatter`: masked and escaped as log lines are.
 *
 * @module
 */

import type { MessageFormatter } from "../log/logger.ts";

/** ok ✓, warn ! (works, but a site can break), fail ✗ (does not work as ejabberd runs it). */
export type Status = "ok" | "warn" | "fail";

/** One check's result. */
export interface Finding {
  readonly status: Status;
  /** The check's short name: `program`, `token file`, `api`, `auth_use_cache`, ... */
  readonly check: string;
  /** The virtual host it is about, when it is about one. */
  readonly host?: string;
  readonly message: string;
  /** What to do, in words. */
  readonly fix?: string;
  /** The exact command that fixes it, where there is one. */
  readonly command?: string;
}

/** What `doctor` found, with what it looked at. */
export interface Report {
  readonly server: "ejabberd" | "prosody" | "mongooseim";
  readonly config: string;
  readonly files: readonly string[];
  readonly user?: { readonly name: string; readonly uid: number; readonly gid: number };
  /** Where the user (and its environment) came from. */
  readonly userFrom: string;
  readonly findings: readonly Finding[];
}

const MARK: Readonly<Record<Status, string>> = { ok: "✓", warn: "!", fail: "✗" };

/** Exit code: 0 when no check failed, 1 when one did (2, bad usage, is main.ts's). */
export function exitCode(report: Report): number {
  return report.findings.some((f) => f.status === "fail") ? 1 : 0;
}

/** `N ✓, N !, N ✗`. */
function counts(findings: readonly Finding[]): Record<Status, number> {
  const c: Record<Status, number> = { ok: 0, warn: 0, fail: 0 };
  for (const f of findings) c[f.status]++;
  return c;
}

/**
 * The report as text lines: a header, one line per check (its fix and command indented below
 * it), a summary.
 *
 * @example One failed check
 * ```ts
 * import assert from "node:assert/strict";
 * import { textLines } from "./findings.ts";
 * const lines = textLines({
 *   server: "ejabberd", config: "/etc/ejabberd/ejabberd.yml", files: [], userFrom: "test",
 *   findings: [{ status: "fail", check: "token file", message: "cannot read /x",
 *     fix: "let ejabberd read it", command: "chmod 0640 /x" }],
 * }, (s) => s);
 * assert.deepEqual(lines.slice(1), [
 *   "✗ token file: cannot read /x",
 *   "    fix: let ejabberd read it",
 *   "    run: chmod 0640 /x",
 *   "1 check: 0 ✓, 0 !, 1 ✗",
 * ]);
 * ```
 */
export function textLines(report: Report, format: MessageFormatter): string[] {
  const out: string[] = [];
  const user = report.user === undefined
    ? "no user"
    : `user ${report.user.name} (uid ${report.user.uid}, gid ${report.user.gid})`;
  out.push(`xmpp-extauth doctor: ${report.config} as ${user}, ${report.userFrom}`);
  for (const f of report.findings) {
    out.push(`${MARK[f.status]} ${f.check}${f.host ? ` [${f.host}]` : ""}: ${f.message}`);
    if (f.fix !== undefined) out.push(`    fix: ${f.fix}`);
    if (f.command !== undefined) out.push(`    run: ${f.command}`);
  }
  const c = counts(report.findings);
  const n = report.findings.length;
  out.push(`${n} check${n === 1 ? "" : "s"}: ${c.ok} ✓, ${c.warn} !, ${c.fail} ✗`);
  return out.map(format);
}

/**
 * The report as one JSON document (`--json`), each of its lines through the formatter (JSON
 * has already escaped every control character inside a string, so only masking changes them).
 */
export function jsonText(report: Report, format: MessageFormatter): string {
  const json = JSON.stringify(
    {
      ok: exitCode(report) === 0,
      server: report.server,
      config: report.config,
      files: report.files,
      user: report.user ?? null,
      userFrom: report.userFrom,
      counts: counts(report.findings),
      checks: report.findings,
    },
    null,
    2,
  );
  return json.split("\n").map(format).join("\n");
}
