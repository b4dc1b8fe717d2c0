/**
 * The bridge rows: one program driven as ejabberd drives it, one request in flight, every reply
 * checked; spawn to first reply, latency, CPU and RSS over the run.
 *
 * @module
 */

import type { ChildProcess } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { buildCases, type Case, CASES, describe } from "./cases.ts";
import { Bridge, run, sleep } from "./driver.ts";
import { cpuNow } from "./limit.ts";
import type { Options } from "./options.ts";
import { type Latency, latencyStats, median, procCpuMs, procStatus, procThreads } from "./stats.ts";

export interface BridgeSpec {
  name: string;
  argv: string[];
  exe: string;
  runtime: "deno" | "bun" | "other";
  reference?: boolean;
  /** Requests for this row when not the benchmark's count (the slow Python port). */
  requests?: number;
  /** The Python port: measured against, not held to the targets. */
  baseline?: boolean;
  /**
   * The same program started so that it restarts itself once as the shipped executable does
   * (the floor bridge's `--restart`): its spawn → first reply is timed too, interleaved.
   */
  restartArgv?: string[];
}

export interface BridgeResult {
  latency: Latency;
  rps: number;
  spawnMs: number[];
  spawnP50Ms: number;
  /** Spawn → first reply of `restartArgv`, when the spec has one. */
  spawnRestartMs?: number[];
  spawnRestartP50Ms?: number;
  exitOnEofMs: number;
  exitedOnEof: boolean;
  rssStartKiB: number;
  rssIdleKiB: number;
  rss: { requests: number; rssKiB: number }[];
  rssA: number;
  rssB: number;
  hwmKiB: number;
  /** Highest sampled RSS up to the first checkpoint, and between the two checkpoints. */
  peakAKiB: number;
  peakBKiB: number;
  threads: number;
  cpuUsPerReq: number;
  serverCpuUsPerReq: number;
  driverCpuUsPerReq: number;
  stderrBytes: number;
  sizeBytes: number;
}

/** Where a bridge's memory is sampled: after 100k and 200k requests, or half-way and at the end. */
export function checkpoints(o: Options, total: number): { checkA: number; checkB: number } {
  return o.quick || total < 200_000
    ? { checkA: Math.floor(total / 2), checkB: total }
    : { checkA: 100_000, checkB: 200_000 };
}

export async function timeSpawn(
  spec: BridgeSpec,
  first: Case,
): Promise<{ ms: number; exit: number }> {
  const t0 = performance.now();
  const b = new Bridge(spec.argv);
  let got: number;
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    b.child.kill("SIGKILL");
  }, 30_000);
  try {
    got = await b.request(first.frame);
  } catch (e) {
    await b.close();
    const why = late ? "none within 30 s" : (e as Error).message;
    throw new Error(`${spec.name}: no first reply: ${why}\n${b.stderr}`);
  } finally {
    clearTimeout(timer);
  }
  const ms = performance.now() - t0;
  if (got !== first.expect) {
    await b.close();
    throw new Error(`${spec.name}: wrong first reply ${got} to ${describe(first)}\n${b.stderr}`);
  }
  const c = await b.close();
  if (!c.exitedOnEof) throw new Error(`${spec.name}: did not exit within 5 s of EOF on stdin`);
  return { ms, exit: c.exitMs };
}

export async function benchBridge(
  spec: BridgeSpec,
  o: Options,
  server: ChildProcess,
): Promise<BridgeResult> {
  const cases = buildCases(CASES);
  const first = cases[0] as Case;
  // Spawn to first reply, then EOF to exit; one untimed run first so caches are warm.
  await timeSpawn(spec, first);
  const spawnMs: number[] = [];
  const exits: number[] = [];
  const restarted = spec.restartArgv === undefined
    ? undefined
    : { ...spec, argv: spec.restartArgv };
  if (restarted !== undefined) await timeSpawn(restarted, first);
  const spawnRestartMs: number[] = [];
  for (let r = 0; r < o.spawnRuns; r++) {
    const t = await timeSpawn(spec, first);
    spawnMs.push(t.ms);
    exits.push(t.exit);
    if (restarted !== undefined) spawnRestartMs.push((await timeSpawn(restarted, first)).ms);
  }

  const b = new Bridge(spec.argv);
  await sleep(1000);
  const rssStart = procStatus(b.pid).rssKiB;
  if ((await b.request(first.frame)) !== first.expect) {
    throw new Error(`${spec.name}: wrong reply to ${describe(first)}`);
  }
  await sleep(1000);
  const rssIdle = procStatus(b.pid).rssKiB;

  const total = spec.requests ?? o.requests;
  const warmup = spec.requests === undefined ? o.warmup : Math.floor(total / 50);
  const lat = new Float64Array(total - warmup);
  const { checkA, checkB } = checkpoints(o, total);
  const sampleEvery = Math.max(1, Math.floor(total / 40));
  const rss: { requests: number; rssKiB: number }[] = [];
  let rssA = NaN;
  let rssB = NaN;
  let lastProgress = performance.now();
  let stalled = false;
  const watchdog = setInterval(() => {
    if (performance.now() - lastProgress > 30_000) {
      stalled = true;
      b.child.kill("SIGKILL");
    }
  }, 1000);
  let start = 0;
  let cpu0 = 0;
  let serverCpu0 = 0;
  let driverCpu0 = 0;
  try {
    for (let i = 1; i <= total; i++) {
      if (i === warmup + 1) {
        cpu0 = procCpuMs(b.pid);
        serverCpu0 = procCpuMs(server.pid ?? 0);
        driverCpu0 = cpuNow();
        start = performance.now();
      }
      const c = cases[i % cases.length] as Case;
      const t0 = performance.now();
      const got = await b.request(c.frame);
      const t1 = performance.now();
      if (got !== c.expect) {
        throw new Error(
          `request ${i}: wrong reply ${got} to ${describe(c)}` +
            (got === 2 ? " (backend error)" : ""),
        );
      }
      if (i > warmup) lat[i - warmup - 1] = t1 - t0;
      if (i % sampleEvery === 0 || i === checkA || i === checkB) {
        const kib = procStatus(b.pid).rssKiB;
        if (i % sampleEvery === 0) rss.push({ requests: i, rssKiB: kib });
        if (i === checkA) rssA = kib;
        if (i === checkB) rssB = kib;
        lastProgress = performance.now();
      }
    }
  } catch (e) {
    clearInterval(watchdog);
    const why = stalled ? "no reply within 30 s" : (e as Error).message;
    await b.close();
    throw new Error(`${spec.name}: ${why}\n${b.stderr}`);
  }
  const elapsed = performance.now() - start;
  const n = total - warmup;
  const cpu = procCpuMs(b.pid) - cpu0;
  const serverCpu = procCpuMs(server.pid ?? 0) - serverCpu0;
  const driverCpu = cpuNow() - driverCpu0;
  clearInterval(watchdog);
  const status = procStatus(b.pid);
  const threads = procThreads(b.pid);
  await sleep(200);
  if (b.stray !== 0) throw new Error(`${spec.name}: ${b.stray} stray byte(s) after the last reply`);
  const closed = await b.close();
  if (!closed.exitedOnEof) throw new Error(`${spec.name}: did not exit within 5 s of EOF on stdin`);
  return {
    latency: latencyStats(lat),
    rps: (n * 1000) / elapsed,
    spawnMs,
    spawnP50Ms: median(spawnMs),
    ...(restarted === undefined
      ? {}
      : { spawnRestartMs, spawnRestartP50Ms: median(spawnRestartMs) }),
    exitOnEofMs: median(exits),
    exitedOnEof: true,
    rssStartKiB: rssStart,
    rssIdleKiB: rssIdle,
    rss,
    rssA,
    rssB,
    hwmKiB: status.hwmKiB,
    peakAKiB: Math.max(...rss.filter((x) => x.requests <= checkA).map((x) => x.rssKiB), rssA),
    peakBKiB: Math.max(...rss.filter((x) => x.requests > checkA).map((x) => x.rssKiB), rssB),
    threads,
    cpuUsPerReq: (cpu * 1000) / n,
    serverCpuUsPerReq: (serverCpu * 1000) / n,
    driverCpuUsPerReq: (driverCpu * 1000) / n,
    stderrBytes: b.stderrBytes,
    sizeBytes: statSync(spec.exe).size,
  };
}

/** Tries `deno compile`; resolves to the binary's path, or the reason it is not available. */
export async function denoCompile(
  o: Options,
  dir: string,
): Promise<{ path?: string; why?: string }> {
  const out = join(dir, "xmpp-extauth-deno");
  const r = await run([
    process.execPath,
    "compile",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-write",
    "--output",
    out,
    o.main,
  ], 300_000);
  if (r.code === 0 && existsSync(out)) return { path: out };
  const plain = r.out;
  const reason = /error sending request|dns error|download/i.test(plain)
    ? "cannot download its runtime (denort)"
    : (plain.trim().split("\n").find((l) => /error/i.test(l)) ?? `exit ${r.code}`);
  return { why: reason.slice(0, 120) };
}
