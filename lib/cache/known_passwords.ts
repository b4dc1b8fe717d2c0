/**
 * The passwords this process has verified against a shared cache's verifiers (the SQLite
 * file's or Redis'), so that a fresh lookup costs one HMAC instead of the KDF: per user, the
 * HMAC of the password under a random key of this process (non-extractable, never leaves it),
 * tied to the verifier it matched. A verifier that changed (another copy remembered another
 * password) makes the entry unknown again. Bounded, least recently used first.
 *
 * @module
 */

import { encodeInput } from "./memory_cache.ts";

/** What {@linkcode KnownPasswords.knows} says of a password. */
export type Knowledge = "yes" | "no" | "unknown";

/**
 * Passwords verified by this process, by user slot.
 *
 * @example Learn a password, then know it without the KDF
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeInput } from "./memory_cache.ts";
 * import { KnownPasswords } from "./known_passwords.ts";
 * const known = new KnownPasswords<string>(10, (a, b) => a === b);
 * await known.learn("u1", encodeInput("alice", "example.com", "secret"), "v1");
 * assert.equal(await known.knows("u1", "alice", "example.com", "secret", "v1"), "yes");
 * assert.equal(await known.knows("u1", "alice", "example.com", "wrong", "v1"), "no");
 * assert.equal(await known.knows("u1", "alice", "example.com", "secret", "v2"), "unknown");
 * ```
 */
export class KnownPasswords<V> {
  readonly #entries = new Map<
    string,
    { readonly verifier: V; readonly mac: Uint8Array<ArrayBuffer> }
  >();
  readonly #key = crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);

  constructor(
    private readonly maxEntries: number,
    private readonly sameVerifier: (a: V, b: V) => boolean,
  ) {}

  /**
   * Whether this process already verified `password` against `verifier`: `"yes"`, `"no"` (it
   * verified another password against this very verifier), or `"unknown"`. Costs one HMAC,
   * never the KDF.
   */
  async knows(
    slot: string,
    user: string,
    server: string,
    password: string,
    verifier: V,
  ): Promise<Knowledge> {
    const known = this.#entries.get(slot);
    if (known === undefined || !this.sameVerifier(known.verifier, verifier)) return "unknown";
    const data = encodeInput(user, server, password);
    const same = await crypto.subtle.verify("HMAC", await this.#key, known.mac, data);
    data.fill(0);
    if (!same) return "no";
    this.#entries.delete(slot);
    this.#entries.set(slot, known);
    return "yes";
  }

  /**
   * Whether `password` matches `verifier`: `"known"` when this process verified it before (one
   * HMAC), else `"verified"` when `verify` (the KDF) says so — learned then, while `keep()`
   * holds — or `"no"`. Without `verify` an unknown password is `"no"` (a fresh lookup never
   * pays the KDF).
   */
  async matches(
    slot: string,
    user: string,
    server: string,
    password: string,
    verifier: V,
    verify: ((input: Uint8Array) => Promise<boolean>) | undefined,
    keep: () => boolean = () => true,
  ): Promise<"known" | "verified" | "no"> {
    const known = await this.knows(slot, user, server, password, verifier);
    if (known !== "unknown") return known === "yes" ? "known" : "no";
    if (verify === undefined) return "no";
    const input = encodeInput(user, server, password);
    try {
      if (!await verify(input)) return "no";
      if (keep()) await this.learn(slot, input, verifier);
      return "verified";
    } finally {
      input.fill(0);
    }
  }

  /** Notes that the password in `input` (see `encodeInput`) matches `verifier`. */
  async learn(slot: string, input: Uint8Array, verifier: V): Promise<void> {
    const mac = new Uint8Array(
      await crypto.subtle.sign("HMAC", await this.#key, input as Uint8Array<ArrayBuffer>),
    );
    this.#entries.delete(slot);
    this.#entries.set(slot, { verifier, mac });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.maxEntries) break;
      this.#entries.delete(oldest);
    }
  }

  /** Forgets one user's password. */
  forget(slot: string): void {
    this.#entries.delete(slot);
  }

  /** Forgets every password (the cache's file or connection changed). */
  clear(): void {
    this.#entries.clear();
  }
}
