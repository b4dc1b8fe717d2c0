/**
 * Signed requests (`--hmac-secret-file`).
 *
 * v2, the default: every request to the API carries one header,
 * `X-Extauth-Signature: v2 t=TIMESTAMP,n=NONCE,s=HEX`, where TIMESTAMP is
 * Unix seconds (decimal), NONCE 16 random bytes as 32 lowercase hex digits,
 * fresh for every attempt, and HEX the lowercase hex HMAC-SHA-256, under the
 * shared secret, of the canonical string
 *
 * ```text
 * xmpp-extauth-v2 LF METHOD LF HOST LF PATH LF TIMESTAMP LF NONCE LF BODY
 * ```
 *
 * (LF = one `\n`; HOST = the URL's `host[:port]` in lower case, as sent in
 * the Host header, no port when it is the scheme's default; PATH = the path
 * and query as sent; BODY = the exact request body, UTF-8, last, so it may
 * hold anything). No other field can hold a newline: the URL parser drops
 * them, and the method, timestamp and nonce are fixed forms. So a signature
 * is good for one method, host, endpoint, body and moment, once: the API
 * rejects a nonce it has seen within the window.
 *
 * v1 (`--signature-scheme v1`, deprecated): `X-Extauth-Timestamp` and
 * `X-Extauth-Signature: sha256=HEX` over `TIMESTAMP + "." + BODY` only, so a
 * captured request verifies at any other endpoint with the same body
 * (`isuser` at `/removeuser`) and again, within the window.
 *
 * The secret is imported once as a non-extractable Web Crypto key; no error
 * message and no string form of a {@linkcode Signer} contains it.
 *
 * @module
 */

/** The header carrying the Unix time (seconds, decimal) the request was signed at. */
export const TIMESTAMP_HEADER = "X-Extauth-Timestamp";
/** The header carrying `sha256=` and the lowercase hex HMAC-SHA-256. */
export const SIGNATURE_HEADER = "X-Extauth-Signature";
/** How far (seconds) {@linkcode verifySignature} lets a timestamp drift from the clock by default. */
export const DEFAULT_MAX_SKEW_SECONDS = 300;

/** The two headers that sign one request. */
export interface SignatureHeaders {
  /** Unix seconds, decimal, e.g. `"1700000000"`. */
  readonly "X-Extauth-Timestamp": string;
  /** `sha256=` followed by 64 lowercase hex digits. */
  readonly "X-Extauth-Signature": string;
}

/** What a v2 signature covers besides the timestamp and nonce. */
export interface SignedRequest {
  /** The HTTP method, e.g. `POST`. */
  readonly method: string;
  /** The absolute URL requested: its host[:port], path and query are signed. */
  readonly url: string;
  /** The exact request body as it will be sent. */
  readonly body: string;
}

/** The header of a v2 signature. */
export interface SignatureV2Header {
  /** `v2 t=TIMESTAMP,n=NONCE,s=HEX`. */
  readonly "X-Extauth-Signature": string;
}

/** The first field of the v2 canonical string. */
export const V2_LABEL = "xmpp-extauth-v2";

/** Signs requests with a secret it holds as a non-extractable key. */
export interface Signer {
  /**
   * Returns the v2 header that signs `request` at `unixSeconds` with `nonce`
   * (by default 16 fresh random bytes, in hex): call it once per attempt.
   *
   * @param request The method, URL and body as they will be sent.
   * @param unixSeconds A whole, non-negative number of seconds since the Unix epoch.
   * @param nonce 32 lowercase hex digits; only tests pass one.
   */
  signRequest(
    request: SignedRequest,
    unixSeconds: number,
    nonce?: string,
  ): Promise<SignatureV2Header>;
  /**
   * Returns the deprecated v1 headers that sign `body` at time `unixSeconds`
   * (`--signature-scheme v1`): the endpoint, host and method are not signed.
   *
   * @param body The exact request body as it will be sent.
   * @param unixSeconds A whole, non-negative number of seconds since the Unix epoch.
   */
  sign(body: string, unixSeconds: number): Promise<SignatureHeaders>;
}

const encoder = new TextEncoder();
const EMPTY_SECRET = "Cannot use HMAC secret: it is empty";
const HMAC_SHA_256 = { name: "HMAC", hash: "SHA-256" } as const;
const TIMESTAMP_PATTERN = /^[0-9]{1,16}$/;
const SIGNATURE_PATTERN = /^sha256=([0-9a-f]{64})$/;

/** Imports a secret as a non-extractable HMAC-SHA-256 key and wipes the temporary copy. */
async function importKey(secret: Uint8Array, usage: "sign" | "verify"): Promise<CryptoKey> {
  if (secret.length === 0) throw new RangeError(EMPTY_SECRET);
  const copy = new Uint8Array(secret);
  try {
    return await crypto.subtle.importKey("raw", copy, HMAC_SHA_256, false, [usage]);
  } finally {
    copy.fill(0);
  }
}

/** The bytes that are signed: `TIMESTAMP + "." + BODY`, UTF-8. */
function signedBytes(timestamp: string, body: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(`${timestamp}.${body}`);
}

const NONCE_PATTERN = /^[0-9a-f]{32}$/;

/** A fresh nonce: 16 random bytes as 32 lowercase hex digits. */
function freshNonce(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}

/**
 * The v2 canonical string: label, method, host, path with query, timestamp,
 * nonce and body, one `\n` between each.
 *
 * @example The string a login is signed over
 * ```ts
 * import assert from "node:assert/strict";
 * import { canonicalV2 } from "./signing.ts";
 * assert.equal(
 *   canonicalV2(
 *     { method: "POST", url: "https://API.example.org:443/xmpp/login?a=1", body: "{}" },
 *     "1700000000",
 *     "00112233445566778899aabbccddeeff",
 *   ),
 *   "xmpp-extauth-v2\nPOST\napi.example.org\n/xmpp/login?a=1\n1700000000\n" +
 *     "00112233445566778899aabbccddeeff\n{}",
 * );
 * ```
 */
export function canonicalV2(request: SignedRequest, timestamp: string, nonce: string): string {
  const url = new URL(request.url);
  return [V2_LABEL, request.method, url.host, url.pathname + url.search, timestamp, nonce]
    .join("\n") + "\n" + request.body;
}

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/**
 * Creates a {@linkcode Signer} for a secret. The key is imported once, as a
 * non-extractable Web Crypto key; the signer keeps no copy of the secret bytes.
 *
 * @param secret The shared secret (any bytes, at least one).
 * @throws {RangeError} If the secret is empty.
 *
 * @example Sign a request (v2)
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSigner } from "./signing.ts";
 * const signer = await createSigner(new TextEncoder().encode("s3cr3t"));
 * const body = JSON.stringify({ username: "alice@example.com" });
 * const url = "https://api.example.org/xmpp/exists";
 * const header = await signer.signRequest({ method: "POST", url, body }, 1_700_000_000);
 * assert.match(
 *   header["X-Extauth-Signature"],
 *   /^v2 t=1700000000,n=[0-9a-f]{32},s=[0-9a-f]{64}$/,
 * );
 * ```
 *
 * @example Sign a request body (v1, deprecated)
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSigner } from "./signing.ts";
 * const signer = await createSigner(new TextEncoder().encode("s3cr3t"));
 * const body = JSON.stringify({ username: "alice@example.com" });
 * const headers = await signer.sign(body, 1_700_000_000);
 * assert.equal(headers["X-Extauth-Timestamp"], "1700000000");
 * assert.match(headers["X-Extauth-Signature"], /^sha256=[0-9a-f]{64}$/);
 * ```
 */
export async function createSigner(secret: Uint8Array): Promise<Signer> {
  const key = await importKey(secret, "sign");
  // toString/toJSON keep logs tidy; the key itself is opaque and non-extractable anyway.
  const signer: Signer & { toString(): string; toJSON(): string } = {
    async signRequest(request, unixSeconds, nonce = freshNonce()) {
      const timestamp = checkedTimestamp(unixSeconds);
      if (!NONCE_PATTERN.test(nonce)) {
        throw new RangeError("Cannot sign request: the nonce is not 32 lowercase hex digits");
      }
      const text = canonicalV2(request, timestamp, nonce);
      const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(text));
      return {
        "X-Extauth-Signature": `v2 t=${timestamp},n=${nonce},s=${toHex(new Uint8Array(mac))}`,
      };
    },
    async sign(body: string, unixSeconds: number): Promise<SignatureHeaders> {
      const timestamp = checkedTimestamp(unixSeconds);
      const mac = await crypto.subtle.sign("HMAC", key, signedBytes(timestamp, body));
      return {
        "X-Extauth-Timestamp": timestamp,
        "X-Extauth-Signature": `sha256=${toHex(new Uint8Array(mac))}`,
      };
    },
    toString: () => "[Signer]",
    toJSON: () => "[Signer]",
  };
  return signer;
}

/** The decimal form of a whole, non-negative number of seconds, or a RangeError. */
function checkedTimestamp(unixSeconds: number): string {
  if (!Number.isSafeInteger(unixSeconds) || unixSeconds < 0) {
    throw new RangeError(
      `Cannot sign request: timestamp ${unixSeconds} is not a whole number of seconds`,
    );
  }
  return String(unixSeconds);
}

/**
 * Turns the bytes of a secret file into the secret: removes ONE trailing
 * `"\n"` or `"\r\n"` (as left by editors and `echo`) and nothing else, so
 * spaces and other bytes stay part of the secret. Returns a copy.
 *
 * @param bytes The file's contents.
 * @throws {RangeError} If nothing is left.
 *
 * @example Read the secret file
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSigner, parseSecretFile } from "./signing.ts";
 * const bytes = new TextEncoder().encode("s3cr3t\n"); // e.g. the bytes of --hmac-secret-file
 * assert.deepEqual(parseSecretFile(bytes), new TextEncoder().encode("s3cr3t"));
 * const signer = await createSigner(parseSecretFile(bytes));
 * ```
 */
export function parseSecretFile(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) {
    end--;
    if (end > 0 && bytes[end - 1] === 0x0d) end--;
  }
  if (end === 0) {
    throw new RangeError("Cannot use HMAC secret file: it is empty (apart from a final newline)");
  }
  return bytes.slice(0, end);
}

/**
 * Checks a deprecated v1 signature (`--signature-scheme v1`): it cannot tell
 * a replay to another endpoint, nor the same request again, within the window;
 * for v2 see the verifier in `docs/signed-requests.md`. The timestamp is decimal Unix
 * seconds within `maxSkewSeconds` of `nowSeconds`, the signature header is
 * `sha256=` and 64 lowercase hex digits, and the HMAC matches (compared in
 * constant time by Web Crypto). Returns false for anything malformed; never
 * throws for what a client sent.
 *
 * @param secret The shared secret.
 * @param body The exact request body as received (decoded as UTF-8).
 * @param timestamp The `X-Extauth-Timestamp` header.
 * @param signature The `X-Extauth-Signature` header.
 * @param nowSeconds The verifier's clock, Unix seconds.
 * @param maxSkewSeconds How far the timestamp may be from `nowSeconds`, either way.
 * @throws {RangeError} If the secret is empty.
 *
 * @example Verify a request on the API side
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSigner, verifySignature } from "./signing.ts";
 * const secret = new TextEncoder().encode("s3cr3t");
 * const body = '{"username":"alice@example.com","user":"alice","server":"example.com"}';
 * const now = Math.floor(Date.now() / 1000);
 * const headers = await (await createSigner(secret)).sign(body, now);
 * assert.equal(
 *   await verifySignature(
 *     secret,
 *     body,
 *     headers["X-Extauth-Timestamp"],
 *     headers["X-Extauth-Signature"],
 *     now,
 *   ),
 *   true,
 * );
 * ```
 */
export async function verifySignature(
  secret: Uint8Array,
  body: string,
  timestamp: string,
  signature: string,
  nowSeconds: number,
  maxSkewSeconds: number = DEFAULT_MAX_SKEW_SECONDS,
): Promise<boolean> {
  const key = await importKey(secret, "verify");
  if (!TIMESTAMP_PATTERN.test(timestamp)) return false;
  if (!(Math.abs(nowSeconds - Number(timestamp)) <= maxSkewSeconds)) return false;
  const match = SIGNATURE_PATTERN.exec(signature);
  if (match === null) return false;
  return await crypto.subtle.verify(
    "HMAC",
    key,
    fromHex(match[1]!),
    signedBytes(timestamp, body),
  );
}
