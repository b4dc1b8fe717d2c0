/**
 * Routing: which API, contract and credentials serve a request's domain, and
 * each request's {@linkcode Target}. The credentials are read once, at
 * start-up, by `credentials.ts`.
 *
 * @module
 */

import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { isCredentialHeader, type RouteConfig, type RoutingConfig } from "./route_config.ts";
import { type Contract, contractByName } from "./contracts.ts";
import type { Operation } from "../core/operations.ts";
import { createSigner } from "./signing.ts";
import { VERSION } from "../core/version.ts";
import { type CredentialFiles, type FileMode, readRouteCredentials } from "./credentials.ts";

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
  clock: Clock = SYSTEM_CLOCK,
): Promise<Router> {
  const found: Found = { secrets: new Set(), warnings: new Set(), secretHeaders: new Set() };
  const build = (name: string, rc: RouteConfig): Promise<Route> =>
    buildRoute(name, rc, config, { readFile, fileMode }, clock, found);
  const fallback = config.route === undefined ? undefined : await build("*", config.route);
  const byDomain = new Map<string, Route>();
  for (const [domain, rc] of Object.entries(config.domains)) {
    byDomain.set(domain, await build(domain, rc));
  }
  return {
    resolve: (server) => byDomain.get(server.toLowerCase()) ?? fallback,
    routes: [...(fallback ? [fallback] : []), ...byDomain.values()],
    secrets: [...found.secrets],
    warnings: [...found.warnings],
    isSecretHeader: (name) =>
      isCredentialHeader(name) || found.secretHeaders.has(name.toLowerCase()),
  };
}

/** What building the routes collects across them: for masking, for warnings, header names. */
interface Found {
  readonly secrets: Set<string>;
  readonly warnings: Set<string>;
  readonly secretHeaders: Set<string>;
}

/** One route: its contract, endpoints and headers (credentials read), signing if it has a secret. */
async function buildRoute(
  name: string,
  rc: RouteConfig,
  config: RoutingConfig,
  files: CredentialFiles,
  clock: Clock,
  found: Found,
): Promise<Route> {
  const contract = contractByName(rc.contract);
  const headers: Record<string, string> = { "User-Agent": `xmpp-extauth/${VERSION}` };
  for (const [key, value] of rc.headers) {
    headers[key] = value;
    // An API key in a custom header is a secret like the token: masked in every log line.
    if (isCredentialHeader(key) && value.trim() !== "") found.secrets.add(value.trim());
  }
  const credentials = readRouteCredentials(name, rc, config.envSecrets, files);
  for (const [key, value] of credentials.headers) {
    headers[key] = value;
    found.secretHeaders.add(key.toLowerCase());
  }
  if (credentials.authorization !== undefined) headers.Authorization = credentials.authorization;
  for (const secret of credentials.secrets) found.secrets.add(secret);
  for (const warning of credentials.warnings) found.warnings.add(warning);
  const route: Route = {
    name,
    urlTemplate: rc.url,
    contract,
    paths: { ...contract.endpoints, ...rc.endpoints },
    headers,
  };
  if (credentials.hmacSecret === undefined) return route;
  return await signedRoute(route, credentials.hmacSecret, config, clock, found.warnings);
}

/** `route` signing each request with `secret`, by `--signature-scheme` (v1 warned about). */
async function signedRoute(
  route: Route,
  secret: Uint8Array,
  config: RoutingConfig,
  clock: Clock,
  warnings: Set<string>,
): Promise<Route> {
  const signer = await createSigner(secret);
  const now = () => Math.floor(clock.wall() / 1000);
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
}
