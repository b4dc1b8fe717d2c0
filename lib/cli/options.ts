/**
 * The option table (name, kind, help, default, whether the config file may
 * set it), the environment variable of each option, `--help` built from the
 * table, and the "did you mean" suggestions every source's errors share.
 *
 * @module
 */

import { CONTRACT_NAMES } from "../api/contracts.ts";
import { LOG_LEVELS } from "../log/logger.ts";
import { OPERATION_LIST } from "../core/operations.ts";

/** A value as a source gives it, before it is checked. */
export type Raw = string | boolean | readonly string[] | undefined;

/** How an option's value is read. */
export type Kind = "string" | "duration" | "count" | "enum" | "list" | "boolean";

/** One row of the option table. */
export interface OptionSpec {
  readonly name: string;
  readonly kind: Kind;
  readonly help: string;
  readonly arg?: string;
  readonly choices?: readonly string[];
  readonly fallback?: string;
  /** Not read from the config file (secrets stay in files or the environment). */
  readonly noFile?: boolean;
  readonly short?: string;
}

const OPTION_TABLE = [
  {
    name: "url",
    kind: "string",
    arg: "URL",
    help: "base URL of the API; {server} = request domain",
  },
  {
    name: "endpoint",
    kind: "list",
    arg: "OP=PATH",
    help: "rename an endpoint, e.g. auth=v1/login (repeatable)",
  },
  {
    name: "contract",
    kind: "enum",
    arg: "NAME",
    choices: CONTRACT_NAMES,
    fallback: "json",
    help: "API contract: json, or form-status (ejabberd_auth_http, mod_auth_http)",
  },
  {
    name: "protocol",
    kind: "enum",
    arg: "NAME",
    choices: ["ejabberd", "prosody"],
    fallback: "ejabberd",
    help: "stdin/stdout protocol: ejabberd framing or Prosody lines",
  },
  {
    name: "server",
    kind: "enum",
    arg: "NAME",
    choices: ["ejabberd", "mongooseim"],
    fallback: "ejabberd",
    help: "the XMPP server: ejabberd, or mongooseim (replies true/false only, deadline 8s)",
  },
  { name: "timeout", kind: "duration", arg: "DUR", fallback: "5s", help: "time per HTTP attempt" },
  {
    name: "deadline",
    kind: "duration",
    arg: "DUR",
    help: "time per request, retries included (20s; 4s for prosody, 8s for mongooseim)",
  },
  { name: "retries", kind: "count", arg: "N", fallback: "2", help: "retries of safe operations" },
  {
    name: "on-error",
    kind: "enum",
    arg: "error|false",
    choices: ["error", "false"],
    fallback: "error",
    help: "reply when the API cannot answer: error (not cached) or false",
  },
  { name: "token-file", kind: "string", arg: "FILE", help: "file with a Bearer token" },
  {
    name: "header",
    kind: "list",
    arg: "'NAME: VALUE'",
    help: "extra request header (repeatable)",
  },
  {
    name: "header-file",
    kind: "list",
    arg: "NAME=FILE",
    help: "secret request header, its value the file's one line (repeatable)",
  },
  {
    name: "hmac-secret-file",
    kind: "string",
    arg: "FILE",
    help: "sign requests (X-Extauth-Signature) with this secret",
  },
  {
    name: "signature-scheme",
    kind: "enum",
    arg: "v2|v1",
    choices: ["v2", "v1"],
    fallback: "v2",
    help: "signed requests: v2, or v1 (deprecated: replayable to another endpoint)",
  },
  {
    name: "basic-auth-file",
    kind: "string",
    arg: "FILE",
    help: "file with USER:PASSWORD for HTTP Basic auth",
  },
  { name: "ca-file", kind: "string", arg: "FILE", help: "PEM file of a private CA to trust" },
  {
    name: "cache-ttl",
    kind: "duration",
    arg: "DUR",
    fallback: "0",
    help: "answer remembered successes without asking (0 = off)",
  },
  {
    name: "stale-ttl",
    kind: "duration",
    arg: "DUR",
    fallback: "0",
    help: "serve remembered successes while the API is down (0 = off)",
  },
  { name: "cache-size", kind: "count", arg: "N", fallback: "10000", help: "users remembered" },
  {
    name: "cache-file",
    kind: "string",
    arg: "FILE",
    help: "keep the cache in this SQLite file, shared by the pool (0600)",
  },
  {
    name: "cache-url",
    kind: "string",
    arg: "URL",
    help: "keep the cache in Redis, shared by a cluster: redis[s]://[USER@]HOST:PORT/DB",
  },
  {
    name: "cache-password-file",
    kind: "string",
    arg: "FILE",
    help: "file with the password for --cache-url",
  },
  {
    name: "cache-prefix",
    kind: "string",
    arg: "PREFIX",
    fallback: "xmpp-extauth",
    help: "prefix of every key in --cache-url",
  },
  {
    name: "cache-timeout",
    kind: "duration",
    arg: "DUR",
    fallback: "50ms",
    help: "time per --cache-url call (past it: a miss)",
  },
  {
    name: "breaker-failures",
    kind: "count",
    arg: "N",
    fallback: "5",
    help: "backend errors in a row that open the breaker (0 = off)",
  },
  {
    name: "breaker-cooldown",
    kind: "duration",
    arg: "DUR",
    fallback: "5s",
    help: "how long the open breaker answers error at once",
  },
  {
    name: "log-level",
    kind: "enum",
    arg: "LEVEL",
    choices: LOG_LEVELS,
    fallback: "info",
    help: "debug, info, warn, error or silent",
  },
  { name: "debug", kind: "boolean", help: "same as --log-level debug", short: "d" },
  { name: "log-file", kind: "string", arg: "FILE", help: "append logs here (reopened on SIGHUP)" },
  {
    name: "stats-interval",
    kind: "duration",
    arg: "DUR",
    fallback: "1h",
    help: "log a summary of the counters this often and at exit (0 = off)",
  },
  {
    name: "metrics-file",
    kind: "string",
    arg: "FILE.prom",
    help: "write Prometheus metrics to FILE.PID.prom every 2 s (node_exporter textfile)",
  },
  { name: "config", kind: "string", arg: "FILE", help: "JSON config file", noFile: true },
  { name: "help", kind: "boolean", help: "show this help", short: "h", noFile: true },
  { name: "version", kind: "boolean", help: "show the version", short: "V", noFile: true },
  {
    name: "self-test",
    kind: "boolean",
    help: "check: run the framing path in-process",
    noFile: true,
  },
] as const satisfies readonly OptionSpec[];

/** The table's literal type, from which the resolver derives option names and choices. */
export type OptionTable = typeof OPTION_TABLE;
/** Every option, in the order `--help` lists them. */
export const OPTIONS: readonly OptionSpec[] = OPTION_TABLE;

/** The option table by name. */
export const SPEC_BY_NAME: ReadonlyMap<string, OptionSpec> = new Map(
  OPTIONS.map((o) => [o.name, o]),
);
/**
 * Whether `arg` names a known option: `--timeout`, `--timeout=5s`, `-d`. The
 * strict parse and the lenient one (`early_args.ts`) both let an option take
 * the next argument as its value unless this says it is an option.
 *
 * @example Options and values
 * ```ts
 * import assert from "node:assert/strict";
 * import { isKnownOption } from "./options.ts";
 * assert.equal(isKnownOption("--timeout=5s"), true);
 * assert.equal(isKnownOption("-d"), true);
 * assert.equal(isKnownOption("-1"), false);
 * assert.equal(isKnownOption("--tiemout"), false);
 * ```
 */
export function isKnownOption(arg: string): boolean {
  const long = /^--([^=]+)/.exec(arg)?.[1];
  if (long !== undefined) return SPEC_BY_NAME.has(long);
  return /^-[A-Za-z]$/.test(arg) && OPTIONS.some((o) => o.short === arg[1]);
}
/** The prefix of every environment variable the program reads. */
export const ENV_PREFIX = "XMPP_EXTAUTH_";
/** Secrets that may come from the environment, never from a flag or the config file. */
export const SECRET_ENV = [
  ["TOKEN", "token"],
  ["HMAC_SECRET", "hmacSecret"],
  ["BASIC_AUTH", "basicAuth"],
] as const;
/** Secret options refused on the command line and in the file, with where they come from. */
export const SECRET_FLAGS: Readonly<Record<string, string>> = {
  token: "token-file",
  "hmac-secret": "hmac-secret-file",
  "basic-auth": "basic-auth-file",
  password: "check's prompt or stdin",
};
/**
 * Turns an option name into its environment variable.
 *
 * @example The variable of --on-error
 * ```ts
 * import assert from "node:assert/strict";
 * import { envName } from "./options.ts";
 * assert.equal(envName("on-error"), "XMPP_EXTAUTH_ON_ERROR");
 * ```
 */
export function envName(option: string): string {
  return ENV_PREFIX + option.toUpperCase().replaceAll("-", "_");
}

/**
 * The `--help` text.
 *
 * @example Print help
 * ```ts
 * import assert from "node:assert/strict";
 * import { helpText } from "./options.ts";
 * assert.match(helpText(), /^ {6}--timeout DUR +time per HTTP attempt \[5s\]$/m);
 * ```
 */
export function helpText(): string {
  const rows = OPTIONS.map((o) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${o.name}${o.arg ? ` ${o.arg}` : ""}`;
    const fallback = o.fallback && o.fallback !== "0" ? ` [${o.fallback}]` : "";
    return `  ${flag.padEnd(34)} ${o.help}${fallback}`;
  });
  return [
    "xmpp-extauth: ejabberd/Prosody external authentication against an HTTP API",
    "",
    "Usage:",
    "  xmpp-extauth --url URL [options]           serve ejabberd on stdin/stdout",
    "  xmpp-extauth check OP USER SERVER [options] ask the API once (password from stdin)",
    "  xmpp-extauth check --self-test              test the framing path in-process",
    "  xmpp-extauth doctor                         check the deployment as ejabberd runs it",
    "",
    `OP: ${OPERATION_LIST}`,
    "",
    "Options:",
    ...rows,
    "",
    `Every option can be set as ${ENV_PREFIX}NAME (e.g. ${envName("on-error")}=false);`,
    `secrets: ${SECRET_ENV.map(([v]) => ENV_PREFIX + v).join(", ")} or the *-file options.`,
    "Durations: 250ms, 5s, 2m, 1h; a bare number means seconds.",
    "Exit codes: 0 ok (check: true), 1 check: false, 2 bad usage or error, 130 check cancelled.",
  ].join("\n");
}

/** Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known name a typo most likely meant: the nearest within two edits (one
 * for short names), else the only name that starts with it; undefined when
 * nothing is close.
 */
export function closest(typed: string, known: Iterable<string>): string | undefined {
  const names = [...known];
  const limit = typed.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const name of names) {
    const distance = editDistance(typed, name);
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  if (best !== undefined) return best;
  const prefixed = names.filter((name) => typed.length >= 3 && name.startsWith(typed));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** `; did you mean '--timeout'?` or nothing. */
export function didYouMean(suggestion: string | undefined, quote = "'"): string {
  return suggestion === undefined ? "" : `; did you mean ${quote}${suggestion}${quote}?`;
}
