/**
 * `xmpp-extauth check OP USER SERVER`: one request to the API, shown in full
 * (password masked) with the status, the answer, the time taken and, on
 * failure, the cause spelled out. The admin's first tool.
 *
 * @module
 */

import { askApi } from "../api/backend.ts";
import type { FailureKind, Outcome } from "../api/failures.ts";
import type { Config } from "../cli/config.ts";
import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { createFetchers, fetchFor } from "../api/fetchers.ts";
import { messageFormatter } from "../log/logger.ts";
import { MASKED } from "../log/mask.ts";
import { sanitize } from "../log/sanitize.ts";
import { hasPassword, type Operation, OPERATION_TABLE } from "../core/operations.ts";
import type { AuthRequest } from "../core/request.ts";
import { createRouter, type Router, type Target, targetFor } from "../api/router.ts";
import type { Runtime } from "../runtime/mod.ts";

/** Exit codes of `check`: 0 true, 1 false, 2 error, 130 cancelled at the prompt. */
export const CHECK_TRUE = 0;
/** The API answered false. */
export const CHECK_FALSE = 1;
/** The API could not answer, or the check could not be made. */
export const CHECK_ERROR = 2;
/** Ctrl-C or Ctrl-D at the `Password:` prompt: nothing was asked (128 + SIGINT, as a shell). */
export const CHECK_CANCELLED = 130;

/** What `check` asks. */
export interface CheckRequest {
  readonly op: Operation;
  readonly user: string;
  readonly server: string;
}

/** The next step for each kind of failure; `status` and `tls` are refined in {@linkcode hintFor}. */
const HINTS: Readonly<Record<FailureKind, string>> = {
  dns: "the API's host name does not resolve from this machine; check --url",
  refused: "nothing listens at that host and port; is the API running, is --url right?",
  tls: "the API's certificate was refused (see the cause); for a private CA use --ca-file",
  timeout: "the API did not answer in time; raise --timeout or look at the API's load",
  status: "the API refused the request; see its own logs",
  contract: "the API answered, but not with the contract (see README, 'The HTTP contract')",
  network: "the connection failed; see the cause",
  deadline: "the deadline passed",
  breaker: "the circuit breaker is open after backend errors in a row; see the errors before it",
};

/** What the server said when it was asked for TLS on a port that speaks plain HTTP. */
const PLAIN_HTTP = /InvalidContentType|speak TLS on this port|wrong version number|packet length/i;

/**
 * The hint for a failed check: what to look at next, with the URL that was
 * tried where the URL is the likely fault.
 *
 * @example A 404 names the URL
 * ```ts
 * import assert from "node:assert/strict";
 * import { hintFor } from "./check.ts";
 * assert.equal(
 *   hintFor("status", 404, "HTTP 404", "https://example.org/xmpp/login"),
 *   "nothing at https://example.org/xmpp/login (HTTP 404); check --url and --endpoint",
 * );
 * ```
 */
export function hintFor(
  failure: string,
  status: number | undefined,
  cause: string,
  url: string,
): string {
  if (failure === "tls" && PLAIN_HTTP.test(cause)) {
    return `the server at ${new URL(url).host} does not speak TLS on that port; for plain ` +
      "HTTP write --url http://..., or use the port where it serves HTTPS";
  }
  if (failure === "status" && status !== undefined) {
    if (status === 404 || status === 405) {
      return `nothing at ${url} (HTTP ${status}); check --url and --endpoint`;
    }
    if (status === 401 || status === 403) {
      return "the API refused the credentials; check --token-file or --basic-auth-file (and " +
        "that the user running this can read it)";
    }
    if (status >= 300 && status <= 399) {
      return "redirects are not followed; point --url at the final address";
    }
    if (status >= 500) return "the API failed; its own logs say why";
  }
  return HINTS[failure as FailureKind] ?? HINTS.network;
}

/**
 * Reads the password for `check`: from a terminal prompt with echo off, or
 * from stdin (one trailing newline removed).
 *
 * @example Read the password (prompts on a terminal, so it cannot run here)
 * ```ts ignore
 * import { readPassword } from "./check.ts";
 * const password = await readPassword(runtime);
 * ```
 */
export async function readPassword(runtime: Runtime): Promise<string> {
  if (runtime.stdinIsTerminal()) return await runtime.readSecretLine("Password: ");
  // Not Response.text(): it drops a leading U+FEFF, which is part of the password.
  const bytes = new Uint8Array(await new Response(runtime.stdin()).arrayBuffer());
  const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  return text.replace(/\r?\n$/, "");
}

/**
 * Runs one check and returns the exit code. `print` receives the report lines
 * (main.ts passes `console.log`).
 *
 * @example Check a login
 * ```ts ignore
 * import { runCheck } from "./check.ts";
 * const request = { op: "auth", user: "alice", server: "example.com" } as const;
 * const code = await runCheck(config, request, runtime, console.log);
 * ```
 */
export async function runCheck(
  config: Config,
  check: CheckRequest,
  runtime: Runtime,
  printLine: (line: string) => void,
): Promise<number> {
  const clock = SYSTEM_CLOCK;
  const router = await createRouter(config, runtime.readFile);
  // On stderr: stdout is the report. (Header names only, never a value.)
  for (const warning of config.warnings) {
    runtime.writeStderr(`xmpp-extauth: warning: ${sanitize(warning)}\n`);
  }
  // Every line is formatted as a log message is (masked, then escaped): the credentials here,
  // the password in what came from the API by askApi (so that a short password does not mask
  // our own words).
  const format = messageFormatter(router.secrets);
  const print = (line: string) => printLine(format(line));
  const fetchers = createFetchers(config, runtime);
  const route = router.resolve(check.server);
  if (route === undefined) {
    print(`error: no route for domain ${JSON.stringify(check.server)} (see "domains" in --config)`);
    return CHECK_ERROR;
  }
  const request = await checkRequest(check, runtime);
  if (request === undefined) return CHECK_CANCELLED;
  const target = targetFor(route, check.op, check.server);
  for (const line of describeRequest(target, request, router, config)) print(line);
  const { outcome, ms } = await askOnce(
    fetchFor(fetchers, check.op),
    target,
    request,
    config,
    clock,
  );
  const report = describeOutcome(check.op, outcome, ms, target.url);
  for (const line of report.lines) print(line);
  return report.code;
}

/**
 * The request `check` asks: the operation's password read from the terminal or stdin when it has
 * one. Undefined when the prompt was cancelled (Ctrl-C or Ctrl-D), which is said on stderr.
 */
async function checkRequest(
  check: CheckRequest,
  runtime: Runtime,
): Promise<AuthRequest | undefined> {
  let password: string | undefined;
  try {
    password = hasPassword(check.op) ? await readPassword(runtime) : undefined;
  } catch (error) {
    // Ctrl-C or Ctrl-D at the prompt: a normal way out, not an internal error.
    if ((error as Error)?.name !== "AbortError") throw error;
    runtime.writeStderr("xmpp-extauth: cancelled\n");
    return undefined;
  }
  return password === undefined
    ? { op: check.op, user: check.user, server: check.server }
    : { op: check.op, user: check.user, server: check.server, password };
}

/**
 * The request as it will be sent, one line each: method and URL, every header (credentials and
 * secret headers masked), the signature's headers, the content type and the body (password
 * masked). Unformatted: the caller masks and escapes each line as a log message.
 */
export function describeRequest(
  target: Target,
  request: AuthRequest,
  router: Pick<Router, "isSecretHeader">,
  config: Pick<Config, "signatureScheme">,
): string[] {
  const lines = [`POST ${target.url}`];
  for (const name of Object.keys(target.headers)) {
    const value = /^authorization$/i.test(name)
      ? `${target.headers[name]!.split(" ")[0]} ${MASKED}`
      : router.isSecretHeader(name)
      ? MASKED
      : target.headers[name];
    lines.push(`${name}: ${value}`);
  }
  if (target.sign) {
    lines.push(
      config.signatureScheme === "v1"
        ? "X-Extauth-Timestamp, X-Extauth-Signature: (signed, v1, deprecated)"
        : "X-Extauth-Signature: (signed, v2)",
    );
  }
  lines.push(`Content-Type: ${target.contract.contentType}`);
  lines.push(`body: ${target.contract.maskedBody(request)}`);
  return lines;
}

/**
 * Asks the API one request with the configured timeout, deadline and retries, and times it: the
 * outcome and the milliseconds taken, to one decimal.
 */
export async function askOnce(
  fetchFn: typeof fetch,
  target: Target,
  request: AuthRequest,
  config: Pick<Config, "timeoutMs" | "deadlineMs" | "retries">,
  clock: Clock,
): Promise<{ readonly outcome: Outcome; readonly ms: string }> {
  const started = clock.now();
  const outcome = await askApi(
    fetchFn,
    target,
    {
      timeoutMs: config.timeoutMs,
      deadlineMs: config.deadlineMs,
      retries: config.retries,
    },
    request,
    clock,
  );
  return { outcome, ms: (clock.now() - started).toFixed(1) };
}

/**
 * What `check` says about an outcome, one line each (status and time, the answer, or the failure
 * and a hint), and its exit code. Unformatted, as {@linkcode describeRequest}'s.
 */
export function describeOutcome(
  op: Operation,
  outcome: Outcome,
  ms: string,
  url: string,
): { readonly lines: string[]; readonly code: number } {
  if (outcome.kind === "answer") {
    const refused = op === "setpass" && !outcome.value ? OPERATION_TABLE.setpass.falseMeans : "";
    const detail = [refused, outcome.message ?? ""].filter((d) => d !== "").join(": ");
    return {
      lines: [
        `HTTP ${outcome.status} in ${ms} ms`,
        `answer: ${outcome.value}${detail ? ` (${detail})` : ""}`,
      ],
      code: outcome.value ? CHECK_TRUE : CHECK_FALSE,
    };
  }
  const lines = outcome.status === undefined ? [] : [`HTTP ${outcome.status} in ${ms} ms`];
  lines.push(`error (${outcome.failure}) after ${ms} ms: ${outcome.cause}`);
  lines.push(`hint: ${hintFor(outcome.failure, outcome.status, outcome.cause, url)}`);
  return { lines, code: CHECK_ERROR };
}
