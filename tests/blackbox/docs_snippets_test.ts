/**
 * Every snippet README.md and docs/**\/*.md show is executed, so the docs cannot drift from the
 * program (the house issue, part 4). Config examples are `tests/blackbox/readme_examples_test.ts`; here:
 *
 * - every command line in a fence that runs `xmpp-extauth` with options (an `extauth_program`,
 *   MongooseIM's `program`, a wrapper's `exec`, a `$ xmpp-extauth …` line) is run with those
 *   options against the example API on 127.0.0.1 (`--url` and every file replaced by local ones),
 *   as the server would run it: it must answer `isuser` true and exit 0 at end of input;
 * - every ```text fence after `<!-- check-example -->` starts with a `$ … check …` line: the
 *   command is run against the example API and its output must have the lines shown, times,
 *   ports and versions aside (a line `...` stands for any lines);
 * - every `--option` the docs name is an option of the table (lib/options.ts) or a listed option
 *   of another tool, and every option of the table has a row in docs/options.md;
 * - every relative link points to an existing file and, with `#anchor`, to a heading there;
 * - every figure of README's performance table is one measured in docs/performance.md.
 *
 * Run: `deno test --allow-all tests/blackbox/docs_snippets_test.ts`, `bun test tests/blackbox/docs_snippets_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, normalize } from "node:path";
import { OPTIONS, SECRET_FLAGS } from "../../lib/cli/options.ts";
import { DOCTOR_OPTION_NAMES } from "../../lib/cli/doctor_args.ts";
import { type ExampleApi, startExampleApi } from "../../scripts/example_api.ts";
import { frame, hex, REPO_ROOT, runExtauth, type Runner, runners, TRUE } from "../helpers/spawn.ts";

const T = { timeout: 60_000 };

/** README.md and every Markdown file under docs/, as repository paths. */
export function docFiles(): string[] {
  const docs = readdirSync(join(REPO_ROOT, "docs"), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".md"))
    .map((f) => join("docs", f))
    .sort();
  return ["README.md", ...docs];
}

const FILES = docFiles();
const TEXT = new Map(FILES.map((f) => [f, readFileSync(join(REPO_ROOT, f), "utf8")]));

/** One fenced block: where, its language, its lines, and the marker comment before it. */
interface Fence {
  readonly where: string;
  readonly lang: string;
  readonly lines: readonly string[];
  readonly marker: string | undefined;
}

/** The fences of one file (``` only, as deno fmt writes them). */
function fencesOf(file: string): Fence[] {
  const lines = TEXT.get(file)!.split("\n");
  const found: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && l.trim() === "```");
    assert.ok(end > i, `${file}:${i + 1}: the fence never closes`);
    let before = i - 1;
    while (before >= 0 && lines[before]!.trim() === "") before--;
    const marker = /^<!-- ([a-z-]+) -->$/.exec(lines[before]?.trim() ?? "")?.[1];
    const indent = open[1]!.length;
    found.push({
      where: `${file}:${i + 1}`,
      lang: open[2]!,
      lines: lines.slice(i + 1, end).map((l) => l.slice(indent)),
      marker,
    });
    i = end;
  }
  return found;
}

const FENCES = FILES.flatMap(fencesOf);

/** The text of a file outside its fences (where links and headings live). */
function prose(file: string): string {
  return TEXT.get(file)!.replace(/^\s*```[^\n]*\n[\s\S]*?^\s*```\s*$/gm, "");
}

/** Splits a shell command into words: '…' and "…" quoting, `#` comments, no expansion. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'" || c === '"') {
      const found = line.indexOf(c, i + 1);
      const close = found < 0 ? line.length : found; // not shell (a YAML comment's apostrophe)
      word = (word ?? "") + line.slice(i + 1, close);
      i = close;
    } else if (c === " " || c === "\t") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "#" && word === undefined) {
      break;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The program's name in a command: `xmpp-extauth` or a path ending in it. */
function isProgram(word: string): boolean {
  return /^(\S*\/)?xmpp-extauth$/.test(word);
}

/** A command line the docs show: where, the arguments after the program, the stdin given. */
interface Command {
  readonly where: string;
  readonly args: readonly string[];
  readonly stdin: string | undefined;
}

/**
 * The program's arguments in one shell line (the program named as `xmpp-extauth`, a path
 * ending in it, `deno run -A main.ts` or `bun main.ts`), or undefined when the line does not
 * run it with arguments. `printf %s PW |` before it becomes stdin; `runuser … --` is dropped.
 */
export function commandIn(line: string): Omit<Command, "where"> | undefined {
  if (!/xmpp-extauth|main\.ts/.test(line)) return undefined;
  const words = shellWords(line.replace(/^\$ /, ""));
  let stdin: string | undefined;
  if (words[0] === "printf" && words[1] === "%s" && words[3] === "|") {
    stdin = words[2];
    words.splice(0, 4);
  }
  let at = words.findIndex(isProgram);
  if (at < 0) {
    const main = words.indexOf("main.ts");
    if (main < 0 || !["deno", "bun"].includes(words[0] ?? "")) return undefined;
    at = main;
  }
  const args = words.slice(at + 1);
  if (args.length === 0 || !(args[0] === "check" || args[0]!.startsWith("-"))) return undefined;
  return { args, stdin };
}

/** The command a config line holds: `extauth_program: "…"` (YAML), `program = "…"` (TOML). */
function quotedCommand(line: string): string | undefined {
  return /^\s*(?:extauth_program:|program =)\s*"([^"]*)"/.exec(line)?.[1];
}

/** Every command line of the unmarked fences (marked check examples are run on their own). */
function commandLines(): Command[] {
  const found: Command[] = [];
  for (const fence of FENCES) {
    if (fence.marker === "check-example") continue;
    // Shell continuation lines are one command.
    const joined = fence.lines.join("\n").replace(/\\\n\s*/g, "").split("\n");
    for (const line of joined) {
      const command = commandIn(quotedCommand(line) ?? line);
      if (command) found.push({ where: fence.where, ...command });
    }
  }
  return found;
}

const COMMANDS = commandLines();
const TOKEN = "docs-snippet-token";

/** Test content for the file an option names; undefined: the program creates it. */
function contentFor(option: string): string | undefined {
  switch (option) {
    case "--token-file":
      return `${TOKEN}\n`;
    case "--basic-auth-file":
      return "docs:snippet-password\n";
    case "--hmac-secret-file":
      return "docs-snippet-hmac-key\n";
    case "--header-file":
      return "docs-snippet-header-value\n";
    case "--cache-password-file":
      return "docs-snippet-redis-password\n";
    case "--ca-file":
      return readFileSync(join(REPO_ROOT, "tests/fixtures/tls_untrusted_ca.pem"), "utf8");
    default:
      return undefined;
  }
}

/**
 * The arguments with `--url` pointing at `url` (its path kept when `keepPath`) and every file
 * moved into `dir` (secret files written with test values).
 */
function localise(args: readonly string[], dir: string, url: string, keepPath = false): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const takesValue = name === "--url" || name.endsWith("-file") || name === "--config";
    if (!takesValue) {
      out.push(arg);
      continue;
    }
    const value = inline ?? args[++i];
    assert.ok(value !== undefined, `${name} without a value`);
    let local: string;
    if (name === "--url") {
      local = keepPath ? url + new URL(value).pathname.replace(/\/$/, "") : url;
    } else if (name === "--header-file") {
      const [header, file] = [
        value.slice(0, value.indexOf("=")),
        value.slice(value.indexOf("=") + 1),
      ];
      const path = join(dir, `header-${basename(file)}`);
      writeFileSync(path, contentFor(name)!, { mode: 0o600 });
      local = `${header}=${path}`;
    } else {
      local = join(dir, `${name.slice(2)}-${basename(value)}`);
      const content = contentFor(name);
      if (content !== undefined) writeFileSync(local, content, { mode: 0o600 });
    }
    out.push(name, local);
  }
  return out;
}

/** A fresh temporary folder for one snippet. */
function scratch(): string {
  return mkdtempSync(join(tmpdir(), "xmpp-extauth-docs-"));
}

describe("the docs' snippets are found", () => {
  it("command lines, check examples and links exist to be tested", () => {
    assert.ok(COMMANDS.length >= 5, `only ${COMMANDS.length} command lines found`);
    assert.ok(FENCES.filter((f) => f.marker === "check-example").length >= 3);
    assert.ok(FILES.includes("docs/servers/ejabberd.md"), "docs/ subfolders are read");
  });
});

for (const runner of runners()) {
  describe(`every command line in the docs runs (${runner.name})`, () => {
    const apis: ExampleApi[] = [];
    let plain: ExampleApi;
    let tokened: ExampleApi;
    before(async () => {
      plain = await startExampleApi();
      tokened = await startExampleApi({ token: TOKEN });
      apis.push(plain, tokened);
    });
    after(async () => {
      for (const api of apis) await api.close();
    });

    for (const { where, args } of COMMANDS) {
      it(`${where}: xmpp-extauth ${args.join(" ")}`, T, async () => {
        const dir = scratch();
        try {
          const api = args.includes("--token-file") ? tokened : plain;
          const local = localise(args, dir, api.url);
          await runCommand(runner, where, local);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  });

  describe(`every check example prints what the docs show (${runner.name})`, () => {
    const apis: ExampleApi[] = [];
    after(async () => {
      for (const api of apis) await api.close();
    });
    for (const fence of FENCES.filter((f) => f.marker === "check-example")) {
      it(fence.where, T, async () => {
        assert.equal(fence.lang, "text", `${fence.where}: a check example is a text fence`);
        const [first, ...shown] = fence.lines;
        assert.match(first ?? "", /^\$ /, `${fence.where}: the first line is the command`);
        const command = commandIn(first!);
        assert.ok(command, `${fence.where}: no xmpp-extauth command in ${first}`);
        assert.equal(command.args[0], "check", `${fence.where}: not a check command`);
        const api = await startExampleApi(
          command.args.includes("--token-file") ? { token: TOKEN } : {},
        );
        apis.push(api);
        const dir = scratch();
        try {
          const local = localise(command.args, dir, api.url, true);
          const r = await runExtauth(runner, local, { stdin: command.stdin ?? "" });
          const urlAt = command.args.indexOf("--url");
          const shownOrigin = urlAt < 0 ? undefined : new URL(command.args[urlAt + 1]!).origin;
          assertShape(fence.where, shown, r.stdoutText.replace(/\n$/, "").split("\n"), [
            shownOrigin,
            api.url,
          ]);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  });
}

/** Runs one documented command line the way the server would, and checks that it answers. */
async function runCommand(runner: Runner, where: string, args: readonly string[]): Promise<void> {
  const label = `${where}: ${args.join(" ")}`;
  if (args[0] === "check") {
    const r = await runExtauth(runner, args, { stdin: "wonderland" });
    if (args.includes("--self-test")) {
      assert.equal(r.code, 0, `${label}: exit ${r.code}: ${r.stderr}`);
      assert.match(r.stdoutText, /^self-test passed: /, label);
    } else {
      assert.ok(r.code === 0 || r.code === 1, `${label}: exit ${r.code}: ${r.stderr}`);
    }
    return;
  }
  if (args.includes("--version") || args.includes("--help")) {
    const r = await runExtauth(runner, args);
    assert.equal(r.code, 0, `${label}: exit ${r.code}: ${r.stderr}`);
    return;
  }
  const prosody = args[args.indexOf("--protocol") + 1] === "prosody" && args.includes("--protocol");
  const r = await runExtauth(runner, args, {
    stdin: prosody ? "isuser:alice:localhost\n" : frame("isuser:alice:localhost"),
  });
  const logAt = args.indexOf("--log-file");
  const log = logAt >= 0 && existsSync(args[logAt + 1]!)
    ? readFileSync(args[logAt + 1]!, "utf8")
    : "";
  assert.equal(r.code, 0, `${label}: exit ${r.code}: ${r.stderr}${log}`);
  if (prosody) assert.equal(r.stdoutText, "1\n", `${label}: ${r.stderr}${log}`);
  else assert.equal(hex(r.stdout), hex(TRUE), `${label}: ${r.stderr}${log}`);
  assert.doesNotMatch(r.stderr + log, /ERROR|configuration error/, label);
}

/** A line with what changes from run to run (times, the API's port, versions) replaced. */
export function shapeOf(line: string, origins: readonly (string | undefined)[]): string {
  let out = line;
  for (const origin of origins) if (origin) out = out.replaceAll(origin, "ORIGIN");
  return out
    .replace(/\b\d+(\.\d+)? ms\b/g, "N ms")
    .replace(/xmpp-extauth([ /])\d+\.\d+\.\d+\S*/g, "xmpp-extauth$1VERSION")
    .replace(/\b(bun|deno) \d+\.\d+\.\d+\S*/g, "RUNTIME");
}

/** The output has the shown lines in order; a shown `...` stands for any lines. */
export function assertShape(
  where: string,
  shown: readonly string[],
  actual: readonly string[],
  origins: readonly (string | undefined)[],
): void {
  const want = shown.map((l) => shapeOf(l, origins));
  const got = actual.map((l) => shapeOf(l, origins));
  const message = `${where}: the docs show\n${want.join("\n")}\nthe program printed\n${
    got.join("\n")
  }`;
  let g = 0;
  for (let w = 0; w < want.length; w++) {
    if (want[w] === "...") {
      const next = want[w + 1];
      if (next === undefined) return;
      while (g < got.length && got[g] !== next) g++;
      assert.ok(g < got.length, message);
      continue;
    }
    assert.equal(got[g], want[w], message);
    g++;
  }
  assert.equal(g, got.length, message);
}

/** Options of other tools the docs name (deno, bun, sha256sum, the benchmark, …). */
const FOREIGN = new Set([
  // release.ts, dpkg-deb, lintian, man_page.ts
  "rpm",
  "no-packages",
  "no-lintian",
  "root-owner-group",
  "build",
  "fail-on",
  "out-dir",
  "contents",
  // setpriv, debootstrap, apt-get, tar
  "reuid",
  "regid",
  "init-groups",
  "variant",
  "download-only",
  "strip-components",
  // doctor's own (docs/doctor.md)
  "ejabberd-config",
  "user",
  // sha256sum, luarocks, docker, apk
  "ignore-missing",
  "lua-version",
  "rm",
  "entrypoint",
  "no-cache",
  // deno and bun
  "allow-all",
  "allow-ffi",
  "allow-net",
  "allow-read",
  "allow-write",
  "allow-env",
  "allow-run",
  "compile",
  "target",
  "output",
  "bytecode",
  "minify",
  "smol",
  "splitting",
  "aot",
  "compile-exec-argv",
  "compile-jit-policy",
  "no-compile-autoload-dotenv",
  "no-compile-autoload-bunfig",
  "no-compile-autoload-tsconfig",
  "no-compile-autoload-package-json",
  "inspect",
  "inspect-brk",
  "inspect-wait",
  "max-old-space-size",
  "check",
  "debug",
  "require",
  "import",
  "loader",
  // scripts: the benchmark, the release, the example API, the demo, the musl smoke test
  "quick",
  "json",
  "compare",
  "only",
  "requests",
  "python-requests",
  "idle-wait",
  "no-pin",
  "runs",
  "restart",
  "compiler",
  "targets",
  "port",
  "users",
  "hostname",
  "binary",
  "blackbox",
  // setpriv, which doctor runs
  "reuid",
  "regid",
  "init-groups",
  // luarocks, which doctor's lpty fix names
  "lua-version",
  // the typo the docs show on purpose
  "tiemout",
]);

describe("options named in the docs", () => {
  const known = new Set([...OPTIONS.map((o) => o.name), ...DOCTOR_OPTION_NAMES]);
  it("every --option the docs name exists (or belongs to another tool)", () => {
    const unknown: string[] = [];
    for (const [file, text] of TEXT) {
      for (const m of text.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*[a-z0-9])/g)) {
        const name = m[1]!;
        if (known.has(name) || name in SECRET_FLAGS || FOREIGN.has(name)) continue;
        const line = text.slice(0, m.index).split("\n").length;
        unknown.push(`${file}:${line}: --${name}`);
      }
    }
    assert.deepEqual(unknown, [], "options the docs name that the program does not have");
  });

  it("every option of the table has a row in docs/options.md", () => {
    const table = TEXT.get("docs/options.md")!;
    const missing = OPTIONS.filter((o) =>
      !new RegExp(`^\\|[^|\\n]*\`--${o.name}[ \`]`, "m").test(table)
    ).map((o) => `--${o.name}`);
    assert.deepEqual(missing, [], "options without a row in docs/options.md");
  });
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replaceAll(" ", "-");
}

/** The anchors of a Markdown file's headings (GitHub numbers repeats: `x`, `x-1`, …). */
function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of prose(file).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    anchors.add(n === 0 ? base : `${base}-${n}`);
    seen.set(base, n + 1);
  }
  return anchors;
}

describe("links in README and docs", () => {
  it("every relative link points to an existing file and heading", () => {
    const broken: string[] = [];
    for (const file of FILES) {
      for (const m of prose(file).replace(/`[^`\n]*`/g, "").matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split("#", 2) as [string, string | undefined];
        const to = path === "" ? file : normalize(join(dirname(file), path));
        if (!existsSync(join(REPO_ROOT, to))) {
          broken.push(`${file}: ${target}: no file ${to}`);
          continue;
        }
        if (anchor === undefined || !to.endsWith(".md")) continue;
        if (!TEXT.has(to)) TEXT.set(to, readFileSync(join(REPO_ROOT, to), "utf8"));
        if (!anchorsOf(to).has(anchor)) broken.push(`${file}: ${target}: no heading #${anchor}`);
      }
    }
    assert.deepEqual(broken, [], "broken links");
  });

  it("every file of the repository a doc names in code (`lib/…`, `tests/…`, `scripts/…`) exists", () => {
    const missing: string[] = [];
    for (const file of FILES) {
      const named = TEXT.get(file)!.matchAll(
        /`((?:lib|tests|scripts)\/[\w./-]+\.(?:ts|py|sh|lua))`/g,
      );
      for (const [, path] of named) {
        if (!existsSync(join(REPO_ROOT, path!))) missing.push(`${file}: ${path}`);
      }
    }
    assert.deepEqual(missing, [], "files the docs name that do not exist");
  });
});

describe("README's performance table", () => {
  it("shows only figures measured in docs/performance.md", () => {
    const readme = TEXT.get("README.md")!;
    const section = readme.slice(readme.indexOf("## Performance"));
    const table = section.split("\n").filter((l) => l.startsWith("|")).slice(2);
    assert.ok(table.length >= 3, "README's performance table is missing");
    const measured = TEXT.get("docs/performance.md")!;
    const figures = table.flatMap((row) =>
      row.split("|").slice(2).flatMap((cell) => [...cell.matchAll(/\d[\d,.]*\d|\d/g)])
        .map((m) => m[0])
    );
    const missing = figures.filter((f) =>
      !new RegExp(`(?<![\\d.,])${f.replaceAll(".", "\\.")}(?![\\d])`).test(measured)
    );
    assert.deepEqual(missing, [], "figures in README that docs/performance.md does not have");
  });
});
