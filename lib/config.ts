/**
 * The command line, the environment and the config file, merged into one
 * validated {@linkcode Config}. Precedence: flag > environment > file >
 * default. `node:util`'s `parseArgs` fills the role `@std/cli` had in the
 * design; it is used in this file only.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatDuration, parseDuration } from "./duration.ts";
import { LOG_LEVELS, type LogLevel } from "./logger.ts";
import { CONTRACT_NAMES, type ContractName, isContractName } from "./contracts.ts";
import { isOperation, type Operation, OPERATION_LIST } from "./operations.ts";
/** The stdin/stdout protocols: ejabberd's framing or Prosody's lines. */
export type ProtocolName = "ejabberd" | "prosody";
/** The server that runs the program: MongooseIM speaks ejabberd's framing but only true/false. */
export type ServerKind = "ejabberd" | "mongooseim";

/** Where requests for one XMPP domain go, and with which credentials. */
export interface RouteConfig {
  /** Base URL; `{server}` is replaced by the request's domain, URL-encoded. */
  readonly url: string;
  readonly contract: ContractName;
  /** Endpoint overrides by operation; the contract's defaults fill the rest. */
  readonly endpoints: Readonly<Partial<Record<Operation, string>>>;
  readonly headers: readonly (readonly [string, string])[];
  readonly tokenFile?: string;
  readonly hmacSecretFile?: string;
  readonly basicAuthFile?: string;
}

/** The validated configuration of one run. */
export interface Config {
  /** The default route, or undefined when only `domains` routes exist. */
  readonly route: RouteConfig | undefined;
  /** Routes by XMPP domain (lower case), from the config file. */
  readonly domains: Readonly<Record<string, RouteConfig>>;
  readonly protocol: ProtocolName;
  /** `mongooseim`: never the error reply (its worker crashes on it); see `--server`. */
  readonly server: ServerKind;
  readonly timeoutMs: number;
  readonly deadlineMs: number;
  readonly retries: number;
  readonly onError: "error" | "false";
  readonly logLevel: LogLevel;
  readonly logFile?: string;
  readonly caFile?: string;
  readonly cacheTtlMs: number;
  readonly staleTtlMs: number;
  readonly cacheSize: number;
  /** The outage cache shared by the pool and kept across restarts (SQLite file). */
  readonly cacheFile?: string;
  readonly breakerFailures: number;
  readonly breakerCooldownMs: number;
  /** Secrets given directly in the environment (never on the command line). */
  readonly envSecrets: {
    readonly token?: string;
    readonly hmacSecret?: string;
    readonly basicAuth?: string;
  };
}

/** What the command line asks for. */
export type Command =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | { readonly kind: "serve"; readonly config: Config }
  | {
    readonly kind: "check";
    readonly config: Config;
    readonly op: Operation;
    readonly user: string;
    readonly server: string;
  }
  | { readonly kind: "self-test" };

/** A bad option, value, variable or config file: exit 2 with this message. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Where option values come from besides the command line. */
export interface ConfigSources {
  readonly args: readonly string[];
  readonly env: (name: string) => string | undefined;
  readonly envNames: () => readonly string[];
  readonly readFile: (path: string) => Uint8Array;
}

type Kind = "string" | "duration" | "count" | "enum" | "list" | "boolean";

interface OptionSpec {
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

const OPTIONS: readonly OptionSpec[] = [
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
    help: "time per request, retries included (20s; 4s for prosody)",
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
    name: "hmac-secret-file",
    kind: "string",
    arg: "FILE",
    help: "sign requests (X-Extauth-Signature) with this secret",
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
  { name: "config", kind: "string", arg: "FILE", help: "JSON config file", noFile: true },
  { name: "help", kind: "boolean", help: "show this help", short: "h", noFile: true },
  { name: "version", kind: "boolean", help: "show the version", short: "V", noFile: true },
  {
    name: "self-test",
    kind: "boolean",
    help: "check: run the framing path in-process",
    noFile: true,
  },
];

const SPEC_BY_NAME = new Map(OPTIONS.map((o) => [o.name, o]));
const ENV_PREFIX = "XMPP_EXTAUTH_";
/** Secrets that may come from the environment, never from a flag or the config file. */
const SECRET_ENV = [
  ["TOKEN", "token"],
  ["HMAC_SECRET", "hmacSecret"],
  ["BASIC_AUTH", "basicAuth"],
] as const;
const SECRET_FLAGS: Readonly<Record<string, string>> = {
  token: "token-file",
  "hmac-secret": "hmac-secret-file",
  "basic-auth": "basic-auth-file",
  password: "check's prompt or stdin",
};
const DOMAIN_KEYS = new Set([
  "url",
  "contract",
  "endpoint",
  "header",
  "token-file",
  "hmac-secret-file",
  "basic-auth-file",
]);
/** ejabberd gives up on a call after 30 s, retries included. */
const EJABBERD_LIMIT_MS = 30_000;
/** MongooseIM gives up on a call after 10 s (60 s for the first one). */
const MONGOOSEIM_LIMIT_MS = 10_000;

/** Turns an option name into its environment variable: `on-error` → `XMPP_EXTAUTH_ON_ERROR`. */
export function envName(option: string): string {
  return ENV_PREFIX + option.toUpperCase().replaceAll("-", "_");
}

/**
 * The `--help` text.
 *
 * @example Print help
 * ```ts
 * import { helpText } from "./config.ts";
 * const text = helpText(); // printed by main.ts for --help
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

type Raw = string | boolean | readonly string[] | undefined;

function fail(message: string): never {
  throw new ConfigError(message);
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
function closest(typed: string, known: Iterable<string>): string | undefined {
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
function didYouMean(suggestion: string | undefined, quote = "'"): string {
  return suggestion === undefined ? "" : `; did you mean ${quote}${suggestion}${quote}?`;
}

function readJsonFile(path: string, sources: ConfigSources): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder().decode(sources.readFile(path));
  } catch (error) {
    fail(`Cannot read config file ${path}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    fail(`Cannot parse config file ${path}: ${(error as Error).message}`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    fail(`Cannot use config file ${path}: expected a JSON object`);
  }
  return data as Record<string, unknown>;
}

/** Converts a config-file value to the option's raw form, or fails naming the key. */
function fromFile(where: string, spec: OptionSpec, value: unknown): Raw {
  const wrong = (expected: string): never =>
    fail(`Config file: "${where}" must be ${expected}, got ${JSON.stringify(value)}`);
  switch (spec.kind) {
    case "boolean":
      return typeof value === "boolean" ? value : wrong("true or false");
    case "duration":
    case "count":
      if (typeof value === "number" && Number.isFinite(value) && value >= 0) return String(value);
      return typeof value === "string" ? value : wrong("a number or a duration string");
    case "list":
      if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value;
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        const sep = spec.name === "header" ? ": " : "=";
        return Object.entries(value).map(([k, v]) =>
          typeof v === "string" ? `${k}${sep}${v}` : wrong("an object of strings")
        );
      }
      return wrong("an object or an array of strings");
    default:
      return typeof value === "string" ? value : wrong("a string");
  }
}

function checkFileKeys(
  where: string,
  data: Record<string, unknown>,
  allowed: (k: string) => boolean,
) {
  for (const key of Object.keys(data)) {
    if (key in SECRET_FLAGS) {
      fail(
        `Config file: "${where}${key}" is not allowed: secrets come from files or the ` +
          `environment, use "${SECRET_FLAGS[key]}"`,
      );
    }
    if (!allowed(key)) {
      const known = [...SPEC_BY_NAME.keys(), "domains"].filter(allowed);
      fail(`Config file: unknown key "${where}${key}"${didYouMean(closest(key, known), '"')}`);
    }
  }
}

function parseEndpoints(
  values: readonly string[],
  where: string,
): Partial<Record<Operation, string>> {
  const endpoints: Partial<Record<Operation, string>> = {};
  for (const item of values) {
    const eq = item.indexOf("=");
    const op = eq < 0 ? item : item.slice(0, eq);
    const path = eq < 0 ? "" : item.slice(eq + 1).replace(/^\/+/, "");
    if (!isOperation(op)) {
      fail(
        `${where}: unknown operation "${op}" in "${item}" (expected OP=PATH with OP one of ` +
          `${OPERATION_LIST})`,
      );
    }
    if (path === "" || /[\s?#]/.test(path)) {
      fail(`${where}: "${item}" needs a path like ${op}=v1/${op}`);
    }
    endpoints[op] = path;
  }
  return endpoints;
}

function parseHeaders(values: readonly string[], where: string): [string, string][] {
  return values.map((item) => {
    const colon = item.indexOf(":");
    // The item may hold a credential: say what is wrong, never echo it.
    if (colon < 0) {
      fail(
        `${where}: a value of ${item.length} characters is not a header: it has no ":"; ` +
          'expected "Name: value"',
      );
    }
    const name = item.slice(0, colon).trim();
    const value = item.slice(colon + 1).trim();
    if (name === "") fail(`${where}: the header name before ":" is empty; expected "Name: value"`);
    const bad = [...name].find((c) => !/^[!#$%&'*+.^_`|~0-9A-Za-z-]$/.test(c));
    if (bad !== undefined) {
      const what = bad === " " || bad === "\t" ? "a space" : JSON.stringify(bad);
      fail(
        `${where}: a header name cannot contain ${what}; expected "Name: value", e.g. ` +
          '"X-Site: chat"',
      );
    }
    if ([...value].some((c) => c !== "\t" && (c < " " || c === "\x7f"))) {
      fail(`${where}: the value of header ${name} contains a line break or control character`);
    }
    if (/^(authorization|content-type|content-length|host)$/i.test(name)) {
      fail(
        `${where}: ${name} is set by xmpp-extauth; use --token-file or --basic-auth-file ` +
          "for credentials",
      );
    }
    return [name, value];
  });
}

function checkUrl(url: string, where: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url.replaceAll("{server}", "example.com"));
  } catch {
    fail(`${where}: "${url}" is not a URL (expected http://host:port/path)`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    fail(`${where}: "${url}" must start with http:// or https://`);
  }
  if (parsed.username || parsed.password) {
    fail(`${where}: credentials in the URL are visible in ps; use --basic-auth-file`);
  }
  if (parsed.search || parsed.hash || /[?#]/.test(url)) {
    fail(`${where}: "${url}" must not have a query or fragment`);
  }
  return url.replace(/\/+$/, "");
}

function parseCount(text: string, where: string): number {
  if (!/^\d+$/.test(text.trim())) fail(`${where}: "${text}" must be a whole number ≥ 0`);
  return Number(text);
}

function parseDurationAt(text: string, where: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    fail(`${where}: ${(error as Error).message}`);
  }
}

/** Whether `arg` names a known option: `--timeout`, `--timeout=5s`, `-d`. */
function isKnownOption(arg: string): boolean {
  const long = /^--([^=]+)/.exec(arg)?.[1];
  if (long !== undefined) return SPEC_BY_NAME.has(long);
  return /^-[A-Za-z]$/.test(arg) && OPTIONS.some((o) => o.short === arg[1]);
}

/**
 * `--retries -1` → `--retries=-1`: a value that starts with a dash but is no
 * option goes to the option before it, so that it is judged as a value
 * ("must be a whole number ≥ 0") rather than refused as "ambiguous".
 */
function joinDashValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    const spec = /^--([^=]+)$/.exec(arg) ? SPEC_BY_NAME.get(arg.slice(2)) : undefined;
    const next = args[i + 1];
    if (
      spec !== undefined && spec.kind !== "boolean" && next !== undefined &&
      next.startsWith("-") && next !== "--" && !isKnownOption(next)
    ) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** `parseArgs`' error as one line that says what to do. */
function argsError(error: Error): string {
  const message = error.message.split("\n")[0]!;
  const unknown = /^Unknown option '(-[^']*)'/.exec(message)?.[1];
  if (unknown !== undefined) {
    const suggestion = unknown.startsWith("--")
      ? closest(unknown.slice(2), OPTIONS.map((o) => o.name))
      : undefined;
    return `Unknown option '${unknown}'${didYouMean(suggestion && `--${suggestion}`)} (see --help)`;
  }
  const ambiguous = /^Option '(-[^' ]*)' argument is ambiguous/.exec(message)?.[1];
  if (ambiguous !== undefined) {
    return `Option '${ambiguous}' needs a value, but the next argument is another option`;
  }
  return message.replace(/\. To specify a positional.*$/, "");
}

/**
 * Parses the command line, environment and config file into a {@linkcode Command}.
 *
 * @throws {ConfigError} with a one-line message for anything invalid.
 * @example Parse a serving command line
 * ```ts
 * import { parseCommand } from "./config.ts";
 * const command = parseCommand({
 *   args: ["--url", "http://127.0.0.1:8080/auth", "--timeout", "2s"],
 *   env: () => undefined,
 *   envNames: () => [],
 *   readFile: () => new Uint8Array(),
 * });
 * // command.kind === "serve", command.config.timeoutMs === 2000
 * ```
 */
export function parseCommand(sources: ConfigSources): Command {
  for (const arg of sources.args) {
    const name = /^--([a-z-]+)(=|$)/.exec(arg)?.[1];
    if (name && name in SECRET_FLAGS) {
      fail(
        `--${name} is not accepted on the command line (visible in ps): use ` +
          `${name === "password" ? SECRET_FLAGS[name] : `--${SECRET_FLAGS[name]}`}`,
      );
    }
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: joinDashValues(sources.args),
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(OPTIONS.map((o) => [o.name, {
        type: o.kind === "boolean" ? "boolean" as const : "string" as const,
        ...(o.kind === "list" ? { multiple: true } : {}),
        ...(o.short ? { short: o.short } : {}),
      }])),
    });
  } catch (error) {
    fail(argsError(error as Error));
  }
  const flags = parsed.values as Record<string, Raw>;
  if (flags.help) return { kind: "help" };
  if (flags.version) return { kind: "version" };

  const positionals = parsed.positionals;
  const mode = positionals[0] === "check" ? "check" : "serve";
  if (mode === "serve" && positionals.length > (positionals[0] === "serve" ? 1 : 0)) {
    fail(
      `Unexpected argument "${positionals[0] === "serve" ? positionals[1] : positionals[0]}": ` +
        "serve takes options only (see --help)",
    );
  }
  if (flags["self-test"]) {
    if (mode !== "check") {
      fail("--self-test belongs to the check command: xmpp-extauth check --self-test");
    }
    return { kind: "self-test" };
  }

  for (const name of sources.envNames()) {
    if (!name.startsWith(ENV_PREFIX)) continue;
    const option = name.slice(ENV_PREFIX.length).toLowerCase().replaceAll("_", "-");
    const known = (SPEC_BY_NAME.has(option) && envName(option) === name &&
      !["help", "version", "self-test"].includes(option)) ||
      SECRET_ENV.some(([variable]) => ENV_PREFIX + variable === name);
    if (!known) {
      const names = [
        ...[...SPEC_BY_NAME.keys()].filter((o) => !["help", "version", "self-test"].includes(o))
          .map(envName),
        ...SECRET_ENV.map(([variable]) => ENV_PREFIX + variable),
      ];
      const hint = didYouMean(closest(name, names), "");
      fail(`Unknown environment variable ${name}${hint || " (see --help for the names)"}`);
    }
  }

  const configPath = (flags.config as string | undefined) ?? sources.env(envName("config"));
  const file = configPath === undefined ? {} : readJsonFile(configPath, sources);
  checkFileKeys(
    "",
    file,
    (key) => key === "domains" || (SPEC_BY_NAME.has(key) && !SPEC_BY_NAME.get(key)!.noFile),
  );

  // source: 0 flag, 1 environment, 2 config file, 3 default.
  const value = (name: string): { raw: Raw; where: string; source: number } => {
    const spec = SPEC_BY_NAME.get(name)!;
    if (flags[name] !== undefined) return { raw: flags[name], where: `--${name}`, source: 0 };
    const env = sources.env(envName(name));
    if (env !== undefined) {
      const raw = spec.kind === "list"
        ? env.split(spec.name === "header" ? "\n" : ",").map((s) => s.trim()).filter(Boolean)
        : spec.kind === "boolean"
        ? /^(1|true|yes|on)$/i.test(env)
        : env;
      return { raw, where: envName(name), source: 1 };
    }
    if (name in file) {
      return { raw: fromFile(name, spec, file[name]), where: `config "${name}"`, source: 2 };
    }
    return { raw: spec.fallback, where: `--${name}`, source: 3 };
  };
  const str = (name: string) => value(name).raw as string | undefined;
  const enumValue = (name: string): string => {
    const { raw, where } = value(name);
    const choices = SPEC_BY_NAME.get(name)!.choices!;
    if (typeof raw !== "string" || !choices.includes(raw)) {
      fail(`${where}: "${String(raw)}" is not one of ${choices.join(", ")}`);
    }
    return raw;
  };
  const duration = (name: string): number => {
    const { raw, where } = value(name);
    return parseDurationAt(raw as string, where);
  };
  const count = (name: string): number => {
    const { raw, where } = value(name);
    return parseCount(raw as string, where);
  };

  const protocol = enumValue("protocol") as ProtocolName;
  const contract = enumValue("contract") as ContractName;
  const timeoutMs = duration("timeout");
  if (timeoutMs <= 0) fail(`${value("timeout").where}: must be more than 0`);
  // MongooseIM decodes only true and false, and gives up on a call after 10 s.
  const serverKind = enumValue("server") as ServerKind;
  const mongooseim = serverKind === "mongooseim";
  if (mongooseim && protocol === "prosody") {
    fail(`${value("server").where}: mongooseim speaks ejabberd's framing, not --protocol prosody`);
  }
  const onError = enumValue("on-error") as "error" | "false";
  if (mongooseim && onError === "error" && value("on-error").source < 3) {
    fail(
      `${value("on-error").where}: "error" cannot be used with --server mongooseim: MongooseIM ` +
        "understands only true and false, and any other reply crashes its worker; an API that " +
        "cannot answer is answered false there (the default)",
    );
  }
  const deadlineMs = value("deadline").raw === undefined
    ? (protocol === "prosody" ? 4000 : mongooseim ? 8000 : 20_000)
    : duration("deadline");
  if (deadlineMs <= 0) fail(`${value("deadline").where}: must be more than 0`);
  // A deadline shorter than one attempt cuts every slow attempt short and leaves
  // no time for a retry: the --timeout the admin chose could never apply. (With
  // the default --timeout, prosody's 4 s deadline simply wins: not an error.)
  if (value("timeout").source < 3 && deadlineMs < timeoutMs) {
    const deadline = value("deadline").raw === undefined
      ? `the default --deadline ${formatDuration(deadlineMs)}`
      : `${value("deadline").where} ${formatDuration(deadlineMs)}`;
    fail(
      `Cannot use ${value("timeout").where} ${formatDuration(timeoutMs)} with ${deadline}: ` +
        `one attempt could outlast the whole request; make --deadline at least ` +
        `${formatDuration(timeoutMs)} or lower --timeout`,
    );
  }
  const [limitName, limitMs] = mongooseim
    ? ["MongooseIM's 10s", MONGOOSEIM_LIMIT_MS]
    : ["ejabberd's 30s", EJABBERD_LIMIT_MS];
  if (protocol === "ejabberd" && deadlineMs >= limitMs) {
    fail(
      `${value("deadline").where}: ${formatDuration(deadlineMs)} must be below ${limitName} ` +
        `limit, or ${mongooseim ? "MongooseIM" : "ejabberd"} gives up before the answer comes`,
    );
  }
  const logFile = str("log-file");
  // --debug and --log-level compete by source (flag > environment > file >
  // default); within one source, --debug wins.
  const debugValue = value("debug");
  const debugSet = debugValue.raw === true && debugValue.source <= value("log-level").source;
  const logLevel = debugSet ? "debug" : enumValue("log-level") as LogLevel;

  const endpointsOf = (raw: Raw, where: string) =>
    parseEndpoints((raw as readonly string[] | undefined) ?? [], where);
  const headersOf = (raw: Raw, where: string) =>
    parseHeaders((raw as readonly string[] | undefined) ?? [], where);
  const optional = (name: string, text: string | undefined): Record<string, string> =>
    text === undefined ? {} : { [name]: text };

  const endpointValue = value("endpoint");
  const headerValue = value("header");
  const base: Omit<RouteConfig, "url"> = {
    contract,
    endpoints: endpointsOf(endpointValue.raw, endpointValue.where),
    headers: headersOf(headerValue.raw, headerValue.where),
    ...optional("tokenFile", str("token-file")),
    ...optional("hmacSecretFile", str("hmac-secret-file")),
    ...optional("basicAuthFile", str("basic-auth-file")),
  };
  const urlValue = value("url");
  const route: RouteConfig | undefined = urlValue.raw === undefined
    ? undefined
    : { ...base, url: checkUrl(urlValue.raw as string, urlValue.where) };

  const domains: Record<string, RouteConfig> = {};
  const domainData = file.domains;
  if (domainData !== undefined) {
    if (typeof domainData !== "object" || domainData === null || Array.isArray(domainData)) {
      fail(`Config file: "domains" must be an object of domain → settings`);
    }
    for (const [domain, settings] of Object.entries(domainData)) {
      const where = `domains.${domain}`;
      if (typeof settings !== "object" || settings === null || Array.isArray(settings)) {
        fail(`Config file: "${where}" must be an object`);
      }
      const s = settings as Record<string, unknown>;
      checkFileKeys(`${where}.`, s, (key) => DOMAIN_KEYS.has(key));
      const get = (key: string) =>
        key in s ? fromFile(`${where}.${key}`, SPEC_BY_NAME.get(key)!, s[key]) : undefined;
      const url = (get("url") as string | undefined) ?? route?.url;
      if (url === undefined) fail(`Config file: "${where}.url" is missing and there is no --url`);
      const domainContract = (get("contract") as string | undefined) ?? contract;
      if (!isContractName(domainContract)) {
        fail(`Config file: "${where}.contract" must be ${CONTRACT_NAMES.join(" or ")}`);
      }
      const inherit = (key: string, fallback: string | undefined) =>
        (get(key) as string | undefined) ?? fallback;
      if (domain.toLowerCase() in domains) {
        fail(`Config file: "${where}" appears twice (domains are compared in lower case)`);
      }
      domains[domain.toLowerCase()] = {
        url: checkUrl(url, `Config file: "${where}.url"`),
        contract: domainContract,
        endpoints: {
          ...base.endpoints,
          ...endpointsOf(get("endpoint"), `Config file: "${where}.endpoint"`),
        },
        headers: [...base.headers, ...headersOf(get("header"), `Config file: "${where}.header"`)],
        ...optional("tokenFile", inherit("token-file", base.tokenFile)),
        ...optional("hmacSecretFile", inherit("hmac-secret-file", base.hmacSecretFile)),
        ...optional("basicAuthFile", inherit("basic-auth-file", base.basicAuthFile)),
      };
    }
  }
  if (route === undefined && Object.keys(domains).length === 0) {
    fail(
      `Missing --url (or ${envName("url")}, or "url" or "domains" in --config): ` +
        "the base URL of the API, e.g. --url https://example.com/xmpp",
    );
  }

  const envSecrets: Record<string, string> = {};
  for (const [variable, field] of SECRET_ENV) {
    const text = sources.env(ENV_PREFIX + variable);
    if (text !== undefined && text !== "") envSecrets[field] = text;
  }
  const caFile = str("ca-file");
  const config: Config = {
    route,
    domains,
    protocol,
    server: serverKind,
    timeoutMs,
    deadlineMs,
    retries: count("retries"),
    onError: mongooseim ? "false" : onError,
    logLevel,
    ...(logFile === undefined ? {} : { logFile }),
    ...(caFile === undefined ? {} : { caFile }),
    cacheTtlMs: duration("cache-ttl"),
    staleTtlMs: duration("stale-ttl"),
    cacheSize: Math.max(1, count("cache-size")),
    ...(str("cache-file") === undefined ? {} : { cacheFile: str("cache-file")! }),
    breakerFailures: count("breaker-failures"),
    breakerCooldownMs: duration("breaker-cooldown"),
    envSecrets,
  };

  if (mode === "serve") return { kind: "serve", config };
  const [, op, user, server, ...rest] = positionals;
  if (op === undefined || user === undefined || server === undefined || rest.length > 0) {
    fail("Usage: xmpp-extauth check OP USER SERVER [options] (the password is read from stdin)");
  }
  if (!isOperation(op)) {
    fail(
      `check: unknown operation "${op}" (${OPERATION_LIST})`,
    );
  }
  return { kind: "check", config, op, user, server };
}
