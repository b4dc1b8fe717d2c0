/**
 * The options that make a route, checked wherever they come from (flags,
 * environment, config file, a domain of the config file): `--url`,
 * `--endpoint` and `--header`.
 *
 * @module
 */

import { fail } from "../core/config_error.ts";
import { isOperation, type Operation, OPERATION_LIST } from "../core/operations.ts";
import type { Raw } from "./options.ts";

/**
 * `--endpoint OP=PATH` values: the path of each renamed operation.
 *
 * @throws {ConfigError} for an unknown operation or a missing or bad path.
 * @example Rename the login endpoint
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEndpoints } from "./route_options.ts";
 * assert.deepEqual(parseEndpoints(["auth=/v1/login"], "--endpoint"), { auth: "v1/login" });
 * ```
 */
export function parseEndpoints(
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

/**
 * `--header 'NAME: VALUE'` values as pairs. A value may hold a credential: an
 * error says what is wrong with it, never what it is.
 *
 * @throws {ConfigError} for a value that is not a header or sets one the program sets.
 * @example One extra header
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHeaders } from "./route_options.ts";
 * assert.deepEqual(parseHeaders(["X-Site: chat"], "--header"), [["X-Site", "chat"]]);
 * ```
 */
export function parseHeaders(values: readonly string[], where: string): [string, string][] {
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
    checkHeaderName(name, where);
    if ([...value].some((c) => c !== "\t" && (c < " " || c === "\x7f"))) {
      fail(`${where}: the value of header ${name} contains a line break or control character`);
    }
    return [name, value];
  });
}

/**
 * Refuses a header name that is empty, not an HTTP token, or one the program
 * sets itself (naming what is wrong, never a value).
 *
 * @throws {ConfigError} naming the problem.
 */
export function checkHeaderName(name: string, where: string): void {
  if (name === "") fail(`${where}: the header name before ":" is empty; expected "Name: value"`);
  const bad = [...name].find((c) => !/^[!#$%&'*+.^_`|~0-9A-Za-z-]$/.test(c));
  if (bad !== undefined) {
    const what = bad === " " || bad === "\t" ? "a space" : JSON.stringify(bad);
    fail(
      `${where}: a header name cannot contain ${what}; expected "Name: value", e.g. ` +
        '"X-Site: chat"',
    );
  }
  if (/^(authorization|content-type|content-length|host)$/i.test(name)) {
    fail(
      `${where}: ${name} is set by xmpp-extauth; use --token-file or --basic-auth-file ` +
        "for credentials",
    );
  }
}

/**
 * `--header-file NAME=FILE` values as pairs of header name and file path: the
 * header's value is the file's one line, read at start like a token file.
 *
 * @throws {ConfigError} for a value without `=`, an empty path or a bad header name.
 * @example A secret header from a file
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHeaderFiles } from "./route_options.ts";
 * assert.deepEqual(
 *   parseHeaderFiles(["X-Api-Key=/etc/xmpp-extauth/api-key"], "--header-file"),
 *   [["X-Api-Key", "/etc/xmpp-extauth/api-key"]],
 * );
 * ```
 */
export function parseHeaderFiles(values: readonly string[], where: string): [string, string][] {
  return values.map((item) => {
    const eq = item.indexOf("=");
    // Mistaken for --header, the item may hold the value itself: never echo it.
    if (eq < 0) {
      fail(
        `${where}: a value of ${item.length} characters has no "="; expected NAME=FILE, e.g. ` +
          "X-Api-Key=/etc/xmpp-extauth/api-key",
      );
    }
    const name = item.slice(0, eq).trim();
    const path = item.slice(eq + 1).trim();
    checkHeaderName(name, where);
    if (path === "") fail(`${where}: header ${name} has no file after "="; expected NAME=FILE`);
    return [name, path];
  });
}

/**
 * A checked `--url`, trailing slashes removed.
 *
 * @throws {ConfigError} for a URL that is not http(s), holds credentials, a query or a fragment.
 * @example A trailing slash is dropped
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkUrl } from "./route_options.ts";
 * assert.equal(checkUrl("https://example.com/xmpp/", "--url"), "https://example.com/xmpp");
 * ```
 */
export function checkUrl(url: string, where: string): string {
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

/** `--endpoint` values as a raw option value gives them (none when unset). */
export function endpointsOf(raw: Raw, where: string): Partial<Record<Operation, string>> {
  return parseEndpoints((raw as readonly string[] | undefined) ?? [], where);
}

/** `--header-file` values as a raw option value gives them (none when unset). */
export function headerFilesOf(raw: Raw, where: string): [string, string][] {
  return parseHeaderFiles((raw as readonly string[] | undefined) ?? [], where);
}

/** `--header` values as a raw option value gives them (none when unset). */
export function headersOf(raw: Raw, where: string): [string, string][] {
  return parseHeaders((raw as readonly string[] | undefined) ?? [], where);
}

/** `{ [name]: text }`, or nothing when `text` is undefined (for optional fields). */
export function optional(name: string, text: string | undefined): Record<string, string> {
  return text === undefined ? {} : { [name]: text };
}
