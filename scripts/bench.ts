/**
 * Benchmark of xmpp-extauth as ejabberd drives it: one process, one request in flight; and
 * what a pool of 16 copies costs in memory.
 *
 * ```sh
 * deno task bench                       # full run: 200,000 requests per bridge (~5 minutes)
 * deno task bench --quick               # 5,000 requests per bridge, 5 s idle wait
 * deno task bench --json bench.json     # also write the results as JSON
 * deno task bench --compare bench.json  # print the change against an earlier JSON file
 * ```
 *
 * One run measures, side by side on the same machine against the same loopback API
 * (`scripts/bench_server.ts`, a separate process, Bun.serve by default):
 *
 * - **limit**: the same requests made directly with `fetch` (keep-alive), one at a time, in the
 *   benchmark process (Deno) and in a Bun process (optionally also by `curl`, `--only curl`);
 * - **reference**: a perl bridge that answers without HTTP, the floor the stdin/stdout round trip
 *   alone sets for any bridge;
 * - **the Python port** of the script this project replaces (`scripts/old_extauth.py`);
 * - **the bridge** run as `deno run`, as `bun`, and as the executable built exactly as the
 *   release builds it (`scripts/build_flags.ts`), driven as ejabberd drives it: write one frame,
 *   wait for the 4-byte reply, check it, next;
 * - **16 copies** of the executable and of the Python port: summed PSS idle, after 2,000
 *   requests each, and 60 s later.
 *
 * Every reply is checked against the answer the loopback API gives; a wrong, missing or extra byte
 * fails the run. All processes are pinned to one CPU by default (`--no-pin` to let them float):
 * with one request in flight they never compete for it, and the figures do not depend on whether
 * the scheduler happened to put two processes on different CPUs (waking another CPU costs tens of
 * microseconds in a VM). Options: `--help`. The parts live in `scripts/bench/`: options, the
 * request mix, the driver, the loopback API, the limit, bridge and copies runs, the report.
 *
 * @module
 */

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { RESTART_ENV } from "../lib/runtime/jit.ts";
import { bunBuildCommand } from "./build_flags.ts";
import { startServer } from "./bench/api.ts";
import {
  benchBridge,
  type BridgeSpec,
  checkpoints,
  denoCompile,
  timeSpawn,
} from "./bench/bridges.ts";
import { buildCases, type Case, PIPE_FLOOR } from "./bench/cases.ts";
import { benchCopies, type CopiesSpec } from "./bench/copies.ts";
import { ROOT, run, version, which } from "./bench/driver.ts";
import { childFetchLimit, curlLimit, fetchLimit } from "./bench/limit.ts";
import { HELP, type Options, parseOptions } from "./bench/options.ts";
import {
  checkTargets,
  compareText,
  copiesTable,
  fmtInt,
  machineText,
  markdownTable,
  type Report,
  type Row,
  type RunResult,
  summarizeTargets,
  targetLines,
} from "./bench/report.ts";
import { loadavg, median } from "./bench/stats.ts";

/** The floor bridge's source (see scripts/bench/floor_bridge.ts). */
const FLOOR_BRIDGE = join(ROOT, "scripts/bench/floor_bridge.ts");

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(1);
}

async function machineFacts(o: Options): Promise<Record<string, string | number>> {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? "unknown";
  const g = globalThis as unknown as { Deno?: { version: { deno: string; v8: string } } };
  const bun = await version(["bun", "--version"]);
  const curl = await version(["curl", "--version"]);
  const python = await version([o.python, "--version"]);
  return {
    cpu: model.trim(),
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    deno: g.Deno?.version.deno ?? "not running under Deno",
    v8: g.Deno?.version.v8 ?? "",
    bun,
    curl: curl.split(" ").slice(0, 2).join(" "),
    python,
    loadBefore: loadavg(),
    loadAfter: "",
  };
}

const T0 = performance.now();

function log(text: string): void {
  process.stderr.write(`[${((performance.now() - T0) / 1000).toFixed(1)} s] ${text}\n`);
}

async function main(argv: string[]): Promise<void> {
  let o: Options;
  try {
    o = parseOptions(argv);
  } catch (e) {
    fail(`${(e as Error).message} (see --help)`);
  }
  if (o.help) {
    process.stdout.write(HELP);
    return;
  }
  if (!("Deno" in globalThis)) fail("Cannot run: start the benchmark with deno (deno task bench)");
  const command = `deno task bench${argv.length > 0 ? " " + argv.join(" ") : ""}`;
  let pinned = "no (--no-pin)";
  if (o.cpu !== undefined) {
    // Children inherit the affinity: the API, the limit clients and every bridge.
    const r = await run(["taskset", "-a", "-p", "-c", String(o.cpu), String(process.pid)], 10_000);
    pinned = r.code === 0 ? `CPU ${o.cpu}` : `no (taskset failed: ${r.out.trim().slice(0, 80)})`;
  }
  log(`pinned: ${pinned}`);
  const machine = await machineFacts(o);
  const { checkA, checkB } = checkpoints(o, o.requests);
  const report: Report = {
    tool: "xmpp-extauth bench",
    version: 3,
    date: new Date().toISOString(),
    command,
    machine,
    settings: {
      quick: o.quick,
      requests: o.requests,
      warmup: o.warmup,
      spawnRuns: o.spawnRuns,
      checkA,
      checkB,
      logLevel: o.logLevel,
      bridgeArgs: o.bridgeArgs,
      pythonRequests: o.pythonRequests,
      runs: o.runs,
      copies: o.copies,
      copyRequests: o.copyRequests,
      idleWaitSeconds: o.idleWaitSeconds,
      binaryBuild: o.binary === undefined
        ? `built for this run with \`${
          bunBuildCommand("bun", "main.ts", "OUT").join(" ")
        }\` (scripts/build_flags.ts, as the release)`
        : `${o.binary} (given with --binary)`,
      binaryEnv: o.binaryEnv,
      pinned,
      serverImpl: o.server === "bun"
        ? "Bun.serve"
        : o.server === "deno"
        ? "Deno.serve"
        : "node:http under Bun",
    },
    rows: [],
    copies: [],
    targets: [],
    runs: [],
  };
  const tmp = mkdtempSync(join(tmpdir(), "xmpp-extauth-bench-"));
  const { url, child: server } = await startServer(o.server);
  log(`loopback API: ${url} (${report.settings.serverImpl})`);
  const t = (n: number) => fmtInt(n);

  try {
    {
      const floor: BridgeSpec = {
        name: "spawn floor",
        argv: ["sh", "-c", "printf '\\000\\002\\000\\001'; exec cat >/dev/null"],
        exe: "sh",
        runtime: "other",
      };
      const first = buildCases(1)[0] as Case;
      const ms: number[] = [];
      for (let r = 0; r <= o.spawnRuns; r++) ms.push((await timeSpawn(floor, first)).ms);
      machine.spawnFloorMs = Number(median(ms.slice(1)).toFixed(2));
    }
    const extraArgs = (u: string): string[] => ["--url", u, "--log-level", o.logLevel];
    const specs: (BridgeSpec | { name: string; why: string })[] = [];
    const copySpecs: CopiesSpec[] = [];
    if (o.only.has("pipe")) {
      const perl = await which("perl");
      specs.push(
        perl === undefined
          ? { name: "reference: pipe round trip (perl, no HTTP)", why: "perl not found" }
          : {
            name: "reference: pipe round trip (perl, no HTTP)",
            argv: [perl, "-e", PIPE_FLOOR],
            exe: perl,
            runtime: "other",
            reference: true,
          },
      );
    }
    const bunPath = await which("bun");
    if (o.only.has("floor")) {
      // The least a Bun bridge can do (stdin stream, one fetch, the reply), built and run as the
      // shipped executable is: what no bridge on Bun's stdin and fetch can beat.
      const floorBinary = join(tmp, "floor-bridge");
      log("building the floor bridge with the release's flags …");
      const built = await run(
        bunBuildCommand(bunPath ?? "bun", FLOOR_BRIDGE, floorBinary),
      );
      const name = "reference: floor, least Bun bridge (stdin stream, fetch, reply)";
      if (built.code !== 0 || !existsSync(floorBinary)) {
        specs.push({ name, why: `bun build --compile failed: ${built.out.slice(0, 200)}` });
      } else {
        const restartEnv = Object.entries(RESTART_ENV).map(([k, v]) => `${k}=${v}`);
        const argv = ["env", ...restartEnv, floorBinary, "--url", url];
        specs.push({
          name,
          argv,
          exe: floorBinary,
          runtime: "bun",
          reference: true,
          // Started as ejabberd starts ours: without RESTART_ENV, restarting itself to set it.
          restartArgv: [floorBinary, "--url", url, "--restart"],
        });
        if (o.only.has("copies")) {
          copySpecs.push({ name: "floor bridge (least Bun bridge)", argv, reference: true });
        }
      }
    }
    if (o.only.has("python") || o.only.has("copies")) {
      // The interpreter itself, not a wrapper such as pyenv's shim (a shell script that would
      // add its own start-up to every spawn).
      const found = await which(o.python);
      const real = found === undefined
        ? undefined
        : await run([found, "-c", "import sys; print(sys.executable)"], 30_000);
      const py = real === undefined || real.code !== 0 ? found : real.out.trim() || found;
      const argv = py === undefined
        ? undefined
        : [py, join(ROOT, "scripts/old_extauth.py"), "--url", url, "--log", tmp];
      if (o.only.has("python")) {
        specs.push(
          argv === undefined
            ? { name: "Python port of the old script", why: `${o.python} not found` }
            : {
              name: "Python port of the old script",
              argv,
              exe: py!,
              runtime: "other",
              baseline: true,
              requests: o.pythonRequests,
            },
        );
      }
      if (o.only.has("copies") && argv !== undefined) {
        copySpecs.push({ name: "Python port of the old script", argv, baseline: true });
      }
    }
    const needsMain = o.only.has("deno") || o.only.has("bun") || o.only.has("deno-compile");
    if (needsMain && !existsSync(o.main)) fail(`Cannot find ${o.main} (use --main PATH)`);
    if (o.only.has("deno")) {
      specs.push({
        name: "bridge: deno run",
        argv: [process.execPath, "run", "-A", o.main, ...extraArgs(url), ...o.bridgeArgs],
        exe: process.execPath,
        runtime: "deno",
      });
    }
    if (o.only.has("bun")) {
      specs.push(
        bunPath === undefined ? { name: "bridge: bun", why: "bun not found" } : {
          name: "bridge: bun",
          argv: [bunPath, o.main, ...extraArgs(url), ...o.bridgeArgs],
          exe: bunPath,
          runtime: "bun",
        },
      );
    }
    if (o.only.has("binary") || o.only.has("copies")) {
      let binary = o.binary;
      if (binary === undefined) {
        binary = join(tmp, "xmpp-extauth");
        log("building the binary with the release's flags (scripts/build_flags.ts) …");
        const r = await run(bunBuildCommand(bunPath ?? "bun", o.main, binary));
        if (r.code !== 0) log(`bun build --compile failed:\n${r.out}`);
      }
      const name = "bridge: binary (bun build --compile)";
      // env(1) execs the binary: same PID, so /proc readings are the binary's.
      const argv = [
        ...(o.binaryEnv.length > 0 ? ["env", ...o.binaryEnv] : []),
        binary,
        ...extraArgs(url),
        ...o.bridgeArgs,
      ];
      if (!existsSync(binary)) {
        if (o.only.has("binary")) specs.push({ name, why: `${binary} not found` });
      } else {
        if (o.only.has("binary")) specs.push({ name, argv, exe: binary, runtime: "bun" });
        if (o.only.has("copies")) copySpecs.push({ name: "binary (bun build --compile)", argv });
      }
    }
    if (o.only.has("deno-compile")) {
      log("trying deno compile …");
      const d = await denoCompile(o, tmp);
      specs.push(
        d.path !== undefined
          ? {
            name: "bridge: binary (deno compile)",
            argv: [d.path, ...extraArgs(url), ...o.bridgeArgs],
            exe: d.path,
            runtime: "deno",
          }
          : { name: "bridge: binary (deno compile)", why: d.why ?? "failed" },
      );
    }
    for (const e of o.extras) {
      const argvE = e.argv.map((s) => s.replaceAll("{url}", url));
      const exe = (await which(argvE[0] ?? "")) ?? argvE[0] ?? "";
      const runtime = /deno/.test(exe) ? "deno" : /bun/.test(exe) ? "bun" : "other";
      specs.push({ name: e.name, argv: argvE, exe, runtime });
    }

    for (let n = 1; n <= o.runs; n++) {
      if (o.runs > 1) log(`run ${n} of ${o.runs}`);
      const rows: Row[] = [];
      const copies: RunResult["copies"] = [];
      const limits: Record<string, number> = {};
      if (o.only.has("limit")) {
        log(`limit: fetch in this process (Deno), ${t(o.requests)} requests …`);
        const l = await fetchLimit(url, o.requests, o.warmup);
        limits.deno = l.latency.p50Us;
        rows.push({
          name: `limit: fetch, Deno ${machine.deno}`,
          kind: "limit",
          client: "fetch (keep-alive) in the benchmark process",
          available: true,
          limit: l,
        });
      }
      if (o.only.has("bun-limit")) {
        log(`limit: fetch in a Bun process, ${t(o.requests)} requests …`);
        const l = await childFetchLimit(["bun"], url, o.requests, o.warmup);
        limits.bun = l.latency.p50Us;
        rows.push({
          name: `limit: fetch, Bun ${machine.bun}`,
          kind: "limit",
          client: "fetch (keep-alive) in a Bun child process",
          available: true,
          limit: l,
        });
      }
      if (o.only.has("curl")) {
        log(`limit: curl, ${t(o.requests)} requests …`);
        const available = (await which("curl")) !== undefined;
        rows.push(
          available
            ? {
              name: `limit: ${machine.curl} (C)`,
              kind: "limit",
              client: "one curl process, requests in sequence over one kept-alive connection",
              available: true,
              limit: await curlLimit(url, o.requests),
            }
            : {
              name: "limit: curl",
              kind: "limit",
              client: "curl",
              available: false,
              why: "curl not found",
            },
        );
      }

      for (const spec of specs) {
        if (!("argv" in spec)) {
          rows.push({
            name: spec.name,
            kind: "bridge",
            client: "",
            available: false,
            why: spec.why,
          });
          continue;
        }
        log(`${spec.name}: ${t(spec.requests ?? o.requests)} requests …`);
        const x = await benchBridge(spec, o, server);
        const base = spec.runtime === "other" ? undefined : limits[spec.runtime];
        rows.push({
          name: spec.name,
          kind: spec.reference === true
            ? "reference"
            : spec.baseline === true
            ? "baseline"
            : "bridge",
          client: spec.argv.map((s) => s === url ? "URL" : s).join(" "),
          available: true,
          bridge: x,
          ...(base !== undefined
            ? { ownCostP50Us: x.latency.p50Us - base, ownCostBase: `fetch, ${spec.runtime}` }
            : {}),
        });
      }
      if (copySpecs.length > 0) {
        const results = await benchCopies(copySpecs, {
          copies: o.copies,
          requestsEach: o.copyRequests,
          idleWaitSeconds: o.idleWaitSeconds,
          log,
        });
        copySpecs.forEach((spec, i) => {
          copies.push({
            name: spec.name,
            baseline: spec.baseline === true,
            ...(spec.reference === true ? { reference: true } : {}),
            result: results[i]!,
          });
        });
      }
      const result: RunResult = { rows, copies, targets: [] };
      result.targets = checkTargets(result, report.settings);
      report.runs.push(result);
      report.rows = rows;
      report.copies = copies;
    }
  } finally {
    server.stdin?.end();
    server.kill();
    rmSync(tmp, { recursive: true, force: true });
  }

  machine.loadAfter = loadavg();
  report.targets = summarizeTargets(report.runs.map((r) => r.targets));
  const text = [
    ...report.runs.flatMap((r, i) => [
      ...(report.runs.length > 1 ? [`Run ${i + 1} of ${report.runs.length}:`, ""] : []),
      markdownTable({ ...report, rows: r.rows }),
      "",
      ...(r.copies.length > 0 ? [copiesTable({ ...report, copies: r.copies }), ""] : []),
    ]),
    machineText(report),
    "",
    `Targets (medians over ${report.runs.length} run${report.runs.length > 1 ? "s" : ""}; ` +
    "each bound from the same run's floor row):",
    "",
    report.targets.length > 0
      ? targetLines(report.targets, report.runs.length)
      : "(no bridge measured)",
  ].join("\n");
  process.stdout.write(text + "\n");
  if (o.json !== undefined) {
    writeFileSync(o.json, JSON.stringify(report, null, 2) + "\n");
    log(`wrote ${o.json}`);
  }
  if (o.compare !== undefined) {
    const old = JSON.parse(readFileSync(o.compare, "utf8")) as Report;
    process.stdout.write("\n" + compareText(old, report) + "\n");
  }
}

if (import.meta.main) {
  try {
    await main(process.argv.slice(2));
    process.exit(0);
  } catch (e) {
    fail(`FAILED: ${(e as Error).message}`);
  }
}
