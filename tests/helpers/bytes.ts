/**
 * Small tools the byte-level tests share: a seeded PRNG (so a failing
 * chunking or fuzz case can be replayed), a stream of given chunks, and
 * concatenation.
 *
 * @module
 */

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

/** Joins byte arrays (the program's own, see lib/bytes.ts). */
export { concatBytes } from "../../lib/core/bytes.ts";
