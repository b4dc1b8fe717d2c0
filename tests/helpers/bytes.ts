/**
 * The byte tools every test shares (one copy each): a seeded PRNG (so a
 * failing chunking or fuzz case can be replayed), a stream of given chunks,
 * ejabberd framing, concatenation, search, hex dumps and the ways of cutting
 * an input into chunks.
 *
 * @module
 */

import { concatBytes } from "../../lib/core/bytes.ts";

/**
 * mulberry32: a small seeded PRNG returning numbers in [0, 1).
 *
 * @example
 * ```ts
 * import { prng } from "./bytes.ts";
 * const random = prng(42);
 * random(); // the same sequence on every run
 * ```
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A byte stream that delivers exactly the given chunks, then ends.
 *
 * @example
 * ```ts
 * import { streamOf } from "./bytes.ts";
 * const input = streamOf([Uint8Array.of(0), Uint8Array.of(1, 0x61)]);
 * ```
 */
export function streamOf(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

/** Joins byte arrays (the program's own, see lib/core/bytes.ts). */
export { concatBytes };

const encoder = new TextEncoder();

/**
 * Frames one request payload as ejabberd does: 2-byte big-endian length, then the bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { frame } from "./bytes.ts";
 * assert.deepEqual([...frame("a:b")], [0, 3, 0x61, 0x3a, 0x62]);
 * ```
 */
export function frame(payload: string | Uint8Array): Uint8Array {
  const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
  if (bytes.length > 65535) throw new RangeError(`frame too long: ${bytes.length}`);
  const out = new Uint8Array(bytes.length + 2);
  out[0] = bytes.length >> 8;
  out[1] = bytes.length & 0xff;
  out.set(bytes, 2);
  return out;
}

/**
 * Concatenates byte arrays and strings (encoded as UTF-8).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { concat } from "./bytes.ts";
 * assert.deepEqual([...concat("a", Uint8Array.of(0))], [0x61, 0]);
 * ```
 */
export function concat(...parts: readonly (string | Uint8Array)[]): Uint8Array {
  return concatBytes(parts.map((p) => (typeof p === "string" ? encoder.encode(p) : p)));
}

/**
 * Hex dump for assertion messages: `00 02 00 01`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hex } from "./bytes.ts";
 * assert.equal(hex(Uint8Array.of(0, 2, 0, 1)), "00 02 00 01");
 * ```
 */
export function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

/**
 * Whether `needle` occurs in `haystack`, byte for byte.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { containsBytes } from "./bytes.ts";
 * assert.equal(containsBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(2, 3)), true);
 * ```
 */
export function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * Splits `bytes` at the given offsets (sorted, within bounds).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitAt } from "./bytes.ts";
 * assert.deepEqual(splitAt(Uint8Array.of(1, 2, 3), [1]).map((c) => [...c]), [[1], [2, 3]]);
 * ```
 */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const cut of cuts) {
    chunks.push(bytes.slice(start, cut));
    start = cut;
  }
  chunks.push(bytes.slice(start));
  return chunks;
}

/**
 * Cuts `bytes` into chunks of 1 to `maxSize` bytes, and with the chance
 * `emptyChance` an empty chunk (which must be harmless), as `random` decides.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prng, randomChunks } from "./bytes.ts";
 * const input = Uint8Array.of(1, 2, 3, 4, 5);
 * const chunks = randomChunks(input, prng(1), 2);
 * assert.deepEqual(chunks.flatMap((c) => [...c]), [...input]);
 * ```
 */
export function randomChunks(
  bytes: Uint8Array,
  random: () => number,
  maxSize: number,
  emptyChance = 0.05,
): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const size = random() < emptyChance ? 0 : 1 + Math.floor(random() * maxSize);
    chunks.push(bytes.slice(at, at + size));
    at += size;
  }
  return chunks;
}
