/**
 * `deno task layout`: the house rules of `lib/`, checked over the module graph that
 * `deno info --json` reports (static, type-only and dynamic imports alike), as
 * docs/development.md states them:
 *
 * 1. each folder imports only the folders its row in {@linkcode MAY_IMPORT} names;
 * 2. nothing imports `lib/modes/` but `main.ts` and `modes/` itself;
 * 3. only `lib/runtime/` names a runtime (`Deno.*`, `Bun.*`, `bun:`, `node:sqlite`);
 * 4. no import cycles between files;
 * 5. no function in lib/ longer than {@linkcode MAX_FUNCTION_LINES} lines (`scripts/function_spans.ts`);
 * 6. docs/development.md's "The house" names every file of lib/ once, and no other.
 *
 * Prints one line per broken rule and exits 1 if any; else one line saying what it checked.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { longFunctions } from "./function_spans.ts";

/** Which folders of `lib/` each folder may import from (its own is always allowed). */
export const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  core: [],
  runtime: ["core"],
  log: ["core", "runtime"],
  wire: ["core", "runtime", "log"],
  api: ["core", "runtime", "log"],
  cache: ["core", "runtime", "log"],
  metrics: ["core", "runtime", "log"],
  auth: ["core", "runtime", "log", "wire", "api", "cache", "metrics"],
  cli: ["core", "runtime", "log", "wire", "api", "cache", "auth"],
  doctor: ["core", "runtime", "log", "wire", "api", "cache", "auth", "cli"],
  modes: ["core", "runtime", "log", "wire", "api", "cache", "auth", "cli", "doctor", "metrics"],
};

/** The most lines a function of lib/ may span, its head and closing brace included. */
export const MAX_FUNCTION_LINES = 60;

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Every `.ts` file under `dir`, relative to the repository. */
function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** The folder of `lib/` a file lives in (`core`, `api`, ...), or undefined outside lib/. */
function folderOf(file: string): string | undefined {
  const match = /^lib\/([^/]+)\//.exec(file);
  return match?.[1];
}

interface Module {
  readonly specifier: string;
  readonly dependencies?: readonly {
    readonly code?: { readonly specifier: string };
    readonly type?: { readonly specifier: string };
  }[];
}

/** The import graph of `main.ts` and every file in lib/, from `deno info --json`. */
function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  const entries = ["main.ts", ...tsFiles("lib")];
  for (const entry of entries) {
    if (edges.has(entry)) continue;
    const run = spawnSync("deno", ["info", "--json", entry], { cwd: ROOT, encoding: "utf8" });
    if (run.status !== 0) throw new Error(`deno info ${entry} failed: ${run.stderr}`);
    for (const module of (JSON.parse(run.stdout) as { modules: Module[] }).modules) {
      if (!module.specifier.startsWith("file://")) continue;
      const from = relative(ROOT, fileURLToPath(module.specifier));
      const to = (module.dependencies ?? [])
        .flatMap((d) => [d.code?.specifier, d.type?.specifier])
        .filter((s): s is string => s?.startsWith("file://") === true)
        .map((s) => relative(ROOT, fileURLToPath(s)));
      edges.set(from, [...new Set(to)]);
    }
  }
  return edges;
}

/** Rules 1 and 2 for one edge; undefined when allowed. */
export function edgeProblem(from: string, to: string): string | undefined {
  const [a, b] = [folderOf(from), folderOf(to)];
  if (b === undefined || a === b) return undefined;
  if (b === "modes" && from !== "main.ts") return `${from} imports ${to}: nothing imports modes/`;
  if (a === undefined) return undefined;
  const allowed = MAY_IMPORT[a];
  if (allowed === undefined) return `${from}: lib/${a}/ is not a folder of the house`;
  return allowed.includes(b) ? undefined : `${from} imports ${to}: ${a}/ may not import ${b}/`;
}

/** Rule 4: every cycle, as `a → b → a`. */
export function cycles(edges: ReadonlyMap<string, readonly string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === "open") {
        found.push([...stack.slice(stack.indexOf(next)), next].join(" → "));
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

/** Rule 3: lines outside lib/runtime/ that name a runtime (comments aside). */
function runtimeLeaks(files: readonly string[]): string[] {
  const leaks: string[] = [];
  for (const file of files) {
    if (folderOf(file) === "runtime") continue;
    const lines = readFileSync(join(ROOT, file), "utf8").split("\n");
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, "");
      if (/^\s*(\*|\/\*)/.test(code)) return;
      if (/\b(Deno|Bun)\.[a-zA-Z]|["'](bun:[a-z]+|node:sqlite)["']/.test(code)) {
        leaks.push(`${file}:${i + 1}: names a runtime outside lib/runtime/`);
      }
    });
  }
  return leaks;
}

/** Rule 5: every function of `files` longer than {@linkcode MAX_FUNCTION_LINES} lines. */
function tallFunctions(files: readonly string[]): string[] {
  return files.flatMap((file) =>
    longFunctions(file, readFileSync(join(ROOT, file), "utf8"), MAX_FUNCTION_LINES)
  );
}

/**
 * The files of lib/ that the listing in the section "The house" of `markdown` (its first
 * `text` fence) names, in its order. A folder line starts at the margin (`lib/api/  …`); a file
 * line is indented two spaces, then one or more names joined by `, ` (relative to the folder), then
 * two or more spaces and its job; a line indented further continues the one before.
 */
export function houseListing(markdown: string): string[] {
  const section = markdown.split(/^## /m).find((s) => s.startsWith("The house\n")) ?? "";
  const fence = /^```text\n([\s\S]*?)^```/m.exec(section)?.[1] ?? "";
  const named: string[] = [];
  let folder = "";
  for (const line of fence.split("\n")) {
    const header = /^(lib\/[a-z_]+\/)(?:\s|$)/.exec(line);
    if (header) folder = header[1]!;
    const entry = /^ {2}(\S+(?:, \S+)*)(?:\s{2,}\S|$)/.exec(line);
    if (entry) { for (const name of entry[1]!.split(", ")) named.push(folder + name); }
  }
  return named;
}

/** Rule 6: what the listing misses, names twice, or names but does not exist. */
export function listingProblems(named: readonly string[], files: readonly string[]): string[] {
  const where = "docs/development.md, The house";
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const name of named) {
    if (seen.has(name)) problems.push(`${where}: ${name} is listed twice`);
    seen.add(name);
    if (!files.includes(name)) problems.push(`${where}: ${name} is listed but does not exist`);
  }
  for (const file of files) {
    if (!seen.has(file)) problems.push(`${where}: ${file} is missing from the listing`);
  }
  return problems;
}

if (import.meta.main) {
  const edges = graph();
  const problems = [
    ...[...edges].flatMap(([from, tos]) => tos.map((to) => edgeProblem(from, to))),
    ...cycles(edges).map((cycle) => `import cycle: ${cycle}`),
    ...runtimeLeaks(tsFiles("lib")),
    ...tallFunctions(tsFiles("lib")),
    ...listingProblems(
      houseListing(readFileSync(join(ROOT, "docs/development.md"), "utf8")),
      tsFiles("lib"),
    ),
  ].filter((p): p is string => p !== undefined);
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) process.exit(1);
  console.log(
    `layout: ${edges.size} files, folder rules, no cycles, runtime only in lib/runtime/, ` +
      `no function over ${MAX_FUNCTION_LINES} lines, every file in docs/development.md`,
  );
}
