/**
 * When a failed attempt is tried again, and after how long: a refused connection always
 * (it never reached the API); a timeout, a network error, a 429 or a 5xx only for an
 * operation that may reach the API twice (`isRetrySafe`, the operations table's column).
 *
 * @module
 */

import { isRetrySafe, type Operation } from "../core/operations.ts";
import type { FailureKind } from "./failures.ts";

/**
 * Whether a failed attempt may be repeated.
 *
 * @example A refused connection is retried even for a registration
 * ```ts
 * import assert from "node:assert/strict";
 * import { retryable } from "./retry.ts";
 * assert.equal(retryable("tryregister", "refused", undefined), true);
 * assert.equal(retryable("tryregister", "timeout", undefined), false);
 * assert.equal(retryable("auth", "status", 503), true);
 * assert.equal(retryable("auth", "status", 404), false);
 * ```
 */
export function retryable(
  op: Operation,
  failure: FailureKind,
  status: number | undefined,
): boolean {
  // A refused connection never reached the API: safe to repeat for any operation.
  if (failure === "refused") return true;
  if (!isRetrySafe(op)) return false;
  if (failure === "status") return status === 429 || (status !== undefined && status >= 500);
  return failure === "timeout" || failure === "network";
}

/**
 * The backoff before retry `n` (1-based): random in [0, min(cap, base·2^(n-1))].
 *
 * @example Never past the cap
 * ```ts
 * import assert from "node:assert/strict";
 * import { backoffMs } from "./retry.ts";
 * assert.ok(backoffMs(10, 100, 2000) <= 2000);
 * assert.ok(backoffMs(1, 100, 2000) <= 100);
 * ```
 */
export function backoffMs(n: number, baseMs: number, capMs: number): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** (n - 1));
}
