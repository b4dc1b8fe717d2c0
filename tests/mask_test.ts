import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createMask, MASKED, NO_MASK, secretForms } from "../lib/log/mask.ts";

/** Python's json.dumps (ensure_ascii): \uXXXX, lower-case hex, for everything not ASCII. */
function pythonJson(text: string): string {
  let out = "";
  for (const c of JSON.stringify(text).slice(1, -1)) {
    for (let i = 0; i < c.length; i++) {
      const code = c.charCodeAt(i);
      out += code >= 0x20 && code < 0x7f ? c[i] : `\\u${code.toString(16).padStart(4, "0")}`;
    }
  }
  return out;
}

const PASSWORD = 'naïve pass/1"\\+&<😀>\n\u2028';

describe("secretForms and createMask", () => {
  it("masks a password in every encoding an API may echo it in", () => {
    const mask = createMask([PASSWORD]);
    const echoes: Record<string, string> = {
      raw: PASSWORD,
      "JSON.stringify": JSON.stringify(PASSWORD).slice(1, -1),
      "json.dumps": pythonJson(PASSWORD),
      "json.dumps, upper-case hex": pythonJson(PASSWORD).replace(
        /\\u([0-9a-f]{4})/g,
        (_, h: string) => `\\u${h.toUpperCase()}`,
      ),
      json_encode: pythonJson(PASSWORD).replaceAll("/", "\\/"),
      URLSearchParams: new URLSearchParams({ p: PASSWORD }).toString().slice(2),
      encodeURIComponent: encodeURIComponent(PASSWORD),
      "lower-case percent": encodeURIComponent(PASSWORD).replace(
        /%[0-9A-F]{2}/g,
        (m) => m.toLowerCase(),
      ),
      "HTML-escaped": PASSWORD.replace(/&/g, "&amp;").replace(/</g, "&lt;")
        .replace(/>/g, "&gt;").replace(/"/g, "&quot;"),
    };
    for (const [name, echo] of Object.entries(echoes)) {
      assert.equal(mask(`[${echo}]`), `[${MASKED}]`, name);
    }
  });

  it("masks a Basic credential whole, by its password part, and in base64", () => {
    const mask = createMask(["alice:s3cr:et"]);
    const b64 = Buffer.from("alice:s3cr:et").toString("base64");
    assert.equal(mask(`Authorization: Basic ${b64}`), "Authorization: Basic ***");
    assert.equal(mask("alice:s3cr:et"), "***");
    assert.equal(mask("password s3cr:et"), "password ***");
    assert.equal(mask("user alice"), "user alice", "the user name is not a secret");
  });

  it("masks several secrets, the longest form first", () => {
    const mask = createMask(["abc", "abcdef", undefined, ""]);
    assert.equal(mask("abcdef abc"), "*** ***");
  });

  it("treats secrets as text, not patterns, and handles a 65 KB password", () => {
    assert.equal(createMask(["a.b$", "(x)"])("a.b$ aXb (x) x"), "*** aXb *** x");
    const long = "p".repeat(65512);
    assert.equal(createMask([long])(`x${long}y`), "x***y");
  });

  it("changes nothing without secrets", () => {
    assert.equal(createMask([]), NO_MASK);
    assert.equal(createMask(["", undefined]), NO_MASK);
    assert.equal(NO_MASK("text"), "text");
  });

  it("lists no empty form", () => {
    for (const secret of ["x", ":", "a:", ":b", "é"]) {
      assert.equal(secretForms(secret).includes(""), false, secret);
    }
  });
});
