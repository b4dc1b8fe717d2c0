/**
 * The environment ejabberd (or Prosody) passes on was set for other programs:
 * nothing in it may weaken this one. Each variable a runtime would act on is
 * either neutralised (removed before the runtime reads it, and logged) or,
 * when the runtime reads it before our code runs, the program refuses to
 * start with one line naming it. Proxies are taken over: the variables are
 * removed and every request is routed here, honouring `NO_PROXY`, with
 * loopback addresses always direct. This file is the policy; the runtime
 * adapter applies it.
 *
 * Checked against the compiled Bun binary and `deno run` (see
 * tests/blackbox/environment_test.ts): Bun honours `NODE_TLS_REJECT_UNAUTHORIZED=0`
 * (read at each request), `BUN_CONFIG_VERBOSE_FETCH` (read at start: prints
 * the token and the body) and `BUN_INSPECT*` (a debugger port, opened at
 * start); `deno run` honours `NODE_OPTIONS=--inspect` (at start) and
 * `SSLKEYLOGFILE` (TLS keys written to a file, read at start); both apply
 * `HTTP_PROXY`/`HTTPS_PROXY`, even to 127.0.0.1, read at the first request.
 *
 * @module
 */

import { MASKED } from "../core/masked.ts";

/** A proxy to use, and the variable it came from. */
export interface ProxyServer {
  /** `http://host:port` or `https://host:port`, without credentials. */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** The variable it was read from, e.g. `HTTPS_PROXY`. */
  readonly variable: string;
}

/** The proxies from the environment, by the scheme of the URL requested. */
export interface ProxySettings {
  readonly http?: ProxyServer;
  readonly https?: ProxyServer;
  /** `NO_PROXY` entries, lower case; `*` means no proxy at all. */
  readonly noProxy: readonly string[];
}

/** What {@linkcode inspectEnvironment} found. */
export interface EnvironmentReport {
  /** Why the program must not start, when set. */
  readonly refusal?: string;
  /** Variables to remove from the environment before the runtime reads them. */
  readonly remove: readonly string[];
  /** Lines to log at start. */
  readonly warnings: readonly string[];
  readonly proxy: ProxySettings;
}

/** Every proxy variable, removed from the environment once read. */
export const PROXY_VARIABLES: readonly string[] = [
  "http_proxy",
  "HTTP_PROXY",
  "https_proxy",
  "HTTPS_PROXY",
  "all_proxy",
  "ALL_PROXY",
  "no_proxy",
  "NO_PROXY",
];

/** Code loaded or a debugger opened through NODE_OPTIONS (`deno run` honours it). */
const NODE_OPTIONS_UNSAFE =
  /(^|\s)(--inspect[a-z-]*|--debug[a-z-]*|--require|-r|--import|--loader|--experimental-loader)(?=\s|=|$)/;

const set = (value: string | undefined): value is string =>
  value !== undefined && value.trim() !== "";

/**
 * Inspects the environment: what to refuse, what to remove, what to log, and
 * which proxies to use.
 *
 * @example A variable that would switch certificate checks off is removed
 * ```ts
 * import assert from "node:assert/strict";
 * import { inspectEnvironment } from "./environment.ts";
 * const env: Record<string, string> = { NODE_TLS_REJECT_UNAUTHORIZED: "0" };
 * const report = inspectEnvironment((name) => env[name]);
 * assert.deepEqual(report.remove, ["NODE_TLS_REJECT_UNAUTHORIZED"]);
 * assert.equal(report.refusal, undefined);
 * ```
 */
export function inspectEnvironment(env: (name: string) => string | undefined): EnvironmentReport {
  const refusals: string[] = [];
  const remove: string[] = [];
  const warnings: string[] = [];
  const refuse = (name: string, why: string) =>
    refusals.push(
      `Refusing to start: ${name} is set, ${why}; unset it in the server's environment`,
    );

  const verbose = env("BUN_CONFIG_VERBOSE_FETCH");
  if (set(verbose) && !/^(0|false)$/i.test(verbose.trim())) {
    refuse(
      "BUN_CONFIG_VERBOSE_FETCH",
      "which makes the runtime print every request, token and password included",
    );
  }
  for (const name of ["BUN_INSPECT", "BUN_INSPECT_CONNECT_TO", "BUN_INSPECT_NOTIFY"]) {
    if (set(env(name))) {
      refuse(name, "which opens a debugger that can read every password");
    }
  }
  const nodeOptions = env("NODE_OPTIONS");
  const unsafe = nodeOptions === undefined ? undefined : NODE_OPTIONS_UNSAFE.exec(nodeOptions)?.[2];
  if (unsafe !== undefined) {
    refuse(`NODE_OPTIONS (${unsafe})`, "which opens a debugger or loads code into the program");
  }
  if (set(env("SSLKEYLOGFILE"))) {
    refuse(
      "SSLKEYLOGFILE",
      "which makes the runtime write the TLS session keys, that decrypt every password sent, to a file",
    );
  }

  const tls = env("NODE_TLS_REJECT_UNAUTHORIZED");
  if (tls !== undefined) {
    remove.push("NODE_TLS_REJECT_UNAUTHORIZED");
    if (tls.trim() !== "1") {
      warnings.push(
        `ignoring NODE_TLS_REJECT_UNAUTHORIZED=${JSON.stringify(tls).slice(1, -1)}: ` +
          "certificates are always verified (trust a private CA with --ca-file)",
      );
    }
  }

  const proxy = readProxies(env, (name, why) => refuse(name, why));
  for (const name of PROXY_VARIABLES) if (env(name) !== undefined) remove.push(name);
  const report = { remove, warnings, proxy };
  return refusals.length > 0 ? { ...report, refusal: refusals[0]! } : report;
}

function readProxies(
  env: (name: string) => string | undefined,
  refuse: (name: string, why: string) => void,
): ProxySettings {
  const pick = (...names: string[]): ProxyServer | undefined => {
    for (const name of names) {
      const value = env(name);
      if (!set(value)) continue;
      const proxy = parseProxy(name, value.trim());
      if (typeof proxy === "string") {
        refuse(name, proxy);
        return undefined;
      }
      return proxy;
    }
    return undefined;
  };
  const all = pick("all_proxy", "ALL_PROXY");
  const http = pick("http_proxy", "HTTP_PROXY") ?? all;
  const https = pick("https_proxy", "HTTPS_PROXY") ?? all;
  const noProxy = (env("no_proxy") ?? env("NO_PROXY") ?? "")
    .split(/[,\s]+/).map((entry) => entry.trim().toLowerCase()).filter(Boolean);
  return { ...(http ? { http } : {}), ...(https ? { https } : {}), noProxy };
}

/** A proxy from a variable's value, or why it cannot be used. */
function parseProxy(variable: string, value: string): ProxyServer | string {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    return "but its value is not a URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `but its ${
      url.protocol.slice(0, -1)
    } proxy is not supported (only http:// and https://)`;
  }
  const proxy: ProxyServer = { url: `${url.protocol}//${url.host}`, variable };
  return url.username === "" ? proxy : {
    ...proxy,
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

/**
 * Whether a URL's host, as WHATWG URL parsing leaves it (lower case, IPv4 in
 * dotted decimal whatever its spelling: `127.1`, `0x7f000001`; IPv6 in
 * brackets and compressed: `[::ffff:7f00:1]`), names this machine, so that
 * a request to it never goes through a proxy: `localhost` and `*.localhost`
 * with or without the final dot, 127.0.0.0/8, `::1`, `0.0.0.0` and `::`
 * (Linux connects both to this host), and the IPv4-mapped IPv6 form of any
 * of those IPv4 addresses (`[::ffff:127.0.0.1]`).
 *
 * @example Loopback spellings
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLoopbackHost } from "./environment.ts";
 * const host = (url: string) => new URL(url).hostname;
 * for (const url of ["http://localhost./", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/"]) {
 *   assert.equal(isLoopbackHost(host(url)), true, url);
 * }
 * assert.equal(isLoopbackHost(host("http://localhost.example/")), false);
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (name === "[::1]" || name === "[::]") return true;
  const mapped = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(name);
  const ipv4 = mapped === null ? name : [
    parseInt(mapped[1]!, 16) >> 8,
    parseInt(mapped[1]!, 16) & 0xff,
    parseInt(mapped[2]!, 16) >> 8,
    parseInt(mapped[2]!, 16) & 0xff,
  ].join(".");
  return ipv4 === "0.0.0.0" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ipv4);
}

/**
 * The proxy for one request URL, or undefined to go direct: loopback hosts
 * and hosts that `NO_PROXY` lists (a name matches itself and its subdomains,
 * a leading `.` or `*.` is ignored, `:PORT` narrows it to that port) go direct.
 *
 * @example Choose a proxy per URL
 * ```ts
 * import assert from "node:assert/strict";
 * import { proxyFor } from "./environment.ts";
 * const settings = {
 *   https: { url: "http://proxy:3128", variable: "HTTPS_PROXY" },
 *   noProxy: ["internal.example"],
 * };
 * assert.equal(proxyFor(settings, "https://api.example.com/x")?.url, "http://proxy:3128");
 * assert.equal(proxyFor(settings, "https://auth.internal.example/x"), undefined);
 * assert.equal(proxyFor(settings, "https://127.0.0.1:8443/x"), undefined);
 * ```
 */
export function proxyFor(settings: ProxySettings, url: string): ProxyServer | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const proxy = parsed.protocol === "https:" ? settings.https : settings.http;
  if (proxy === undefined) return undefined;
  // A final dot names the same host (`api.example.` is `api.example`).
  const host = parsed.hostname.toLowerCase().replace(/\.$/, "");
  if (isLoopbackHost(host)) return undefined;
  const port = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
  for (const entry of settings.noProxy) {
    if (entry === "*") return undefined;
    const match = /^(?:\*?\.)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
    if (match === null) continue;
    const [, name, entryPort] = match;
    if (entryPort !== undefined && entryPort !== port) continue;
    if (host === name || host.endsWith(`.${name}`)) return undefined;
  }
  return proxy;
}

/**
 * A proxy for a log line: its URL with the credentials masked.
 *
 * @example Mask a proxy's credentials
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeProxy } from "./environment.ts";
 * const proxy = { url: "http://p:3128", username: "u", password: "pw", variable: "HTTPS_PROXY" };
 * assert.equal(describeProxy(proxy), "http://***:***@p:3128 (HTTPS_PROXY)");
 * ```
 */
export function describeProxy(proxy: ProxyServer): string {
  const credentials = proxy.username === undefined ? "" : `${MASKED}:${MASKED}@`;
  return `${proxy.url.replace("//", `//${credentials}`)} (${proxy.variable})`;
}
