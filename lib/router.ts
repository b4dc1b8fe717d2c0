/**
 * Routing: which API, contract and credentials serve a request's domain.
 * Credentials are read from their files once, at start-up; a missing or
 * empty file stops the program before it reads stdin.
 *
 * @module
 */

import type { Target } from "./backend.ts";
import type { Config, RouteConfig } from "./config.ts";
import { ConfigError } from "./config.ts";
import { type Contract, contractByName } from "./contracts.ts";
import type { Operation } from "./request.ts";
import { createSigner, parseSecretFile } from "./signing.ts";
import { VERSION } from "./version.ts";

/** A route made ready: everything but the per-request URL is computed once. */
export interface Route {
  /** The domain it serves, or `*` for the default route. */
  readonly name: string;
  readonly urlTemplate: string;
  readonly contract: Contract;
  readonly paths: Readonly<Record<Operation, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly sign?: (body: string) => Promise<Record<string, string>>;
}

/** Routes by domain, with the default route as fallback. */
export interface Router {
  /** The route for a domain, or undefined when no route serves it. */
  resolve(server: string): Route | undefined;
  /** Every distinct route (for start-up logging and breakers). */
  readonly routes: readonly Route[];
  /** Every credential read (tokens, Basic credentials, HMAC secrets), for log masking. */
  readonly secrets: readonly string[];
}

/**
 * The endpoint URL of one request: `{server}` replaced by the URL-encoded
 * domain, then `/PATH`.
 *
 * @example
 * ```ts
 * import { targetFor } from "./router.ts";
 * // targetFor(route, "auth", "example.com").url === "https://api.example.com/xmpp/login"
 * ```
 */
export function targetFor(route: Route, op: Operation, server: string): Target {
  const base = route.urlTemplate.includes("{server}")
    ? route.urlTemplate.replaceAll("{server}", encodeURIComponent(server))
    : route.urlTemplate;
  const target: Target = {
    url: `${base}/${route.paths[op]}`,
    contract: route.contract,
    headers: route.headers,
  };
  return route.sign ? { ...target, sign: route.sign } : target;
}

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
  try {
    return parseSecretFile(bytes);
  } catch {
    throw new ConfigError(`Cannot use ${option} ${path}: the file is empty`);
  }
}

/**
 * Builds the router from the configuration, reading secret files.
 *
 * @throws {ConfigError} when a secret file is unreadable or empty.
 * @example
 * ```ts
 * import { createRouter } from "./router.ts";
 * // const router = await createRouter(config, runtime.readFile);
 * // router.resolve("example.com")
 * ```
 */
export async function createRouter(
  config: Config,
  readFile: (path: string) => Uint8Array,
): Promise<Router> {
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const secrets = new Set<string>();
  const build = async (name: string, rc: RouteConfig): Promise<Route> => {
    const contract = contractByName(rc.contract);
    const headers: Record<string, string> = { "User-Agent": `xmpp-extauth/${VERSION}` };
    for (const [key, value] of rc.headers) headers[key] = value;
    const token = rc.tokenFile !== undefined
      ? text(readSecret(readFile, rc.tokenFile, "--token-file")).trim()
      : config.envSecrets.token;
    const basic = rc.basicAuthFile !== undefined
      ? text(readSecret(readFile, rc.basicAuthFile, "--basic-auth-file")).trim()
      : config.envSecrets.basicAuth;
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
      ? readSecret(readFile, rc.hmacSecretFile, "--hmac-secret-file")
      : config.envSecrets.hmacSecret !== undefined
      ? new TextEncoder().encode(config.envSecrets.hmacSecret)
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
    return {
      ...route,
      sign: async (body) => ({ ...await signer.sign(body, Math.floor(Date.now() / 1000)) }),
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
  };
}
