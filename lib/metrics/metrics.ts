/**
 * The counters of one copy: requests by operation and outcome, the API's latency as a
 * histogram, retries, breaker openings, remembered answers served, rejected requests. Plain
 * numbers in arrays, so that recording costs a few additions. Read out as Prometheus text
 * (`prometheus.ts`) and as the summary line (`summary.ts`).
 *
 * @module
 */

import { type Operation, OPERATIONS } from "../core/operations.ts";
import type { CacheAnswer, Recorder, RequestOutcome } from "./recorder.ts";

/** Every outcome, in the order they are listed. */
export const OUTCOMES: readonly RequestOutcome[] = ["true", "false", "error", "refused"];

/** The histogram's upper bounds, in seconds (Prometheus client libraries' defaults). */
export const BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

const OP_INDEX = new Map<Operation, number>(OPERATIONS.map((op, i) => [op, i]));
const OUTCOME_INDEX = new Map<RequestOutcome, number>(OUTCOMES.map((o, i) => [o, i]));

/** The counters at one moment (every count since start). */
export interface Snapshot {
  /** `requests[op][outcome]`. */
  readonly requests: Readonly<Record<Operation, Readonly<Record<RequestOutcome, number>>>>;
  /** Requests answered with each bucket's upper bound or less; the last is +Inf (the count). */
  readonly apiBuckets: readonly number[];
  readonly apiCount: number;
  readonly apiSumSeconds: number;
  readonly retries: number;
  readonly breakerOpenings: number;
  readonly cacheHits: number;
  readonly outageAnswers: number;
  readonly rejected: number;
}

/** The counters, recording as a {@linkcode Recorder}. */
export class Metrics implements Recorder {
  readonly #requests = new Float64Array(OPERATIONS.length * OUTCOMES.length);
  /** Per bucket, not cumulative; the last slot holds what is above every bound. */
  readonly #buckets = new Float64Array(BUCKETS.length + 1);
  #apiSum = 0;
  #retries = 0;
  #breakerOpenings = 0;
  #cacheHits = 0;
  #outageAnswers = 0;
  #rejected = 0;
  /** The slowest API step since {@linkcode takeSlowest} was last called, in ms. */
  #slowestMs = 0;

  request(op: Operation, outcome: RequestOutcome, _ms: number): void {
    this.#requests[OP_INDEX.get(op)! * OUTCOMES.length + OUTCOME_INDEX.get(outcome)!]! += 1;
  }

  api(ms: number, attempts: number): void {
    const seconds = ms / 1000;
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
    this.#buckets[i]! += 1;
    this.#apiSum += seconds;
    if (attempts > 1) this.#retries += attempts - 1;
    if (ms > this.#slowestMs) this.#slowestMs = ms;
  }

  breakerOpened(): void {
    this.#breakerOpenings += 1;
  }

  cacheAnswer(kind: CacheAnswer): void {
    if (kind === "hit") this.#cacheHits += 1;
    else this.#outageAnswers += 1;
  }

  rejected(): void {
    this.#rejected += 1;
  }

  /** The slowest API step since the last call, in ms (0 when none), and starts again. */
  takeSlowest(): number {
    const slowest = this.#slowestMs;
    this.#slowestMs = 0;
    return slowest;
  }

  /** Every count since start. */
  snapshot(): Snapshot {
    const requests = {} as Record<Operation, Record<RequestOutcome, number>>;
    OPERATIONS.forEach((op, i) => {
      const row = {} as Record<RequestOutcome, number>;
      OUTCOMES.forEach((o, j) => row[o] = this.#requests[i * OUTCOMES.length + j]!);
      requests[op] = row;
    });
    const apiBuckets: number[] = [];
    let total = 0;
    for (const n of this.#buckets) apiBuckets.push(total += n);
    return {
      requests,
      apiBuckets,
      apiCount: total,
      apiSumSeconds: this.#apiSum,
      retries: this.#retries,
      breakerOpenings: this.#breakerOpenings,
      cacheHits: this.#cacheHits,
      outageAnswers: this.#outageAnswers,
      rejected: this.#rejected,
    };
  }
}
