/**
 * The "16 copies" rows: what a site pays for ejabberd's pool. ejabberd starts
 * `extauth_pool_size` copies per virtual host; copies of one executable share its file pages, so
 * the honest figure is the summed PSS (`/proc/PID/smaps_rollup`) of all copies, with the private
 * memory of each beside it. Measured idle, right after every copy answered N requests, and again
 * after a pause (by default 60 s), for each program in the same run.
 *
 * @module
 */

import { buildCases, type Case, CASES, describe } from "./cases.ts";
import { Bridge, sleep } from "./driver.ts";
import { type Smaps, sumSmaps } from "./stats.ts";

/** A program to start N times. */
export interface CopiesSpec {
  name: string;
  argv: string[];
  /** The Python port: measured against, not held to the targets. */
  baseline?: boolean;
  /** The floor bridge: what ours is held to. */
  reference?: boolean;
}

/** Summed memory of all copies at one moment, in KiB. */
export interface CopiesPoint extends Smaps {
  /** Seconds since this group's load ended (0 for idle and loaded). */
  atSeconds: number;
}

/** One group of copies measured. */
export interface CopiesResult {
  copies: number;
  requestsEach: number;
  idle: CopiesPoint;
  loaded: CopiesPoint;
  later: CopiesPoint;
  /** Requests per second of all copies together while loaded (16 in flight). */
  rps: number;
}

/** How the copies are driven. */
export interface CopiesOptions {
  copies: number;
  requestsEach: number;
  /** Seconds to wait after the last load before the "later" reading. */
  idleWaitSeconds: number;
  log: (text: string) => void;
}

function point(group: readonly Bridge[], atSeconds: number): CopiesPoint {
  return { ...sumSmaps(group.map((b) => b.pid)), atSeconds };
}

async function ask(name: string, b: Bridge, c: Case): Promise<void> {
  let got: number;
  try {
    got = await b.request(c.frame);
  } catch (e) {
    throw new Error(`${name}: ${(e as Error).message}\n${b.stderr}`);
  }
  if (got !== c.expect) {
    throw new Error(`${name}: wrong reply ${got} to ${describe(c)}\n${b.stderr}`);
  }
}

/**
 * Starts `copies` processes of every spec, and measures them idle, after `requestsEach`
 * requests each (all copies of a group loaded at once, one request in flight per copy, as
 * ejabberd's round-robin pool under load), and `idleWaitSeconds` after the last group's load.
 * Groups are loaded one after another, baselines first, then references (the floor bridge), so
 * that the last group measured (ours) waits exactly `idleWaitSeconds`.
 */
export async function benchCopies(
  specs: readonly CopiesSpec[],
  options: CopiesOptions,
): Promise<CopiesResult[]> {
  const cases = buildCases(CASES);
  const first = cases[0] as Case;
  const rank = (spec: CopiesSpec): number =>
    spec.baseline === true ? 2 : spec.reference === true ? 1 : 0;
  const order = [...specs.keys()].sort((a, b) => rank(specs[b]!) - rank(specs[a]!));
  const groups = specs.map((spec) =>
    Array.from({ length: options.copies }, () => new Bridge(spec.argv))
  );
  try {
    await Promise.all(
      groups.flatMap((group, g) => group.map((b) => ask(specs[g]!.name, b, first))),
    );
    await sleep(2_000);
    const idle = groups.map((group) => point(group, 0));
    const loaded: CopiesPoint[] = [];
    const loadEnded: number[] = [];
    const rps: number[] = [];
    for (const g of order) {
      const group = groups[g]!;
      const spec = specs[g]!;
      options.log(
        `${group.length} copies: ${spec.name}: ${group.length} × ${options.requestsEach} requests …`,
      );
      const t0 = performance.now();
      await Promise.all(group.map(async (b, copy) => {
        for (let k = 1; k <= options.requestsEach; k++) {
          await ask(spec.name, b, cases[(k * group.length + copy) % cases.length] as Case);
        }
      }));
      const elapsed = performance.now() - t0;
      loaded[g] = point(group, 0);
      loadEnded[g] = performance.now();
      rps[g] = (group.length * options.requestsEach * 1000) / elapsed;
    }
    options.log(
      `${options.copies} copies: waiting ${options.idleWaitSeconds} s …`,
    );
    await sleep(options.idleWaitSeconds * 1000);
    const now = performance.now();
    return groups.map((group, g) => ({
      copies: group.length,
      requestsEach: options.requestsEach,
      idle: idle[g]!,
      loaded: loaded[g]!,
      later: point(group, (now - loadEnded[g]!) / 1000),
      rps: rps[g]!,
    }));
  } finally {
    await Promise.all(groups.flat().map((b) => b.close()));
  }
}
