/**
 * The command line, the environment and the config file, merged into one
 * validated {@linkcode Config}. Precedence: flag > environment > file >
 * default. The parts live beside it: the option table and `--help` in
 * `options.ts`, argv in `flags.ts`, the resolver in `resolve.ts`, the config
 * file and its `domains` in `config_file.ts`, route values in
 * `route_options.ts`; this module combines them and checks what spans
 * options (deadline against timeout and the server's limit).
 *
 * @module
 */

import { fail } from "../core/config_error.ts";
import type { CacheUrlConfig } from "../cache/open_cache.ts";
import { type ConfigFile, readConfigFile, readDomains } from "./config_file.ts";
import type { ContractName } from "../api/contracts.ts";
import type { RouteConfig, RoutingConfig } from "../api/route_config.ts";
import { formatDuration } from "./duration.ts";
import { type DoctorCommand, parseDoctorArgs } from "./doctor_args.ts";
import { modeOf, readEarlyArgs } from "./early_args.ts";
import { type Flags, parseFlags } from "./flags.ts";
import type { LogLevel } from "../log/logger.ts";
import { isOperation, type Operation, OPERATION_LIST } from "../core/operations.ts";
import { isCredentialHeader } from "../api/route_config.ts";
import { ENV_PREFIX, envName, SECRET_ENV } from "./options.ts";
import {
  atLeastAsStrong,
  checkEnvironmentNames,
  createResolver,
  type Resolver,
} from "./resolve.ts";
import { checkUrl, endpointsOf, headerFilesOf, headersOf, optional } from "./route_options.ts";

export { ConfigError } from "../core/config_error.ts";
export type { RouteConfig, RoutingConfig } from "../api/route_config.ts";
export { envName, helpText } from "./options.ts";

/** The stdin/stdout protocols: ejabberd's framing or Prosody's lines. */
export type ProtocolName = "ejabberd" | "prosody";
/** The server that runs the program: MongooseIM speaks ejabberd's framing but only true/false. */
export type ServerKind = "ejabberd" | "mongooseim";

/** The validated configuration of one run. */
export interface Config extends RoutingConfig {
  readonly protocol: ProtocolName;
  /** `mongooseim`: never the error reply (its worker crashes on it); see `--server`. */
  readonly server: ServerKind;
  readonly timeoutMs: number;
  readonly deadlineMs: number;
  readonly retries: number;
  /**
   * `--on-error` as given, or its default; what it means per server (MongooseIM never gets
   * error) is the reply policy's (`auth/reply_policy.ts`).
   */
  readonly onError: "error" | "false";
  readonly logLevel: LogLevel;
  readonly logFile?: string;
  readonly caFile?: string;
  readonly cacheTtlMs: number;
  readonly staleTtlMs: number;
  readonly cacheSize: number;
  /** The outage cache shared by the pool and kept across restarts (SQLite file). */
  readonly cacheFile?: string;
  /** The outage cache shared by a cluster (Redis), see `resolveCacheUrl`. */
  readonly cacheUrl?: CacheUrlConfig;
  readonly breakerFailures: number;
  readonly breakerCooldownMs: number;
  /** How often the summary line is logged (`--stats-interval`); 0 = only at exit. */
  readonly statsIntervalMs: number;
  /** `--metrics-file`: the Prometheus file, the pid put before `.prom`. */
  readonly metricsFile?: string;
  /** Things to tell the admin at start (a credential given with --header, on the command line). */
  readonly warnings: readonly string[];
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
  | { readonly kind: "self-test" }
  | DoctorCommand;

/** Where option values come from besides the command line. */
export interface ConfigSources {
  readonly args: readonly string[];
  readonly env: (name: string) => string | undefined;
  readonly envNames: () => readonly string[];
  readonly readFile: (path: string) => Uint8Array;
}

/** ejabberd gives up on a call after 30 s, retries included. */
const EJABBERD_LIMIT_MS = 30_000;
/** MongooseIM gives up on a call after 10 s (60 s for the first one). */
const MONGOOSEIM_LIMIT_MS = 10_000;

/**
 * Parses the command line, environment and config file into a {@linkcode Command}.
 *
 * @throws {ConfigError} with a one-line message for anything invalid.
 * @example Parse a serving command line
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCommand } from "./config.ts";
 * const command = parseCommand({
 *   args: ["--url", "http://127.0.0.1:8080/auth", "--timeout", "2s"],
 *   env: () => undefined,
 *   envNames: () => [],
 *   readFile: () => new Uint8Array(),
 * });
 * assert.equal(command.kind, "serve");
 * if (command.kind === "serve") assert.equal(command.config.timeoutMs, 2000);
 * ```
 */
export function parseCommand(sources: ConfigSources): Command {
  // doctor's options are its own: read them before the serving options could refuse them.
  if (readEarlyArgs(sources.args).mode === "doctor") {
    if (sources.args[0] !== "doctor") {
      fail("doctor comes first, with its own options only: xmpp-extauth doctor --help");
    }
    return parseDoctorArgs(sources.args.slice(1));
  }
  const { flags, positionals } = parseFlags(sources.args);
  const mode = modeOf(flags, positionals);
  if (mode === "help" || mode === "version") return { kind: mode };
  if (mode === "serve") refuseServeExtras(flags, positionals);
  if (mode === "self-test") return { kind: "self-test" };

  checkEnvironmentNames(sources.envNames());
  const config = resolveConfig(sources, flags);
  if (mode === "serve") return { kind: "serve", config };
  return checkCommand(config, positionals);
}

/** Serving takes options only, and not `--self-test` (which belongs to `check`). */
function refuseServeExtras(flags: Flags["flags"], positionals: readonly string[]): void {
  if (positionals.length > (positionals[0] === "serve" ? 1 : 0)) {
    fail(
      `Unexpected argument "${positionals[0] === "serve" ? positionals[1] : positionals[0]}": ` +
        "serve takes options only (see --help)",
    );
  }
  if (flags["self-test"]) {
    fail("--self-test belongs to the check command: xmpp-extauth check --self-test");
  }
}

/** The {@linkcode Config} from the flags, the environment, the config file and the defaults. */
function resolveConfig(sources: ConfigSources, flags: Flags["flags"]): Config {
  const configPath = (flags.config as string | undefined) ?? sources.env(envName("config"));
  const file = readConfigFile(configPath, sources.readFile);
  const options = createResolver({ flags, env: sources.env, file: file.value });

  const protocol: ProtocolName = options.choice("protocol");
  const contract = options.choice("contract");
  const { timeoutMs, serverKind, onError, deadlineMs } = resolveTiming(
    options,
    protocol,
  );
  const logFile = options.string("log-file");
  const logLevel = resolveLogLevel(options);

  const { route, domains, warnings } = resolveRoutes(options, file, contract);

  const envSecrets = readEnvSecrets(sources);
  const caFile = options.string("ca-file");
  const metricsFile = options.string("metrics-file");
  if (metricsFile !== undefined && !/[^/]\.prom$/.test(metricsFile)) {
    fail(`${options.value("metrics-file").where}: must name a file ending in .prom`);
  }
  const config: Config = {
    route,
    domains,
    protocol,
    server: serverKind,
    timeoutMs,
    deadlineMs,
    retries: options.count("retries"),
    onError,
    logLevel,
    ...(logFile === undefined ? {} : { logFile }),
    ...(caFile === undefined ? {} : { caFile }),
    cacheTtlMs: options.duration("cache-ttl"),
    staleTtlMs: options.duration("stale-ttl"),
    cacheSize: Math.max(1, options.count("cache-size")),
    ...(options.string("cache-file") === undefined
      ? {}
      : { cacheFile: options.string("cache-file")! }),
    ...resolveCacheUrl(options),
    breakerFailures: options.count("breaker-failures"),
    breakerCooldownMs: options.duration("breaker-cooldown"),
    statsIntervalMs: options.duration("stats-interval"),
    ...(metricsFile === undefined ? {} : { metricsFile }),
    ...(options.choice("signature-scheme") === "v1" ? { signatureScheme: "v1" as const } : {}),
    envSecrets,
    warnings,
  };
  return config;
}

/** The secrets given in the environment (`SECRET_ENV`), the empty ones left out. */
function readEnvSecrets(sources: ConfigSources): Record<string, string> {
  const envSecrets: Record<string, string> = {};
  for (const [variable, field] of SECRET_ENV) {
    const text = sources.env(ENV_PREFIX + variable);
    if (text !== undefined && text !== "") envSecrets[field] = text;
  }
  return envSecrets;
}

/** `check OP USER SERVER`: the operation and its arguments, checked. */
function checkCommand(config: Config, positionals: readonly string[]): Command {
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

/** `--cache-url` and its options, checked. */
function resolveCacheUrl(options: Resolver): { cacheUrl?: CacheUrlConfig } {
  const text = options.string("cache-url");
  if (text === undefined) return {};
  const where = options.value("cache-url").where;
  if (options.string("cache-file") !== undefined) {
    fail(`${where}: give --cache-url or --cache-file, not both`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(`${where}: not a URL (redis://HOST:PORT/DB or rediss://HOST:PORT/DB)`);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    fail(`${where}: must start with redis:// or rediss:// (TLS)`);
  }
  if (url.password !== "") {
    fail(`${where}: holds a password; put it in --cache-password-file, never on a command line`);
  }
  if (url.hostname === "" || url.search !== "" || url.hash !== "") {
    fail(`${where}: must be redis[s]://[USER@]HOST[:PORT][/DB]`);
  }
  if (!/^(\/\d{0,5})?$/.test(url.pathname)) fail(`${where}: the path must be a database number`);
  const username = url.username === "" ? undefined : decodeURIComponent(url.username);
  url.username = "";
  const prefix = options.string("cache-prefix")!;
  // deno-lint-ignore no-control-regex
  if (prefix === "" || /[\x00-\x20\x7f]/.test(prefix)) {
    fail(`${options.value("cache-prefix").where}: must be a non-empty word`);
  }
  const timeoutMs = options.duration("cache-timeout");
  if (timeoutMs <= 0) fail(`${options.value("cache-timeout").where}: must be more than 0`);
  const passwordFile = options.string("cache-password-file");
  return {
    cacheUrl: {
      url: url.href,
      ...(username === undefined ? {} : { username }),
      ...(passwordFile === undefined ? {} : { passwordFile }),
      prefix,
      timeoutMs,
    },
  };
}

/** `--timeout`, `--server`, `--on-error`, `--deadline`, checked against each other and the server's limit. */
function resolveTiming(options: Resolver, protocol: ProtocolName) {
  const value = options.value;
  const timeoutMs = options.duration("timeout");
  if (timeoutMs <= 0) fail(`${value("timeout").where}: must be more than 0`);
  // MongooseIM decodes only true and false, and gives up on a call after 10 s.
  const serverKind: ServerKind = options.choice("server");
  const mongooseim = serverKind === "mongooseim";
  if (mongooseim && protocol === "prosody") {
    fail(`${value("server").where}: mongooseim speaks ejabberd's framing, not --protocol prosody`);
  }
  const onError = options.choice("on-error");
  if (mongooseim && onError === "error" && value("on-error").source !== "default") {
    fail(
      `${value("on-error").where}: "error" cannot be used with --server mongooseim: MongooseIM ` +
        "understands only true and false, and any other reply crashes its worker; an API that " +
        "cannot answer is answered false there (the default)",
    );
  }
  const deadlineMs = value("deadline").raw === undefined
    ? (protocol === "prosody" ? 4000 : mongooseim ? 8000 : 20_000)
    : options.duration("deadline");
  if (deadlineMs <= 0) fail(`${value("deadline").where}: must be more than 0`);
  // A deadline shorter than one attempt cuts every slow attempt short and leaves
  // no time for a retry: the --timeout the admin chose could never apply. (With
  // the default --timeout, prosody's 4 s deadline simply wins: not an error.)
  if (value("timeout").source !== "default" && deadlineMs < timeoutMs) {
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
  return { timeoutMs, serverKind, mongooseim, onError, deadlineMs };
}

/** `--log-level`, or debug when `--debug` comes from as strong a source. */
function resolveLogLevel(options: Resolver): LogLevel {
  const value = options.value;
  // --debug and --log-level compete by source (flag > environment > file >
  // default); within one source, --debug wins.
  const debugValue = value("debug");
  const debugSet = debugValue.raw === true &&
    atLeastAsStrong(debugValue.source, value("log-level").source);
  return debugSet ? "debug" : options.choice("log-level");
}

/** The default route (from `--url`) and the config file's `domains`; at least one of them. */
function resolveRoutes(options: Resolver, file: ConfigFile, contract: ContractName) {
  const value = options.value;
  const endpointValue = value("endpoint");
  const headerValue = value("header");
  const headerFileValue = value("header-file");
  const headers = headersOf(headerValue.raw, headerValue.where);
  // A command line is readable by every local user (ps, /proc/PID/cmdline): refusing would
  // break running installs, so the admin is told, by header name only.
  const warnings = headerValue.source !== "flag" ? [] : headers
    .filter(([name, text]) => isCredentialHeader(name) && text !== "")
    .map(([name]) =>
      `--header ${name} holds a credential on the command line, which every local user can ` +
      `read (ps); put the value in a file and use --header-file '${name}=FILE'`
    );
  const base: Omit<RouteConfig, "url"> = {
    contract,
    endpoints: endpointsOf(endpointValue.raw, endpointValue.where),
    headers,
    headerFiles: headerFilesOf(headerFileValue.raw, headerFileValue.where),
    ...optional("tokenFile", options.string("token-file")),
    ...optional("hmacSecretFile", options.string("hmac-secret-file")),
    ...optional("basicAuthFile", options.string("basic-auth-file")),
  };
  const urlValue = value("url");
  const route: RouteConfig | undefined = urlValue.raw === undefined
    ? undefined
    : { ...base, url: checkUrl(urlValue.raw as string, urlValue.where) };

  const domains = readDomains(file.domains, base, route?.url, file.label);
  if (route === undefined && Object.keys(domains).length === 0) {
    fail(
      `Missing --url (or ${envName("url")}, or "url" or "domains" in --config): ` +
        "the base URL of the API, e.g. --url https://example.com/xmpp",
    );
  }

  return { route, domains, warnings: [...new Set(warnings)] };
}
