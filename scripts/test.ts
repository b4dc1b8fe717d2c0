/**
 * `deno task test`: everything CI checks, with output a person can read.
 *
 * 1. Preflight: are Bun and python3 (the terminal tests) there? One line per
 *    missing tool, saying how to get it, before anything runs.
 * 2. `deno fmt --check`, `deno lint`, `deno check` (output shown only on failure).
 * 3. The suites, each with a compact reporter (a dot per test; a failure is
 *    shown with its name and assertion): every test and JSDoc example on Deno,
 *    every test on Bun, then the Bun-compiled binary (`deno task build:bun`)
 *    through the black-box tests.
 * 4. One last line summing every suite: `N passed, N failed` (`, N skipped`).
 *
 * The exit status is 0 only when every step passed and no test failed.
 * `deno task test tests/x_test.ts ...` runs the same steps for those files only.
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The versions CI installs (`.ci/run`); README says the same. */
export const DENO_VERSION = "2.9.6";
/** The Bun version CI installs. */
export const BUN_VERSION = "1.4.4";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BINARY = "dist/xmpp-extauth";
/** The black-box tests: the program spawned as the server spawns it (`tests/blackbox/`). */
const BLACK_BOX_DIR = "tests/blackbox/";
/** The black-box files, each run once per program: on Deno (deno and bun), then the binary. */
const BLACK_BOX: readonly string[] = readdirSync(`${ROOT}${BLACK_BOX_DIR}`)
  .filter((name) => name.endsWith("_test.ts"))
  .sort()
  .map((name) => `${BLACK_BOX_DIR}${name}`);

/** Counts of one suite. */
export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/** One tool the tests need and how to get it. */
interface Tool {
  readonly command: string;
  readonly version?: string;
  readonly install: string;
}

const TOOLS: readonly Tool[] = [
  {
    command: "bun",
    version: BUN_VERSION,
    install: `npm install -g bun@${BUN_VERSION}  (or: curl -fsSL https://bun.sh/install | ` +
      `bash -s bun-v${BUN_VERSION})`,
  },
  { command: "python3", install: "apt-get install python3" },
];

/** Strips terminal colours. */
function plain(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/**
 * Checks that the tools are there: returns one line per problem; `fatal` when
 * a tool is missing (a version other than the pinned one only warns).
 */
function preflight(): { lines: string[]; fatal: boolean; found: string[] } {
  const lines: string[] = [];
  const found = [`deno ${Deno.version.deno}`];
  let fatal = false;
  if (Deno.version.deno !== DENO_VERSION) {
    lines.push(
      `warning: deno ${Deno.version.deno} found, CI uses ${DENO_VERSION} — install it with: ` +
        `npm install -g deno@${DENO_VERSION}`,
    );
  }
  for (const tool of TOOLS) {
    const run = spawnSync(tool.command, ["--version"], { encoding: "utf8" });
    if (run.error !== undefined || run.status !== 0) {
      lines.push(`${tool.command}: not found — install it with: ${tool.install}`);
      fatal = true;
      continue;
    }
    const version = /\d+\.\d+\.\d+/.exec(run.stdout + run.stderr)?.[0] ?? "?";
    found.push(`${tool.command} ${version}`);
    if (tool.version !== undefined && version !== tool.version) {
      lines.push(
        `warning: ${tool.command} ${version} found, CI uses ${tool.version} — install it with: ` +
          tool.install,
      );
    }
  }
  return { lines, fatal, found };
}

/**
 * Deno's dot reporter writes each dot (`!` for a failure) on a line of its
 * own when its output is a pipe: put them back on one line (wrapped at 100),
 * and pass every other line through as it is.
 */
function dotJoiner(write: (text: string) => void): (text: string) => void {
  let partial = "";
  let dots = 0;
  return (text) => {
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      if (/^[.!]+$/.test(plain(line))) {
        for (const _ of plain(line)) write(++dots % 100 === 0 ? ".\n" : ".");
        continue;
      }
      if (dots % 100 !== 0) write("\n");
      dots = 0;
      write(`${line}\n`);
    }
  };
}

/** Runs a command, showing its output as it comes (or only on failure when `quiet`). */
function run(
  command: string,
  args: readonly string[],
  options: { quiet?: boolean; env?: Record<string, string> } = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, [...args], {
      cwd: ROOT,
      env: { ...process.env, ...(process.stdout.isTTY ? {} : { NO_COLOR: "1" }), ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const show = dotJoiner((text) => process.stdout.write(text));
    const take = (chunk: Uint8Array) => {
      const text = new TextDecoder().decode(chunk);
      output += text;
      if (!options.quiet) show(text);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (error) => {
      output += `${command}: ${error.message}\n`;
    });
    child.on("close", (code) => {
      if (!options.quiet) show("\n");
      if (options.quiet && code !== 0) process.stdout.write(output);
      resolve({ code: code ?? 1, output });
    });
  });
}

/**
 * Counts the leaf tests of a Deno JUnit report: a test with steps (a
 * `describe`) is not counted, each of its steps is.
 *
 * @example Two steps of one describe, one of them failed
 * ```ts
 * import assert from "node:assert/strict";
 * import { countJunit } from "./test.ts";
 * const xml = `<testsuites>
 *   <testcase name="a" classname="x.ts"><failure message="1 step failed"/></testcase>
 *   <testcase name="a &gt; b" classname="deno"></testcase>
 *   <testcase name="a &gt; c" classname="deno"><failure message="no"/></testcase>
 * </testsuites>`;
 * assert.deepEqual(countJunit(xml), { passed: 1, failed: 1, skipped: 0 });
 * ```
 */
export function countJunit(xml: string): Counts {
  const cases = [...xml.matchAll(/<testcase name="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)]
    .map((m) => ({ name: m[1]!, body: m[3] ?? "" }));
  const parents = new Set<string>();
  for (const { name } of cases) {
    const parts = name.split(" &gt; ");
    for (let i = 1; i < parts.length; i++) parents.add(parts.slice(0, i).join(" &gt; "));
  }
  const counts: Counts = { passed: 0, failed: 0, skipped: 0 };
  for (const { name, body } of cases) {
    if (parents.has(name)) continue;
    if (/<failure|<error/.test(body)) counts.failed++;
    else if (/<skipped/.test(body)) counts.skipped++;
    else counts.passed++;
  }
  return counts;
}

/**
 * Reads the totals from `bun test`'s last lines (` 12 pass`, ` 1 fail`, ` 2 skip`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countBun } from "./test.ts";
 * assert.deepEqual(countBun(" 41 pass\n 2 skip\n 1 fail\nRan 44 tests"), {
 *   passed: 41,
 *   failed: 1,
 *   skipped: 2,
 * });
 * ```
 */
export function countBun(output: string): Counts {
  const text = plain(output);
  const number = (word: string) =>
    Number(new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(text)?.[1] ?? 0);
  return {
    passed: number("pass"),
    failed: number("fail"),
    skipped: number("skip") + number("todo"),
  };
}

/** Runs `deno test` with the dot reporter and counts from its JUnit report. */
async function denoSuite(paths: readonly string[], flags: readonly string[], env = {}) {
  const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-test-"));
  const junit = join(dir, "junit.xml");
  try {
    const { code } = await run(
      "deno",
      ["test", "--allow-all", "--reporter=dot", `--junit-path=${junit}`, ...flags, ...paths],
      { env },
    );
    let counts: Counts = { passed: 0, failed: 0, skipped: 0 };
    try {
      counts = countJunit(readFileSync(junit, "utf8"));
    } catch { /* no report: counted below */ }
    return { code, counts };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `N passed, N failed` and `, N skipped` when any were. */
export function summary(c: Counts): string {
  return `${c.passed} passed, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped` : ""}`;
}

async function main(files: readonly string[]): Promise<number> {
  const check = preflight();
  for (const line of check.lines) console.log(line);
  if (check.fatal) return 1;
  console.log(`== tools: ${check.found.join(", ")}`);

  for (
    const [name, args] of [
      ["deno fmt --check", ["fmt", "--check"]],
      ["deno lint", ["lint"]],
      ["deno check", ["check", "main.ts", "lib/", "tests/", "scripts/"]],
      ["layout check", [
        "run",
        "--allow-read",
        "--allow-run",
        "--allow-env",
        "scripts/check_layout.ts",
      ]],
    ] as const
  ) {
    const { code } = await run("deno", args, { quiet: true });
    if (code !== 0) {
      console.log(`${name} failed (above); no test was run`);
      console.log(summary({ passed: 0, failed: 1, skipped: 0 }));
      return 1;
    }
  }
  console.log("== deno fmt --check, deno lint, deno check, layout check: clean");

  // `deno task test tests/x_test.ts ...` runs only those files (the binary only for black-box ones).
  const only = files.length > 0;
  const denoPaths = only ? files : ["tests/", "lib/", "scripts/test.ts"];
  const bunPaths = only
    ? files.filter((f) => !f.includes(BLACK_BOX_DIR))
      .map((f) => f.startsWith(".") || f.startsWith("/") ? f : `./${f}`)
    : ["tests/", `--path-ignore-patterns=${BLACK_BOX_DIR}**`];
  const binaryPaths = only ? BLACK_BOX.filter((f) => files.includes(f)) : BLACK_BOX;

  const results: { name: string; code: number; counts: Counts }[] = [];
  console.log(`== Deno: deno test${only ? "" : " --doc"} ${denoPaths.join(" ")}`);
  results.push({ name: "Deno", ...await denoSuite(denoPaths, only ? [] : ["--doc"]) });

  if (bunPaths.length > 0) {
    console.log(`== Bun: bun test ${bunPaths.join(" ")}`);
    const bun = await run("bun", ["test", "--dots", ...bunPaths]);
    results.push({ name: "Bun", code: bun.code, counts: countBun(bun.output) });
  }

  if (binaryPaths.length > 0) {
    console.log(`== build: deno task build:bun (${BINARY})`);
    const build = await run("deno", ["task", "build:bun"], { quiet: true });
    if (build.code === 0) {
      console.log(`== binary: ${binaryPaths.join(" ")} against ${BINARY}`);
      results.push({
        name: "binary",
        ...await denoSuite(binaryPaths, [], { EXTAUTH_TEST_BINARY: BINARY }),
      });
    } else {
      console.log("build failed (above): the binary was not tested");
      results.push({ name: "binary", code: 1, counts: { passed: 0, failed: 0, skipped: 0 } });
    }
  }

  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  let ok = true;
  console.log("");
  for (const { name, code, counts } of results) {
    // A suite that failed without a failed test (a crash, a load error) counts as one failure.
    if (code !== 0 && counts.failed === 0) {
      counts.failed = 1;
      console.log(`${name}: exited with status ${code} without a failed test: see above`);
    }
    ok &&= code === 0;
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
  }
  console.log(results.map(({ name, counts }) => `${name}: ${summary(counts)}`).join(" · "));
  console.log(summary(total));
  return ok && total.failed === 0 ? 0 : 1;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
