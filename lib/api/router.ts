/**
 * Routing: which API, contract and credentials serve a request's domain.
 * Credentials are read from their files once, at start-up; a missing or
 * empty file stops the program before it reads stdin.
 *
 * @module
 */

import { encodeBase64 } from "../core/base64.ts";
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
): Promise<Router> {
  const text = (bytes: Uint8Array) => new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  const secrets = new Set<string>();
  const warnings = new Set<string>();
  const secretHeaders = new Set<string>();
  const checkMode = (path: string | undefined, option: string) => {
    const warning = path === undefined ? undefined : modeWarning(fileMode, path, option);
    if (warning !== undefined) warnings.add(warning);
  };
  const build = async (name: string, rc: RouteConfig): Promise<Route> => {
    const contract = contractByName(rc.contract);
    const headers: Record<string, string> = { "User-Agent": `xmpp-extauth/${VERSION}` };
    for (const [key, value] of rc.headers) {
      headers[key] = value;
      // An API key in a custom header is a secret like the token: masked in every log line.
      if (isCredentialHeader(key) && value.trim() !== "") secrets.add(value.trim());
    }
    for (const [key, path] of rc.headerFiles) {
      const value = readCredentialLine(readFile, path, "--header-file", "header value");
      checkMode(path, "--header-file");
      headers[key] = value;
      secretHeaders.add(key.toLowerCase());
      secrets.add(value);
    }
    // A domain that names its own credentials gets none from the environment either.
    const env = rc.ownCredentials ? {} : config.envSecrets;
    const token = rc.tokenFile !== undefined
      ? readCredentialLine(readFile, rc.tokenFile, "--token-file", "token")
      : envCredential(env.token, "XMPP_EXTAUTH_TOKEN", "token");
    const basic = rc.basicAuthFile !== undefined
      ? readCredentialLine(readFile, rc.basicAuthFile, "--basic-auth-file", "USER:PASSWORD")
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
      headers.Authorization = `Basic ${encodeBase64(basic)}`;
    }
    const secret = rc.hmacSecretFile !== undefined
      ? readSecret(readFile, rc.hmacSecretFile, "--hmac-secret-file")
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
    if (secret === undefined) return route;
    secrets.add(text(secret));
    const signer = await createSigner(secret);
    const now = () => Math.floor(Date.now() / 1000);
    if (config.signatureScheme === "v1") {
      warnings.add(
        "--signature-scheme v1 is deprecated: a captured request verifies again, and at " +
          "another endpoint with the same body (isuser at removeuser), within the API's " +
          "window; move the API to v2 (docs/signed-requests.md) and drop the option",
      );
      return {
        ...route,
        sign: async (_method, _url, body) => ({ ...await signer.sign(body, now()) }),
      };
    }
    return {
      ...route,
      sign: async (method, url, body) => ({
        ...await signer.signRequest({ method, url, body }, now()),
      }),
    };
  };
  const fallback = config.route === undefined ? undefined : await build("*", config.route);
  const byDomain = new Map<string, Route>();
  for (const [domain, rc] of Object.entries(config.domains)) {
    byDomain.set(domain, await build(domain, rc));
  }
  return {
    resolve: (server) => byDomain.get(server.toLowerCase()) ?? fallback,
    routes: [...(fallback ? [fallback] : []), ...byDomain.values()],
    secrets: [...secrets],
    warnings: [...warnings],
    isSecretHeader: (name) => isCredentialHeader(name) || secretHeaders.has(name.toLowerCase()),
  };
}
