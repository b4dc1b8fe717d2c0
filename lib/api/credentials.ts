/**
 * A route's credentials, read once at start-up: the Bearer token, the Basic
 * credentials and the `--header-file` values (one line each, nothing a header
 * cannot carry), the HMAC secret (any bytes), from their files or from the
 * environment. A missing, empty or blank file stops the program before it
 * reads stdin; messages name the file and what is wrong, never its content.
 * A file others can read is warned about.
 *
 * @module
 */

import { encodeBase64 } from "../core/base64.ts";
import { ConfigError } from "../core/config_error.ts";
import type { RouteConfig, RoutingConfig } from "./route_config.ts";
import { parseSecretFile } from "./signing.ts";

/** A file's permission bits, or undefined where there are none (Windows) or it cannot be read. */
export type FileMode = (path: string) => number | undefined;

/** How the credential files are read. */
export interface CredentialFiles {
  readonly readFile: (path: string) => Uint8Array;
  readonly fileMode: FileMode;
}

/** What one route's credentials add to it. */
export interface RouteCredentials {
  /** `--header-file` headers, in the order given: name and value. */
  readonly headers: readonly (readonly [string, string])[];
  /** The `Authorization` header of the token or Basic credentials, if any. */
  readonly authorization?: string;
  /** The HMAC secret's bytes, if the route signs. */
  readonly hmacSecret?: Uint8Array;
  /** Every credential read (header values, token, Basic credentials, HMAC secret), for masking. */
  readonly secrets: readonly string[];
  /** A warning per secret file open to others. */
  readonly warnings: readonly string[];
}

/**
 * Reads the credentials of route `name` from its files, or from the environment's
 * `env` unless the route names its own.
 *
 * @throws {ConfigError} when a file is unreadable, empty, blank, (token, Basic
 * credentials, header value) not one line or not fit for a header; when both a
 * token and Basic credentials are set, or Basic credentials lack the `:`.
 * @example A token from a file
 * ```ts
 * import assert from "node:assert/strict";
 * import { readRouteCredentials } from "./credentials.ts";
 * const route = {
 *   url: "https://api.example.com",
 *   contract: "json" as const,
 *   endpoints: {},
 *   headers: [],
 *   headerFiles: [],
 *   tokenFile: "/etc/token",
 * };
 * const read = readRouteCredentials("*", route, {}, {
 *   readFile: () => new TextEncoder().encode("t0ken\n"),
 *   fileMode: () => 0o100600,
 * });
 * assert.equal(read.authorization, "Bearer t0ken");
 * assert.deepEqual(read.secrets, ["t0ken"]);
 * assert.deepEqual(read.warnings, []);
 * ```
 */
export function readRouteCredentials(
  name: string,
  rc: RouteConfig,
  env: RoutingConfig["envSecrets"],
  files: CredentialFiles,
): RouteCredentials {
  const { readFile } = files;
  const secrets: string[] = [];
  const warnings: string[] = [];
  const checkMode = (path: string | undefined, option: string) => {
    const warning = path === undefined ? undefined : modeWarning(files.fileMode, path, option);
    if (warning !== undefined) warnings.push(warning);
  };
  const headers = readHeaderFiles(rc, readFile, checkMode, secrets);
  // A domain that names its own credentials gets none from the environment either.
  const own = rc.ownCredentials ? {} : env;
  const token = rc.tokenFile !== undefined
    ? readCredentialLine(readFile, rc.tokenFile, "--token-file", "token")
    : envCredential(own.token, "XMPP_EXTAUTH_TOKEN", "token");
  const basic = rc.basicAuthFile !== undefined
    ? readCredentialLine(readFile, rc.basicAuthFile, "--basic-auth-file", "USER:PASSWORD")
    : envCredential(own.basicAuth, "XMPP_EXTAUTH_BASIC_AUTH", "USER:PASSWORD");
  checkMode(rc.tokenFile, "--token-file");
  checkMode(rc.basicAuthFile, "--basic-auth-file");
  checkMode(rc.hmacSecretFile, "--hmac-secret-file");
  const authorization = authorizationOf(name, token, basic);
  for (const secret of [token, basic]) if (secret) secrets.push(secret);
  const hmacSecret = rc.hmacSecretFile !== undefined
    ? readSecret(readFile, rc.hmacSecretFile, "--hmac-secret-file")
    : own.hmacSecret !== undefined
    ? new TextEncoder().encode(own.hmacSecret)
    : undefined;
  if (hmacSecret !== undefined) {
    secrets.push(new TextDecoder("utf-8", { ignoreBOM: true }).decode(hmacSecret));
  }
  return {
    headers,
    ...(authorization === undefined ? {} : { authorization }),
    ...(hmacSecret === undefined ? {} : { hmacSecret }),
    secrets,
    warnings,
  };
}

/** The `--header-file` headers, in the order given; each value is added to `secrets`. */
function readHeaderFiles(
  rc: RouteConfig,
  readFile: (path: string) => Uint8Array,
  checkMode: (path: string, option: string) => void,
  secrets: string[],
): [string, string][] {
  const headers: [string, string][] = [];
  for (const [key, path] of rc.headerFiles) {
    const value = readCredentialLine(readFile, path, "--header-file", "header value");
    checkMode(path, "--header-file");
    headers.push([key, value]);
    secrets.push(value);
  }
  return headers;
}

/**
 * The `Authorization` header of a Bearer token or Basic credentials (USER:PASSWORD), if any.
 *
 * @throws {ConfigError} when both are set, or the Basic credentials lack the `:`.
 */
function authorizationOf(
  name: string,
  token: string | undefined,
  basic: string | undefined,
): string | undefined {
  if (token !== undefined && basic !== undefined) {
    throw new ConfigError(
      `Route ${name}: both a Bearer token and Basic credentials are set; use one`,
    );
  }
  if (basic !== undefined) {
    if (!basic.includes(":")) {
      throw new ConfigError(`Route ${name}: Basic credentials must be USER:PASSWORD`);
    }
    return `Basic ${encodeBase64(basic)}`;
  }
  return token === undefined ? undefined : `Bearer ${token}`;
}

/** Reads a secret file's bytes, refusing an empty or blank one. */
export function readSecret(
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
export function readCredentialLine(
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
export type Credential = "token" | "USER:PASSWORD" | "header value";

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
