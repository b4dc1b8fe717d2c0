/**
 * The one error a bad command line, environment or config file raises: the
 * program prints its message and exits 2.
 *
 * @module
 */

/** A bad option, value, variable or config file: exit 2 with this message. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Throws a {@linkcode ConfigError} with this message.
 *
 * @example Refuse a command line
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError, fail } from "./config_error.ts";
 * assert.throws(() => fail("Missing --url"), ConfigError);
 * ```
 */
export function fail(message: string): never {
  throw new ConfigError(message);
}
