/**
 * Where the counters go: the summary line every `--stats-interval` and at exit, and the
 * `--metrics-file` rewritten every {@linkcode METRICS_WRITE_MS}, atomically, one file per copy,
 * removed at a clean exit. At start the files of copies that no longer run are removed; only
 * names of the file's own pattern (`STEM.PID.prom` and its temporary `.STEM.PID.prom.tmp`) in
 * its folder are ever touched. Nothing here writes to stdout.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime/mod.ts";
import type { Metrics, Snapshot } from "./metrics.ts";
import { prometheusText } from "./prometheus.ts";
import { summaryLine } from "./summary.ts";

/** How often the metrics file is rewritten. */
export const METRICS_WRITE_MS = 2_000;

/** The files of one `--metrics-file`: this copy's, and the pattern of every copy's. */
export interface MetricsPaths {
  readonly folder: string;
  /** This copy's file. */
  readonly path: string;
  /** The pid of a name of the pattern (file or its temporary), or undefined for any other name. */
  pidOf(name: string): number | undefined;
}

/**
 * This copy's file for `--metrics-file PATH`: the pid put before `.prom` (`PATH` must end in
 * `.prom`, as the textfile collector reads only those).
 *
 * @example Where copy 1234 writes
 * ```ts
 * import assert from "node:assert/strict";
 * import { metricsPaths } from "./exporter.ts";
 * const paths = metricsPaths("/var/lib/node_exporter/xmpp-extauth.prom", 1234);
 * assert.equal(paths.path, "/var/lib/node_exporter/xmpp-extauth.1234.prom");
 * assert.equal(paths.pidOf("xmpp-extauth.99.prom"), 99);
 * assert.equal(paths.pidOf(".xmpp-extauth.99.prom.tmp"), 99);
 * assert.equal(paths.pidOf("other.99.prom"), undefined);
 * ```
 */
export function metricsPaths(file: string, pid: number): MetricsPaths {
  const slash = file.lastIndexOf("/");
  const folder = slash < 0 ? "." : slash === 0 ? "/" : file.slice(0, slash);
  const stem = file.slice(slash + 1).replace(/\.prom$/, "");
  const escaped = stem.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`^\\.?${escaped}\\.([1-9][0-9]{0,9})\\.prom(\\.tmp)?$`);
  return {
    folder,
    path: `${slash < 0 ? "" : file.slice(0, slash + 1)}${stem}.${pid}.prom`,
    pidOf(name) {
      const match = pattern.exec(name);
      if (match === null || name.startsWith(".") !== (match[2] !== undefined)) return undefined;
      return Number(match[1]);
    },
  };
}

/** Options of {@linkcode startExporter}. */
export interface ExporterOptions {
  readonly metrics: Metrics;
  readonly runtime: Runtime;
  readonly clock: Clock;
  readonly logger: Logger;
  /** `--metrics-file`, if given. */
  readonly file?: string;
  /** `--stats-interval`; 0 = no periodic summary (the one at exit stays). */
  readonly statsIntervalMs: number;
}

/** A running exporter. */
export interface Exporter {
  /** Logs the last summary, stops the timers and removes the metrics file. */
  stop(): void;
}

/** Writes the metrics file whole; one error line per new reason, and one when it works again. */
function fileWriter(path: string, options: ExporterOptions, startSeconds: number): () => void {
  const { metrics, runtime, logger } = options;
  let failing: string | undefined;
  return () => {
    try {
      runtime.writeAtomic(
        path,
        prometheusText(metrics.snapshot(), { pid: runtime.pid, startSeconds }),
      );
      if (failing !== undefined) logger.info(`--metrics-file ${path} is written again`);
      failing = undefined;
    } catch (error) {
      const why = (error as Error).message;
      // One line per new reason, not one every few seconds.
      if (why !== failing) logger.error(`cannot write --metrics-file ${path}: ${why}`);
      failing = why;
    }
  };
}

/** Starts writing the file and logging the summary; see the module's doc. */
export function startExporter(options: ExporterOptions): Exporter {
  const { metrics, runtime, clock, logger } = options;
  const startWall = clock.wall();
  let last: Snapshot = metrics.snapshot();
  let lastAt = clock.now();
  const summary = () => {
    const now = metrics.snapshot();
    const at = clock.now();
    logger.info(summaryLine(last, now, at - lastAt, metrics.takeSlowest()));
    last = now;
    lastAt = at;
  };
  const cancels: (() => void)[] = [];
  const every = (ms: number, fn: () => void) => {
    const tick = () => {
      fn();
      cancels[slot] = clock.after(ms, tick);
    };
    const slot = cancels.length;
    cancels.push(clock.after(ms, tick));
  };
  if (options.statsIntervalMs > 0) every(options.statsIntervalMs, summary);

  const paths = options.file === undefined ? undefined : metricsPaths(options.file, runtime.pid);
  const write = paths === undefined
    ? () => {}
    : fileWriter(paths.path, options, Math.floor(startWall / 1000));
  if (paths !== undefined) {
    removeStale(paths, runtime, logger);
    write();
    every(METRICS_WRITE_MS, write);
  }
  return {
    stop() {
      for (const cancel of cancels) cancel();
      summary();
      if (paths === undefined) return;
      try {
        runtime.removeFile(paths.path);
      } catch (error) {
        logger.warn(`cannot remove --metrics-file ${paths.path}: ${(error as Error).message}`);
      }
    },
  };
}

/** Removes the files (and temporaries) of the pattern whose copy no longer runs. */
function removeStale(paths: MetricsPaths, runtime: Runtime, logger: Logger): void {
  let names: string[];
  try {
    names = runtime.listFolder(paths.folder);
  } catch (error) {
    logger.error(`cannot read the folder of --metrics-file: ${(error as Error).message}`);
    return;
  }
  for (const name of names) {
    const pid = paths.pidOf(name);
    if (pid === undefined || pid === runtime.pid || runtime.processAlive(pid)) continue;
    const path = `${paths.folder === "/" ? "" : paths.folder}/${name}`;
    try {
      runtime.removeFile(path);
      logger.info(`removed ${path}: its copy (pid ${pid}) no longer runs`);
    } catch (error) {
      logger.warn(`cannot remove the stale ${path}: ${(error as Error).message}`);
    }
  }
}
