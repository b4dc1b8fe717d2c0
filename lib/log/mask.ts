/**
 * Secret masking: the one function every output path (log lines, error
 * causes, `check` output) runs its text through. A secret is masked in every
 * encoding in which we send it or an API may echo it back: as it is, escaped
 * as JavaScript's `JSON.stringify` does, escaped with `\uXXXX` for everything
 * that is not ASCII (the default of Python's `json.dumps` and PHP's
 * `json_encode`, PHP also writing `/` as `\/`), form-encoded as
 * `URLSearchParams` writes it (`+` for a space: what the form-status contract
 * sends), percent-encoded as `encodeURIComponent` writes it, HTML-escaped,
 * and in base64 (how a Basic credential travels). A secret holding a `:`
 * (a Basic credential `USER:PASSWORD`) is also masked by its part after the
 * first `:`. Hex escapes are matched in both cases (`%c3%af` and `%C3%AF`,
 * `\u00ef` and `\u00EF`). Plain string search, no regular expression: a
 * password may be 65 KB long.
 *
 * Masking happens on whole texts before anything cuts or reflows them, so
 * no cut can leave half a secret.
 *
 * @module
 */

import { encodeBase64 } from "../core/base64.ts";
import { MASKED } from "../core/masked.ts";

/** What a secret is replaced with (the one mask token, `core/masked.ts`). */
export { MASKED };

/** Turns a text into one fit for output: every known secret replaced by `***`. */
export type Mask = (text: string) => string;

/** A mask that changes nothing. */
export const NO_MASK: Mask = (text) => text;

function jsonEscaped(secret: string): string {
  return JSON.stringify(secret).slice(1, -1);
}

/** `\uXXXX` for every UTF-16 unit that is not printable ASCII, as Python's json.dumps writes. */
function jsonAsciiEscaped(secret: string): string {
  return jsonEscaped(secret).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** `%c3` ↔ `%C3`, `\u00ef` ↔ `\u00EF`. */
function swapHexCase(escape: string): string {
  const head = escape.startsWith("%") ? 1 : 2;
  const hex = escape.slice(head);
  const lower = hex.toLowerCase();
  return escape.slice(0, head) + (hex === lower ? hex.toUpperCase() : lower);
}

function htmlEscaped(secret: string): string {
  return secret.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/**
 * Every form in which a secret may appear in text: as it is, JSON-escaped
 * (JavaScript, Python, PHP), form- and percent-encoded, HTML-escaped and
 * base64, plus the same for the part after the first `:` of a Basic
 * credential.
 *
 * @example The forms of a password
 * ```ts
 * import assert from "node:assert/strict";
 * import { secretForms } from "./mask.ts";
 * const forms = secretForms("naïve pass/1");
 * assert.ok(forms.includes("naïve pass/1"));
 * assert.ok(forms.includes("na\\u00efve pass\\/1")); // PHP's json_encode
 * assert.ok(forms.includes("na%C3%AFve+pass%2F1")); // URLSearchParams
 * assert.ok(forms.includes("na%C3%AFve%20pass%2F1")); // encodeURIComponent
 * ```
 */
export function secretForms(secret: string): string[] {
  const bases = [secret];
  const colon = secret.indexOf(":");
  if (colon >= 0 && colon < secret.length - 1) bases.push(secret.slice(colon + 1));
  const forms = new Set<string>();
  const add = (form: string) => {
    if (form === "") return;
    forms.add(form);
    // The other case of every hex escape (%c3%af, \u00EF), as other encoders write them.
    forms.add(form.replace(/%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}/g, swapHexCase));
  };
  for (const s of bases) {
    const json = jsonEscaped(s);
    const ascii = jsonAsciiEscaped(s);
    add(s);
    add(json);
    add(ascii);
    add(json.replaceAll("/", "\\/"));
    add(ascii.replaceAll("/", "\\/"));
    add(new URLSearchParams([["", s]]).toString().slice(1));
    add(encodeURIComponent(s));
    add(htmlEscaped(s));
    add(encodeBase64(s));
  }
  return [...forms];
}

/**
 * Builds the mask for a set of secrets (empty ones are ignored). Longer forms
 * are tried first, so a secret that contains another is masked whole.
 *
 * @example Mask a token and a password wherever an API echoed them
 * ```ts
 * import assert from "node:assert/strict";
 * import { createMask } from "./mask.ts";
 * const mask = createMask(["t0ken", "naïve pass"]);
 * assert.equal(mask("Bearer t0ken"), "Bearer ***");
 * assert.equal(mask('{"pass":"na\\u00efve pass"}'), '{"pass":"***"}');
 * assert.equal(mask("pass=na%C3%AFve+pass&user=alice"), "pass=***&user=alice");
 * ```
 */
export function createMask(secrets: readonly (string | undefined)[]): Mask {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret) { for (const form of secretForms(secret)) forms.add(form); }
  }
  if (forms.size === 0) return NO_MASK;
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const form of ordered) if (out.includes(form)) out = out.replaceAll(form, MASKED);
    return out;
  };
}
