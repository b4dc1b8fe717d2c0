/**
 * The one check of the numbers a component is built with (cache windows and
 * size, breaker threshold and durations): a programming error, thrown as a
 * `RangeError` naming the component and the option.
 *
 * @module
 */

/**
 * Throws unless `value` is a number >= 0: whole when `integer`, finite unless
 * `infinite` allows `Infinity` too.
 *
 * @throws {RangeError} `Cannot create auth cache: ttlMs must be a finite number >= 0, got -1`.
 * @example Refuse a negative window
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertNumber } from "./assert_number.ts";
 * assertNumber("auth cache", "maxEntries", 10, { integer: true });
 * assert.throws(
 *   () => assertNumber("auth cache", "ttlMs", -1),
 *   { message: "Cannot create auth cache: ttlMs must be a finite number >= 0, got -1" },
 * );
 * ```
 */
export function assertNumber(
  component: string,
  name: string,
  value: number,
  { integer = false, infinite = false }: { integer?: boolean; infinite?: boolean } = {},
): void {
  const finite = Number.isFinite(value) || (infinite && value === Infinity);
  if (!finite || value < 0 || (integer && !Number.isInteger(value))) {
    const kind = integer ? "a whole number" : infinite ? "a number" : "a finite number";
    throw new RangeError(`Cannot create ${component}: ${name} must be ${kind} >= 0, got ${value}`);
  }
}
