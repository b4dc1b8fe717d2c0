/**
 * Base64 (RFC 4648, with padding), the one encoder: the Basic credential's
 * `Authorization` value, the cache's Map keys and the base64 form of a secret
 * that masking looks for. A text is encoded as its UTF-8 bytes (as
 * `@std/encoding`'s `encodeBase64` does).
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * The base64 of bytes, or of a text's UTF-8 bytes.
 *
 * @example A Basic credential, a non-ASCII password and raw bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeBase64 } from "./base64.ts";
 * assert.equal(encodeBase64("u:p w"), "dTpwIHc=");
 * assert.equal(encodeBase64("naïve"), "bmHDr3Zl");
 * assert.equal(encodeBase64(Uint8Array.of(0, 255, 16)), "AP8Q");
 * assert.equal(encodeBase64(new Uint8Array(32).buffer).length, 44);
 * ```
 */
export function encodeBase64(data: string | Uint8Array | ArrayBuffer): string {
  const bytes = typeof data === "string" ? encoder.encode(data) : new Uint8Array(data);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * The bytes of a base64 text (the outage cache's verifiers in Redis).
 *
 * @example Both ways
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeBase64, encodeBase64 } from "./base64.ts";
 * assert.deepEqual(decodeBase64("AP8Q"), Uint8Array.of(0, 255, 16));
 * assert.equal(encodeBase64(decodeBase64("bmHDr3Zl")), "bmHDr3Zl");
 * ```
 */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
