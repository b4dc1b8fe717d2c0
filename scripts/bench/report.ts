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
  version: 3;
  date: string;
  command: string;
  machine: Record<string, string | number>;
  settings: Record<string, string | number | boolean | string[]>;
  rows: Row[];
  /** The "16 copies" rows. */
  copies: CopiesRow[];
  /** Every target over the runs (`rows` and `copies` are the last run's). */
  targets: TargetSummary[];
  /** Each run (`--runs`), in order. */
  runs: RunResult[];
}

/** One group of copies in the report. */
export interface CopiesRow {
  name: string;
  baseline: boolean;
  /** The floor bridge's copies. */
  reference?: boolean;
  result: CopiesResult;
}

/** The unit a target's figures are in. */
export type Unit = "µs" | "ms" | "MiB";

/** One target in one run: met when `measured` ≤ `bound` (null: not measured, see `na`). */
export interface TargetCheck {
  row: string;
  target: string;
  unit: Unit;
  measured: number;
  bound: number;
  met: boolean | null;
  /** Why `met` would be null. */
  na: string;
}

/** One target over every run. */
export interface TargetSummary {
  row: string;
  target: string;
  unit: Unit;
  /** The figure and the bound of each run, in run order. */
  measured: number[];
  bound: number[];
  medianMeasured: number;
  medianBound: number;
  /** Met on the medians. */
  met: boolean | null;
  na: string;
}

/** What one run of the measurement gave. */
export interface RunResult {
  rows: Row[];
  copies: CopiesRow[];
  targets: TargetCheck[];
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
    const spawned = (Number.isFinite(x.spawnP50Ms) ? `${x.spawnP50Ms.toFixed(0)} ms` : "–") +
      (x.spawnRestartP50Ms === undefined
        ? ""
        : ` (with the restart: ${x.spawnRestartP50Ms.toFixed(0)} ms)`);
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

/** The floor bridge's row of a run (scripts/bench/floor_bridge.ts), if it was measured. */
export function floorRow(rows: readonly Row[]): Row | undefined {
  return rows.find((r) =>
    r.kind === "reference" && r.name.startsWith("reference: floor") && r.bridge !== undefined
  );
}

/**
 * The targets of one run, each a measured figure against a bound from the same run (most of
 * them from the floor bridge's row): met when the figure is at most the bound.
 */
export function checkTargets(run: RunResult, settings: Report["settings"]): TargetCheck[] {
  const quick = settings.checkB !== 200_000;
  const out: TargetCheck[] = [];
  const floor = floorRow(run.rows)?.bridge;
  const noFloor = "no floor row";
  for (const r of run.rows) {
    if (r.kind !== "bridge" || !r.available || r.bridge === undefined) continue;
    const x = r.bridge;
    const add = (
      target: string,
      unit: Unit,
      measured: number,
      bound: number | undefined,
      na: string,
    ): void => {
      out.push({
        row: r.name,
        target,
        unit,
        measured,
        bound: bound ?? NaN,
        met: bound === undefined || !Number.isFinite(bound) || !Number.isFinite(measured)
          ? null
          : measured <= bound,
        na,
      });
    };
    add("p50 ≤ floor + 25 µs", "µs", x.latency.p50Us, floor && floor.latency.p50Us + 25, noFloor);
    add("CPU/req ≤ 1.25 × floor", "µs", x.cpuUsPerReq, floor && floor.cpuUsPerReq * 1.25, noFloor);
    add(
      "RSS idle ≤ floor + 3 MiB",
      "MiB",
      x.rssIdleKiB / MiB,
      floor && floor.rssIdleKiB / MiB + 3,
      noFloor,
    );
    add(
      "spawn → first reply ≤ floor with the restart + 5 ms",
      "ms",
      x.spawnP50Ms,
      floor?.spawnRestartP50Ms === undefined ? undefined : floor.spawnRestartP50Ms + 5,
      noFloor,
    );
    add("p99 ≤ 1 ms", "µs", x.latency.p99Us, 1000, "");
    // RSS saw-tooths with garbage collection: compare the peaks of the two halves.
    add(
      "no growth 100k → 200k (peak ≤ +1 MiB or +5 %)",
      "MiB",
      (x.peakBKiB - x.peakAKiB) / MiB,
      quick ? undefined : Math.max(1, (0.05 * x.peakAKiB) / MiB),
      "short run",
    );
  }
  const pythonCopies = run.copies.find((c) => c.baseline);
  const floorCopies = run.copies.find((c) => c.reference === true);
  for (const c of run.copies) {
    if (c.baseline || c.reference === true) continue;
    const x = c.result;
    const add = (target: string, measured: number, bound: number | undefined, na: string) => {
      out.push({
        row: `${c.name} (${x.copies} copies)`,
        target,
        unit: "MiB",
        measured,
        bound: bound ?? NaN,
        met: bound === undefined ? null : measured <= bound,
        na,
      });
    };
    const each = countLabel(x.requestsEach);
    add(
      `${x.copies} copies: PSS after ${each} each ≤ 1.15 × the floor's`,
      x.loaded.pssKiB / MiB,
      floorCopies && (floorCopies.result.loaded.pssKiB / MiB) * 1.15,
      "no floor copies",
    );
    add(
      `${x.copies} copies: PSS after ${each} each ≤ ½ the Python port's`,
      x.loaded.pssKiB / MiB,
      pythonCopies && pythonCopies.result.loaded.pssKiB / MiB / 2,
      "no Python copies",
    );
    add(
      `${x.copies} copies: back to idle PSS (≤ +5 %) within 60 s`,
      x.later.pssKiB / MiB,
      x.later.atSeconds <= 61 ? (x.idle.pssKiB / MiB) * 1.05 : undefined,
      "measured later than 60 s",
    );
  }
  return out;
}

/**
 * Every target over the runs: the median of the measured figures and of the bounds, met or
 * missed on those medians, with the spread (min–max) of both.
 */
export function summarizeTargets(runs: readonly TargetCheck[][]): TargetSummary[] {
  const out: TargetSummary[] = [];
  for (const first of runs[0] ?? []) {
    const same = runs.map((checks) =>
      checks.find((c) => c.row === first.row && c.target === first.target)
    ).filter((c): c is TargetCheck => c !== undefined);
    const measured = same.map((c) => c.measured);
    const bound = same.map((c) => c.bound);
    const m = median(measured);
    const b = median(bound);
    out.push({
      row: first.row,
      target: first.target,
      unit: first.unit,
      measured,
      bound,
      medianMeasured: m,
      medianBound: b,
      met: Number.isFinite(m) && Number.isFinite(b) ? m <= b : null,
      na: first.na,
    });
  }
  return out;
}

function median(values: readonly number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

function fmtUnit(v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return "–";
  return unit === "MiB" ? v.toFixed(1) : unit === "ms" ? v.toFixed(1) : String(Math.round(v));
}

function spread(values: readonly number[], unit: Unit): string {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return "–";
  const lo = fmtUnit(Math.min(...v), unit);
  const hi = fmtUnit(Math.max(...v), unit);
  return lo === hi ? lo : `${lo}–${hi}`;
}

/**
 * One line per target, e.g. `target: p50 ≤ floor + 25 µs — 213 vs 173 µs: missed (+40)`, the
 * medians over the runs, then the spread of the measured figure and of the bound over the runs.
 */
export function targetLines(summaries: readonly TargetSummary[], runs: number): string {
  return summaries.map((t) => {
    const m = fmtUnit(t.medianMeasured, t.unit);
    const b = fmtUnit(t.medianBound, t.unit);
    const d = t.medianMeasured - t.medianBound;
    const verdict = t.met === null
      ? `n/a (${t.na})`
      : `${t.met ? "met" : "missed"} (${d > 0 ? "+" : d < 0 ? "−" : "±"}${
        fmtUnit(Math.abs(d), t.unit)
      })`;
    const over = runs > 1
      ? `; ${t.measured.length} runs: ${spread(t.measured, t.unit)} vs ${
        spread(t.bound, t.unit)
      } ${t.unit}`
      : "";
    return `target: ${t.target} — ${m} vs ${b} ${t.unit}: ${verdict}${over}  [${t.row}]`;
  }).join("\n");
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
