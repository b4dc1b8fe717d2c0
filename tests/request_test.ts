import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OPERATIONS } from "../lib/core/operations.ts";
import { parseRequest, type ParseResult } from "../lib/core/request.ts";
import { concat, prng } from "./helpers/bytes.ts";

const encoder = new TextEncoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);
const parse = (text: string): ParseResult => parseRequest(bytes(text));

function okRequest(result: ParseResult) {
  assert.equal(result.ok, true, result.ok ? "" : `expected ok, got: ${result.reason}`);
  return (result as Extract<ParseResult, { ok: true }>).request;
}

function failure(result: ParseResult): Extract<ParseResult, { ok: false }> {
  assert.equal(result.ok, false, "expected ok: false");
  return result as Extract<ParseResult, { ok: false }>;
}

describe("parseRequest: well-formed requests", () => {
  it("parses every operation", () => {
    assert.deepEqual(okRequest(parse("auth:alice:example.com:secret")), {
      op: "auth",
      user: "alice",
      server: "example.com",
      password: "secret",
    });
    assert.deepEqual(okRequest(parse("isuser:alice:example.com")), {
      op: "isuser",
      user: "alice",
      server: "example.com",
    });
    assert.deepEqual(okRequest(parse("setpass:alice:example.com:new")), {
      op: "setpass",
      user: "alice",
      server: "example.com",
      password: "new",
    });
    assert.deepEqual(okRequest(parse("tryregister:bob:example.com:pw")), {
      op: "tryregister",
      user: "bob",
      server: "example.com",
      password: "pw",
    });
    assert.deepEqual(okRequest(parse("removeuser:alice:example.com")), {
      op: "removeuser",
      user: "alice",
      server: "example.com",
    });
    assert.deepEqual(okRequest(parse("removeuser3:alice:example.com:pw")), {
      op: "removeuser3",
      user: "alice",
      server: "example.com",
      password: "pw",
    });
  });

  it("has no password property for isuser and removeuser", () => {
    assert.equal("password" in okRequest(parse("isuser:alice:example.com")), false);
    assert.equal("password" in okRequest(parse("removeuser:alice:example.com")), false);
  });

  it("keeps colons in the password", () => {
    const cases = ["a:b", ":", "::", ":leading", "trailing:", "a::b:c:"];
    for (const password of cases) {
      for (const op of ["auth", "setpass", "tryregister", "removeuser3"]) {
        const request = okRequest(parse(`${op}:alice:example.com:${password}`));
        assert.equal(request.password, password, `${op} with ${JSON.stringify(password)}`);
        assert.equal(request.user, "alice");
        assert.equal(request.server, "example.com");
      }
    }
  });

  it("keeps newlines, carriage returns, NUL bytes and spaces in the password", () => {
    for (const password of ["a\nb", "\n", "line\r\n", "\0x\0", "  spaced  ", "\t"]) {
      assert.equal(okRequest(parse(`auth:alice:example.com:${password}`)).password, password);
    }
  });

  it("reads Unicode in every field", () => {
    const request = okRequest(parse("auth:jürgen:bücher.example:pässwörd ✓ 🔑"));
    assert.equal(request.user, "jürgen");
    assert.equal(request.server, "bücher.example");
    assert.equal(request.password, "pässwörd ✓ 🔑");
    assert.equal(okRequest(parse("isuser:用户:例子.测试")).user, "用户");
  });

  it("keeps XEP-0106 escapes in the user as they are", () => {
    assert.equal(okRequest(parse("isuser:a\\3ab:example.com")).user, "a\\3ab");
  });

  it("accepts an empty password", () => {
    for (const op of ["auth", "setpass", "tryregister", "removeuser3"]) {
      const request = okRequest(parse(`${op}:alice:example.com:`));
      assert.equal(request.password, "", op);
    }
  });

  it("accepts the longest frame a request can be", () => {
    const password = "p".repeat(65535 - "auth:alice:example.com:".length);
    const request = okRequest(parse(`auth:alice:example.com:${password}`));
    assert.equal(request.password, password);
  });
});

describe("parseRequest: requests that are not valid", () => {
  it("refuses an empty payload", () => {
    assert.equal(failure(parse("")).reason, "empty request");
  });

  it("refuses unknown operations, naming them", () => {
    const certauth = failure(parse("certauth:alice:example.com:CERTDATA"));
    assert.match(certauth.reason, /unknown operation "certauth"/);
    assert.equal(certauth.op, "certauth");
    const empty = failure(parse(":alice:example.com:x"));
    assert.match(empty.reason, /unknown operation ""/);
    const garbage = failure(parse("%$#garbage"));
    assert.match(garbage.reason, /unknown operation/);
    const upper = failure(parse("AUTH:alice:example.com:x"));
    assert.match(upper.reason, /unknown operation "AUTH"/);
  });

  it("shortens a long unknown operation in the reason", () => {
    const result = failure(parse("x".repeat(5000)));
    assert.ok(result.reason.length < 100, `reason of ${result.reason.length} chars`);
  });

  it("refuses missing fields", () => {
    assert.match(failure(parse("auth")).reason, /auth needs USER:SERVER/);
    assert.match(failure(parse("auth:")).reason, /auth needs USER:SERVER/);
    assert.match(failure(parse("auth:alice")).reason, /auth needs USER:SERVER/);
    assert.match(failure(parse("auth:alice:example.com")).reason, /USER:SERVER:PASSWORD/);
    assert.match(failure(parse("setpass:alice:example.com")).reason, /USER:SERVER:PASSWORD/);
    assert.match(failure(parse("isuser")).reason, /isuser needs USER:SERVER/);
    assert.match(failure(parse("isuser:alice")).reason, /isuser needs USER:SERVER/);
    assert.match(failure(parse("removeuser:alice")).reason, /needs USER:SERVER/);
    assert.equal(failure(parse("isuser:alice")).op, "isuser");
  });

  it("refuses extra fields for isuser and removeuser", () => {
    for (const op of ["isuser", "removeuser"]) {
      const result = failure(parse(`${op}:alice:example.com:extra`));
      assert.match(result.reason, /USER:SERVER only/);
      assert.equal(failure(parse(`${op}:alice:example.com:`)).ok, false);
    }
  });

  it("refuses an empty user or server", () => {
    assert.match(failure(parse("auth::example.com:pw")).reason, /empty user/);
    assert.match(failure(parse("auth:alice::pw")).reason, /empty server/);
    assert.match(failure(parse("auth:::pw")).reason, /empty user/);
    assert.match(failure(parse("isuser::example.com")).reason, /empty user/);
    assert.match(failure(parse("isuser:alice:")).reason, /empty server/);
    assert.match(failure(parse("removeuser::")).reason, /empty user/);
  });

  it("refuses an operation that is not valid UTF-8", () => {
    const result = failure(parseRequest(concat(Uint8Array.of(0xff, 0xfe), ":alice:example.com")));
    assert.match(result.reason, /operation is not valid UTF-8/);
  });

  it("refuses a user or server that is not valid UTF-8", () => {
    const user = failure(parseRequest(concat("auth:", Uint8Array.of(0xc3), ":example.com:pw")));
    assert.match(user.reason, /user or server is not valid UTF-8/);
    const server = failure(parseRequest(concat("isuser:alice:", Uint8Array.of(0x80))));
    assert.match(server.reason, /user or server is not valid UTF-8/);
  });

  it("refuses a password that is not valid UTF-8 without quoting it", () => {
    const secret = concat("Hunter", Uint8Array.of(0xff), "Secret");
    const result = failure(parseRequest(concat("auth:alice:example.com:", secret)));
    assert.match(result.reason, /password is not valid UTF-8/);
    assert.equal(result.op, "auth");
    assert.doesNotMatch(result.reason, /Hunter|Secret/);
    // Not even the lenient decoding of the bytes appears.
    assert.equal(result.reason.includes(new TextDecoder().decode(secret)), false);
    assert.equal(result.reason.includes("\ufffd"), false);
  });

  it("splits on colons at byte level, so an invalid byte cannot move the fields", () => {
    // 0xC3 would start a 2-byte sequence; a decoder that decoded first and
    // split afterwards could swallow the colon after it.
    const result = failure(parseRequest(concat("auth:al", Uint8Array.of(0xc3), ":x.org:pw")));
    assert.match(result.reason, /user or server is not valid UTF-8/);
    const password = okRequest(parseRequest(concat("auth:alice:x.org:", bytes("é:é"))));
    assert.equal(password.password, "é:é");
  });

  it("never throws, whatever the bytes", () => {
    const random = prng(0xbad);
    for (let round = 0; round < 3000; round++) {
      const length = Math.floor(random() * 40);
      const payload = Uint8Array.from(
        { length },
        () => random() < 0.2 ? 0x3a : Math.floor(random() * 256),
      );
      const result = parseRequest(payload);
      assert.equal(typeof result.ok, "boolean");
      if (!result.ok) assert.equal(typeof result.reason, "string");
    }
  });
});

describe("parseRequest: the password never appears in a reason", () => {
  const SECRET = "Pa55w0rdX";

  it("for hand-picked failing inputs", () => {
    const inputs: Uint8Array[] = [
      bytes(`certauth:alice:example.com:${SECRET}`),
      bytes(`isuser:alice:example.com:${SECRET}`),
      bytes(`removeuser:alice:example.com:${SECRET}`),
      bytes(`auth::example.com:${SECRET}`),
      bytes(`auth:alice::${SECRET}`),
      bytes(`unknown:alice:example.com:${SECRET}`),
      bytes(`:::${SECRET}`),
      concat("auth:", Uint8Array.of(0xc3), `:example.com:${SECRET}`),
      concat("auth:alice:example.com:", SECRET, Uint8Array.of(0xff)),
      concat("setpass:alice:example.com:", Uint8Array.of(0xfe), SECRET),
      concat(Uint8Array.of(0xff), `:alice:example.com:${SECRET}`),
    ];
    for (const input of inputs) {
      const result = failure(parseRequest(input));
      assert.equal(result.reason.includes(SECRET), false, result.reason);
      assert.equal((result.op ?? "").includes(SECRET), false);
    }
  });

  it("for random failing inputs with a password field (seeded)", () => {
    const random = prng(0x5ec);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const ops = [...OPERATIONS, "certauth", "", "AUTH", "x"];
    const fields = ["", "alice", "example.com", "a b", "ü"];
    const junk = [Uint8Array.of(0xff), Uint8Array.of(0xc3), Uint8Array.of(0x80), new Uint8Array(0)];
    let failing = 0;
    for (let round = 0; round < 5000; round++) {
      const parts: (string | Uint8Array)[] = [
        pick(ops),
        pick(junk),
        ":",
        pick(fields),
        pick(junk),
        ":",
        pick(fields),
        pick(junk),
        ":",
        random() < 0.5 ? pick(junk) : "",
        SECRET,
        random() < 0.5 ? pick(junk) : "",
        random() < 0.3 ? ":more" : "",
      ];
      const payload = concat(...parts);
      const result = parseRequest(payload);
      if (result.ok) continue;
      failing++;
      assert.equal(
        result.reason.includes(SECRET),
        false,
        `reason contains the password for ${JSON.stringify(Array.from(payload))}`,
      );
      assert.equal(result.reason.includes("Pa55"), false);
    }
    assert.ok(failing > 1000, `only ${failing} failing inputs generated`);
  });
});

describe("parseRequest: names ejabberd and Prosody never send", () => {
  it("keeps a leading U+FEFF in every field", () => {
    const request = okRequest(parse("auth:\ufeffalice:example.com:\ufeffsecret"));
    assert.equal(request.user, "\ufeffalice");
    assert.equal(request.password, "\ufeffsecret");
  });

  it("refuses a server that would leave its URL path segment or is no domain", () => {
    for (const server of [".", "..", "a/b", "a\\b", "a?b", "a#b", "a%2e", "a@b", "a b", "a\x00b"]) {
      assert.match(failure(parse(`isuser:alice:${server}`)).reason, /^isuser: server /, server);
    }
    assert.equal(okRequest(parse("isuser:alice:...")).server, "...");
    assert.equal(okRequest(parse("isuser:alice:bücher.example")).server, "bücher.example");
  });

  it("refuses a user with a character nodeprep forbids or a control character", () => {
    for (
      const user of ["a@b", "a/b", "a b", 'a"b', "a&b", "a'b", "a<b", "a>b", "a\nb", "a\u0085b"]
    ) {
      assert.match(failure(parse(`isuser:${user}:example.com`)).reason, /^isuser: user holds /);
    }
    assert.match(
      failure(parse("isuser:a\x1bb:example.com")).reason,
      /user holds U\+001B, which nodeprep forbids/,
    );
  });

  it("refuses a user or server over 1023 bytes, counted in UTF-8", () => {
    assert.equal(okRequest(parse(`isuser:${"a".repeat(1023)}:example.com`)).user.length, 1023);
    assert.match(
      failure(parse(`isuser:${"ü".repeat(512)}:example.com`)).reason,
      /user longer than 1023 bytes/,
    );
    assert.match(failure(parse(`isuser:alice:${"e".repeat(1024)}`)).reason, /server longer/);
  });
});
