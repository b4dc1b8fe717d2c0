/**
 * One request to the API: attempts (`attempt.ts`) with a per-attempt timeout inside an
 * overall deadline, retrying what `retry.ts` says is safe to retry, the last failure's cause
 * naming the number of attempts. Never throws.
 *
 * @module
 */

import { type Clock, sleep, SYSTEM_CLOCK } from "../core/clock.ts";
import type { AuthRequest } from "../core/request.ts";
import { attempt } from "./attempt.ts";
import type { Outcome } from "./failures.ts";
import { backoffMs, retryable } from "./retry.ts";
import type { Target } from "./router.ts";

/** Timing and retry policy. */
export interface Policy {
  readonly timeoutMs: number;
  readonly deadlineMs: number;
  readonly retries: number;
  /** Backoff before retry n (1-based) is random in [0, min(cap, base·2^(n-1))]. */
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
}

/**
 * Asks the API once (with retries where safe) and returns what it said.
 * `fetchFn` is the runtime's `fetch` (or one with a private CA).
 *
 * @example Ask the API whether a user exists (needs an API listening)
 * ```ts ignore
 * import { askApi } from "./backend.ts";
 * import { JSON_CONTRACT } from "./contracts.ts";
 * const outcome = await askApi(fetch, {
 *   url: "http://127.0.0.1:8080/exists",
 *   contract: JSON_CONTRACT,
 *   headers: {},
 * }, { timeoutMs: 5000, deadlineMs: 20000, retries: 2 }, {
 *   op: "isuser",
 *   user: "alice",
 *   server: "example.com",
 * });
 * ```
 */
export async function askApi(
  fetchFn: typeof fetch,
  target: Target,
  policy: Policy,
  request: AuthRequest,
  clock: Clock = SYSTEM_CLOCK,
): Promise<Outcome> {
  const now = () => clock.now();
  const started = now();
  const { contract } = target;
  const body = contract.body(request);
  const base = policy.backoffBaseMs ?? 100;
  const cap = policy.backoffCapMs ?? 2000;
  let attempts = 0;
  let last: Outcome | undefined;
  while (true) {
    const remaining = policy.deadlineMs - (now() - started);
    if (remaining <= 0) break;
    attempts++;
    const timeoutMs = Math.min(policy.timeoutMs, remaining);
    // A controller that aborts after the timeout, its timer cleared as soon as the attempt
    // ends. Not AbortSignal.timeout(): that keeps every signal and its timer alive for the
    // full timeout (docs/performance.md). Written out here, not in a helper: one async frame
    // and one closure less per request for the garbage collector.
    const controller = new AbortController();
    const cancel = clock.after(timeoutMs, () => controller.abort(timeoutError()));
    let outcome: Outcome;
    try {
      outcome = await attempt(fetchFn, target, body, request, timeoutMs, attempts, controller);
    } finally {
      cancel();
    }
    if (outcome.kind === "answer") return outcome;
    last = outcome;
    if (attempts > policy.retries || !retryable(request.op, outcome.failure, outcome.status)) break;
    const backoff = backoffMs(attempts, base, cap);
    const left = policy.deadlineMs - (now() - started);
    if (backoff >= left) break;
    await sleep(clock, backoff);
  }
  if (last === undefined) {
    return { kind: "error", failure: "deadline", cause: "deadline passed before a try", attempts };
  }
  return last.kind === "error" && attempts > 1
    ? { ...last, cause: `${last.cause} (after ${attempts} attempts)` }
    : last;
}

/** The reason an attempt's controller is aborted with when its time is up. */
function timeoutError(): DOMException {
  return new DOMException("timed out", "TimeoutError");
}
