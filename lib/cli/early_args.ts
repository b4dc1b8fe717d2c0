/**
 * The command line read leniently, for when the strict parse (`flags.ts`,
 * `config.ts`) failed or has not run: which mode it asks for, and the value of
 * a setting (the flag, else its environment variable, else the config file's
 * key), so that a configuration error still reaches the place an admin looks
 * (Prosody's `error:` line, the `--log-file`, the fallback log). The rules are
 * the strict parser's, so the two never disagree on what a command line says:
 *
 * - the last value of an option wins, written `--name VALUE` or `--name=VALUE`;
 * - an option that takes a value takes the next argument (unless it is a known
 *   flag, as `flags.ts` does), so a value is never read as the subcommand or
 *   a flag (`--log-file check` is a log file, not the `check` command);
 * - options end at `--`; what follows is positional;
 * - the mode: `doctor` as the first positional, else `--help`, else
 *   `--version`, else `check` as the first positional (with `--self-test`:
 *   the self-test), else serve. {@linkcode modeOf} is the
 *   one place that order lives; `parseCommand` uses it too.
 *
 * An option this program does not know is skipped on its own: it takes no
 * value, since nobody can tell whether it would have.
 *
 * @module
 */

import { envName, isKnownOption, OPTIONS, type Raw, SPEC_BY_NAME } from "./options.ts";

/** The flags that choose a mode rather than set a value: no environment variable, no file key. */
export const MODE_FLAGS: readonly string[] = ["help", "version", "self-test"];

/** What a command line asks the program to do. */
export type Mode = "help" | "version" | "self-test" | "check" | "doctor" | "serve";

/**
 * The mode of a parsed command line: `doctor` first among the positionals
 * (its options, `--help` included, are its own), else `--help`, else
 * `--version`, else `check` first among the positionals (with `--self-test`:
 * `self-test`), else `serve`. Whether the rest fits the mode (`serve` takes no positionals,
 * `--self-test` belongs to `check`) is the strict parser's to judge.
 *
 * @example The order of the modes
 * ```ts
 * import assert from "node:assert/strict";
 * import { modeOf } from "./early_args.ts";
 * assert.equal(modeOf({ help: true, version: true }, ["check"]), "help");
 * assert.equal(modeOf({ version: true }, []), "version");
 * assert.equal(modeOf({ "self-test": true }, ["check"]), "self-test");
 * assert.equal(modeOf({}, ["check", "auth"]), "check");
 * assert.equal(modeOf({ "self-test": true }, []), "serve");
 * assert.equal(modeOf({ help: true }, ["doctor"]), "doctor");
 * ```
 */
export function modeOf(
  flags: Readonly<Record<string, Raw>>,
  positionals: readonly string[],
): Mode {
  if (positionals[0] === "doctor") return "doctor";
  if (flags.help) return "help";
  if (flags.version) return "version";
  if (positionals[0] !== "check") return "serve";
  return flags["self-test"] ? "self-test" : "check";
}

/** What {@linkcode readEarlyArgs} found: the mode, and the last value of each option. */
export interface EarlyArgs {
  readonly mode: Mode;
  /** The last value of each option that takes one, by name, as written. */
  readonly values: ReadonlyMap<string, string>;
}

/**
 * Reads a command line without judging it (see the module doc for the rules).
 *
 * @example A value is a value, the last one wins
 * ```ts
 * import assert from "node:assert/strict";
 * import { readEarlyArgs } from "./early_args.ts";
 * const early = readEarlyArgs(["--log-file", "check", "--protocol=ejabberd", "--protocol", "prosody"]);
 * assert.equal(early.mode, "serve");
 * assert.equal(early.values.get("log-file"), "check");
 * assert.equal(early.values.get("protocol"), "prosody");
 * assert.equal(readEarlyArgs(["--tiemout", "3s", "check", "auth"]).mode, "serve");
 * assert.equal(readEarlyArgs(["check", "--self-test", "--", "--help"]).mode, "self-test");
 * ```
 */
export function readEarlyArgs(args: readonly string[]): EarlyArgs {
  const values = new Map<string, string>();
  const flags: Record<string, Raw> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const equals = arg.indexOf("=");
      const name = equals < 0 ? arg.slice(2) : arg.slice(2, equals);
      const spec = SPEC_BY_NAME.get(name);
      if (spec === undefined) continue;
      if (spec.kind === "boolean") {
        if (equals < 0) flags[name] = true;
        continue;
      }
      if (equals >= 0) {
        values.set(name, arg.slice(equals + 1));
        continue;
      }
      const next = args[i + 1];
      if (next !== undefined && next !== "--" && !isKnownOption(next)) {
        values.set(name, next);
        i++;
      }
    } else if (arg.startsWith("-") && arg !== "-") {
      // Short flags, grouped or not (`-d`, `-hV`): every one of them is a boolean.
      for (const letter of arg.slice(1)) {
        const spec = OPTIONS.find((o) => o.short === letter);
        if (spec?.kind === "boolean") flags[spec.name] = true;
      }
    } else {
      positionals.push(arg);
    }
  }
  return { mode: modeOf(flags, positionals), values };
}

/** Where a setting may come from besides the command line. */
export interface EarlySources {
  readonly args: readonly string[];
  readonly env: (name: string) => string | undefined;
  readonly readFile: (path: string) => Uint8Array;
}

/** A command line read leniently: its mode, and each setting from the strongest source. */
export interface EarlyCommand {
  readonly mode: Mode;
  /**
   * The setting, from the first source that gives a non-empty text: the flag (its last
   * value), the environment variable, the key in the config file that `--config` or
   * `XMPP_EXTAUTH_CONFIG` names (when it reads as JSON); `undefined` when none does.
   */
  setting(name: string): string | undefined;
}

/**
 * Reads a command line, the environment and the config file leniently.
 *
 * @example The log file of a command line with a typo, and the config file's protocol
 * ```ts
 * import assert from "node:assert/strict";
 * import { readEarlyCommand } from "./early_args.ts";
 * const early = readEarlyCommand({
 *   args: ["--tiemout", "3s", "--log-file", "/var/log/x.log", "--config", "/etc/x.json"],
 *   env: () => undefined,
 *   readFile: () => new TextEncoder().encode('{"protocol": "prosody", "url": 5}'),
 * });
 * assert.equal(early.setting("log-file"), "/var/log/x.log");
 * assert.equal(early.setting("protocol"), "prosody");
 * assert.equal(early.setting("timeout"), undefined);
 * ```
 */
export function readEarlyCommand(sources: EarlySources): EarlyCommand {
  const { mode, values } = readEarlyArgs(sources.args);
  const direct = (name: string) => values.get(name) || sources.env(envName(name)) || undefined;
  let file: Record<string, unknown> | null | undefined;
  const fileValue = (name: string): string | undefined => {
    if (file === undefined) {
      file = null;
      const path = direct("config");
      try {
        if (path !== undefined) {
          const data: unknown = JSON.parse(new TextDecoder().decode(sources.readFile(path)));
          if (typeof data === "object" && data !== null) file = data as Record<string, unknown>;
        }
      } catch { /* the strict parse reports it */ }
    }
    const value = file?.[name];
    return typeof value === "string" && value !== "" ? value : undefined;
  };
  return { mode, setting: (name) => direct(name) ?? fileValue(name) };
}

/**
 * Whether this run serves Prosody: it serves (not `check`, `--help`, ...) and
 * its `protocol` setting is `prosody`. Used when the full parse failed, to
 * know where the error must go.
 *
 * @example The last --protocol wins; check never serves
 * ```ts
 * import assert from "node:assert/strict";
 * import { asksForProsody, readEarlyCommand } from "./early_args.ts";
 * const sources = { env: () => undefined, readFile: () => new Uint8Array() };
 * const asks = (args: string[]) => asksForProsody(readEarlyCommand({ ...sources, args }));
 * assert.equal(asks(["--protocol", "ejabberd", "--protocol", "prosody", "--bad"]), true);
 * assert.equal(asks(["--log-file", "check", "--protocol=prosody"]), true);
 * assert.equal(asks(["check", "auth", "a", "b", "--protocol", "prosody"]), false);
 * ```
 */
export function asksForProsody(early: EarlyCommand): boolean {
  return early.mode === "serve" && early.setting("protocol") === "prosody";
}
