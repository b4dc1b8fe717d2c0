/**
 * Time, in one place: a monotonic clock for timeouts, deadlines, backoffs and breaker
 * cooldowns, the wall clock for what is shared between processes (the outage cache's time
 * stamps), and a timer. The program uses {@linkcode SYSTEM_CLOCK}, made once and passed down;
 * tests pass one whose time they move (`tests/helpers/clock.ts`), so that every wait runs
 * without waiting real time. No other module reads the time or sets a timer itself.
 *
 * @module
 */

/** The time a component waits on and the time stamps it keeps. */
export interface Clock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Milliseconds since the Unix epoch (the wall clock; it may jump). */
  wall(): number;
  /** Calls `fn` once after `ms`; returns a function that cancels the call. */
  after(ms: number, fn: () => void): () => void;
}

/**
 * `performance.now()`, `Date.now()` and `setTimeout`.
 *
 * @example Wait on the system clock
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep, SYSTEM_CLOCK } from "./clock.ts";
 * const start = SYSTEM_CLOCK.now();
 * await sleep(SYSTEM_CLOCK, 5);
 * assert.ok(SYSTEM_CLOCK.now() >= start);
 * assert.ok(SYSTEM_CLOCK.wall() > 1_700_000_000_000);
 * ```
 */
export const SYSTEM_CLOCK: Clock = {
  now: () => performance.now(),
  wall: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** Resolves after `ms` on the clock. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.after(ms, resolve));
}
