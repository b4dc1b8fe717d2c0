/**
 * The password verifiers of the shared cache file: `01` ‖ 16-byte random salt ‖
 * 32-byte scrypt (N = 2^14, r = 8, p = 1) of the encoded user, server and
 * password. `node:crypto` is loaded on the first verifier only.
 *
 * @module
 */

/** scrypt's parameters for the password verifiers in the file. */
export const KDF = {
  /** CPU/memory cost: 16 MiB per computation (128 · N · r bytes). */
  N: 16_384,
  r: 8,
  p: 1,
  saltBytes: 16,
  keyBytes: 32,
  /** The first byte of a verifier: these parameters. */
  version: 1,
} as const;
const VERIFIER_BYTES = 1 + KDF.saltBytes + KDF.keyBytes;

/** The part of `node:crypto` used here. */
type NodeCrypto = Pick<typeof import("node:crypto"), "scrypt" | "timingSafeEqual">;
let nodeCrypto: NodeCrypto | undefined;

/**
 * `node:crypto`, loaded on first use: in the single bundled executable a static import of a
 * built-in is evaluated at every start, and serving without `--cache-file` never needs it
 * (about 4 ms of start-up with the JIT off).
 */
async function loadCrypto(): Promise<NodeCrypto> {
  return nodeCrypto ??= await import("node:crypto");
}

async function kdf(input: Uint8Array, salt: Uint8Array): Promise<Uint8Array> {
  const { scrypt } = await loadCrypto();
  return await new Promise((resolve, reject) =>
    scrypt(input, salt, KDF.keyBytes, {
      N: KDF.N,
      r: KDF.r,
      p: KDF.p,
      maxmem: 256 * KDF.N * KDF.r,
    }, (error, key) => error ? reject(error) : resolve(new Uint8Array(key)))
  );
}

/**
 * A new verifier of `input` (the encoded user, server and password), with a fresh salt.
 *
 * @example Make a verifier and check a password against it
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeVerifier, matchesVerifier } from "./kdf.ts";
 * const input = new TextEncoder().encode("alice\0example.com\0s3cret");
 * const verifier = await makeVerifier(input);
 * assert.equal(verifier.length, 49);
 * assert.equal(await matchesVerifier(input, verifier), true);
 * assert.equal(await matchesVerifier(new TextEncoder().encode("other"), verifier), false);
 * ```
 */
export async function makeVerifier(input: Uint8Array): Promise<Uint8Array> {
  const verifier = new Uint8Array(VERIFIER_BYTES);
  verifier[0] = KDF.version;
  crypto.getRandomValues(verifier.subarray(1, 1 + KDF.saltBytes));
  verifier.set(await kdf(input, verifier.subarray(1, 1 + KDF.saltBytes)), 1 + KDF.saltBytes);
  return verifier;
}

/** Whether `input` is what `verifier` was made of (false for a verifier of other parameters). */
export async function matchesVerifier(input: Uint8Array, verifier: Uint8Array): Promise<boolean> {
  if (verifier.length !== VERIFIER_BYTES || verifier[0] !== KDF.version) return false;
  const key = await kdf(input, verifier.subarray(1, 1 + KDF.saltBytes));
  return (await loadCrypto()).timingSafeEqual(key, verifier.subarray(1 + KDF.saltBytes));
}

/** Whether two verifiers are the same bytes (they are not secret: no constant time needed). */
export function sameVerifier(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
