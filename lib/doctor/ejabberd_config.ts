/**
 * ejabberd's YAML configuration as `doctor` needs it: the main file and every
 * `include_config_file` (a path, a list of paths, or paths with `allow_only` / `disallow`),
 * the global options and each host's `host_config` (and `append_host_config`) over them.
 * The YAML library (`yaml`, eemeli/yaml) is loaded here only, when `doctor` asks.
 * Not handled: `define_macro` (a macro's name is taken as it is written).
 *
 * @module
 */

import { fail } from "../core/config_error.ts";

/** ejabberd's options as read: name → value. */
export type Options = Readonly<Record<string, unknown>>;

/** One virtual host and the options that apply to it. */
export interface HostSettings {
  readonly host: string;
  /** The global options with the host's `host_config` over them. */
  readonly options: Options;
  /** Option names that this host's `host_config` sets. */
  readonly ownOptions: readonly string[];
}

/** The configuration: the files read, the global options and each host. */
export interface EjabberdConfig {
  readonly files: readonly string[];
  readonly global: Options;
  readonly hosts: readonly HostSettings[];
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function folderOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

/** The files an `include_config_file` value names, each with the options it may set. */
function includes(
  value: unknown,
  base: string,
): { path: string; allowOnly?: string[]; disallow?: string[] }[] {
  const resolve = (p: string) => p.startsWith("/") ? p : `${base}/${p}`;
  if (typeof value === "string") return [{ path: resolve(value) }];
  if (Array.isArray(value)) {
    return value.filter((v) => typeof v === "string").map((v) => ({ path: resolve(v as string) }));
  }
  if (isMap(value)) {
    return Object.entries(value).map(([path, rules]) => {
      const r = isMap(rules) ? rules : {};
      const list = (v: unknown) => Array.isArray(v) ? v.map(String) : undefined;
      const allowOnly = list(r.allow_only);
      const disallow = list(r.disallow);
      return {
        path: resolve(path),
        ...(allowOnly ? { allowOnly } : {}),
        ...(disallow ? { disallow } : {}),
      };
    });
  }
  return [];
}

/** Merges `next` over `into` as ejabberd does: `host_config` and `modules` by key, others replaced. */
function merge(into: Record<string, unknown>, next: Options): void {
  for (const [key, value] of Object.entries(next)) {
    const old = into[key];
    if (
      (key === "host_config" || key === "append_host_config" || key === "modules") && isMap(old) &&
      isMap(value)
    ) {
      const merged: Record<string, unknown> = { ...old };
      for (const [k, v] of Object.entries(value)) {
        merged[k] = key !== "modules" && isMap(merged[k]) && isMap(v)
          ? { ...merged[k] as object, ...v }
          : v;
      }
      into[key] = merged;
    } else {
      into[key] = value;
    }
  }
}

/**
 * Reads `path` and its included files with `readText` (undefined: cannot be read).
 *
 * @throws {ConfigError} when a file cannot be read or is not YAML.
 */
export async function readEjabberdConfig(
  path: string,
  readText: (path: string) => string | undefined,
): Promise<EjabberdConfig> {
  const { parse } = await import("yaml");
  const files: string[] = [];
  const load = (file: string, depth: number): Record<string, unknown> => {
    if (depth > 10) fail(`${file}: include_config_file nested more than 10 deep`);
    const text = readText(file);
    if (text === undefined) fail(`cannot read ${file}`);
    files.push(file);
    let doc: unknown;
    try {
      doc = parse(text, { uniqueKeys: false });
    } catch (error) {
      fail(`${file} is not valid YAML: ${(error as Error).message.split("\n")[0]}`);
    }
    if (doc === null || doc === undefined) return {};
    if (!isMap(doc)) fail(`${file}: the top level is not a map of options`);
    const options: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(doc)) {
      if (key !== "include_config_file") options[key] = value;
    }
    for (const inc of includes(doc.include_config_file, folderOf(file))) {
      const sub = load(inc.path, depth + 1);
      for (const key of Object.keys(sub)) {
        if (inc.allowOnly !== undefined && !inc.allowOnly.includes(key)) delete sub[key];
        else if (inc.disallow?.includes(key)) delete sub[key];
      }
      merge(options, sub);
    }
    return options;
  };
  const global = load(path, 0);
  const hostConfig = isMap(global.host_config) ? global.host_config : {};
  const appendConfig = isMap(global.append_host_config) ? global.append_host_config : {};
  const names = Array.isArray(global.hosts) ? global.hosts.map(String) : [];
  const hosts = names.map((host) => {
    const own = isMap(hostConfig[host]) ? hostConfig[host] as Options : {};
    const append = isMap(appendConfig[host]) ? appendConfig[host] as Options : {};
    const options: Record<string, unknown> = { ...global };
    delete options.host_config;
    delete options.append_host_config;
    merge(options, own);
    merge(options, append);
    return { host, options, ownOptions: [...Object.keys(own), ...Object.keys(append)] };
  });
  return { files, global, hosts };
}

/** The `auth_method` of a host as a list (`external`, `[sql, external]`); ejabberd's default is mnesia */
export function authMethods(options: Options): string[] {
  const value = options.auth_method;
  if (value === undefined) return ["mnesia"];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** The module names a host enables. */
export function moduleNames(options: Options): string[] {
  return isMap(options.modules) ? Object.keys(options.modules) : [];
}
