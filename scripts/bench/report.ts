/**
 * The benchmark's report: the markdown tables (single process, 16 copies, targets), the
 * description of the run, and the comparison with an earlier JSON report.
 *
 * @module
 */

import type { BridgeResult } from "./bridges.ts";
import type { CopiesResult } from "./copies.ts";
import type { LimitResult } from "./limit.ts";

export interface Row {
  name: string;
  /** reference: the pipe floor; baseline: the Python port of the old script. */
  kind: "limit" | "bridge" | "reference" | "baseline";
  client: string;
  available: boolean;
  why?: string;
  limit?: LimitResult;
  bridge?: BridgeResult;
  ownCostP50Us?: number;
  ownCostBase?: string;
}

export interface Report {
  tool: "xmpp-extauth bench";
  version: 2;
  date: string;
  command: string;
  machine: Record<string, string | number>;
  settings: Record<string, string | number | boolean | string[]>;
  rows: Row[];
  /** The "16 copies" rows. */
  copies: CopiesRow[];
  targets: TargetCheck[];
}

/** One group of copies in the report. */
export interface CopiesRow {
  name: string;
  baseline: boolean;
  result: CopiesResult;
}

export interface TargetCheck {
  row: string;
  target: string;
  value: string;
  met: boolean | null;
  /** Why `met` is null. */
  na?: string;
}

const MiB = 1024;
export const fmtInt = (v: number): string =>
  Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "–";
const fmtUs = (v: number | undefined): string =>
  v !== undefined && Number.isFinite(v) ? `${Math.round(v)} µs` : "–";
const fmtMiB = (kib: number): string => Number.isFinite(kib) ? `${(kib / MiB).toFixed(1)}` : "–";
const fmtSize = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export function countLabel(n: number): string {
  return n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

export function markdownTable(report: Report): string {
  const s = report.settings;
  const a = countLabel(Number(s.checkA));
  const b = countLabel(Number(s.checkB));
  const head = [
    "run",
    "req/s",
    "p50",
    "p99",
    "own cost p50",
    "spawn → 1st reply",
    "RSS idle",
    `RSS @${a}`,
    `RSS @${b}`,
    "RSS peak",
    "CPU/req",
    "size",
  ];
  const lines = [
    `| ${head.join(" | ")} |`,
    `|${head.map((_, i) => i === 0 ? " --- " : " ---: ").join("|")}|`,
  ];
  for (const r of report.rows) {
    if (!r.available) {
      lines.push(`| ${r.name} | not available: ${r.why ?? ""} |${" |".repeat(head.length - 2)}`);
      continue;
    }
    if (r.limit !== undefined) {
      const l = r.limit;
      const cpu = l.cpuMsPerReq !== undefined ? fmtUs(l.cpuMsPerReq * 1000) : "–";
      const p50 = Number.isFinite(l.latency.p50Us)
        ? fmtUs(l.latency.p50Us)
        : `${fmtUs(l.latency.meanUs)} (mean)`;
      const rss = l.rssKiB === undefined ? "–" : `(${fmtMiB(l.rssKiB)} MiB)`;
      const p99 = fmtUs(l.latency.p99Us);
      lines.push(
        `| ${r.name} | ${
          fmtInt(l.rps)
        } | ${p50} | ${p99} | – | – | – | – | ${rss} | – | ${cpu} | – |`,
      );
      continue;
    }
    const x = r.bridge as BridgeResult;
    const cost = r.ownCostP50Us !== undefined ? `${fmtUs(r.ownCostP50Us)}` : "–";
    const spawned = Number.isFinite(x.spawnP50Ms) ? `${x.spawnP50Ms.toFixed(0)} ms` : "–";
    lines.push(
      `| ${r.name} | ${fmtInt(x.rps)} | ${fmtUs(x.latency.p50Us)} | ${fmtUs(x.latency.p99Us)} | ` +
        `${cost} | ${spawned} | ${fmtMiB(x.rssIdleKiB)} MiB | ` +
        `${fmtMiB(x.rssA)} MiB | ${fmtMiB(x.rssB)} MiB | ${fmtMiB(x.hwmKiB)} MiB | ` +
        `${fmtUs(x.cpuUsPerReq)} | ` +
        `${fmtSize(x.sizeBytes)} |`,
    );
  }
  return lines.join("\n");
}

export function checkTargets(report: Report): TargetCheck[] {
  const quick = report.settings.checkB !== 200_000;
  const out: TargetCheck[] = [];
  const python = report.rows.find((r) => r.kind === "baseline" && r.bridge !== undefined);
  for (const r of report.rows) {
    if (r.kind !== "bridge" || !r.available || r.bridge === undefined) continue;
    const x = r.bridge;
    const add = (target: string, value: string, met: boolean | null, na = "short run"): void => {
      out.push({ row: r.name, target, value, met, na });
    };
    add(
      "own cost p50 ≤ 50 µs",
      fmtUs(r.ownCostP50Us),
      r.ownCostP50Us === undefined ? null : r.ownCostP50Us <= 50,
      "no limit row",
    );
    const ratio = python === undefined ? NaN : x.rps / python.bridge!.rps;
    add(
      "req/s ≥ 5 × the Python port's",
      Number.isFinite(ratio) ? `${fmtInt(x.rps)} (${ratio.toFixed(1)} ×)` : fmtInt(x.rps),
      Number.isFinite(ratio) ? ratio >= 5 : null,
      "no Python row",
    );
    add("p99 ≤ 1 ms", fmtUs(x.latency.p99Us), x.latency.p99Us <= 1000);
    add("spawn → first reply ≤ 50 ms", `${x.spawnP50Ms.toFixed(1)} ms`, x.spawnP50Ms <= 50);
    // RSS saw-tooths with garbage collection: compare the peaks of the two halves.
    const growth = x.peakBKiB - x.peakAKiB;
    add(
      "no growth 100k → 200k (peak ≤ +1 MiB or +5 %)",
      `${growth >= 0 ? "+" : ""}${(growth / MiB).toFixed(1)} MiB`,
      quick ? null : growth <= Math.max(1 * MiB, 0.05 * x.peakAKiB),
    );
  }
  const pythonCopies = report.copies.find((c) => c.baseline);
  for (const c of report.copies) {
    if (c.baseline) continue;
    const x = c.result;
    const add = (target: string, value: string, met: boolean | null, na: string): void => {
      out.push({ row: `${c.name} (${x.copies} copies)`, target, value, met, na });
    };
    const half = pythonCopies === undefined ? NaN : pythonCopies.result.loaded.pssKiB / 2;
    add(
      `${x.copies} copies: PSS after ${countLabel(x.requestsEach)} each ≤ ½ the Python port's`,
      `${fmtMiB(x.loaded.pssKiB)} MiB` +
        (Number.isFinite(half) ? ` (½ Python: ${fmtMiB(half)} MiB)` : ""),
      Number.isFinite(half) ? x.loaded.pssKiB <= half : null,
      "no Python copies",
    );
    add(
      `${x.copies} copies: back to idle PSS (≤ +5 %) within 60 s`,
      `${fmtMiB(x.later.pssKiB)} MiB ${Math.round(x.later.atSeconds)} s later, idle ` +
        `${fmtMiB(x.idle.pssKiB)} MiB`,
      x.later.atSeconds <= 61 ? x.later.pssKiB <= x.idle.pssKiB * 1.05 : null,
      "measured later than 60 s",
    );
  }
  return out;
}

/** The "16 copies" table. */
export function copiesTable(report: Report): string {
  const first = report.copies[0]?.result;
  if (first === undefined) return "";
  const head = [
    `${first.copies} copies`,
    "PSS idle",
    `PSS after ${countLabel(first.requestsEach)} each`,
    "PSS later (s after load)",
    "private/copy idle",
    "private/copy loaded",
    "private/copy later",
    "req/s (all copies)",
  ];
  const lines = [
    `| ${head.join(" | ")} |`,
    `|${head.map((_, i) => i === 0 ? " --- " : " ---: ").join("|")}|`,
  ];
  for (const c of report.copies) {
    const x = c.result;
    const per = (kib: number): string => `${fmtMiB(kib / x.copies)} MiB`;
    lines.push(
      `| ${c.name} | ${fmtMiB(x.idle.pssKiB)} MiB | ${fmtMiB(x.loaded.pssKiB)} MiB | ` +
        `${fmtMiB(x.later.pssKiB)} MiB (${Math.round(x.later.atSeconds)} s) | ` +
        `${per(x.idle.privateKiB)} | ` +
        `${per(x.loaded.privateKiB)} | ${per(x.later.privateKiB)} | ${fmtInt(x.rps)} |`,
    );
  }
  return lines.join("\n");
}

export function targetTable(checks: TargetCheck[]): string {
  const rows = [...new Set(checks.map((c) => c.row))];
  const targets = [...new Set(checks.map((c) => c.target))];
  const lines = [
    `| target | ${rows.join(" | ")} |`,
    `| --- |${rows.map(() => " --- |").join("")}`,
  ];
  for (const t of targets) {
    const cells = rows.map((r) => {
      const c = checks.find((x) => x.row === r && x.target === t);
      if (c === undefined) return "–";
      const na = `n/a (${c.na ?? "not measured"})`;
      const mark = c.met === null ? na : c.met ? "met" : "**missed**";
      return `${c.value} ${mark}`;
    });
    lines.push(`| ${t} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

export function machineText(report: Report): string {
  const m = report.machine;
  const st = report.settings;
  return [
    `- Command: \`${report.command}\``,
    `- Machine: ${m.cpu}, ${m.cores} logical CPUs, ${m.memGiB} GiB RAM, Linux ${m.kernel}; ` +
    `load average ${m.loadBefore} before, ${m.loadAfter} after; processes pinned: ${st.pinned}.`,
    `- Runtimes: Deno ${m.deno} (V8 ${m.v8}), Bun ${m.bun}.`,
    `- Loopback API: ${st.serverImpl} in its own process on 127.0.0.1. ` +
    `${fmtInt(Number(st.requests))} requests per row (the first ${fmtInt(Number(st.warmup))} ` +
    `not timed): 4/6 auth (half of them true), 2/6 isuser (half true); every reply checked. ` +
    `Bridges run with \`--log-level ${st.logLevel}\`.`,
    `- Own cost = the bridge's p50 minus the p50 of fetch in the same runtime (the limit rows). ` +
    `The reference row is what the stdin/stdout round trip alone costs.`,
    `- CPU/req = user+system CPU time of that process (all threads) per request. ` +
    `RSS = VmRSS from /proc/PID/status in MiB: idle = 1 s after the first reply; ` +
    `peak = VmHWM; in parentheses, the limit client's RSS at its end. ` +
    `Spawn = median of ${st.spawnRuns} runs from spawn() to the first reply (spawning \`sh\` ` +
    `that answers at once takes ${m.spawnFloorMs} ms). Size = the executable (for deno and ` +
    `bun: the runtime, without the sources).`,
    `- The binary: ${st.binaryBuild}` +
    `${
      Array.isArray(st.binaryEnv) && st.binaryEnv.length > 0
        ? `, run with ${st.binaryEnv.join(" ")} in its environment`
        : ""
    }. The Python port: \`scripts/old_extauth.py\` under ` +
    `${m.python}, one new HTTP connection per request, ${fmtInt(Number(st.pythonRequests))} ` +
    `requests (it is slow).`,
    `- ${st.copies} copies: each copy answers one request, then 2 s idle: "idle"; then all copies ` +
    `of a group get ${fmtInt(Number(st.copyRequests))} requests each, one in flight per copy ` +
    `(the Python port's group first): "after"; then ${st.idleWaitSeconds} s without requests: ` +
    `"later". PSS and private memory (Private_Clean + Private_Dirty) from ` +
    `/proc/PID/smaps_rollup, summed over the copies; private memory shown per copy.`,
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Compare

export function compareText(old: Report, now: Report): string {
  const lines = [
    `Change against ${old.date} (${old.command}):`,
    "",
    "| run | figure | before | now | change |",
    "| --- | --- | ---: | ---: | ---: |",
  ];
  const pct = (a: number, b: number): string => {
    if (!Number.isFinite(a) || !Number.isFinite(b) || a === 0) return "–";
    const d = ((b - a) / a) * 100;
    return `${d >= 0 ? "+" : ""}${d.toFixed(1)} %`;
  };
  for (const r of now.rows) {
    const o = old.rows.find((x) => x.name === r.name);
    if (o === undefined || !r.available || !o.available) continue;
    const figures: [string, number | undefined, number | undefined, (v: number) => string][] = [];
    if (r.limit !== undefined && o.limit !== undefined) {
      figures.push(["req/s", o.limit.rps, r.limit.rps, fmtInt]);
      figures.push(["p50", o.limit.latency.p50Us, r.limit.latency.p50Us, fmtUs]);
      figures.push(["p99", o.limit.latency.p99Us, r.limit.latency.p99Us, fmtUs]);
    }
    if (r.bridge !== undefined && o.bridge !== undefined) {
      const a = o.bridge;
      const b = r.bridge;
      const mib = (v: number): string => `${fmtMiB(v)} MiB`;
      figures.push(["req/s", a.rps, b.rps, fmtInt]);
      figures.push(["p50", a.latency.p50Us, b.latency.p50Us, fmtUs]);
      figures.push(["p99", a.latency.p99Us, b.latency.p99Us, fmtUs]);
      figures.push(["own cost p50", o.ownCostP50Us, r.ownCostP50Us, fmtUs]);
      figures.push(["spawn", a.spawnP50Ms, b.spawnP50Ms, (v) => `${v.toFixed(1)} ms`]);
      figures.push(["RSS idle", a.rssIdleKiB, b.rssIdleKiB, mib]);
      figures.push([`RSS @${countLabel(Number(now.settings.checkA))}`, a.rssA, b.rssA, mib]);
      figures.push([`RSS @${countLabel(Number(now.settings.checkB))}`, a.rssB, b.rssB, mib]);
      figures.push(["RSS peak", a.hwmKiB, b.hwmKiB, mib]);
      figures.push(["CPU/req", a.cpuUsPerReq, b.cpuUsPerReq, fmtUs]);
      figures.push(["size", a.sizeBytes, b.sizeBytes, fmtSize]);
    }
    for (const [label, before, after, f] of figures) {
      if (before === undefined || after === undefined) continue;
      lines.push(`| ${r.name} | ${label} | ${f(before)} | ${f(after)} | ${pct(before, after)} |`);
    }
  }
  return lines.join("\n");
}
