/**
 * The typed resolver: one option's value from the strongest source that sets
 * it, flag > environment > config file > default, with the place it came
 * from (`--timeout`, `XMPP_EXTAUTH_TIMEOUT`, `config "timeout"`) for every
 * error message, checked as its kind in the option table says.
 *
 * @module
 */

import { fail } from "../core/config_error.ts";
import { parseDuration } from "./duration.ts";
import { MODE_FLAGS } from "./early_args.ts";
import {
  closest,
  didYouMean,
  ENV_PREFIX,
  envName,
  type Kind,
  type OptionTable,
  type Raw,
  SECRET_ENV,
  SPEC_BY_NAME,
} from "./options.ts";

type Spec = OptionTable[number];
/** The name of an option in the table. */
export type OptionName = Spec["name"];
/** The names of the options of one kind. */
export type OptionOfKind<K extends Kind> = Extract<Spec, { readonly kind: K }>["name"];
/** The values an enum option takes, from its `choices`. */
export type ChoiceOf<N extends OptionOfKind<"enum">> = Extract<
  Spec,
  { readonly name: N }
>["choices"][number];

/** Where a value came from, strongest first. */
export type Source = "flag" | "environment" | "file" | "default";
const RANK: Readonly<Record<Source, number>> = { flag: 0, environment: 1, file: 2, default: 3 };

/**
 * Whether a value from `a` wins over (or ties with) one from `b`.
 *
 * @example The environment beats the file
 * ```ts
 * import assert from "node:assert/strict";
 * import { atLeastAsStrong } from "./resolve.ts";
 * assert.equal(atLeastAsStrong("environment", "file"), true);
 * assert.equal(atLeastAsStrong("default", "flag"), false);
 * ```
 */
export function atLeastAsStrong(a: Source, b: Source): boolean {
  return RANK[a] <= RANK[b];
}

/** A value before it is checked, with where it came from. */
export interface Resolved {
  readonly raw: Raw;
  /** The name an error message gives the place: `--timeout`, `XMPP_EXTAUTH_TIMEOUT`, `config "timeout"`. */
  readonly where: string;
  readonly source: Source;
}

/** The sources a resolver reads, flags first. */
export interface ResolverSources {
  readonly flags: Readonly<Record<string, Raw>>;
  readonly env: (name: string) => string | undefined;
  /** The config file's value for an option, converted to its raw form; undefined when unset. */
  readonly file: (name: string) => Raw;
}

/** One option's value as its kind, from the strongest source. */
export interface Resolver {
  /** The value unchecked, with where it came from. */
  value(name: OptionName): Resolved;
  string(name: OptionOfKind<"string">): string | undefined;
  /** One of the option's `choices`, or a ConfigError naming them. */
  choice<N extends OptionOfKind<"enum">>(name: N): ChoiceOf<N>;
  /** Milliseconds. */
  duration(name: OptionOfKind<"duration">): number;
  /** A whole number ≥ 0. */
  count(name: OptionOfKind<"count">): number;
}

/**
 * Makes the resolver over flags, environment and config file.
 *
 * @example The environment beats the config file, a flag beats both
 * ```ts
 * import assert from "node:assert/strict";
 * import { createResolver } from "./resolve.ts";
 * const resolver = createResolver({
 *   flags: { retries: "4" },
 *   env: (name) => name === "XMPP_EXTAUTH_TIMEOUT" ? "3s" : undefined,
 *   file: (name) => ({ timeout: "9s", retries: "1" } as Record<string, string>)[name],
 * });
 * assert.equal(resolver.duration("timeout"), 3000);
 * assert.equal(resolver.value("timeout").where, "XMPP_EXTAUTH_TIMEOUT");
 * assert.equal(resolver.count("retries"), 4);
 * assert.equal(resolver.value("breaker-failures").source, "default");
 * ```
 */
export function createResolver(sources: ResolverSources): Resolver {
  const { flags } = sources;
  const value = (name: string): Resolved => {
    const spec = SPEC_BY_NAME.get(name)!;
    if (flags[name] !== undefined) return { raw: flags[name], where: `--${name}`, source: "flag" };
    const env = sources.env(envName(name));
    if (env !== undefined) {
      const raw = spec.kind === "list"
        ? env.split(spec.name === "header" || spec.name === "header-file" ? "\n" : ",").map((s) =>
          s.trim()
        ).filter(Boolean)
        : spec.kind === "boolean"
        ? /^(1|true|yes|on)$/i.test(env)
        : env;
      return { raw, where: envName(name), source: "environment" };
    }
    const fromFile = sources.file(name);
    if (fromFile !== undefined) return { raw: fromFile, where: `config "${name}"`, source: "file" };
    return { raw: spec.fallback, where: `--${name}`, source: "default" };
  };
  return {
    value,
    string: (name) => value(name).raw as string | undefined,
    choice<N extends OptionOfKind<"enum">>(name: N): ChoiceOf<N> {
      const { raw, where } = value(name);
      const choices = SPEC_BY_NAME.get(name)!.choices!;
      if (typeof raw !== "string" || !choices.includes(raw)) {
        fail(`${where}: "${String(raw)}" is not one of ${choices.join(", ")}`);
      }
      return raw as ChoiceOf<N>;
    },
    duration(name) {
      const { raw, where } = value(name);
      return parseDurationAt(raw as string, where);
    },
    count(name) {
      const { raw, where } = value(name);
      return parseCount(raw as string, where);
    },
  };
}

/**
 * Refuses an `XMPP_EXTAUTH_*` variable that names no option (a typo would
 * otherwise be ignored without a word), suggesting the nearest name.
 *
 * @throws {ConfigError} naming the variable.
 * @example A misspelt variable
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkEnvironmentNames } from "./resolve.ts";
 * assert.throws(
 *   () => checkEnvironmentNames(["XMPP_EXTAUTH_TIMEOTU"]),
 *   /Unknown environment variable XMPP_EXTAUTH_TIMEOTU; did you mean XMPP_EXTAUTH_TIMEOUT\?/,
 * );
 * ```
 */
export function checkEnvironmentNames(names: readonly string[]): void {
  for (const name of names) {
    if (!name.startsWith(ENV_PREFIX)) continue;
    const option = name.slice(ENV_PREFIX.length).toLowerCase().replaceAll("_", "-");
    const known = (SPEC_BY_NAME.has(option) && envName(option) === name &&
      !MODE_FLAGS.includes(option)) ||
      SECRET_ENV.some(([variable]) => ENV_PREFIX + variable === name);
    if (!known) {
      const names = [
        ...[...SPEC_BY_NAME.keys()].filter((o) => !MODE_FLAGS.includes(o)).map(envName),
        ...SECRET_ENV.map(([variable]) => ENV_PREFIX + variable),
      ];
      const hint = didYouMean(closest(name, names), "");
      fail(`Unknown environment variable ${name}${hint || " (see --help for the names)"}`);
    }
  }
}

function parseCount(text: string, where: string): number {
  if (!/^\d+$/.test(text.trim())) fail(`${where}: "${text}" must be a whole number ≥ 0`);
  return Number(text);
}

function parseDurationAt(text: string, where: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    fail(`${where}: ${(error as Error).message}`);
  }
}
