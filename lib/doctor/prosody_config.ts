/**
 * The few assignments of `prosody.cfg.lua` that `doctor` needs, read by a small scanner that
 * never runs the Lua: `NAME = VALUE` where VALUE is a string, a number, a boolean or a table
 * of those, globally and inside each `VirtualHost "name"` (and `Component "name"`, whose
 * settings are kept apart). Anything else (an expression, a function call, `Include`) is
 * skipped; `unread` names the settings whose value was not a literal.
 *
 * @module
 */

/** A literal value, as Lua wrote it. */
export type LuaValue = string | number | boolean | readonly (string | number | boolean)[];

/** One section: the global one (`name` undefined), a VirtualHost or a Component. */
export interface LuaSection {
  readonly kind: "global" | "VirtualHost" | "Component";
  readonly name?: string;
  readonly values: Record<string, LuaValue>;
  /** Settings assigned something other than a literal. */
  readonly unread: string[];
}

type Token = { kind: "name" | "string" | "number" | "punct"; text: string };

/** A long bracket `[[...]]` / `[==[...]==]` at `i`: its end and text, or undefined. */
function longBracket(src: string, i: number): { end: number; text: string } | undefined {
  const open = /^\[(=*)\[/.exec(src.slice(i, i + 64));
  if (open === null) return undefined;
  const close = `]${open[1]}]`;
  const at = src.indexOf(close, i + open[0].length);
  const end = at < 0 ? src.length : at + close.length;
  return { end, text: src.slice(i + open[0].length, at < 0 ? src.length : at) };
}

const ESCAPES: Readonly<Record<string, string>> = { n: "\n", t: "\t", r: "\r", "\\": "\\" };

/** A quoted string at `i`: its end and text. */
function quoted(src: string, i: number): { end: number; text: string } {
  const quote = src[i]!;
  let text = "";
  let j = i + 1;
  for (; j < src.length && src[j] !== quote && src[j] !== "\n"; j++) {
    if (src[j] === "\\" && j + 1 < src.length) text += ESCAPES[src[++j]!] ?? src[j];
    else text += src[j];
  }
  return { end: j + 1, text };
}

/** The tokens of a Lua file, comments dropped. */
export function luaTokens(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) i++;
    else if (src.startsWith("--", i)) {
      const long = longBracket(src, i + 2);
      i = long ? long.end : (src.indexOf("\n", i) + 1 || src.length);
    } else if (c === '"' || c === "'") {
      const s = quoted(src, i);
      tokens.push({ kind: "string", text: s.text });
      i = s.end;
    } else if (c === "[" && longBracket(src, i)) {
      const s = longBracket(src, i)!;
      tokens.push({ kind: "string", text: s.text.replace(/^\n/, "") });
      i = s.end;
    } else {
      const word = /^(?:[A-Za-z_]\w*|0[xX][\da-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)/.exec(
        src.slice(i, i + 256),
      )?.[0];
      if (word !== undefined) {
        tokens.push({ kind: /^\d/.test(word) ? "number" : "name", text: word });
        i += word.length;
      } else {
        tokens.push({ kind: "punct", text: src.startsWith("==", i) ? "==" : c });
        i += src.startsWith("==", i) ? 2 : 1;
      }
    }
  }
  return tokens;
}

/** A literal at `tokens[i]`: the value and the index after it, or undefined. */
function literal(
  tokens: readonly Token[],
  i: number,
): { value: LuaValue; next: number } | undefined {
  const t = tokens[i];
  if (t === undefined) return undefined;
  if (t.kind === "string") return { value: t.text, next: i + 1 };
  if (t.kind === "number") return { value: Number(t.text), next: i + 1 };
  if (t.kind === "name" && (t.text === "true" || t.text === "false")) {
    return { value: t.text === "true", next: i + 1 };
  }
  if (t.kind !== "punct" || t.text !== "{") return undefined;
  const items: (string | number | boolean)[] = [];
  let j = i + 1;
  while (tokens[j] !== undefined && tokens[j]!.text !== "}") {
    const item = literal(tokens, j);
    if (item === undefined || Array.isArray(item.value)) return undefined;
    items.push(item.value as string | number | boolean);
    j = item.next;
    if (tokens[j]?.text === "," || tokens[j]?.text === ";") j++;
  }
  return tokens[j] === undefined ? undefined : { value: items, next: j + 1 };
}

/**
 * The sections of a `prosody.cfg.lua`.
 *
 * @example A global setting and a host's own
 * ```ts
 * import assert from "node:assert/strict";
 * import { readProsodyConfig } from "./prosody_config.ts";
 * const [global, host] = readProsodyConfig(
 *   'authentication = "external_insecure" -- a comment\nplugin_paths = { "/x" }\n' +
 *     'VirtualHost "example.com"\n  external_auth_timeout = 3\n',
 * );
 * assert.deepEqual(global!.values, { authentication: "external_insecure", plugin_paths: ["/x"] });
 * assert.deepEqual(host, {
 *   kind: "VirtualHost", name: "example.com", values: { external_auth_timeout: 3 }, unread: [],
 * });
 * ```
 */
export function readProsodyConfig(src: string): LuaSection[] {
  const tokens = luaTokens(src);
  const sections: LuaSection[] = [{ kind: "global", values: {}, unread: [] }];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== "name") continue;
    const prev = tokens[i - 1];
    if (prev?.text === "." || prev?.text === ":") continue;
    if ((t.text === "VirtualHost" || t.text === "Component") && tokens[i + 1]?.kind === "string") {
      sections.push({ kind: t.text, name: tokens[i + 1]!.text, values: {}, unread: [] });
      i++;
      continue;
    }
    if (tokens[i + 1]?.text !== "=") continue;
    const section = sections.at(-1)!;
    const value = literal(tokens, i + 2);
    if (value === undefined) section.unread.push(t.text);
    else {
      section.values[t.text] = value.value;
      i = value.next - 1;
    }
  }
  return sections;
}
