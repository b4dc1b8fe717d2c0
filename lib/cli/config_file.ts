/**
 * The config file (`--config FILE`, JSON): every option the command line
 * takes except secrets and the modes, and `domains`, a map from XMPP domain
 * to the route settings that domain overrides (the rest are inherited from
 * the top level). Read once, checked key by key, with "did you mean" for a
 * misspelt key.
 *
 * @module
 */

import type { RouteConfig } from "../api/route_config.ts";
import { fail } from "../core/config_error.ts";
import { CONTRACT_NAMES, isContractName } from "../api/contracts.ts";
import {
  closest,
  didYouMean,
  type OptionSpec,
  type Raw,
  SECRET_FLAGS,
  SPEC_BY_NAME,
} from "./options.ts";
import { checkUrl, endpointsOf, headerFilesOf, headersOf, optional } from "./route_options.ts";

/** The keys a domain of `domains` may set. */
const DOMAIN_KEYS = new Set([
  "url",
  "contract",
  "endpoint",
  "header",
  "header-file",
  "token-file",
  "hmac-secret-file",
  "basic-auth-file",
]);

/**
 * The keys that name a credential. A domain that sets any of them inherits
 * none of the top level's (nor the environment's): a domain with its own API
 * and its own Basic credentials must not also get, and send there, the top
 * level's Bearer token, API key or signing key.
 */
const CREDENTIAL_KEYS = ["token-file", "basic-auth-file", "hmac-secret-file", "header-file"];

/** A read and checked config file. */
export interface ConfigFile {
  /** How messages name it: `Config file /etc/xmpp-extauth/config.json`. */
  readonly label: string;
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
  const label = path === undefined ? "Config file" : `Config file ${path}`;
  const file = path === undefined ? {} : readJsonFile(path, readFile);
  checkFileKeys(
    label,
    "",
    file,
    (key) => key === "domains" || (SPEC_BY_NAME.has(key) && !SPEC_BY_NAME.get(key)!.noFile),
  );
  return {
    label,
    value: (name) =>
      name in file ? fromFile(label, name, SPEC_BY_NAME.get(name)!, file[name]) : undefined,
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
 * const base = { contract: "json", endpoints: {}, headers: [], headerFiles: [] } as const;
 * const domains = readDomains({ "Chat.Example": { url: "https://chat.example/api" } }, base, undefined);
 * assert.equal(domains["chat.example"]?.url, "https://chat.example/api");
 * ```
 */
export function readDomains(
  domainData: unknown,
  base: Omit<RouteConfig, "url">,
  defaultUrl: string | undefined,
  label = "Config file",
): Record<string, RouteConfig> {
  const contract = base.contract;
  const domains: Record<string, RouteConfig> = {};
  if (domainData !== undefined) {
    if (typeof domainData !== "object" || domainData === null || Array.isArray(domainData)) {
      fail(`${label}: "domains" must be an object of domain → settings`);
    }
    for (const [domain, settings] of Object.entries(domainData)) {
      const where = `domains.${domain}`;
      if (typeof settings !== "object" || settings === null || Array.isArray(settings)) {
        fail(`${label}: "${where}" must be an object`);
      }
      const s = settings as Record<string, unknown>;
      checkFileKeys(label, `${where}.`, s, (key) => DOMAIN_KEYS.has(key));
      const get = (key: string) =>
        key in s ? fromFile(label, `${where}.${key}`, SPEC_BY_NAME.get(key)!, s[key]) : undefined;
      const url = (get("url") as string | undefined) ?? defaultUrl;
      if (url === undefined) fail(`${label}: "${where}.url" is missing and there is no --url`);
      const domainContract = (get("contract") as string | undefined) ?? contract;
      if (!isContractName(domainContract)) {
        fail(`${label}: "${where}.contract" must be ${CONTRACT_NAMES.join(" or ")}`);
      }
      if (domain.toLowerCase() in domains) {
        fail(`${label}: "${where}" appears twice (domains are compared in lower case)`);
      }
      // Credentials as one set: a domain naming any of them inherits none.
      const own = CREDENTIAL_KEYS.some((key) => key in s);
      const credential = (key: string, inherited: string | undefined) =>
        own ? get(key) as string | undefined : inherited;
      domains[domain.toLowerCase()] = {
        url: checkUrl(url, `${label}: "${where}.url"`),
        contract: domainContract,
        endpoints: {
          ...base.endpoints,
          ...endpointsOf(get("endpoint"), `${label}: "${where}.endpoint"`),
        },
        headers: [...base.headers, ...headersOf(get("header"), `${label}: "${where}.header"`)],
        headerFiles: own
          ? headerFilesOf(get("header-file"), `${label}: "${where}.header-file"`)
          : base.headerFiles,
        ...optional("tokenFile", credential("token-file", base.tokenFile)),
        ...optional("hmacSecretFile", credential("hmac-secret-file", base.hmacSecretFile)),
        ...optional("basicAuthFile", credential("basic-auth-file", base.basicAuthFile)),
        ...(own ? { ownCredentials: true } : {}),
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
  } catch {
    // The parser's own message quotes the text (a token file given as --config would be
    // printed): only the position is said.
    if (text.trim() === "") fail(`Config file ${path}: the file is empty; expected a JSON object`);
    const at = jsonErrorPosition(text);
    fail(
      `Config file ${path}: not valid JSON${
        at === undefined ? "" : ` (line ${at.line}, column ${at.column})`
      }`,
    );
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    fail(`Config file ${path}: expected a JSON object, got ${typeName(data)}`);
  }
  return data as Record<string, unknown>;
}

/**
 * What a message about a refused config-file value may say about it: the
 * value itself only for a number, string or boolean given to a duration,
 * count or choice (`"timeout": "5 parsecs"`: useful, and never a secret),
 * else only its type. A header, a credential path, an endpoint, a boolean
 * option given a string: a secret may have been put there, so it is never
 * echoed.
 *
 * @example A duration is echoed, a header never
 * ```ts
 * import assert from "node:assert/strict";
 * import { shownValue } from "./config_file.ts";
 * import { SPEC_BY_NAME } from "./options.ts";
 * assert.equal(shownValue(SPEC_BY_NAME.get("timeout")!, -5), "-5");
 * assert.equal(shownValue(SPEC_BY_NAME.get("header")!, "X-Api-Key: k"), "a string");
 * assert.equal(shownValue(SPEC_BY_NAME.get("timeout")!, { k: "v" }), "an object");
 * ```
 */
export function shownValue(spec: OptionSpec, value: unknown): string {
  const scalarOption = spec.kind === "duration" || spec.kind === "count" || spec.kind === "enum";
  const scalar = typeof value === "number" || typeof value === "string" ||
    typeof value === "boolean";
  return scalarOption && scalar ? JSON.stringify(value) : typeName(value);
}

/** A JSON value's type in words: `a string`, `an object`, `null`, … */
function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return typeof value === "number"
    ? "a number"
    : typeof value === "string"
    ? "a string"
    : "a boolean";
}

/** Converts a config-file value to the option's raw form, or fails naming the key. */
function fromFile(label: string, where: string, spec: OptionSpec, value: unknown): Raw {
  const wrong = (expected: string, key = where, got: unknown = value): never =>
    fail(`${label}: "${key}" must be ${expected}, got ${shownValue(spec, got)}`);
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
          typeof v === "string" ? `${k}${sep}${v}` : wrong("a string", `${where}.${k}`, v)
        );
      }
      return wrong("an object or an array of strings");
    default:
      return typeof value === "string" ? value : wrong("a string");
  }
}

/**
 * Where JSON.parse stopped in `text`, as line and column (from 1), found by
 * a syntax check of our own: the parsers' messages quote the text, which may
 * be a secret. Undefined when the check finds nothing wrong.
 *
 * @example A missing value
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonErrorPosition } from "./config_file.ts";
 * assert.deepEqual(jsonErrorPosition('{\n  "a": ,\n}'), { line: 2, column: 8 });
 * ```
 */
export function jsonErrorPosition(text: string): { line: number; column: number } | undefined {
  const at: JsonCursor = { text, i: 0 };
  try {
    jsonValue(at);
    jsonSpace(at);
    if (at.i < text.length) jsonStop();
    return undefined;
  } catch (error) {
    if (!(error instanceof SyntaxError)) return undefined; // nested too deep to follow
    const before = text.slice(0, at.i).split("\n");
    return { line: before.length, column: before.at(-1)!.length + 1 };
  }
}

/** {@linkcode jsonErrorPosition}'s place in the text it checks. */
interface JsonCursor {
  readonly text: string;
  i: number;
}

/** A JSON number, matched at `lastIndex`. */
const JSON_NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** The syntax check stops where the cursor is: the text is not JSON there. */
function jsonStop(): never {
  throw new SyntaxError("stop");
}

function jsonSpace(at: JsonCursor): void {
  while (at.i < at.text.length && " \t\n\r".includes(at.text[at.i]!)) at.i++;
}

function jsonExpect(at: JsonCursor, c: string): void {
  if (at.text[at.i] === c) at.i++;
  else jsonStop();
}

function jsonString(at: JsonCursor): void {
  const { text } = at;
  jsonExpect(at, '"');
  for (;;) {
    const c = text[at.i];
    if (c === undefined || c < " ") jsonStop();
    if (c === '"') return void at.i++;
    if (c === "\\") {
      const e = text[at.i + 1];
      if (e === "u") {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at.i + 2, at.i + 6))) jsonStop();
        at.i += 6;
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) at.i += 2;
      else jsonStop();
    } else at.i++;
  }
}

/** An object or array whose opening `c` the cursor is on. */
function jsonContainer(at: JsonCursor, c: "{" | "["): void {
  const close = c === "{" ? "}" : "]";
  at.i++;
  jsonSpace(at);
  if (at.text[at.i] === close) return void at.i++;
  for (;;) {
    if (c === "{") {
      jsonSpace(at);
      jsonString(at);
      jsonSpace(at);
      jsonExpect(at, ":");
    }
    jsonValue(at);
    jsonSpace(at);
    if (at.text[at.i] === ",") at.i++;
    else return jsonExpect(at, close);
  }
}

function jsonValue(at: JsonCursor): void {
  jsonSpace(at);
  const c = at.text[at.i];
  if (c === "{" || c === "[") return jsonContainer(at, c);
  if (c === '"') return jsonString(at);
  for (const word of ["true", "false", "null"]) {
    if (at.text.startsWith(word, at.i)) return void (at.i += word.length);
  }
  JSON_NUMBER.lastIndex = at.i;
  if (JSON_NUMBER.test(at.text)) return void (at.i = JSON_NUMBER.lastIndex);
  jsonStop();
}

function checkFileKeys(
  label: string,
  where: string,
  data: Record<string, unknown>,
  allowed: (k: string) => boolean,
) {
  for (const key of Object.keys(data)) {
    if (key in SECRET_FLAGS) {
      fail(
        `${label}: "${where}${key}" is not allowed: secrets come from files or the ` +
          `environment, use "${SECRET_FLAGS[key]}"`,
      );
    }
    if (!allowed(key)) {
      const known = [...SPEC_BY_NAME.keys(), "domains"].filter(allowed);
      fail(`${label}: unknown key "${where}${key}"${didYouMean(closest(key, known), '"')}`);
    }
  }
}
