/**
 * A circuit breaker for the site's API (`--breaker-failures`,
 * `--breaker-cooldown`): after a run of consecutive backend errors it answers
 * "error" at once for a cooldown instead of letting every request wait for
 * its timeouts, then lets one request through to probe whether the API is
 * back.
 *
 * @module
 */

import { assertNumber } from "../core/assert_number.ts";
import type { Clock } from "../core/clock.ts";

/**
 * `"closed"`: requests go to the API. `"open"`: requests are refused at once.
 * `"half-open"`: the cooldown is over and one probe request is out.
 */
export type BreakerState = "closed" | "open" | "half-open";

/** What {@linkcode BreakerOptions.onChange} is told about a transition. */
export interface BreakerChange {
  /** Consecutive backend errors so far (on close: those seen before the success). */
  readonly failures: number;
  /** The cooldown the breaker was configured with. */
  readonly cooldownMs: number;
  /** On close, how long the breaker was open or half-open; 0 on open. */
  readonly openMs: number;
}

/** Options for {@linkcode CircuitBreaker}. */
export interface BreakerOptions {
  /** Consecutive backend errors that open the breaker; 0 disables it. */
  readonly failures: number;
  /** How long the breaker stays open before it lets a probe through. */
  readonly cooldownMs: number;
  /**
   * If a probe has reported neither success nor failure after this long,
   * another probe is allowed (a guard against a lost report). Default: never.
   */
  readonly probeTimeoutMs?: number;
  /** The clock whose monotonic time the cooldown runs on (the program's one clock). */
  readonly clock: Clock;
  /**
   * Called once when the breaker opens (`"open"`) and once when it closes
   * again (`"closed"`); a failed probe keeps it open and is not reported.
   */
  readonly onChange?: (state: BreakerState, detail: BreakerChange) => void;
}

/**
 * Counts consecutive backend errors and, past a threshold, refuses requests
 * for a cooldown. Ask {@linkcode CircuitBreaker.allow} before calling the
 * API; report every outcome of a call it allowed with
 * {@linkcode CircuitBreaker.success} (any definite answer, true or false) or
 * {@linkcode CircuitBreaker.failure} (a backend error).
 *
 * @example Guard the API calls
 * ```ts
 * import assert from "node:assert/strict";
 * import { CircuitBreaker } from "./breaker.ts";
 * import { SYSTEM_CLOCK } from "../core/clock.ts";
 * const breaker = new CircuitBreaker({
 *   clock: SYSTEM_CLOCK,
 *   failures: 5,
 *   cooldownMs: 5_000,
 *   onChange: (state, { failures }) => console.error(`breaker ${state} after ${failures} errors`),
 * });
 * async function ask(call: () => Promise<boolean>): Promise<"true" | "false" | "error"> {
 *   if (!breaker.allow()) return "error";
 *   try {
 *     const answer = await call();
 *     breaker.success();
 *     return answer ? "true" : "false";
 *   } catch {
 *     breaker.failure();
 *     return "error";
 *   }
 * }
 * assert.equal(await ask(() => Promise.resolve(true)), "true");
 * ```
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #probeTimeoutMs: number;
  readonly #clock: Clock;
  readonly #onChange: ((state: BreakerState, detail: BreakerChange) => void) | undefined;
  #state: BreakerState = "closed";
  #failures = 0;
  /** When the breaker opened first (for openMs) and when it (re)opened last (for the cooldown). */
  #firstOpenedAt = 0;
  #openedAt = 0;
  #probeAt = 0;

  /**
   * Makes a closed breaker.
   *
   * @throws {RangeError} if `failures` is not a whole number >= 0, or a
   * duration is negative or not finite (`probeTimeoutMs` may be `Infinity`).
   *
   * @example A disabled breaker
   * ```ts
   * import assert from "node:assert/strict";
   * import { CircuitBreaker } from "./breaker.ts";
   * import { SYSTEM_CLOCK } from "../core/clock.ts";
   * const breaker = new CircuitBreaker({ failures: 0, cooldownMs: 5_000, clock: SYSTEM_CLOCK });
   * breaker.failure();
   * assert.equal(breaker.allow(), true);
   * ```
   */
  constructor(options: BreakerOptions) {
    assertNumber("circuit breaker", "failures", options.failures, { integer: true });
    assertNumber("circuit breaker", "cooldownMs", options.cooldownMs);
    assertNumber("circuit breaker", "probeTimeoutMs", options.probeTimeoutMs ?? Infinity, {
      infinite: true,
    });
    this.#threshold = options.failures;
    this.#cooldownMs = options.cooldownMs;
    this.#probeTimeoutMs = options.probeTimeoutMs ?? Infinity;
    this.#clock = options.clock;
    this.#onChange = options.onChange;
  }

  /**
   * The current state. Reading it changes nothing: an open breaker whose
   * cooldown is over stays `"open"` (with {@linkcode retryInMs} 0) until
   * {@linkcode allow} lets the probe through.
   *
   * @example Read the state
   * ```ts
   * import assert from "node:assert/strict";
   * import { CircuitBreaker } from "./breaker.ts";
   * import { SYSTEM_CLOCK } from "../core/clock.ts";
   * const breaker = new CircuitBreaker({ failures: 5, cooldownMs: 5_000, clock: SYSTEM_CLOCK });
   * assert.equal(breaker.state, "closed");
   * ```
   */
  get state(): BreakerState {
    return this.#state;
  }

  /**
   * Milliseconds until a probe is allowed: 0 when closed or half-open, or
   * when the cooldown is over.
   *
   * @example Tell how long the API will be left alone
   * ```ts
   * import assert from "node:assert/strict";
   * import { CircuitBreaker } from "./breaker.ts";
   * let time = 0;
   * const clock = { now: () => time, wall: () => time, after: () => () => {} };
   * const breaker = new CircuitBreaker({ failures: 1, cooldownMs: 5_000, clock });
   * breaker.failure();
   * time = 2_000;
   * assert.equal(breaker.retryInMs, 3000);
   * ```
   */
  get retryInMs(): number {
    if (this.#state !== "open") return 0;
    return Math.max(0, this.#openedAt + this.#cooldownMs - this.#clock.now());
  }

  /**
   * Whether to ask the API. `false` means the breaker is open: answer
   * "error" at once. Once the cooldown is over it returns `true` exactly once
   * (the half-open probe) and then `false` until the probe's outcome is
   * reported.
   *
   * @example Refuse while open
   * ```ts
   * import assert from "node:assert/strict";
   * import { CircuitBreaker } from "./breaker.ts";
   * import { SYSTEM_CLOCK } from "../core/clock.ts";
   * const breaker = new CircuitBreaker({ failures: 1, cooldownMs: 5_000, clock: SYSTEM_CLOCK });
   * assert.equal(breaker.allow(), true);
   * breaker.failure();
   * assert.equal(breaker.allow(), false);
   * ```
   */
  allow(): boolean {
    switch (this.#state) {
      case "closed":
        return true;
      case "open": {
        const now = this.#clock.now();
        if (now - this.#openedAt < this.#cooldownMs) return false;
        this.#state = "half-open";
        this.#probeAt = now;
        return true;
      }
      case "half-open": {
        const now = this.#clock.now();
        if (now - this.#probeAt < this.#probeTimeoutMs) return false;
        this.#probeAt = now;
        return true;
      }
    }
  }

  /**
   * Reports a definite answer (true or false) from the API: resets the error
   * count and closes the breaker.
   *
   * @example Close after a successful probe
   * ```ts
   * import assert from "node:assert/strict";
   * import { CircuitBreaker } from "./breaker.ts";
   * let time = 0;
   * const clock = { now: () => time, wall: () => time, after: () => () => {} };
   * const breaker = new CircuitBreaker({ failures: 1, cooldownMs: 5_000, clock });
   * breaker.failure();
   * time = 5_000;
   * assert.equal(breaker.allow(), true);
   * breaker.success();
   * assert.equal(breaker.state, "closed");
   * ```
   */
  success(): void {
    const failures = this.#failures;
    this.#failures = 0;
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#onChange?.("closed", {
      failures,
      cooldownMs: this.#cooldownMs,
      openMs: Math.max(0, this.#clock.now() - this.#firstOpenedAt),
    });
  }

  /**
   * Reports a backend error. The `failures`-th consecutive one opens the
   * breaker; a failed probe opens it again for another cooldown.
   *
   * @example Open after three errors in a row
   * ```ts
   * import assert from "node:assert/strict";
   * import { CircuitBreaker } from "./breaker.ts";
   * import { SYSTEM_CLOCK } from "../core/clock.ts";
   * const breaker = new CircuitBreaker({ failures: 3, cooldownMs: 5_000, clock: SYSTEM_CLOCK });
   * breaker.failure();
   * breaker.failure();
   * breaker.failure();
   * assert.equal(breaker.state, "open");
   * ```
   */
  failure(): void {
    if (this.#threshold === 0) return;
    this.#failures++;
    switch (this.#state) {
      case "closed":
        if (this.#failures < this.#threshold) return;
        this.#state = "open";
        this.#firstOpenedAt = this.#openedAt = this.#clock.now();
        this.#onChange?.("open", {
          failures: this.#failures,
          cooldownMs: this.#cooldownMs,
          openMs: 0,
        });
        return;
      case "half-open":
        this.#state = "open";
        this.#openedAt = this.#clock.now();
        return;
      case "open":
        // A request let through before the breaker opened: the cooldown stands.
        return;
    }
  }
}
