/**
 * The config file (`--config FILE`, JSON): every option the command line
 * takes except secrets and the modes, and `domains`, a map from XMPP domain
 * to the route settings that domain overrides (the rest are inherited from
 * the top level). Read once, checked key by key, with "did you mean" for a
 * misspelt key.
 *
 * @module
 */

import type { RouteConfig } from "./config.ts";
import { fail } from "./config_error.ts";
import { CONTRACT_NAMES, isContractName } from "./contracts.ts";
import {
  closest,
  didYouMean,
  type OptionSpec,
  type Raw,
  SECRET_FLAGS,
  SPEC_BY_NAME,
} from "./options.ts";
import { checkUrl, endpointsOf, headersOf, optional } from "./route_options.ts";

/** The keys a domain of `domains` may set. */
const DOMAIN_KEYS = new Set([
  "url",
  "contract",
  "endpoint",
  "header",
  "token-file",
  "hmac-secret-file",
  "basic-auth-file",
]);

/** A read and checked config file. */
export interface ConfigFile {
  /** An option's value from the file in its raw form, or undefined when the file does not set it. */
  value(name: string): Raw;
  /** The `domains` value, checked by {@linkcode readDomains}. */
  readonly domains: unknown;
}

/**
 * Reads the config file at `path` (none when undefined) and checks its keys.
 *
 * @throws {ConfigError} when it cannot be read or parsed, is not an object, or has a bad key.
 * @example Read a config file
 * ```ts
 * import assert from "node:assert/strict";
 * import { readConfigFile } from "./config_file.ts";
 * const file = readConfigFile("/etc/x.json", () => new TextEncoder().encode('{"timeout": 3}'));
 * assert.equal(file.value("timeout"), "3");
 * assert.equal(file.value("retries"), undefined);
 * ```
 */
export function readConfigFile(
  path: string | undefined,
  readFile: (path: string) => Uint8Array,
): ConfigFile {
  const file = path === undefined ? {} : readJsonFile(path, readFile);
  checkFileKeys(
    "",
    file,
    (key) => key === "domains" || (SPEC_BY_NAME.has(key) && !SPEC_BY_NAME.get(key)!.noFile),
  );
  return {
    value: (name) => name in file ? fromFile(name, SPEC_BY_NAME.get(name)!, file[name]) : undefined,
    domains: file.domains,
  };
}

/**
 * The routes of `domains`, by domain in lower case: each domain's settings
 * over `base` (the top-level route's), its URL defaulting to `defaultUrl`.
 *
 * @throws {ConfigError} naming the domain and key that are wrong.
 * @example A domain with its own URL
 * ```ts
 * import assert from "node:assert/strict";
 * import { readDomains } from "./config_file.ts";
 * const base = { contract: "json", endpoints: {}, headers: [] } as const;
 * const domains = readDomains({ "Chat.Example": { url: "https://chat.example/api" } }, base, undefined);
 * assert.equal(domains["chat.example"]?.url, "https://chat.example/api");
 * ```
 */
export function readDomains(
  domainData: unknown,
  base: Omit<RouteConfig, "url">,
  defaultUrl: string | undefined,
): Record<string, RouteConfig> {
  const contract = base.contract;
  const domains: Record<string, RouteConfig> = {};
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
      const url = (get("url") as string | undefined) ?? defaultUrl;
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
  return domains;
}

function readJsonFile(
  path: string,
  readFile: (path: string) => Uint8Array,
): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder().decode(readFile(path));
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
