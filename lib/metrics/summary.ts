/**
 * The summary line logged at info every `--stats-interval` and at exit: what happened since
 * the last one, in one line an admin reads at a glance.
 *
 * @module
 */

import { OPERATIONS } from "../core/operations.ts";
import { OUTCOMES, type Snapshot } from "./metrics.ts";

/** A period in the largest whole units that say it: `1h`, `2m30s`, `45s`, `0.8s`. */
function period(ms: number): string {
  if (ms < 10_000) return `${Math.round(ms / 100) / 10}s`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s || (!h && !m) ? `${s}s` : ""}`;
}

/**
 * The line: requests per operation and outcome, the API's calls and latency, then every other
 * counter, over the `periodMs` between `before` (nothing: since start) and `now`.
 *
 * @example A quiet hour and a busy one
 * ```ts
 * import assert from "node:assert/strict";
 * import { Metrics } from "./metrics.ts";
 * import { summaryLine } from "./summary.ts";
 * const metrics = new Metrics();
 * const start = metrics.snapshot();
 * metrics.request("auth", "true", 4);
 * metrics.api(4, 1);
 * assert.equal(
 *   summaryLine(start, metrics.snapshot(), 3_600_000, metrics.takeSlowest()),
 *   "stats for the last 1h: 1 request (auth 1 true); API 1 call, mean 4.0 ms, slowest " +
 *     "4.0 ms, 0 retries; 0 breaker openings, 0 cache hits, 0 outage-cache answers, 0 rejected",
 * );
 * ```
 */
export function summaryLine(
  before: Snapshot,
  now: Snapshot,
  periodMs: number,
  slowestMs: number,
): string {
  const ops: string[] = [];
  let requests = 0;
  for (const op of OPERATIONS) {
    const parts: string[] = [];
    let n = 0;
    for (const outcome of OUTCOMES) {
      const d = now.requests[op][outcome] - before.requests[op][outcome];
      if (d > 0) parts.push(`${d} ${outcome}`);
      n += d;
    }
    if (n > 0) ops.push(`${op} ${parts.join(", ")}`);
    requests += n;
  }
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const calls = now.apiCount - before.apiCount;
  const seconds = now.apiSumSeconds - before.apiSumSeconds;
  const api = calls === 0
    ? "API not asked"
    : `API ${plural(calls, "call")}, mean ${(seconds * 1000 / calls).toFixed(1)} ms, slowest ${
      slowestMs.toFixed(1)
    } ms, ${plural(now.retries - before.retries, "retry").replace("retrys", "retries")}`;
  return `stats for the last ${period(periodMs)}: ${plural(requests, "request")}${
    ops.length ? ` (${ops.join("; ")})` : ""
  }; ${api}; ${plural(now.breakerOpenings - before.breakerOpenings, "breaker opening")}, ${
    plural(now.cacheHits - before.cacheHits, "cache hit")
  }, ${plural(now.outageAnswers - before.outageAnswers, "outage-cache answer")}, ${
    now.rejected - before.rejected
  } rejected`;
}
