/**
 * Benchmark of xmpp-extauth as ejabberd drives it: one process, one request in flight.
 *
 * ```sh
 * deno task bench                       # full run: 200,000 requests per bridge (~3 minutes)
 * deno task bench --quick               # 5,000 requests per bridge
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
 * - **the bridge** run as `deno run`, as `bun`, as the `bun build --compile` binary and as a
 *   `deno compile` binary (marked "not available" where `deno compile` cannot get its runtime),
 *   driven as ejabberd drives it: write one frame, wait for the 4-byte reply, check it, next.
 *
 * Every reply is checked against the answer the loopback API gives; a wrong, missing or extra byte
 * fails the run. All processes are pinned to one CPU by default (`--no-pin` to let them float):
 * with one request in flight they never compete for it, and the figures do not depend on whether
 * the scheduler happened to put two processes on different CPUs (waking another CPU costs tens of
 * microseconds in a VM). Options: `--help`.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { BENCH_SERVER, BENCH_USERS, benchPassword } from "./bench_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const SERVER_SCRIPT = fileURLToPath(new URL("./bench_server.ts", import.meta.url));

const HELP = `Usage: deno task bench [options]

  --quick               short run: 5,000 requests per bridge, 3 spawn runs
  --requests N          requests per bridge and per limit client (default 200,000;
                        memory is sampled after 100,000 and 200,000)
  --warmup N            requests sent before latencies are recorded (default 2% of N, max 5,000)
  --spawn-runs N        how often to time spawn-to-first-reply (default 10; --quick 3)
  --json FILE           write the results as JSON
  --compare FILE        print the change of every figure against an earlier --json FILE
  --only LIST           comma-separated subset of: limit,bun-limit,curl,pipe,deno,bun,binary,
                        deno-compile (default: all but curl; pipe: a perl bridge that answers
                        without HTTP; curl: one curl process making the requests with --next)
  --binary PATH         a compiled binary to measure (default dist/xmpp-extauth, built with
                        bun build --compile when missing or older than main.ts and lib/)
  --main PATH           program source to run with deno and bun (default main.ts)
  --log-level LEVEL     passed to the bridge (default warn)
  --bridge-arg ARG      extra argument for every bridge (repeatable)
  --extra NAME=COMMAND  also benchmark COMMAND (split on spaces; {url} is replaced by the API URL)
  --cpu N               pin the benchmark, the loopback API and every bridge to CPU N (default:
                        the last CPU); one request is in flight at a time, so they never compete,
                        and hand-offs stay on one CPU instead of waking another (slow in VMs)
  --no-pin              let the scheduler place the processes
  --server IMPL         loopback API: bun (Bun.serve, default), deno (Deno.serve), node (node:http
                        under Bun)
  --help                this text
`;

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  quick: boolean;
  requests: number;
  warmup: number;
  spawnRuns: number;
  cpu: number | undefined;
  json: string | undefined;
  compare: string | undefined;
  only: Set<string>;
  binary: string;
  binaryGiven: boolean;
  main: string;
  logLevel: string;
  bridgeArgs: string[];
  extras: { name: string; argv: string[] }[];
  server: string;
}

const ALL_RUNS = ["limit", "bun-limit", "curl", "pipe", "deno", "bun", "binary", "deno-compile"];

/**
 * A bridge that answers like the loopback API without asking it: the floor that the stdin/stdout
 * round trip alone sets for any bridge (perl-base is on every Debian system).
 */
const PIPE_FLOOR = String.raw`$|=1; binmode STDIN; binmode STDOUT;
while (sysread(STDIN,$h,2)==2) { $n=unpack("n",$h); $p="";
  while (length($p)<$n) { sysread(STDIN,$p,$n-length($p),length($p)) or exit 0 }
  $ok = 0;
  if ($p =~ /\Aauth:user(\d+):bench\.example:(.*)\z/s) {
    $ok = ($1 < 1000 && $2 eq "pw:$1:grüße") ? 1 : 0 }
  elsif ($p =~ /\Aisuser:user(\d+):bench\.example\z/) { $ok = $1 < 1000 ? 1 : 0 }
  syswrite(STDOUT, pack("nn",2,$ok)); }`;

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(1);
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    quick: false,
    requests: 200_000,
    warmup: -1,
    spawnRuns: -1,
    cpu: cpus().length - 1,
    json: undefined,
    compare: undefined,
    only: new Set(ALL_RUNS.filter((r) => r !== "curl")),
    binary: join(ROOT, "dist/xmpp-extauth"),
    binaryGiven: false,
    main: join(ROOT, "main.ts"),
    logLevel: "warn",
    bridgeArgs: [],
    extras: [],
    server: "bun",
  };
  let requestsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) fail(`Cannot parse options: ${a} needs a value`);
      return v;
    };
    const count = (): number => {
      const text = value().replaceAll(/[_,]/g, "");
      const n = Number(text);
      if (!Number.isInteger(n) || n < 0) fail(`Cannot parse options: ${a} ${text} is not a count`);
      return n;
    };
    switch (a) {
      case "--quick":
        o.quick = true;
        break;
      case "--requests":
        o.requests = count();
        requestsGiven = true;
        break;
      case "--warmup":
        o.warmup = count();
        break;
      case "--spawn-runs":
        o.spawnRuns = count();
        break;
      case "--json":
        o.json = value();
        break;
      case "--compare":
        o.compare = value();
        break;
      case "--only": {
        const list = value().split(",").map((s) => s.trim()).filter((s) => s !== "");
        for (const name of list) {
          if (!ALL_RUNS.includes(name)) fail(`Cannot parse options: unknown run ${name} in --only`);
        }
        o.only = new Set(list);
        break;
      }
      case "--binary":
        o.binary = value();
        o.binaryGiven = true;
        break;
      case "--main":
        o.main = value();
        break;
      case "--log-level":
        o.logLevel = value();
        break;
      case "--bridge-arg":
        o.bridgeArgs.push(value());
        break;
      case "--extra": {
        const v = value();
        const eq = v.indexOf("=");
        if (eq <= 0) fail(`Cannot parse options: --extra ${v} is not NAME=COMMAND`);
        const argvExtra = v.slice(eq + 1).split(" ").filter((s) => s !== "");
        if (argvExtra.length === 0) fail(`Cannot parse options: --extra ${v} has no command`);
        o.extras.push({ name: v.slice(0, eq), argv: argvExtra });
        break;
      }
      case "--cpu":
        o.cpu = count();
        if (o.cpu >= cpus().length) fail(`Cannot parse options: there is no CPU ${o.cpu}`);
        break;
      case "--no-pin":
        o.cpu = undefined;
        break;
      case "--server":
        o.server = value();
        if (!["bun", "deno", "node"].includes(o.server)) {
          fail(`Cannot parse options: --server ${o.server} is not bun, deno or node`);
        }
        break;
      case "--help":
        process.stdout.write(HELP);
        process.exit(0);
        break;
      default:
        fail(`Cannot parse options: unknown option ${a} (see --help)`);
    }
  }
  if (o.quick && !requestsGiven) o.requests = 5_000;
  if (o.requests < 2) fail("Cannot parse options: --requests must be at least 2");
  if (o.warmup < 0) o.warmup = Math.min(5_000, Math.floor(o.requests / 50));
  if (o.spawnRuns < 0) o.spawnRuns = o.quick ? 3 : 10;
  return o;
}

// ---------------------------------------------------------------------------------------------
// The request mix

/** One request: its ejabberd frame, its HTTP form, and the reply the API must lead to. */
interface Case {
  frame: Uint8Array;
  path: string;
  body: string;
  expect: 0 | 1;
}

/** Six kinds, cycled: auth right, auth right, auth wrong password, auth unknown user, isuser yes/no. */
function buildCases(count: number): Case[] {
  const enc = new TextEncoder();
  const cases: Case[] = [];
  let seed = 12345;
  const next = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % BENCH_USERS;
  };
  for (let k = 0; k < count; k++) {
    const i = next();
    const kind = k % 6;
    let user = `user${i}`;
    let password: string | undefined = benchPassword(i);
    let expect: 0 | 1 = 1;
    if (kind === 2) {
      password = benchPassword(i + 1);
      expect = 0;
    } else if (kind === 3) {
      user = `user${BENCH_USERS + i}`;
      expect = 0;
    } else if (kind === 4) {
      password = undefined;
    } else if (kind === 5) {
      user = `user${BENCH_USERS + i}`;
      password = undefined;
      expect = 0;
    }
    const line = password === undefined
      ? `isuser:${user}:${BENCH_SERVER}`
      : `auth:${user}:${BENCH_SERVER}:${password}`;
    const payload = enc.encode(line);
    const frame = new Uint8Array(2 + payload.length);
    frame[0] = payload.length >> 8;
    frame[1] = payload.length & 0xff;
    frame.set(payload, 2);
    const fields: Record<string, string> = {
      username: `${user}@${BENCH_SERVER}`,
      user,
      server: BENCH_SERVER,
    };
    if (password !== undefined) fields.password = password;
    cases.push({
      frame,
      path: password === undefined ? "/exists" : "/login",
      body: JSON.stringify(fields),
      expect,
    });
  }
  return cases;
}

/** Describes a request without its password, for error messages. */
function describe(c: Case): string {
  const line = new TextDecoder().decode(c.frame.subarray(2));
  const [op, user] = line.split(":");
  return `${op}:${user}:${BENCH_SERVER} (expected ${c.expect === 1 ? "true" : "false"})`;
}

const CASES = 1_200;

// ---------------------------------------------------------------------------------------------
// Statistics

interface Latency {
  n: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

function latencyStats(ms: Float64Array): Latency {
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

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
}

// ---------------------------------------------------------------------------------------------
// /proc readings

function procStatus(pid: number): { rssKiB: number; hwmKiB: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
  return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM") };
}

const CLK_TCK = 100;

/** CPU time (user + system, all threads) of a process, in ms. */
function procCpuMs(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

function procThreads(pid: number): number {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^Threads:\s+(\d+)/m.exec(text)?.[1]);
}

// ---------------------------------------------------------------------------------------------
// Child processes

function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("XMPP_EXTAUTH_")) env[k] = v;
  }
  return env;
}

function run(argv: string[], timeoutMs = 600_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd ?? "", args, {
      cwd: ROOT,
      env: { ...childEnv(), NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Uint8Array) => out += new TextDecoder().decode(c));
    child.stderr.on("data", (c: Uint8Array) => out += new TextDecoder().decode(c));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: -1, out: String(e) });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out });
    });
  });
}

async function version(argv: string[]): Promise<string> {
  const r = await run(argv, 30_000);
  return r.code === 0 ? (r.out.trim().split("\n")[0] ?? "") : "not available";
}

/** A bridge process driven as ejabberd drives it: one frame out, one 4-byte reply back. */
class Bridge {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  exitedAt = 0;
  stderrBytes = 0;
  private stderrTail = "";
  private buf = new Uint8Array(64);
  private len = 0;
  private waiter: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private dead: Error | null = null;

  constructor(argv: string[]) {
    const [cmd, ...args] = argv;
    this.child = spawn(cmd ?? "", args, {
      cwd: ROOT,
      env: childEnv(),
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.pid = this.child.pid ?? -1;
    this.child.stdout?.on("data", (chunk: Uint8Array) => this.onData(chunk));
    this.child.stderr?.on("data", (chunk: Uint8Array) => {
      this.stderrBytes += chunk.length;
      this.stderrTail = (this.stderrTail + new TextDecoder().decode(chunk)).slice(-2000);
    });
    this.exited = new Promise((resolve) => {
      this.child.on("error", (e) => {
        this.die(new Error(`Cannot start ${argv.join(" ")}: ${e.message}`));
        resolve({ code: -1, signal: null });
      });
      this.child.on("exit", (code, signal) => {
        this.exitedAt = performance.now();
        this.die(new Error(`bridge exited (code ${code}, signal ${signal})`));
        resolve({ code, signal });
      });
    });
    this.child.stdin?.on("error", () => {});
  }

  private die(e: Error): void {
    this.dead ??= e;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(this.dead);
  }

  private onData(chunk: Uint8Array): void {
    if (this.len + chunk.length > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + chunk.length));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(chunk, this.len);
    this.len += chunk.length;
    if (this.len >= 4 && this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve();
    }
  }

  /** Pending bytes that no request asked for. */
  get stray(): number {
    return this.len;
  }

  get stderr(): string {
    return this.stderrTail;
  }

  /** Sends one frame and resolves to the reply's last byte (0 false, 1 true, 2 error). */
  async request(frame: Uint8Array): Promise<number> {
    if (this.len !== 0) {
      throw new Error(`${this.len} unexpected byte(s) on stdout before a request`);
    }
    if (this.dead !== null) throw this.dead;
    this.child.stdin?.write(frame);
    if (this.len < 4) {
      await new Promise<void>((resolve, reject) => this.waiter = { resolve, reject });
    }
    const b = this.buf;
    const len = this.stray;
    if (len !== 4 || b[0] !== 0 || b[1] !== 2 || b[2] !== 0 || (b[3] ?? 9) > 2) {
      const hex = Array.from(b.subarray(0, Math.min(len, 16)), (x) => x.toString(16)).join(" ");
      throw new Error(`malformed reply (${len} bytes: ${hex})`);
    }
    this.len = 0;
    return b[3] ?? 9;
  }

  /** Closes stdin (as ejabberd does on timeout) and waits for the exit; kills it after 5 s. */
  async close(): Promise<{ exitMs: number; exitedOnEof: boolean }> {
    const t0 = performance.now();
    this.child.stdin?.end();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), 5_000));
    const r = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (r === "timeout") {
      this.child.kill("SIGKILL");
      await this.exited;
      return { exitMs: NaN, exitedOnEof: false };
    }
    return { exitMs: this.exitedAt - t0, exitedOnEof: true };
  }
}

// ---------------------------------------------------------------------------------------------
// The loopback API

async function startServer(impl: string): Promise<{ url: string; child: ChildProcess }> {
  const argv = impl === "deno"
    ? [process.execPath, "run", "-A", SERVER_SCRIPT, "--impl", "deno"]
    : ["bun", SERVER_SCRIPT, "--impl", impl];
  const [cmd, ...args] = argv;
  const child = spawn(cmd ?? "", args, { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.on("error", (e) => reject(new Error(`Cannot start the loopback API: ${e.message}`)));
    child.on("exit", (code) => reject(new Error(`Cannot start the loopback API: exit ${code}`)));
    child.stdout?.on("data", (c: Uint8Array) => {
      out += new TextDecoder().decode(c);
      const m = /LISTENING (\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

// ---------------------------------------------------------------------------------------------
// Limit: the same requests without a bridge

interface LimitResult {
  latency: Latency;
  rps: number;
  cpuMsPerReq?: number;
  /** RSS of the client process after the run (the benchmark's own, for the in-process limit). */
  rssKiB?: number;
}

async function fetchLimit(url: string, total: number, warmup: number): Promise<LimitResult> {
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

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Mode `--limit-client URL TOTAL WARMUP`: run fetchLimit in this runtime and print JSON. */
async function limitClientMain(argv: string[]): Promise<void> {
  const [url, total, warmup] = argv;
  const r = await fetchLimit(url ?? "", Number(total), Number(warmup));
  process.stdout.write(JSON.stringify(r) + "\n");
}

async function childFetchLimit(
  runtimeArgv: string[],
  url: string,
  total: number,
  warmup: number,
): Promise<LimitResult> {
  const r = await run([...runtimeArgv, SELF, "--limit-client", url, String(total), String(warmup)]);
  if (r.code !== 0) throw new Error(`limit client failed: ${r.out.trim().slice(-1000)}`);
  return JSON.parse(r.out.trim().split("\n").pop() ?? "") as LimitResult;
}

/** curl (C, libcurl) making the requests one after another over one kept-alive connection. */
async function curlLimit(url: string, total: number): Promise<LimitResult> {
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

// ---------------------------------------------------------------------------------------------
// Bridges

interface BridgeSpec {
  name: string;
  argv: string[];
  exe: string;
  runtime: "deno" | "bun" | "other";
  reference?: boolean;
}

interface BridgeResult {
  latency: Latency;
  rps: number;
  spawnMs: number[];
  spawnP50Ms: number;
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

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function timeSpawn(spec: BridgeSpec, first: Case): Promise<{ ms: number; exit: number }> {
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

async function benchBridge(
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
  for (let r = 0; r < o.spawnRuns; r++) {
    const t = await timeSpawn(spec, first);
    spawnMs.push(t.ms);
    exits.push(t.exit);
  }

  const b = new Bridge(spec.argv);
  await sleep(1000);
  const rssStart = procStatus(b.pid).rssKiB;
  if ((await b.request(first.frame)) !== first.expect) {
    throw new Error(`${spec.name}: wrong reply to ${describe(first)}`);
  }
  await sleep(1000);
  const rssIdle = procStatus(b.pid).rssKiB;

  const total = o.requests;
  const warmup = o.warmup;
  const lat = new Float64Array(total - warmup);
  const checkA = o.quick || total < 200_000 ? Math.floor(total / 2) : 100_000;
  const checkB = o.quick || total < 200_000 ? total : 200_000;
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

/** Whether `binary` is missing or older than `main` or any file in lib/. */
function stale(binary: string, main: string): boolean {
  if (!existsSync(binary)) return true;
  const built = statSync(binary).mtimeMs;
  const lib = join(ROOT, "lib");
  const sources = [main, ...(existsSync(lib) ? readdirSync(lib).map((f) => join(lib, f)) : [])];
  return sources.some((f) => existsSync(f) && statSync(f).mtimeMs > built);
}

async function which(cmd: string): Promise<string | undefined> {
  const r = await run(["sh", "-c", `command -v ${cmd}`], 10_000);
  const path = r.out.trim();
  if (r.code !== 0 || path === "") return undefined;
  const real = await run(["readlink", "-f", path], 10_000);
  return real.out.trim() || path;
}

/** Tries `deno compile`; resolves to the binary's path, or the reason it is not available. */
async function denoCompile(o: Options, dir: string): Promise<{ path?: string; why?: string }> {
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

// ---------------------------------------------------------------------------------------------
// Report

interface Row {
  name: string;
  kind: "limit" | "bridge" | "reference";
  client: string;
  available: boolean;
  why?: string;
  limit?: LimitResult;
  bridge?: BridgeResult;
  ownCostP50Us?: number;
  ownCostBase?: string;
}

interface Report {
  tool: "xmpp-extauth bench";
  version: 1;
  date: string;
  command: string;
  machine: Record<string, string | number>;
  settings: Record<string, string | number | boolean | string[]>;
  rows: Row[];
  targets: TargetCheck[];
}

interface TargetCheck {
  row: string;
  target: string;
  value: string;
  met: boolean | null;
}

const MiB = 1024;
const fmtInt = (v: number): string =>
  Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "–";
const fmtUs = (v: number | undefined): string =>
  v !== undefined && Number.isFinite(v) ? `${Math.round(v)} µs` : "–";
const fmtMiB = (kib: number): string => Number.isFinite(kib) ? `${(kib / MiB).toFixed(1)}` : "–";
const fmtSize = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function countLabel(n: number): string {
  return n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

function markdownTable(report: Report): string {
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

function checkTargets(report: Report): TargetCheck[] {
  const quick = report.settings.checkB !== 200_000;
  const out: TargetCheck[] = [];
  for (const r of report.rows) {
    if (r.kind !== "bridge" || !r.available || r.bridge === undefined) continue;
    const x = r.bridge;
    const add = (target: string, value: string, met: boolean | null): void => {
      out.push({ row: r.name, target, value, met });
    };
    add(
      "own cost p50 ≤ 50 µs",
      fmtUs(r.ownCostP50Us),
      r.ownCostP50Us === undefined ? null : r.ownCostP50Us <= 50,
    );
    add("≥ 5,000 req/s", fmtInt(x.rps), x.rps >= 5000);
    add("spawn → first reply ≤ 50 ms", `${x.spawnP50Ms.toFixed(1)} ms`, x.spawnP50Ms <= 50);
    add("RSS idle ≤ 25 MiB", `${fmtMiB(x.rssIdleKiB)} MiB`, x.rssIdleKiB <= 25 * MiB);
    add(
      "RSS after 100k ≤ 30 MiB",
      `${fmtMiB(x.rssA)} MiB`,
      quick ? null : x.rssA <= 30 * MiB,
    );
    // RSS saw-tooths with garbage collection: compare the peaks of the two halves.
    const growth = x.peakBKiB - x.peakAKiB;
    add(
      "no growth 100k → 200k (peak ≤ +10 %)",
      `${growth >= 0 ? "+" : ""}${(growth / MiB).toFixed(1)} MiB`,
      quick ? null : growth <= Math.max(1 * MiB, 0.1 * x.peakAKiB),
    );
  }
  return out;
}

function targetTable(checks: TargetCheck[]): string {
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
      const na = c.value === "–" ? "n/a (no limit row)" : "n/a (short run)";
      const mark = c.met === null ? na : c.met ? "met" : "**missed**";
      return `${c.value} ${mark}`;
    });
    lines.push(`| ${t} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

function machineText(report: Report): string {
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
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Compare

function compareText(old: Report, now: Report): string {
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

// ---------------------------------------------------------------------------------------------
// Main

async function machineFacts(): Promise<Record<string, string | number>> {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? "unknown";
  const g = globalThis as unknown as { Deno?: { version: { deno: string; v8: string } } };
  const bun = await version(["bun", "--version"]);
  const curl = await version(["curl", "--version"]);
  return {
    cpu: model.trim(),
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    deno: g.Deno?.version.deno ?? "not running under Deno",
    v8: g.Deno?.version.v8 ?? "",
    bun,
    curl: curl.split(" ").slice(0, 2).join(" "),
    loadBefore: loadavg(),
    loadAfter: "",
  };
}

function loadavg(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

const T0 = performance.now();

function log(text: string): void {
  process.stderr.write(`[${((performance.now() - T0) / 1000).toFixed(1)} s] ${text}\n`);
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === "--limit-client") return limitClientMain(argv.slice(1));
  const o = parseOptions(argv);
  if (!("Deno" in globalThis)) fail("Cannot run: start the benchmark with deno (deno task bench)");
  const command = `deno task bench${argv.length > 0 ? " " + argv.join(" ") : ""}`;
  let pinned = "no (--no-pin)";
  if (o.cpu !== undefined) {
    // Children inherit the affinity: the API, the limit clients and every bridge.
    const r = await run(["taskset", "-a", "-p", "-c", String(o.cpu), String(process.pid)], 10_000);
    pinned = r.code === 0 ? `CPU ${o.cpu}` : `no (taskset failed: ${r.out.trim().slice(0, 80)})`;
  }
  log(`pinned: ${pinned}`);
  const machine = await machineFacts();
  const checkA = o.quick || o.requests < 200_000 ? Math.floor(o.requests / 2) : 100_000;
  const checkB = o.quick || o.requests < 200_000 ? o.requests : 200_000;
  const report: Report = {
    tool: "xmpp-extauth bench",
    version: 1,
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
      pinned,
      serverImpl: o.server === "bun"
        ? "Bun.serve"
        : o.server === "deno"
        ? "Deno.serve"
        : "node:http under Bun",
    },
    rows: [],
    targets: [],
  };
  const tmp = mkdtempSync(join(tmpdir(), "xmpp-extauth-bench-"));
  const { url, child: server } = await startServer(o.server);
  log(`loopback API: ${url} (${report.settings.serverImpl})`);
  const t = (n: number) => fmtInt(n);

  try {
    const limits: Record<string, number> = {};
    if (o.only.has("limit")) {
      log(`limit: fetch in this process (Deno), ${t(o.requests)} requests …`);
      const l = await fetchLimit(url, o.requests, o.warmup);
      limits.deno = l.latency.p50Us;
      report.rows.push({
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
      report.rows.push({
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
      report.rows.push(
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
    const bunPath = await which("bun");
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
    if (o.only.has("binary")) {
      if (!o.binaryGiven && bunPath !== undefined && stale(o.binary, o.main)) {
        log(`building ${o.binary} with bun build --compile (missing or older than the sources) …`);
        const r = await run([
          bunPath,
          "build",
          "--compile",
          "--minify",
          "--outfile",
          o.binary,
          o.main,
        ]);
        if (r.code !== 0) log(`bun build --compile failed:\n${r.out}`);
      }
      specs.push(
        existsSync(o.binary)
          ? {
            name: "bridge: binary (bun build --compile)",
            argv: [o.binary, ...extraArgs(url), ...o.bridgeArgs],
            exe: o.binary,
            runtime: "bun",
          }
          : { name: "bridge: binary (bun build --compile)", why: `${o.binary} not found` },
      );
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

    for (const spec of specs) {
      if (!("argv" in spec)) {
        report.rows.push({
          name: spec.name,
          kind: "bridge",
          client: "",
          available: false,
          why: spec.why,
        });
        continue;
      }
      log(`${spec.name}: ${t(o.requests)} requests …`);
      const x = await benchBridge(spec, o, server);
      const base = spec.runtime === "other" ? undefined : limits[spec.runtime];
      report.rows.push({
        name: spec.name,
        kind: spec.reference === true ? "reference" : "bridge",
        client: spec.argv.map((s) => s === url ? "URL" : s).join(" "),
        available: true,
        bridge: x,
        ...(base !== undefined
          ? { ownCostP50Us: x.latency.p50Us - base, ownCostBase: `fetch, ${spec.runtime}` }
          : {}),
      });
    }
  } finally {
    server.stdin?.end();
    server.kill();
    rmSync(tmp, { recursive: true, force: true });
  }

  machine.loadAfter = loadavg();
  report.targets = checkTargets(report);
  const text = [
    markdownTable(report),
    "",
    machineText(report),
    "",
    "Targets:",
    "",
    report.targets.length > 0 ? targetTable(report.targets) : "(no bridge measured)",
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
