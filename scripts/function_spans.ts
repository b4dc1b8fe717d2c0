/**
 * The functions of a TypeScript source and the lines each spans, for the house rule "no function in
 * lib/ longer than 60 lines" ({@linkcode longFunctions}, run by `scripts/check_layout.ts`).
 *
 * No TypeScript parser is reachable without a new dependency (Deno bundles one for `deno check` but
 * does not expose it to scripts), so this is a brace-matching scanner: {@linkcode codeOnly} blanks
 * strings, template literals (their `${…}` parts too), regex literals and comments, keeping every
 * line break; {@linkcode functionSpans} then finds each function body's braces in what is left.
 * A function is a `function` declaration or expression, a method (`name(…) {`, `get x() {`), or an
 * arrow function with a block body; an arrow with an expression body has no braces and is not
 * counted. A span runs from the line of the function's name (an arrow's: its parameters) to the
 * line of its closing brace.
 *
 * @example
 * ```ts
 * import { functionSpans } from "./function_spans.ts";
 * import assert from "node:assert/strict";
 *
 * const spans = functionSpans('function a() {\n  return "}";\n}\nconst b = (x: number) => {\n};\n');
 * assert.deepEqual(spans, [
 *   { name: "a", line: 1, lines: 3 },
 *   { name: "b", line: 4, lines: 2 },
 * ]);
 * ```
 *
 * @module
 */

/** One function found in a source. */
export interface FunctionSpan {
  /** Its name; `(arrow)` or `(function)` when it has none. */
  readonly name: string;
  /** The line (1-based) its head starts on. */
  readonly line: number;
  /** How many lines it spans, head to closing brace, both included. */
  readonly lines: number;
}

/** Words after which `/` starts a regex literal (before any other word it divides). */
const REGEX_AFTER_WORD = new Set([
  "return",
  "typeof",
  "case",
  "in",
  "of",
  "delete",
  "void",
  "throw",
  "new",
  "else",
  "do",
  "yield",
  "await",
  "instanceof",
]);

/** Words that take a parenthesised part and a block but are not functions. */
const NOT_A_FUNCTION = new Set([
  "if",
  "for",
  "while",
  "switch",
  "catch",
  "with",
  "return",
  "typeof",
  "await",
  "yield",
  "new",
  "case",
  "void",
  "in",
  "of",
  "do",
  "else",
  "throw",
  "delete",
  "instanceof",
  "super",
  "import",
]);

const isWordChar = (c: string | undefined): boolean => c !== undefined && /[\w$]/.test(c);

/**
 * `source` with every string, template literal, regex literal and comment replaced by spaces (line
 * breaks kept), so that only code is left and every offset and line stays where it was.
 *
 * @example
 * ```ts
 * import { codeOnly } from "./function_spans.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(codeOnly('f("{", /}/g); // }'), "f(   ,     );     ");
 * ```
 */
export function codeOnly(source: string): string {
  const out = source.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n") out[k] = " ";
  };
  const endOfQuoted = (start: number, quote: string): number => {
    let k = start + 1;
    while (k < source.length && source[k] !== quote && source[k] !== "\n") {
      k += source[k] === "\\" ? 2 : 1;
    }
    return k + 1;
  };
  const endOfRegex = (start: number): number => {
    let k = start + 1;
    let inClass = false;
    while (k < source.length && source[k] !== "\n") {
      const c = source[k];
      if (c === "\\") k++;
      else if (c === "[") inClass = true;
      else if (c === "]") inClass = false;
      else if (c === "/" && !inClass) break;
      k++;
    }
    k++;
    while (isWordChar(source[k])) k++;
    return k;
  };
  const regexMayStart = (at: number): boolean => {
    let k = at - 1;
    while (k >= 0 && /\s/.test(out[k] ?? "")) k--;
    if (k < 0) return true;
    const c = out[k] ?? "";
    if (!isWordChar(c)) return !/[)\]]/.test(c);
    let w = k;
    while (w > 0 && isWordChar(out[w - 1])) w--;
    return REGEX_AFTER_WORD.has(out.slice(w, k + 1).join(""));
  };
  // Scans code from `start` until a `}` that closes below depth 0 (a template's `${…}`); returns
  // its offset, or the length of the source.
  const scanCode = (start: number): number => {
    let depth = 0;
    let k = start;
    while (k < source.length) {
      const c = source[k];
      const next = source[k + 1];
      if (c === "/" && next === "/") {
        const end = source.indexOf("\n", k);
        const stop = end === -1 ? source.length : end;
        blank(k, stop);
        k = stop;
      } else if (c === "/" && next === "*") {
        const end = source.indexOf("*/", k + 2);
        const stop = end === -1 ? source.length : end + 2;
        blank(k, stop);
        k = stop;
      } else if (c === '"' || c === "'") {
        const stop = endOfQuoted(k, c);
        blank(k, stop);
        k = stop;
      } else if (c === "`") {
        const stop = endOfTemplate(k);
        blank(k, stop);
        k = stop;
      } else if (c === "/" && regexMayStart(k)) {
        const stop = endOfRegex(k);
        blank(k, stop);
        k = stop;
      } else {
        if (c === "{") depth++;
        else if (c === "}" && depth-- === 0) return k;
        k++;
      }
    }
    return k;
  };
  const endOfTemplate = (start: number): number => {
    let k = start + 1;
    while (k < source.length && source[k] !== "`") {
      if (source[k] === "\\") k += 2;
      else if (source[k] === "$" && source[k + 1] === "{") k = scanCode(k + 2) + 1;
      else k++;
    }
    return k + 1;
  };
  scanCode(0);
  return out.join("").slice(0, source.length);
}

/** The offset of the bracket matching the one at `at` (forward for an opener, back for a closer). */
function matching(code: string, at: number): number {
  const pairs: Record<string, string> = {
    "(": ")",
    "[": "]",
    "{": "}",
    ")": "(",
    "]": "[",
    "}": "{",
  };
  const open = code[at] ?? "";
  const close = pairs[open] ?? "";
  const step = "([{".includes(open) ? 1 : -1;
  let depth = 0;
  for (let k = at; k >= 0 && k < code.length; k += step) {
    if (code[k] === open) depth++;
    else if (code[k] === close && --depth === 0) return k;
  }
  return -1;
}

/** The first offset from `at` on that is not white space. */
function skipSpace(code: string, at: number): number {
  let k = at;
  while (k < code.length && /\s/.test(code[k] ?? "")) k++;
  return k;
}

/**
 * After a parameter list's `)` at `close`: the offset of the body's `{` (and whether an `=>` came
 * first), skipping a return type; undefined when no body follows (a call, an overload, an arrow with
 * an expression body).
 */
function bodyAfter(code: string, close: number): { brace: number; arrow: boolean } | undefined {
  let k = skipSpace(code, close + 1);
  if (code[k] === "{") return { brace: k, arrow: false };
  if (code.startsWith("=>", k)) {
    const b = skipSpace(code, k + 2);
    return code[b] === "{" ? { brace: b, arrow: true } : undefined;
  }
  if (code[k] !== ":") return undefined;
  // A return type: a `{` right after `:`, `|`, `&`, `,`, `<`, `(`, `[`, `?` or `=>` is an object
  // type; any other `{` at depth 0 is the body.
  let depth = 0;
  let last = ":";
  for (k++; k < code.length; k++) {
    const c = code[k] ?? "";
    if (/\s/.test(c)) continue;
    if (c === "=" && code[k + 1] === ">") {
      const b = skipSpace(code, k + 2);
      if (depth === 0 && code[b] === "{") return { brace: b, arrow: true };
      last = "=>";
      k++;
      continue;
    }
    if (c === "{" && depth === 0 && !/^(:|\||&|,|<|\(|\[|\?|=>)$/.test(last)) {
      return { brace: k, arrow: false };
    }
    if ("([{<".includes(c)) depth++;
    else if (")]}>".includes(c) && --depth < 0) return undefined;
    else if (depth === 0 && (c === ";" || c === "," || c === "=")) return undefined;
    last = c;
  }
  return undefined;
}

/** The word that ends just before `at` (white space and a `<…>` type parameter list skipped). */
function wordBefore(code: string, at: number): { word: string; start: number } {
  let k = at - 1;
  while (k >= 0 && /\s/.test(code[k] ?? "")) k--;
  if (code[k] === ">") {
    let depth = 0;
    for (; k >= 0; k--) {
      if (code[k] === ">") depth++;
      else if (code[k] === "<" && --depth === 0) break;
    }
    k--;
    while (k >= 0 && /\s/.test(code[k] ?? "")) k--;
  }
  const end = k + 1;
  while (k >= 0 && isWordChar(code[k])) k--;
  return { word: code.slice(k + 1, end), start: k + 1 };
}

/** The name an arrow function starting at `at` is given: `const name = `, `name: ` or none. */
function arrowName(code: string, at: number): string {
  const head = code.slice(Math.max(0, code.lastIndexOf("\n", at - 1) + 1), at);
  const assigned = /([\w$]+)\s*(?::[^=]*)?=\s*(?:async\s*)?(?:<[^>]*>\s*)?$/.exec(head);
  const property = /([\w$]+)\s*:\s*(?:async\s*)?(?:<[^>]*>\s*)?$/.exec(head);
  return assigned?.[1] ?? property?.[1] ?? "(arrow)";
}

/**
 * Every function of `source` with a block body, in the order their heads appear.
 *
 * @example
 * ```ts
 * import { functionSpans } from "./function_spans.ts";
 * import assert from "node:assert/strict";
 *
 * const source = "class A {\n  get b(): number {\n    return 1;\n  }\n}\nlist.map((x) => {\n});\n";
 * assert.deepEqual(functionSpans(source), [
 *   { name: "b", line: 2, lines: 3 },
 *   { name: "(arrow)", line: 6, lines: 2 },
 * ]);
 * ```
 */
export function functionSpans(source: string): FunctionSpan[] {
  const code = codeOnly(source);
  const lineStarts = [0];
  for (let k = 0; k < code.length; k++) if (code[k] === "\n") lineStarts.push(k + 1);
  const lineOf = (offset: number): number => {
    let line = 0;
    while (line + 1 < lineStarts.length && (lineStarts[line + 1] ?? 0) <= offset) line++;
    return line + 1;
  };
  const found: { name: string; start: number; brace: number }[] = [];
  const claimed = new Set<number>();
  for (let k = 0; k < code.length; k++) {
    if (code[k] === "(") {
      const close = matching(code, k);
      const body = close === -1 ? undefined : bodyAfter(code, close);
      if (body === undefined) continue;
      const { word, start } = wordBefore(code, k);
      if (body.arrow) {
        found.push({ name: arrowName(code, k), start: k, brace: body.brace });
      } else if (word === "function") {
        found.push({ name: "(function)", start, brace: body.brace });
      } else if (word !== "" && !NOT_A_FUNCTION.has(word) && !/^\d/.test(word)) {
        found.push({ name: word, start, brace: body.brace });
      } else continue;
      claimed.add(body.brace);
    } else if (code.startsWith("=>", k) && !claimed.has(skipSpace(code, k + 2))) {
      const brace = skipSpace(code, k + 2);
      const { word, start } = wordBefore(code, k);
      if (code[brace] !== "{" || word === "") continue;
      found.push({ name: arrowName(code, start), start, brace });
      claimed.add(brace);
    }
  }
  return found.map(({ name, start, brace }) => {
    const line = lineOf(start);
    return { name, line, lines: lineOf(matching(code, brace)) - line + 1 };
  });
}

/**
 * The functions of `source` longer than `limit` lines, as `file:line name (N lines)`.
 *
 * @example
 * ```ts
 * import { longFunctions } from "./function_spans.ts";
 * import assert from "node:assert/strict";
 *
 * const source = "function tall() {\n" + "  f();\n".repeat(3) + "}\n";
 * assert.deepEqual(longFunctions("lib/x.ts", source, 4), ["lib/x.ts:1 tall (5 lines)"]);
 * assert.deepEqual(longFunctions("lib/x.ts", source, 5), []);
 * ```
 */
export function longFunctions(file: string, source: string, limit: number): string[] {
  return functionSpans(source)
    .filter((span) => span.lines > limit)
    .map((span) => `${file}:${span.line} ${span.name} (${span.lines} lines)`);
}
