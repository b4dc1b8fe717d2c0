/**
 * What Prosody's Lua needs for `mod_auth_external_insecure`: the Lua that runs `prosody`
 * (from its `#!` line) must load `lpty`, as Prosody's user; and the module file must be in
 * one of Prosody's plugin paths.
 *
 * @module
 */

import { access, type Target, whichIn } from "../context.ts";

/** Where Debian's prosody keeps its modules when the script does not say. */
const DEFAULT_PLUGIN_DIR = "/usr/lib/prosody/modules/";
const DEFAULT_DATA_DIR = "/var/lib/prosody";

/** What the `prosody` script says: its Lua interpreter, plugin and data folders. */
export interface ProsodyInstall {
  readonly script?: string;
  readonly shebang?: string;
  readonly lua?: string;
  readonly pluginDir: string;
  readonly dataDir: string;
}

/** Finds `prosody` in doctor's PATH and reads its `#!` line and CFG_ folders. */
export function findProsody(t: Target): ProsodyInstall {
  const path = t.runtime.env("PATH") ?? t.env.PATH ?? "";
  const script = whichIn(t.system, "prosody", path);
  const text = script === undefined ? undefined : t.system.readText(script);
  const shebang = text?.startsWith("#!") ? text.split("\n")[0]!.slice(2).trim() : undefined;
  const words = shebang?.split(/\s+/) ?? [];
  const interpreter = /(^|\/)env$/.test(words[0] ?? "") ? words[1] : words[0];
  const lua = interpreter === undefined ? undefined : whichIn(t.system, interpreter, path);
  const cfg = (name: string) => new RegExp(`^${name}='([^']*)'`, "m").exec(text ?? "")?.[1];
  return {
    ...(script === undefined ? {} : { script }),
    ...(shebang === undefined ? {} : { shebang }),
    ...(lua === undefined ? {} : { lua }),
    pluginDir: cfg("CFG_PLUGINDIR") ?? DEFAULT_PLUGIN_DIR,
    dataDir: cfg("CFG_DATADIR") ?? DEFAULT_DATA_DIR,
  };
}

const LPTY_PROBE = 'io.write(_VERSION, "\\n"); local ok, e = pcall(require, "lpty"); ' +
  'if ok then io.write("ok ", package.searchpath and (package.searchpath("lpty", package.cpath) or package.searchpath("lpty", package.path)) ' +
  'or "?", "\\n") else io.write("missing ", (tostring(e):gsub("%s+", " ")), "\\n") end';

/** Whether Prosody's Lua, as Prosody's user, loads lpty (✓), and which one; else ✗ with the fix. */
export async function checkLpty(t: Target, install: ProsodyInstall): Promise<void> {
  if (install.lua === undefined) {
    t.add({
      status: "fail",
      check: "lpty",
      message: install.script === undefined
        ? "prosody is not in PATH: cannot tell which Lua runs it"
        : `cannot find the Lua of ${install.script} (#!${install.shebang ?? "?"})`,
      fix: "run doctor with prosody (and its Lua) in PATH",
    });
    return;
  }
  const run = await t.probe([install.lua, "-e", LPTY_PROBE], 20_000);
  const [version, result] = run.stdout.trim().split("\n");
  const which = `${
    version ?? "Lua"
  } (${install.lua}, from ${install.script}'s #!${install.shebang})`;
  if (result?.startsWith("ok ")) {
    t.add({ status: "ok", check: "lpty", message: `${which} loads ${result.slice(3)}` });
    return;
  }
  const v = /Lua (\d\.\d)/.exec(version ?? "")?.[1] ?? "5.4";
  t.add({
    status: "fail",
    check: "lpty",
    message: `${which} cannot load lpty as ${t.account.name}: ` +
      (result?.slice(8).slice(0, 300) ?? run.stderr.trim().slice(0, 300)),
    fix: `build lpty for Lua ${v} (Debian 12 and 13 ship lua-lpty for Lua 5.1 and 5.2 only, ` +
      `and their Prosody runs Lua ${v}): mod_auth_external_insecure does not load without it`,
    command:
      `apt-get install -y luarocks liblua${v}-dev && luarocks --lua-version ${v} install lpty`,
  });
}

/** The plugin folders Prosody searches: `plugin_paths` (relative to the config), its own, custom. */
export function pluginPaths(
  configured: readonly string[],
  configDir: string,
  install: ProsodyInstall,
): [string, string][] {
  const own = configured.map((p) => [p.startsWith("/") ? p : `${configDir}/${p}`, "plugin_paths"]);
  return [
    ...own as [string, string][],
    [install.pluginDir.replace(/\/$/, ""), "prosody's own"],
    [`${install.dataDir}/custom_plugins`, "prosodyctl install"],
  ];
}

/** The module file in a plugin path, readable by Prosody's user (✓), or ✗. */
export async function checkModule(
  t: Target,
  module: string,
  paths: readonly [string, string][],
): Promise<void> {
  const files = paths.flatMap(([dir, from]) => [
    [`${dir}/${module}.lua`, from],
    [`${dir}/${module}/${module}.lua`, from],
  ]);
  const found = files.find(([file]) => t.system.statPath(file!)?.isFile === true);
  if (found === undefined) {
    t.add({
      status: "fail",
      check: "module",
      message: `${module}.lua is in none of Prosody's plugin paths: ${
        paths.map(([d]) => d).join(", ")
      }`,
      fix: `install the community module ${module} and, if it is not in a folder above, add ` +
        "its folder to plugin_paths",
      command: `prosodyctl install --server=https://modules.prosody.im/rocks/ ${module}`,
    });
    return;
  }
  const [readable] = await access(t.probe, [["r", found[0]!]]);
  t.add(
    readable ? { status: "ok", check: "module", message: `${found[0]} (${found[1]})` } : {
      status: "fail",
      check: "module",
      message: `${t.account.name} cannot read ${found[0]}`,
      fix: `let ${t.account.name} read it`,
      command: `chmod a+r ${found[0]}`,
    },
  );
}
