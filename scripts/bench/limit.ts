/**
 * The limit rows: the benchmark's requests made directly with `fetch` (or curl), one at a time,
 * without a bridge: what no bridge built on that runtime's `fetch` can beat. Run on its own
 * (`bun scripts/bench/limit.ts URL TOTAL WARMUP`) it measures in that runtime and prints JSON.
 *
 * @module
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { buildCases, type Case, CASES, describe } from "./cases.ts";
import { run } from "./driver.ts";
import { type Latency, latencyStats } from "./stats.ts";

const SELF = fileURLToPath(import.meta.url);

export interface LimitResult {
  latency: Latency;
  rps: number;
  cpuMsPerReq?: number;
  /** RSS of the client process after the run (the benchmark's own, for the in-process limit). */
  rssKiB?: number;
}

export async function fetchLimit(url: string, total: number, warmup: number): Promise<LimitResult> {
  const cases = buildCases(CASES);
  const lat = new Float64Array(total - warmup);
  const headers = { "content-type": "application/json" };
  let start = 0;
  let cpu0 = 0;
  for (let i = 0; i < total; i++) {
    if (i === warmup) {
      start = performance.now();
      cpu0 = cpuNow();
    }
    const c = cases[i % cases.length] as Case;
    const t0 = performance.now();
    const res = await fetch(url + c.path, { method: "POST", headers, body: c.body });
    const text = await res.text();
    const t1 = performance.now();
    const ok = res.status === 200 &&
      text === (c.expect === 1 ? '{"success":true}' : '{"success":false}');
    if (!ok) throw new Error(`limit: wrong answer to ${describe(c)}: ${res.status} ${text}`);
    if (i >= warmup) lat[i - warmup] = t1 - t0;
  }
  const elapsed = performance.now() - start;
  const n = total - warmup;
  return {
    latency: latencyStats(lat),
    rps: (n * 1000) / elapsed,
    cpuMsPerReq: (cpuNow() - cpu0) / n,
    rssKiB: process.memoryUsage().rss / 1024,
  };
}

export function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export async function childFetchLimit(
  runtimeArgv: string[],
  url: string,
  total: number,
  warmup: number,
): Promise<LimitResult> {
  const r = await run([...runtimeArgv, SELF, url, String(total), String(warmup)]);
  if (r.code !== 0) throw new Error(`limit client failed: ${r.out.trim().slice(-1000)}`);
  return JSON.parse(r.out.trim().split("\n").pop() ?? "") as LimitResult;
}

/** curl (C, libcurl) making the requests one after another over one kept-alive connection. */
export async function curlLimit(url: string, total: number): Promise<LimitResult> {
  const cases = buildCases(CASES);
  const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-bench-"));
  try {
    const config = (n: number): string => {
      const parts: string[] = [];
      for (let i = 0; i < n; i++) {
        const c = cases[i % cases.length] as Case;
        const body = c.body.replaceAll("\\", "\\\\").replaceAll('"', '\\"');
        if (i > 0) parts.push("next\n");
        parts.push(
          `url = "${url}${c.path}"\nheader = "Content-Type: application/json"\n` +
            `data-binary = "${body}"\nsilent\n`,
        );
      }
      return parts.join("");
    };
    const timeCurl = async (n: number): Promise<number> => {
      const file = join(dir, `curl-${n}.conf`);
      writeFileSync(file, config(n));
      const t0 = performance.now();
      const r = await run(["curl", "--config", file]);
      const ms = performance.now() - t0;
      if (r.code !== 0) throw new Error(`curl failed: ${r.out.slice(-500)}`);
      let want = "";
      for (let i = 0; i < n; i++) {
        want += (cases[i % cases.length] as Case).expect === 1
          ? '{"success":true}'
          : '{"success":false}';
      }
      if (r.out !== want) throw new Error("curl: wrong answers from the loopback API");
      return ms;
    };
    const base = await timeCurl(1);
    const ms = await timeCurl(total);
    const per = (ms - base) / (total - 1);
    return {
      latency: {
        n: total,
        meanUs: per * 1000,
        p50Us: NaN,
        p90Us: NaN,
        p99Us: NaN,
        p999Us: NaN,
        maxUs: NaN,
      },
      rps: 1000 / per,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const [url, total, warmup] = process.argv.slice(2);
  const r = await fetchLimit(url ?? "", Number(total), Number(warmup));
  process.stdout.write(JSON.stringify(r) + "\n");
  process.exit(0);
}
