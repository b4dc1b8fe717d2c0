/**
 * The command line: `node:util`'s `parseArgs` over the option table (it
 * fills the role `@std/cli` had in the design and is used in this file only),
 * with secrets refused before anything is parsed and `parseArgs`' errors
 * turned into one line that says what to do.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fail } from "../core/config_error.ts";
import {
  closest,
  didYouMean,
  isKnownOption,
  OPTIONS,
  type Raw,
  SECRET_FLAGS,
  SPEC_BY_NAME,
} from "./options.ts";

/** What the command line said: option values by name, and the positional arguments. */
export interface Flags {
  readonly flags: Readonly<Record<string, Raw>>;
  readonly positionals: readonly string[];
}

/**
 * `--retries -1` → `--retries=-1`: a value that starts with a dash but is no
 * option goes to the option before it, so that it is judged as a value
 * ("must be a whole number ≥ 0") rather than refused as "ambiguous".
 */
function joinDashValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    const spec = /^--([^=]+)$/.exec(arg) ? SPEC_BY_NAME.get(arg.slice(2)) : undefined;
    const next = args[i + 1];
    if (
      spec !== undefined && spec.kind !== "boolean" && next !== undefined &&
      next.startsWith("-") && next !== "--" && !isKnownOption(next)
    ) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** `parseArgs`' error as one line that says what to do. */
function argsError(error: Error): string {
  const message = error.message.split("\n")[0]!;
  const unknown = /^Unknown option '(-[^']*)'/.exec(message)?.[1];
  if (unknown !== undefined) {
    const suggestion = unknown.startsWith("--")
      ? closest(unknown.slice(2), OPTIONS.map((o) => o.name))
      : undefined;
    return `Unknown option '${unknown}'${didYouMean(suggestion && `--${suggestion}`)} (see --help)`;
  }
  const ambiguous = /^Option '(-[^' ]*)' argument is ambiguous/.exec(message)?.[1];
  if (ambiguous !== undefined) {
    return `Option '${ambiguous}' needs a value, but the next argument is another option`;
  }
  return message.replace(/\. To specify a positional.*$/, "");
}

/**
 * Parses the command line against the option table.
 *
 * @throws {ConfigError} for a secret on the command line, an unknown option or a missing value.
 * @example Parse flags
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFlags } from "./flags.ts";
 * const { flags, positionals } = parseFlags(["check", "isuser", "--timeout", "2s", "-d"]);
 * assert.deepEqual(positionals, ["check", "isuser"]);
 * assert.equal(flags.timeout, "2s");
 * assert.equal(flags.debug, true);
 * ```
 */
export function parseFlags(args: readonly string[]): Flags {
  for (const arg of args) {
    const name = /^--([a-z-]+)(=|$)/.exec(arg)?.[1];
    if (name && name in SECRET_FLAGS) {
      fail(
        `--${name} is not accepted on the command line (visible in ps): use ` +
          `${name === "password" ? SECRET_FLAGS[name] : `--${SECRET_FLAGS[name]}`}`,
      );
    }
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: joinDashValues(args),
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(OPTIONS.map((o) => [o.name, {
        type: o.kind === "boolean" ? "boolean" as const : "string" as const,
        ...(o.kind === "list" ? { multiple: true } : {}),
        ...(o.short ? { short: o.short } : {}),
      }])),
    });
  } catch (error) {
    fail(argsError(error as Error));
  }
  return { flags: parsed.values as Record<string, Raw>, positionals: parsed.positionals };
}
