/**
 * The benchmark's command line, parsed with `node:util`'s `parseArgs`.
 *
 * @module
 */

import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "./driver.ts";

/** Usage text of `deno task bench --help`. */
export const HELP = `Usage: deno task bench [options]

  --quick               short run: 5,000 requests per bridge, 3 spawn runs, 1,000 Python
                        requests, 16 copies × 2,000 requests, 5 s idle wait
  --requests N          requests per bridge and per limit client (default 200,000;
                        memory is sampled after 100,000 and 200,000)
  --warmup N            requests sent before latencies are recorded (default 2% of N, max 5,000)
  --runs N              repeat the whole measurement N times (default 3): every target is met
                        or missed on the median of the runs, and printed with its spread
  --spawn-runs N        how often to time spawn-to-first-reply (default 10; --quick 3)
  --python-requests N   requests for the Python port's row (default 3,000; it is slow)
  --copies N            copies in the "16 copies" rows (default 16)
  --copy-requests N     requests each copy answers before "after" (default 2,000)
  --idle-wait SECONDS   wait before the "later" reading of the copies (default 60; --quick 5)
  --json FILE           write the results as JSON
  --compare FILE        print the change of every figure against an earlier --json FILE
  --only LIST           comma-separated subset of: limit,bun-limit,curl,pipe,floor,python,deno,
                        bun,binary,deno-compile,copies (default: all but curl and deno-compile;
                        pipe: a perl bridge that answers without HTTP; floor: the least Bun
                        bridge (scripts/bench/floor_bridge.ts) built and run as the release is;
                        python: the Python port of
                        the old script, scripts/old_extauth.py; curl: one curl process making the
                        requests with --next; copies: 16 copies of the binary and of the Python
                        port)
  --binary PATH         measure this executable instead of building one with the release's
                        flags (scripts/build_flags.ts) from --main into a temporary folder
  --binary-env VAR=VALUE  run the binary (its row and its copies) with VAR=VALUE in its
                        environment, e.g. BUN_JSC_useJIT=1 (repeatable)
  --main PATH           program source to run with deno and bun, and to build (default main.ts)
  --python PATH         the Python interpreter (default python3)
  --log-level LEVEL     passed to the bridge (default warn)
  --bridge-arg ARG      extra argument for every bridge (repeatable)
  --extra NAME=COMMAND  also benchmark COMMAND (split on spaces; {url} is replaced by the API URL;
                        repeatable)
  --cpu N               pin the benchmark, the loopback API and every bridge to CPU N (default:
                        the last CPU); one request is in flight at a time, so they never compete,
                        and hand-offs stay on one CPU instead of waking another (slow in VMs)
  --no-pin              let the scheduler place the processes
  --server IMPL         loopback API: bun (Bun.serve, default), deno (Deno.serve), node (node:http
                        under Bun)
  --help                this text
`;

/** Every run `--only` can name. */
export const ALL_RUNS: readonly string[] = [
  "limit",
  "bun-limit",
  "curl",
  "pipe",
  "floor",
  "python",
  "deno",
  "bun",
  "binary",
  "deno-compile",
  "copies",
];

/** The parsed command line. */
export interface Options {
  help: boolean;
  quick: boolean;
  requests: number;
  warmup: number;
  runs: number;
  spawnRuns: number;
  pythonRequests: number;
  copies: number;
  copyRequests: number;
  idleWaitSeconds: number;
  cpu: number | undefined;
  json: string | undefined;
  compare: string | undefined;
  only: Set<string>;
  /** A given executable, or undefined to build one with the release's flags. */
  binary: string | undefined;
  /** VAR=VALUE pairs for the binary's environment. */
  binaryEnv: string[];
  main: string;
  python: string;
  logLevel: string;
  bridgeArgs: string[];
  extras: { name: string; argv: string[] }[];
  server: "bun" | "deno" | "node";
}

function count(name: string, text: string | undefined, min = 0): number | undefined {
  if (text === undefined) return undefined;
  const clean = text.replaceAll(/[_,]/g, "");
  const n = Number(clean);
  if (clean === "" || !Number.isInteger(n) || n < min) {
    throw new Error(`Cannot parse --${name} ${text}: not a whole number >= ${min}`);
  }
  return n;
}

/**
 * Parses the benchmark's arguments.
 *
 * @throws {Error} with a one-line message on an unknown option or a bad value.
 * @example A quick run of the binary only
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOptions } from "./options.ts";
 * const o = parseOptions(["--quick", "--only", "bun-limit,binary"]);
 * assert.equal(o.requests, 5_000);
 * assert.deepEqual([...o.only], ["bun-limit", "binary"]);
 * ```
 */
export function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: "boolean", default: false },
      quick: { type: "boolean", default: false },
      requests: { type: "string" },
      warmup: { type: "string" },
      runs: { type: "string" },
      "spawn-runs": { type: "string" },
      "python-requests": { type: "string" },
      copies: { type: "string" },
      "copy-requests": { type: "string" },
      "idle-wait": { type: "string" },
      json: { type: "string" },
      compare: { type: "string" },
      only: { type: "string" },
      binary: { type: "string" },
      "binary-env": { type: "string", multiple: true, default: [] },
      main: { type: "string", default: join(ROOT, "main.ts") },
      python: { type: "string", default: "python3" },
      "log-level": { type: "string", default: "warn" },
      "bridge-arg": { type: "string", multiple: true, default: [] },
      extra: { type: "string", multiple: true, default: [] },
      cpu: { type: "string" },
      "no-pin": { type: "boolean", default: false },
      server: { type: "string", default: "bun" },
    },
  });
  const quick = values.quick;
  const requests = count("requests", values.requests, 2) ?? (quick ? 5_000 : 200_000);
  let only = new Set(ALL_RUNS.filter((r) => r !== "curl" && r !== "deno-compile"));
  if (values.only !== undefined) {
    const list = values.only.split(",").map((s) => s.trim()).filter((s) => s !== "");
    for (const name of list) {
      if (!ALL_RUNS.includes(name)) {
        throw new Error(`Cannot parse --only: unknown run ${name} (${ALL_RUNS.join(", ")})`);
      }
    }
    only = new Set(list);
  }
  const extras = values.extra.map((v) => {
    const eq = v.indexOf("=");
    const argv = v.slice(eq + 1).split(" ").filter((s) => s !== "");
    if (eq <= 0 || argv.length === 0) {
      throw new Error(`Cannot parse --extra ${v}: not NAME=COMMAND`);
    }
    return { name: v.slice(0, eq), argv };
  });
  let cpu: number | undefined = count("cpu", values.cpu) ?? cpus().length - 1;
  if (cpu >= cpus().length) throw new Error(`Cannot parse --cpu ${cpu}: there is no CPU ${cpu}`);
  if (values["no-pin"]) cpu = undefined;
  const server = values.server;
  if (server !== "bun" && server !== "deno" && server !== "node") {
    throw new Error(`Cannot parse --server ${server}: not bun, deno or node`);
  }
  return {
    help: values.help,
    quick,
    requests,
    warmup: count("warmup", values.warmup) ?? Math.min(5_000, Math.floor(requests / 50)),
    runs: count("runs", values.runs, 1) ?? 3,
    spawnRuns: count("spawn-runs", values["spawn-runs"], 1) ?? (quick ? 3 : 10),
    pythonRequests: count("python-requests", values["python-requests"], 2) ??
      (quick ? 1_000 : 3_000),
    copies: count("copies", values.copies, 1) ?? 16,
    copyRequests: count("copy-requests", values["copy-requests"], 1) ?? 2_000,
    idleWaitSeconds: count("idle-wait", values["idle-wait"]) ?? (quick ? 5 : 60),
    cpu,
    json: values.json,
    compare: values.compare,
    only,
    binary: values.binary,
    binaryEnv: values["binary-env"].map((pair) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(pair)) {
        throw new Error(`Cannot parse --binary-env ${pair}: not VAR=VALUE`);
      }
      return pair;
    }),
    main: values.main,
    python: values.python,
    logLevel: values["log-level"],
    bridgeArgs: values["bridge-arg"],
    extras,
    server,
  };
}
