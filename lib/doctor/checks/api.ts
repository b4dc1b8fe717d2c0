/**
 * The API, asked as the server's user through the program's own `check` (so exactly its
 * options, files and TLS settings): `isuser` for a made-up name must be a definite false
 * within the deadline. No password is sent.
 *
 * @module
 */

import type { Config } from "../../cli/config.ts";
import type { RunResult } from "../../runtime/system.ts";
import type { Target } from "../context.ts";

/** Asks `isuser` for a made-up name at `host`; true when the check failed. */
export async function checkApi(
  t: Target,
  host: string,
  argv: readonly string[],
  options: Config,
): Promise<boolean> {
  const name = `doctor-probe-${crypto.randomUUID().slice(0, 8)}`;
  const limitMs = options.deadlineMs + 20_000;
  const run = await t.probe([...argv, "check", "isuser", name, host], limitMs);
  const out = run.stdout.split("\n");
  const http = out.find((l) => /^HTTP \d+ in /.test(l));
  const asked = `isuser ${name}@${host}`;
  if (run.code === 1) {
    t.add({
      status: "ok",
      check: "api",
      host,
      message: `${asked}: a definite false (${http ?? "answered"}; no password sent)`,
    });
    checkTls(t, host, out.find((l) => l.startsWith("POST "))?.slice(5) ?? "");
    return false;
  }
  if (run.code === 0) {
    t.add({
      status: "fail",
      check: "api",
      host,
      message: `${asked}: the API says this made-up user exists (${http ?? "true"})`,
      fix: "isuser must answer false for a name that does not exist, or every name looks " +
        "taken (registration fails, messages to mistyped names are kept); see README, " +
        "'The HTTP contract'",
    });
    return true;
  }
  apiFailure(t, host, asked, run, limitMs);
  return true;
}

/** An https:// API answered (✓), or plain http:// to another machine (!). */
function checkTls(t: Target, host: string, url: string) {
  if (url.startsWith("https:")) {
    t.add({
      status: "ok",
      check: "tls",
      host,
      message: `${new URL(url).host}: certificate verified`,
    });
  } else if (url.startsWith("http:") && !/^http:\/\/(127\.|\[::1\]|localhost[:/])/.test(url)) {
    t.add({
      status: "warn",
      check: "tls",
      host,
      message: `${url}: plain HTTP to another machine: passwords cross the network in clear`,
      fix: "serve the API over https:// and point --url at it",
    });
  }
}

/** The ✗ of a probe that failed: the program's error line and `check`'s hint. */
function apiFailure(t: Target, host: string, asked: string, run: RunResult, limitMs: number) {
  const out = run.stdout.split("\n");
  const error = out.find((l) => l.startsWith("error"));
  const hint = out.find((l) => l.startsWith("hint: "))?.slice(6);
  const tls = error !== undefined && /^error \(tls\)/.test(error);
  const stderr = run.stderr.trim().split("\n").filter((l) => l && !/warning:/.test(l)).slice(-1)[0];
  const as = t.account.name;
  t.add({
    status: "fail",
    check: tls ? "tls" : "api",
    host,
    message: run.timedOut
      ? `${asked}: no answer within ${limitMs / 1000} s`
      : error !== undefined
      ? `${asked} as ${as}: ${error}`
      : `${asked} as ${as} failed: ${stderr ?? `exit ${run.code ?? "?"}`}`,
    fix: hint ?? "see the message; `xmpp-extauth check isuser USER HOST` with the same options " +
        "shows the request",
  });
}
