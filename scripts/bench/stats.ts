/**
 * Statistics and /proc readings for the benchmark: latency percentiles, CPU time, RSS, and the
 * proportional set size (PSS) that shows what N copies of one executable cost together.
 *
 * @module
 */

import { readFileSync } from "node:fs";

/** Latency percentiles of one run, in µs. */
export interface Latency {
  n: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

/** Percentiles of a list of durations in ms. */
export function latencyStats(ms: Float64Array): Latency {
  const s = Float64Array.from(ms).sort();
  const at = (q: number): number =>
    (s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0) * 1000;
  let sum = 0;
  for (const v of s) sum += v;
  return {
    n: s.length,
    meanUs: (sum / s.length) * 1000,
    p50Us: at(0.5),
    p90Us: at(0.9),
    p99Us: at(0.99),
    p999Us: at(0.999),
    maxUs: (s[s.length - 1] ?? 0) * 1000,
  };
}

/** The median (the lower one of an even count). */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
}

/** VmRSS and VmHWM (peak RSS) of a process, in KiB. */
export function procStatus(pid: number): { rssKiB: number; hwmKiB: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
  return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM") };
}

/** Memory of a process from /proc/PID/smaps_rollup, in KiB. */
export interface Smaps {
  rssKiB: number;
  /** Proportional set size: shared pages divided among the processes that map them. */
  pssKiB: number;
  pssAnonKiB: number;
  pssFileKiB: number;
  /** Pages no other process maps (Private_Clean + Private_Dirty). */
  privateKiB: number;
}

/** Reads /proc/PID/smaps_rollup. */
export function procSmaps(pid: number): Smaps {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kib = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
  return {
    rssKiB: kib("Rss"),
    pssKiB: kib("Pss"),
    pssAnonKiB: kib("Pss_Anon"),
    pssFileKiB: kib("Pss_File"),
    privateKiB: kib("Private_Clean") + kib("Private_Dirty"),
  };
}

/** The sum of {@linkcode procSmaps} over several processes. */
export function sumSmaps(pids: readonly number[]): Smaps {
  const total: Smaps = { rssKiB: 0, pssKiB: 0, pssAnonKiB: 0, pssFileKiB: 0, privateKiB: 0 };
  for (const pid of pids) {
    const s = procSmaps(pid);
    total.rssKiB += s.rssKiB;
    total.pssKiB += s.pssKiB;
    total.pssAnonKiB += s.pssAnonKiB;
    total.pssFileKiB += s.pssFileKiB;
    total.privateKiB += s.privateKiB;
  }
  return total;
}

const CLK_TCK = 100;

/** CPU time (user + system, all threads) of a process, in ms. */
export function procCpuMs(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** Number of threads of a process. */
export function procThreads(pid: number): number {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^Threads:\s+(\d+)/m.exec(text)?.[1]);
}

/** The 1, 5 and 15 minute load averages. */
export function loadavg(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}
