/**
 * Byte arrays joined: the one copy loop the framing, the answer reader and
 * the self-test share.
 *
 * @module
 */

/**
 * Joins byte arrays into one new array. `length`, when the caller already
 * knows the total, saves adding it up; it must be the sum of the lengths.
 *
 * @example Join two chunks
 * ```ts
 * import assert from "node:assert/strict";
 * import { concatBytes } from "./bytes.ts";
 * assert.deepEqual(concatBytes([Uint8Array.of(0, 2), Uint8Array.of(0, 1)]), Uint8Array.of(0, 2, 0, 1));
 * ```
 */
export function concatBytes(
  parts: readonly Uint8Array[],
  length: number = parts.reduce((n, part) => n + part.length, 0),
): Uint8Array {
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
