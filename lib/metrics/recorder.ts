/**
 * What the pipeline tells the metrics (`metrics.ts`): one call per event, through one object
 * passed in the pipeline's options. Without `--metrics-file` and `--stats-interval` the
 * pipeline gets {@linkcode NO_RECORDER}, whose calls do nothing.
 *
 * @module
 */

import type { Operation } from "../core/operations.ts";

/**
 * How a request ended: the API's `true` or `false`, an `error` after the API was asked (or
 * failed to answer), or `refused`: answered error before the API was asked (the breaker was
 * open, no route serves the domain, the outage cache could not forget the user).
 */
export type RequestOutcome = "true" | "false" | "error" | "refused";

/** Which remembered answer was served: a `--cache-ttl` hit, or a `--stale-ttl` outage answer. */
export type CacheAnswer = "hit" | "outage";

/** Receives the pipeline's events. */
export interface Recorder {
  /** A request answered (a remembered answer included), `ms` after it was read. */
  request(op: Operation, outcome: RequestOutcome, ms: number): void;
  /** The API step of one request: its duration, over every attempt, and the attempts made. */
  api(ms: number, attempts: number): void;
  /** A route's circuit breaker opened. */
  breakerOpened(): void;
  /** A remembered answer was served instead of the API's. */
  cacheAnswer(kind: CacheAnswer): void;
  /** A request that could not be read (bad framing inside, unknown operation, bad name). */
  rejected(): void;
}

/** A recorder that records nothing. */
export const NO_RECORDER: Recorder = {
  request() {},
  api() {},
  breakerOpened() {},
  cacheAnswer() {},
  rejected() {},
};
