// The house rules that `deno task layout` checks beyond the import graph: the function-length
// scanner (scripts/function_spans.ts) on tricky inputs, and docs/development.md's listing of lib/.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { codeOnly, functionSpans, longFunctions } from "../scripts/function_spans.ts";
import { houseListing, listingProblems, MAX_FUNCTION_LINES } from "../scripts/check_layout.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Every `.ts` file of lib/, relative to the repository, sorted. */
function libFiles(): string[] {
  return (readdirSync(join(ROOT, "lib"), { recursive: true }) as string[])
    .filter((name) => name.endsWith(".ts"))
    .map((name) => `lib/${name.split("\\").join("/")}`)
    .sort();
}

/** `name (line, lines)` per span, for short assertions. */
function spans(source: string): string[] {
  return functionSpans(source).map((s) => `${s.name} ${s.line}+${s.lines}`);
}

describe("function spans", () => {
  it("keeps every line break and offset when it blanks strings, templates, regexes, comments", () => {
    const source = [
      'const a = "{ // not a comment }";',
      "const b = '}' + `{ ${c ? `}${d}{` : '}'} }`;",
      "const r = /[/{]}/g.test(x) / 2; // {",
      "/* { */ const e = 1;",
      "`multi",
      "{line}`;",
    ].join("\n");
    const code = codeOnly(source);
    assert.equal(code.length, source.length);
    assert.deepEqual(
      [...code].map((c, i) => (c === "\n" ? i : -1)).filter((i) => i >= 0),
      [...source].map((c, i) => (c === "\n" ? i : -1)).filter((i) => i >= 0),
    );
    assert.equal(/[{}]/.test(code), false, code);
    assert.match(code, /const r = {9}\.test\(x\) \/ 2;/);
  });

  it("does not count braces inside strings, templates, regexes or comments", () => {
    const source = [
      "function a() {", //      1
      '  const s = "}}}";', //  2
      "  const t = `}${'{'}}`;", // 3
      "  const r = /\\}[}]/;", // 4
      "  // }", //              5
      "  /* } */", //           6
      "  return s + t;", //     7
      "}", //                   8
      "function b() {}", //     9
    ].join("\n");
    assert.deepEqual(spans(source), ["a 1+8", "b 9+1"]);
  });

  it("tells a regex from a division", () => {
    const source = [
      "function half(x: number) {",
      "  const y = x / 2; const z = (y) / 2 /* } */;",
      "  return z / 1;",
      "}",
      "function re() {",
      "  return /}/.test('a') ? [/{/] : typeof /x/;",
      "}",
    ].join("\n");
    assert.deepEqual(spans(source), ["half 1+4", "re 5+3"]);
  });

  it("finds declarations, exports, async and generator functions, with generics and return types", () => {
    const source = [
      "export async function a<T>(x: T): Promise<{ v: T }> {", // 1
      "  return { v: x };",
      "}",
      "export async function* b(", // 4
      "  input: ReadableStream<Uint8Array>,",
      "): AsyncGenerator<number, void, undefined> {",
      "  yield 1;",
      "}",
      "function c(a: string): void;", // 9: an overload has no body
      "function c(a: string | number): { a: string } | undefined {", // 10
      "  return undefined;",
      "}",
      "const d = function (x: number) {", // 13
      "};",
    ].join("\n");
    assert.deepEqual(spans(source), ["a 1+3", "b 4+5", "c 10+3", "(function) 13+2"]);
  });

  it("finds arrow functions with block bodies, named by what they are assigned to", () => {
    const source = [
      "const visit = (node: string): void => {", // 1
      "  stack.push(node);",
      "};",
      "const short = (x: number) => x * 2;", // 4: no braces, not counted
      "const typed: Handler = async (req) => {", // 5
      "};",
      "const one = x => {", // 7
      "};",
      "list.forEach((item) => {", // 9
      "  use(item);",
      "});",
      "const obj = { key: async (a: number) => {", // 12
      "} };",
      "const wrap = <T,>(v: T) => ({ v });", // 14: an object, not a body
    ].join("\n");
    assert.deepEqual(spans(source), [
      "visit 1+3",
      "typed 5+2",
      "one 7+2",
      "(arrow) 9+3",
      "key 12+2",
    ]);
  });

  it("finds methods, getters and constructors, and no control-flow block", () => {
    const source = [
      "class A extends B<C> {", //  1
      "  constructor(private x: number) {", // 2
      "    super(x);",
      "  }",
      "  get size(): number {", //  5
      "    if (this.x) {",
      "      for (const y of z) {}",
      "    } else if (w) {",
      "    }",
      "    switch (this.x) {",
      "      case f(1): {",
      "        break;",
      "      }",
      "    }",
      "    try {",
      "    } catch (e) {",
      "    }",
      "    while (g(1)) {}",
      "    return 1;",
      "  }", //                    20
      "  async *items(): AsyncIterable<number> {", // 21
      "  }",
      "}",
      "const o = { m(a: number) { return a; } };", // 24
    ].join("\n");
    assert.deepEqual(spans(source), ["constructor 2+3", "size 5+16", "items 21+2", "m 24+1"]);
  });

  it("counts nested functions on their own and inside their parent", () => {
    const source = [
      "function outer() {", // 1
      "  const inner = () => {", // 2
      "    function deepest() {", // 3
      "      return '}';",
      "    }",
      "  };",
      "  return inner;",
      "}", // 8
    ].join("\n");
    assert.deepEqual(spans(source), ["outer 1+8", "inner 2+5", "deepest 3+3"]);
  });

  it("reports each function past the limit as file:line name (N lines)", () => {
    const body = "  step();\n".repeat(MAX_FUNCTION_LINES - 2);
    const source = `function fits() {\n${body}}\n\nfunction tooLong() {\n${body}  step();\n}\n`;
    assert.deepEqual(longFunctions("lib/x/y.ts", source, MAX_FUNCTION_LINES), [
      `lib/x/y.ts:${MAX_FUNCTION_LINES + 2} tooLong (${MAX_FUNCTION_LINES + 1} lines)`,
    ]);
  });

  it("finds no function in lib/ longer than the limit", () => {
    const long = libFiles().flatMap((file) =>
      longFunctions(file, readFileSync(join(ROOT, file), "utf8"), MAX_FUNCTION_LINES)
    );
    assert.deepEqual(long, []);
  });
});

describe("the listing of lib/ in docs/development.md", () => {
  const markdown = [
    "## The house",
    "",
    "```text",
    "lib/a/           folder a",
    "  one.ts           job one",
    "  x/two.ts, y/two.ts  the same job, twice",
    "                   (a continuation line)",
    "lib/b/           folder b",
    "  three.ts         job three",
    "```",
    "",
    "## Next",
    "",
    "```text",
    "lib/c/",
    "  other.ts         not the house's fence",
    "```",
  ].join("\n");

  it("reads every name of the section's first text fence, with its folder", () => {
    assert.deepEqual(houseListing(markdown), [
      "lib/a/one.ts",
      "lib/a/x/two.ts",
      "lib/a/y/two.ts",
      "lib/b/three.ts",
    ]);
  });

  it("reports a file missing from the listing, one listed that does not exist, one listed twice", () => {
    const named = [...houseListing(markdown), "lib/b/three.ts"];
    const files = ["lib/a/one.ts", "lib/a/x/two.ts", "lib/b/four.ts", "lib/b/three.ts"];
    assert.deepEqual(listingProblems(named, files), [
      "docs/development.md, The house: lib/a/y/two.ts is listed but does not exist",
      "docs/development.md, The house: lib/b/three.ts is listed twice",
      "docs/development.md, The house: lib/b/four.ts is missing from the listing",
    ]);
  });

  it("names every file of lib/ once, and no other", () => {
    const named = houseListing(readFileSync(join(ROOT, "docs/development.md"), "utf8"));
    assert.deepEqual(listingProblems(named, libFiles()), []);
    assert.equal(named.length, libFiles().length);
  });
});
