/**
 * The counters in Prometheus' text exposition format (version 0.0.4), as node_exporter's
 * textfile collector reads them: `# HELP` and `# TYPE` before each family, every sample
 * labelled with the copy's `pid` (node_exporter merges the files of the pool, and two samples
 * with the same name and labels would make it refuse them all). docs/metrics.md lists them.
 *
 * @module
 */

import { OPERATIONS } from "../core/operations.ts";
import { BUCKETS, OUTCOMES, type Snapshot } from "./metrics.ts";

/** The prefix of every metric name. */
export const PREFIX = "xmpp_extauth_";

/** A number as the format writes it. */
function num(value: number): string {
  if (value === Infinity) return "+Inf";
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(15)));
}

/**
 * The metrics file's text.
 *
 * @example One copy's requests
 * ```ts
 * import assert from "node:assert/strict";
 * import { Metrics } from "./metrics.ts";
 * import { prometheusText } from "./prometheus.ts";
 * const metrics = new Metrics();
 * metrics.request("auth", "true", 3);
 * const text = prometheusText(metrics.snapshot(), { pid: 42, startSeconds: 1 });
 * assert.match(text, /^xmpp_extauth_requests_total\{pid="42",op="auth",outcome="true"\} 1$/m);
 * ```
 */
export function prometheusText(
  s: Snapshot,
  process: { readonly pid: number; readonly startSeconds: number },
): string {
  const pid = `pid="${process.pid}"`;
  const lines: string[] = [];
  const family = (name: string, type: "counter" | "gauge" | "histogram", help: string) => {
    lines.push(`# HELP ${PREFIX}${name} ${help}`, `# TYPE ${PREFIX}${name} ${type}`);
  };
  const sample = (name: string, labels: string, value: number) => {
    lines.push(`${PREFIX}${name}{${pid}${labels}} ${num(value)}`);
  };
  family("requests_total", "counter", "Requests answered, by operation and outcome.");
  for (const op of OPERATIONS) {
    for (const outcome of OUTCOMES) {
      sample("requests_total", `,op="${op}",outcome="${outcome}"`, s.requests[op][outcome]);
    }
  }
  family(
    "api_duration_seconds",
    "histogram",
    "Time of the API step of a request, every attempt included.",
  );
  BUCKETS.forEach((le, i) =>
    sample("api_duration_seconds_bucket", `,le="${le}"`, s.apiBuckets[i]!)
  );
  sample("api_duration_seconds_bucket", `,le="+Inf"`, s.apiCount);
  sample("api_duration_seconds_sum", "", s.apiSumSeconds);
  sample("api_duration_seconds_count", "", s.apiCount);
  family("api_retries_total", "counter", "Requests sent to the API again after a failure.");
  sample("api_retries_total", "", s.retries);
  family("breaker_openings_total", "counter", "Times a circuit breaker opened.");
  sample("breaker_openings_total", "", s.breakerOpenings);
  family("cache_hits_total", "counter", "Successes answered from the cache (--cache-ttl).");
  sample("cache_hits_total", "", s.cacheHits);
  family(
    "outage_cache_answers_total",
    "counter",
    "Successes answered from the outage cache while the API failed (--stale-ttl).",
  );
  sample("outage_cache_answers_total", "", s.outageAnswers);
  family("rejected_requests_total", "counter", "Requests that could not be read.");
  sample("rejected_requests_total", "", s.rejected);
  family("start_time_seconds", "gauge", "When this copy started, in seconds since the epoch.");
  sample("start_time_seconds", "", process.startSeconds);
  return lines.join("\n") + "\n";
}
