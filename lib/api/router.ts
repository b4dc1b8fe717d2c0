/**
 * Routing: which API, contract and credentials serve a request's domain.
 * Credentials are read from their files at start-up (a missing or empty file
 * stops the program before it reads stdin), and again when a file changes
 * ({@linkcode RotatingRouter.reload}, docs/rotation.md): a route keeps its
 * identity and gets the new headers and signer.
 *
 * @module
 */

import { ConfigError } from "../core/config_error.ts";
import { isCredentialHeader, type RouteConfig, type RoutingConfig } from "./route_config.ts";
import { type Contract, contractByName } from "./contracts.ts";
import type { Operation } from "../core/operations.ts";
import { createSigner, parseSecretFile } from "./signing.ts";
import { VERSION } from "../core/version.ts";

/** A route made ready: everything but the per-request URL is computed once. */
export interface Route {
  /** The domain it serves, or `*` for the default route. */
  readonly name: string;
  readonly urlTemplate: string;
  readonly contract: Contract;
  readonly paths: Readonly<Record<Operation, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly sign?: Sign;
}

/**
 * Makes the per-attempt signature headers of a request (a fresh nonce and
 * timestamp each call), given its method, URL and exact body.
 */
export type Sign = (method: string, url: string, body: string) => Promise<Record<string, string>>;

/** A fully resolved destination for one request, built by {@linkcode targetFor}. */
export interface Target {
  /** The endpoint URL. */
  readonly url: string;
  readonly contract: Contract;
  /** Fixed headers: credentials, User-Agent, custom headers. */
  readonly headers: Readonly<Record<string, string>>;
  /** Adds per-attempt headers (signatures), given the method, URL and exact body. */
  readonly sign?: Sign;
}

/** Routes by domain, with the default route as fallback. */
export interface Router {
  /** The route for a domain, or undefined when no route serves it. */
  resolve(server: string): Route | undefined;
  /** Every distinct route (for start-up logging and breakers). */
  readonly routes: readonly Route[];
  /** Every credential read (tokens, Basic credentials, HMAC secrets), for log masking. */
  readonly secrets: readonly string[];
  /** Things to tell the admin at start (a secret file others can read). */
  readonly warnings: readonly string[];
  /** Whether a header's value is a secret: its name looks like one, or it came from --header-file. */
  isSecretHeader(name: string): boolean;
}

/** A file's permission bits, or undefined where there are none (Windows) or it cannot be read. */
export type FileMode = (path: string) => number | undefined;

/** What {@linkcode RotatingRouter.reload} needs. */
export interface ReloadOptions {
  /** What identifies a file's content (`Runtime.fileStamp`). */
  readonly stamp: (path: string) => string | undefined;
  readonly readFile: (path: string) => Uint8Array;
  readonly fileMode: FileMode;
  /** Called with each new secret before anything else is done with it (the log's mask). */
  readonly addSecret: (secret: string) => void;
  readonly logger: { info(message: string): void; error(message: string): void };
  /** Re-read every file, changed or not (SIGHUP). */
  readonly force?: boolean;
}

/** A router whose secret files can be re-read. */
export interface RotatingRouter extends Router {
  /** The secret files its routes read (token, Basic, HMAC, header files). */
  readonly files: readonly string[];
  /**
   * Re-reads the files whose stamp changed since they were last read (all with `force`). A
   * usable new file is put in use at once; an unusable one (unreadable, empty, blank, more than
   * one line, open to all users) keeps the previous secret and is reported once, naming the
   * file and the reason. Never throws.
   */
  reload(options: ReloadOptions): Promise<void>;
}

/**
 * The endpoint URL of one request: `{server}` replaced by the domain encoded
 * as one path segment, then `/PATH`.
 *
 * @throws {RangeError} when the domain is empty, `.` or `..`, which would not
 * stay one segment (requests never carry one: see `invalidName` in request.ts).
 * @example The login URL for a domain
 * ```ts
 * import assert from "node:assert/strict";
 * import { JSON_CONTRACT } from "./contracts.ts";
 * import { targetFor } from "./router.ts";
 * const route = {
 *   name: "*",
 *   urlTemplate: "https://api.example.com/{server}",
 *   contract: JSON_CONTRACT,
 *   paths: JSON_CONTRACT.endpoints,
 *   headers: {},
 * };
 * assert.equal(
 *   targetFor(route, "auth", "chat.example").url,
 *   "https://api.example.com/chat.example/login",
 * );
 * ```
 */
export function targetFor(route: Route, op: Operation, server: string): Target {
  let base = route.urlTemplate;
  if (base.includes("{server}")) {
    if (server === "" || server === "." || server === "..") {
      throw new RangeError(`Cannot put the domain ${JSON.stringify(server)} in {server}`);
    }
    base = base.replaceAll("{server}", encodeURIComponent(server));
  }
  const target: Target = {
    url: `${base}/${route.paths[op]}`,
    contract: route.contract,
    headers: route.headers,
  };
  return route.sign ? { ...target, sign: route.sign } : target;
}

/** Reads a secret file's bytes, refusing an empty or blank one. */
function readSecret(
  readFile: (path: string) => Uint8Array,
  path: string,
  option: string,
): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFile(path);
  } catch (error) {
    throw new ConfigError(`Cannot read ${option} ${path}: ${(error as Error).message}`);
  }
  let secret: Uint8Array;
  try {
    secret = parseSecretFile(bytes);
  } catch {
    throw new ConfigError(`Cannot use ${option} ${path}: the file is empty`);
  }
  if (secret.every((b) => b === 0x20 || (b >= 0x09 && b <= 0x0d))) {
    throw new ConfigError(`Cannot use ${option} ${path}: the file holds only whitespace`);
  }
  return secret;
}

/**
 * Reads a one-line text credential (a token, USER:PASSWORD): one line, one
 * final newline allowed, surrounding spaces trimmed, nothing a header cannot
 * carry. Messages name the file and what is wrong, never the content.
 */
function readCredentialLine(
  readFile: (path: string) => Uint8Array,
  path: string,
  option: string,
  what: Credential,
): string {
  const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(
    readSecret(readFile, path, option),
  );
  const fail = (why: string): never => {
    throw new ConfigError(`Cannot use ${option} ${path}: ${why}`);
  };
  // Checked before trimming, which would remove it.
  if (/^[\t\n\r ]*\ufeff/.test(text)) {
    fail("the file starts with a byte order mark; save it as plain UTF-8");
  }
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  if (lines.length > 1) fail(`the file holds ${lines.length} lines; a ${what} is one line`);
  const line = lines[0]!.trim();
  const problem = credentialProblem(line, what);
  if (problem !== undefined) fail(problem);
  return line;
}

/** What a one-line credential file holds. */
type Credential = "token" | "USER:PASSWORD" | "header value";

/** What makes a credential unusable in a header, if anything (never its content). */
function credentialProblem(value: string, what: Credential): string | undefined {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) return `the ${what} holds a control character`;
  if (what === "token" && /\s/.test(value)) return "the token holds a space; a token is one word";
  if (what !== "USER:PASSWORD" && /[^\x20-\x7e]/.test(value)) {
    return `the ${what} holds a character outside ASCII, which a header cannot carry`;
  }
  return undefined;
}

/** A credential from the environment, checked like one from a file. */
function envCredential(
  value: string | undefined,
  variable: string,
  what: Credential,
): string | undefined {
  if (value === undefined) return undefined;
  const problem = credentialProblem(value, what);
  if (problem !== undefined) throw new ConfigError(`Cannot use ${variable}: ${problem}`);
  return value;
}

/**
 * The warning for a secret file that others can read or write, or its group
 * can write, if any. A group may read it: `root:ejabberd 0640` is how Debian
 * protects ejabberd's own configuration.
 */
function modeWarning(fileMode: FileMode, path: string, option: string): string | undefined {
  const mode = fileMode(path);
  if (mode === undefined || (mode & 0o027) === 0) return undefined;
  const octal = (mode & 0o777).toString(8).padStart(3, "0");
  const who = mode & 0o007 ? "all users" : "its group";
  return `${option} ${path} is open to ${who} (mode ${octal}): let only the server's user ` +
    `read it, e.g. chmod 600 ${path} (or 640 with the server's group)`;
}

export { isCredentialHeader };

/**
 * Builds the router from the configuration, reading secret files.
 *
 * @throws {ConfigError} when a secret file is unreadable, empty, blank, or
 * (token, Basic credentials) not one line.
 * @example Route the default domain
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCommand } from "../cli/config.ts";
 * import { createRouter } from "./router.ts";
 * const command = parseCommand({
 *   args: ["--url", "https://api.example.com/xmpp"],
 *   env: () => undefined,
 *   envNames: () => [],
 *   readFile: () => new Uint8Array(),
 * });
 * if (command.kind !== "serve") throw new Error("expected serve");
 * const router = await createRouter(command.config, () => new Uint8Array());
 * assert.equal(router.resolve("example.com")?.urlTemplate, "https://api.example.com/xmpp");
 * ```
 */
export async function createRouter(
  config: RoutingConfig,
  readFile: (path: string) => Uint8Array,
  fileMode: FileMode = () => undefined,
  stamp: (path: string) => string | undefined = () => undefined,
): Promise<RotatingRouter> {
  // The last good bytes and the stamp of each secret file, by option and path.
  const files = new Map<string, SecretFile>();
  const reader = (path: string, option: string) => {
    const key = `${option} ${path}`;
    const known = files.get(key);
    if (known !== undefined) return () => known.bytes;
    return () => {
      const before = stamp(path);
      const bytes = readFile(path);
      files.set(key, { path, option, bytes, stamp: before });
      return bytes;
    };
  };
  const built = await readRoutes(config, reader, fileMode);
  const watched = new Map<Route, RouteConfig>(built.sources);
  const router: RotatingRouter = {
    resolve: (server) => built.byDomain.get(server.toLowerCase()) ?? built.fallback,
    routes: built.routes,
    secrets: built.secrets,
    warnings: built.warnings,
    isSecretHeader: (name) => built.isSecretHeader(name),
    files: [...new Set([...files.values()].map((f) => f.path))],
    async reload(options) {
      const changed = new Set<string>();
      for (const [key, file] of files) {
        const now = options.stamp(file.path);
        if (!options.force && now === file.stamp) continue;
        file.stamp = now;
        const next = checkedSecret(options, file);
        if (next === undefined) continue;
        options.addSecret(next.value);
        if (sameBytes(next.bytes, file.bytes)) continue;
        file.bytes = next.bytes;
        changed.add(key);
        options.logger.info(
          `${file.option} ${file.path} was read again: its new content is in use`,
        );
      }
      if (changed.size === 0) return;
      for (const [route, rc] of watched) {
        const uses = (option: string, path: string | undefined) =>
          path !== undefined && changed.has(`${option} ${path}`);
        if (
          !uses("--token-file", rc.tokenFile) && !uses("--basic-auth-file", rc.basicAuthFile) &&
          !uses("--hmac-secret-file", rc.hmacSecretFile) &&
          !rc.headerFiles.some(([, path]) => uses("--header-file", path))
        ) continue;
        try {
          const fresh = await buildRoute(config, route.name, rc, reader, () => undefined);
          const target = route as { -readonly [K in keyof Route]: Route[K] };
          // Both at once, between two requests: no request sees a new token with an old signer.
          target.headers = fresh.route.headers;
          if (fresh.route.sign === undefined) delete target.sign;
          else target.sign = fresh.route.sign;
        } catch (error) {
          options.logger.error(
            `route ${route.name}: the new credentials cannot be used (${
              (error as Error).message
            }); still using the previous ones`,
          );
        }
      }
    },
  };
  return router;
}

/** A secret file as last read. */
interface SecretFile {
  readonly path: string;
  readonly option: string;
  bytes: Uint8Array;
  stamp: string | undefined;
}

/** Opens a secret file's reader: a function that reads (or returns the last good) bytes. */
type Reader = (path: string, option: string) => () => Uint8Array;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * A changed file's new bytes and the secret they hold, when usable; else undefined, once
 * reported (the file named, with the reason, never its content).
 */
function checkedSecret(
  options: ReloadOptions,
  file: SecretFile,
): { bytes: Uint8Array; value: string } | undefined {
  const keep = (why: string) => {
    options.logger.error(
      `${file.option} ${file.path} changed but cannot be used: ${why}; still using the ` +
        "previous secret",
    );
    return undefined;
  };
  let bytes: Uint8Array;
  try {
    bytes = options.readFile(file.path);
  } catch (error) {
    return keep(`cannot read it (${(error as Error).message})`);
  }
  const mode = options.fileMode(file.path);
  if (mode !== undefined && (mode & 0o007) !== 0) {
    return keep(
      `it is open to all users (mode ${(mode & 0o777).toString(8).padStart(3, "0")}); ` +
        `chmod 600 ${file.path} (or 640 with the server's group)`,
    );
  }
  const read = () => bytes;
  try {
    if (file.option === "--hmac-secret-file") {
      const secret = readSecret(read, file.path, file.option);
      return { bytes, value: new TextDecoder("utf-8", { ignoreBOM: true }).decode(secret) };
    }
    const what: Credential = file.option === "--token-file"
      ? "token"
      : file.option === "--basic-auth-file"
      ? "USER:PASSWORD"
      : "header value";
    const value = readCredentialLine(read, file.path, file.option, what);
    if (what === "USER:PASSWORD" && !value.includes(":")) {
      return keep("Basic credentials must be USER:PASSWORD");
    }
    return { bytes, value };
  } catch (error) {
    const message = (error as Error).message;
    const prefix = `Cannot use ${file.option} ${file.path}: `;
    return keep(message.startsWith(prefix) ? message.slice(prefix.length) : message);
  }
}

/** Every route read from the config. */
interface RouteRead {
  readonly fallback: Route | undefined;
  readonly byDomain: Map<string, Route>;
  readonly routes: readonly Route[];
  readonly sources: readonly (readonly [Route, RouteConfig])[];
  readonly secrets: readonly string[];
  readonly warnings: readonly string[];
  isSecretHeader(name: string): boolean;
}

/** One route built, with the secrets it read and what to warn about. */
interface Built {
  readonly route: Route;
  readonly secrets: readonly string[];
  readonly warnings: readonly string[];
  readonly secretHeaders: readonly string[];
}

async function readRoutes(
  config: RoutingConfig,
  reader: Reader,
  fileMode: FileMode,
): Promise<RouteRead> {
  const secrets = new Set<string>();
  const warnings = new Set<string>();
  const secretHeaders = new Set<string>();
  const sources: [Route, RouteConfig][] = [];
  const build = async (name: string, rc: RouteConfig): Promise<Route> => {
    const built = await buildRoute(config, name, rc, reader, fileMode);
    for (const s of built.secrets) secrets.add(s);
    for (const w of built.warnings) warnings.add(w);
    for (const h of built.secretHeaders) secretHeaders.add(h);
    sources.push([built.route, rc]);
    return built.route;
  };
  const fallback = config.route === undefined ? undefined : await build("*", config.route);
  const byDomain = new Map<string, Route>();
  for (const [domain, rc] of Object.entries(config.domains)) {
    byDomain.set(domain, await build(domain, rc));
  }
  return {
    fallback,
    byDomain,
    routes: [...(fallback ? [fallback] : []), ...byDomain.values()],
    sources,
    secrets: [...secrets],
    warnings: [...warnings],
    isSecretHeader: (name) => isCredentialHeader(name) || secretHeaders.has(name.toLowerCase()),
  };
}

/** Builds one route, reading its secret files through `reader`. */
async function buildRoute(
  config: RoutingConfig,
  name: string,
  rc: RouteConfig,
  reader: Reader,
  fileMode: FileMode,
): Promise<Built> {
  const text = (bytes: Uint8Array) => new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  const secrets = new Set<string>();
  const warnings = new Set<string>();
  const secretHeaders = new Set<string>();
  const checkMode = (path: string | undefined, option: string) => {
    const warning = path === undefined ? undefined : modeWarning(fileMode, path, option);
    if (warning !== undefined) warnings.add(warning);
  };
  const readAs = (option: string) => (path: string) => reader(path, option)();
  const done = (route: Route): Built => ({
    route,
    secrets: [...secrets],
    warnings: [...warnings],
    secretHeaders: [...secretHeaders],
  });
  const contract = contractByName(rc.contract);
  const headers: Record<string, string> = { "User-Agent": `xmpp-extauth/${VERSION}` };
  for (const [key, value] of rc.headers) {
    headers[key] = value;
    // An API key in a custom header is a secret like the token: masked in every log line.
    if (isCredentialHeader(key) && value.trim() !== "") secrets.add(value.trim());
  }
  for (const [key, path] of rc.headerFiles) {
    const value = readCredentialLine(
      readAs("--header-file"),
      path,
      "--header-file",
      "header value",
    );
    checkMode(path, "--header-file");
    headers[key] = value;
    secretHeaders.add(key.toLowerCase());
    secrets.add(value);
  }
  // A domain that names its own credentials gets none from the environment either.
  const env = rc.ownCredentials ? {} : config.envSecrets;
  const token = rc.tokenFile !== undefined
    ? readCredentialLine(readAs("--token-file"), rc.tokenFile, "--token-file", "token")
    : envCredential(env.token, "XMPP_EXTAUTH_TOKEN", "token");
  const basic = rc.basicAuthFile !== undefined
    ? readCredentialLine(
      readAs("--basic-auth-file"),
      rc.basicAuthFile,
      "--basic-auth-file",
      "USER:PASSWORD",
    )
    : envCredential(env.basicAuth, "XMPP_EXTAUTH_BASIC_AUTH", "USER:PASSWORD");
  checkMode(rc.tokenFile, "--token-file");
  checkMode(rc.basicAuthFile, "--basic-auth-file");
  checkMode(rc.hmacSecretFile, "--hmac-secret-file");
  if (token !== undefined && basic !== undefined) {
    throw new ConfigError(
      `Route ${name}: both a Bearer token and Basic credentials are set; use one`,
    );
  }
  for (const secret of [token, basic]) if (secret) secrets.add(secret);
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  if (basic !== undefined) {
    if (!basic.includes(":")) {
      throw new ConfigError(`Route ${name}: Basic credentials must be USER:PASSWORD`);
    }
    headers.Authorization = `Basic ${
      btoa(String.fromCharCode(...new TextEncoder().encode(basic)))
    }`;
  }
  const secret = rc.hmacSecretFile !== undefined
    ? readSecret(readAs("--hmac-secret-file"), rc.hmacSecretFile, "--hmac-secret-file")
    : env.hmacSecret !== undefined
    ? new TextEncoder().encode(env.hmacSecret)
    : undefined;
  const route: Route = {
    name,
    urlTemplate: rc.url,
    contract,
    paths: { ...contract.endpoints, ...rc.endpoints },
    headers,
  };
  if (secret === undefined) return done(route);
  secrets.add(text(secret));
  const signer = await createSigner(secret);
  const now = () => Math.floor(Date.now() / 1000);
  if (config.signatureScheme === "v1") {
    warnings.add(
      "--signature-scheme v1 is deprecated: a captured request verifies again, and at " +
        "another endpoint with the same body (isuser at removeuser), within the API's " +
        "window; move the API to v2 (docs/signed-requests.md) and drop the option",
    );
    return done({
      ...route,
      sign: async (_method, _url, body) => ({ ...await signer.sign(body, now()) }),
    });
  }
  return done({
    ...route,
    sign: async (method, url, body) => ({
      ...await signer.signRequest({ method, url, body }, now()),
    }),
  });
}
