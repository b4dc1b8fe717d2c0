import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { Buffer } from "node:buffer";
import { inspect } from "node:util";
import {
  canonicalV2,
  createSigner,
  DEFAULT_MAX_SKEW_SECONDS,
  parseSecretFile,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verifySignature,
} from "../lib/api/signing.ts";
import { prng } from "./helpers/bytes.ts";

const encoder = new TextEncoder();
const SECRET_TEXT = "s3cr3t-Do-Not-Leak-4f1c";
const SECRET = encoder.encode(SECRET_TEXT);
const NOW = 1_700_000_000;
const BODY =
  '{"username":"alice@example.com","user":"alice","server":"example.com","password":"päss:wörd"}';

/** Independent reference: node:crypto's HMAC over `TIMESTAMP.BODY`. */
function reference(secret: Uint8Array, timestamp: string, body: string): string {
  return "sha256=" +
    createHmac("sha256", secret).update(`${timestamp}.${body}`, "utf8").digest("hex");
}

/** Asserts that `text` contains the secret in no common encoding. */
function assertNoSecret(text: string): void {
  const forms = [
    SECRET_TEXT,
    Buffer.from(SECRET).toString("hex"),
    Buffer.from(SECRET).toString("base64"),
    Array.from(SECRET).join(","),
  ];
  for (const form of forms) assert.ok(!text.includes(form), `secret leaked into: ${text}`);
}

describe("createSigner", () => {
  it("matches a known vector (checked with python hmac and openssl dgst -hmac)", async () => {
    const signer = await createSigner(encoder.encode("s3cr3t"));
    const headers = await signer.sign(BODY, NOW);
    assert.deepEqual(headers, {
      "X-Extauth-Timestamp": "1700000000",
      "X-Extauth-Signature":
        "sha256=9fd2cc59cd52754955be729ace0755511f80988a8877ffb034a40185d9731fce",
    });
    assert.deepEqual(Object.keys(headers), [TIMESTAMP_HEADER, SIGNATURE_HEADER]);
  });

  it("agrees with node:crypto createHmac on random secrets, bodies and times", async () => {
    const random = prng(0x5eed);
    for (let round = 0; round < 200; round++) {
      const secret = Uint8Array.from(
        { length: 1 + Math.floor(random() * 100) },
        () => Math.floor(random() * 256),
      );
      // Bodies with ASCII, Latin-1, CJK, astral characters and JSON punctuation.
      const alphabet = ["a", "Z", "0", ":", '"', "\\", "\n", "ä", "é", "中", "😀", " ", "{", "}"];
      let body = "";
      const length = Math.floor(random() * 300);
      for (let i = 0; i < length; i++) body += alphabet[Math.floor(random() * alphabet.length)];
      const seconds = Math.floor(random() * 4_000_000_000);
      const signer = await createSigner(secret);
      const headers = await signer.sign(body, seconds);
      assert.equal(headers["X-Extauth-Timestamp"], String(seconds));
      assert.equal(headers["X-Extauth-Signature"], reference(secret, String(seconds), body));
      assert.match(headers["X-Extauth-Signature"], /^sha256=[0-9a-f]{64}$/);
    }
  });

  it("signs the empty body and timestamp 0", async () => {
    const signer = await createSigner(SECRET);
    const headers = await signer.sign("", 0);
    assert.equal(headers["X-Extauth-Timestamp"], "0");
    assert.equal(headers["X-Extauth-Signature"], reference(SECRET, "0", ""));
  });

  it("keeps signing with the original secret after the caller changes its buffer", async () => {
    const secret = encoder.encode(SECRET_TEXT);
    const signer = await createSigner(secret);
    secret.fill(0);
    assert.equal(
      (await signer.sign(BODY, NOW))["X-Extauth-Signature"],
      reference(SECRET, String(NOW), BODY),
    );
  });

  it("rejects an empty secret with a RangeError", async () => {
    await assert.rejects(createSigner(new Uint8Array(0)), {
      name: "RangeError",
      message: "Cannot use HMAC secret: it is empty",
    });
  });

  it("rejects timestamps that are not whole, non-negative seconds", async () => {
    const signer = await createSigner(SECRET);
    for (const bad of [1.5, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      await assert.rejects(signer.sign(BODY, bad), (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.match(
          error.message,
          /^Cannot sign request: timestamp .* is not a whole number of seconds$/,
        );
        assertNoSecret(error.message);
        return true;
      });
    }
  });

  it("never shows the secret in String, JSON or inspect of a signer", async () => {
    const signer = await createSigner(SECRET);
    assert.equal(String(signer), "[Signer]");
    assert.equal(`${signer}`, "[Signer]");
    assert.equal(JSON.stringify(signer), '"[Signer]"');
    assert.equal(JSON.stringify({ signer }), '{"signer":"[Signer]"}');
    assertNoSecret(String(signer));
    assertNoSecret(JSON.stringify(signer));
    assertNoSecret(inspect(signer, { depth: 10, showHidden: true }));
  });
});

describe("createSigner: v2", () => {
  const NONCE = "00112233445566778899aabbccddeeff";
  const request = { method: "POST", url: "https://API.Example.org:443/xmpp/login?a=1", body: BODY };

  it("signs the canonical string, checked with node:crypto createHmac", async () => {
    const signer = await createSigner(SECRET);
    const header = await signer.signRequest(request, NOW, NONCE);
    const canonical =
      `xmpp-extauth-v2\nPOST\napi.example.org\n/xmpp/login?a=1\n${NOW}\n${NONCE}\n` +
      BODY;
    assert.equal(canonicalV2(request, String(NOW), NONCE), canonical);
    const mac = createHmac("sha256", SECRET).update(canonical, "utf8").digest("hex");
    assert.deepEqual(header, { "X-Extauth-Signature": `v2 t=${NOW},n=${NONCE},s=${mac}` });
  });

  it("changes with every signed field, and keeps the port when it is not the default", async () => {
    const signer = await createSigner(SECRET);
    const sig = async (r: typeof request, t = NOW, n = NONCE) =>
      (await signer.signRequest(r, t, n))["X-Extauth-Signature"].split(",s=")[1];
    const base = await sig(request);
    const others = [
      await sig({ ...request, method: "PUT" }),
      await sig({ ...request, url: "https://api.example.org:8443/xmpp/login?a=1" }),
      await sig({ ...request, url: "https://other.example.org/xmpp/login?a=1" }),
      await sig({ ...request, url: "https://api.example.org/xmpp/removeuser3?a=1" }),
      await sig({ ...request, url: "https://api.example.org/xmpp/login" }),
      await sig({ ...request, body: BODY + " " }),
      await sig(request, NOW + 1),
      await sig(request, NOW, "f".repeat(32)),
    ];
    assert.equal(new Set([base, ...others]).size, others.length + 1);
    assert.equal(await sig({ ...request, url: "https://api.example.org/xmpp/login?a=1" }), base);
  });

  it("draws a fresh nonce each call, and refuses a malformed one", async () => {
    const signer = await createSigner(SECRET);
    const nonces = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const header = (await signer.signRequest(request, NOW))["X-Extauth-Signature"];
      nonces.add(/n=([0-9a-f]{32}),/.exec(header)![1]!);
    }
    assert.equal(nonces.size, 100);
    for (const bad of ["", "0".repeat(31), "A".repeat(32), "0".repeat(32) + "\n"]) {
      await assert.rejects(signer.signRequest(request, NOW, bad), (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assertNoSecret(String(error));
        return true;
      });
    }
    await assert.rejects(signer.signRequest(request, -1, NONCE), RangeError);
  });
});

describe("parseSecretFile", () => {
  const parse = (text: string) => new TextDecoder().decode(parseSecretFile(encoder.encode(text)));

  it("strips exactly one trailing \\n or \\r\\n", () => {
    assert.equal(parse("abc"), "abc");
    assert.equal(parse("abc\n"), "abc");
    assert.equal(parse("abc\r\n"), "abc");
    assert.equal(parse("abc\n\n"), "abc\n");
    assert.equal(parse("abc\r\n\r\n"), "abc\r\n");
    assert.equal(parse("abc\n\r\n"), "abc\n");
  });

  it("keeps everything else, including spaces, tabs, a lone \\r and a leading newline", () => {
    assert.equal(parse(" abc "), " abc ");
    assert.equal(parse("abc \n"), "abc ");
    assert.equal(parse("\tabc\t\n"), "\tabc\t");
    assert.equal(parse("abc\r"), "abc\r");
    assert.equal(parse("\nabc"), "\nabc");
    assert.equal(parse("\r"), "\r");
  });

  it("keeps binary secrets byte for byte and returns a copy", () => {
    const bytes = Uint8Array.of(0, 255, 10, 13, 0x80, 10);
    const secret = parseSecretFile(bytes);
    assert.deepEqual(secret, Uint8Array.of(0, 255, 10, 13, 0x80));
    bytes.fill(7);
    assert.deepEqual(secret, Uint8Array.of(0, 255, 10, 13, 0x80));
  });

  it("rejects a file that is empty or only a newline", () => {
    for (const text of ["", "\n", "\r\n"]) {
      assert.throws(() => parseSecretFile(encoder.encode(text)), {
        name: "RangeError",
        message: "Cannot use HMAC secret file: it is empty (apart from a final newline)",
      });
    }
  });

  it("gives the secret the signer and verifier agree on", async () => {
    const secret = parseSecretFile(encoder.encode(`${SECRET_TEXT}\r\n`));
    const headers = await (await createSigner(secret)).sign(BODY, NOW);
    assert.equal(headers["X-Extauth-Signature"], reference(SECRET, String(NOW), BODY));
  });
});

describe("verifySignature", () => {
  async function signed(body = BODY, seconds = NOW) {
    return await (await createSigner(SECRET)).sign(body, seconds);
  }

  it("accepts what the signer produced, and what node:crypto produced", async () => {
    const h = await signed();
    assert.equal(
      await verifySignature(SECRET, BODY, h["X-Extauth-Timestamp"], h["X-Extauth-Signature"], NOW),
      true,
    );
    assert.equal(
      await verifySignature(SECRET, BODY, "1700000000", reference(SECRET, "1700000000", BODY), NOW),
      true,
    );
  });

  it("rejects a different body, even by one character or one byte of UTF-8", async () => {
    const h = await signed();
    const ts = h["X-Extauth-Timestamp"];
    const sig = h["X-Extauth-Signature"];
    for (
      const other of [
        BODY.replace("alice", "alicf"),
        BODY.replace("ä", "a"),
        BODY + " ",
        BODY + "\n",
        " " + BODY,
        "",
        BODY.slice(0, -1),
      ]
    ) {
      assert.equal(await verifySignature(SECRET, other, ts, sig, NOW), false, other);
    }
  });

  it("rejects a different secret", async () => {
    const h = await signed();
    for (
      const other of ["s3cr3t-Do-Not-Leak-4f1d", SECRET_TEXT + "\n", SECRET_TEXT.slice(1), "x"]
    ) {
      assert.equal(
        await verifySignature(
          encoder.encode(other),
          BODY,
          h["X-Extauth-Timestamp"],
          h["X-Extauth-Signature"],
          NOW,
        ),
        false,
      );
    }
  });

  it("rejects a signature moved to another timestamp", async () => {
    const h = await signed();
    assert.equal(
      await verifySignature(SECRET, BODY, String(NOW + 1), h["X-Extauth-Signature"], NOW),
      false,
    );
  });

  it("accepts a timestamp up to maxSkewSeconds either way and rejects one beyond", async () => {
    const check = async (signedAt: number, now: number, skew?: number) => {
      const h = await signed(BODY, signedAt);
      return await verifySignature(
        SECRET,
        BODY,
        h["X-Extauth-Timestamp"],
        h["X-Extauth-Signature"],
        now,
        skew,
      );
    };
    assert.equal(DEFAULT_MAX_SKEW_SECONDS, 300);
    assert.equal(await check(NOW - 300, NOW), true);
    assert.equal(await check(NOW + 300, NOW), true);
    assert.equal(await check(NOW - 301, NOW), false, "stale");
    assert.equal(await check(NOW + 301, NOW), false, "from the future");
    assert.equal(await check(NOW - 86_400, NOW), false, "a day old");
    assert.equal(await check(NOW - 30, NOW, 29), false, "custom skew");
    assert.equal(await check(NOW - 29, NOW, 29), true, "custom skew");
    assert.equal(await check(NOW, NOW, 0), true, "zero skew");
    assert.equal(await check(NOW - 1, NOW, 0), false, "zero skew");
  });

  it("rejects malformed timestamp headers", async () => {
    for (
      const ts of [
        "",
        " 1700000000",
        "1700000000 ",
        "+1700000000",
        "-1",
        "1.7e9",
        "1700000000.0",
        "0x65",
        "１７",
      ]
    ) {
      // Even with a signature that is valid for exactly that string.
      const sig = reference(SECRET, ts, BODY);
      assert.equal(await verifySignature(SECRET, BODY, ts, sig, NOW), false, JSON.stringify(ts));
    }
  });

  it("rejects malformed signature headers", async () => {
    const h = await signed();
    const ts = h["X-Extauth-Timestamp"];
    const sig = h["X-Extauth-Signature"];
    const hex = sig.slice("sha256=".length);
    for (
      const bad of [
        "",
        hex,
        `sha1=${hex}`,
        `SHA256=${hex}`,
        `sha256=${hex.toUpperCase()}`,
        `sha256= ${hex}`,
        `${sig} `,
        `sha256=${hex.slice(0, 63)}`,
        `sha256=${hex}0`,
        `sha256=${hex.slice(0, 62)}zz`,
        `sha256=${Buffer.from(hex, "hex").toString("base64")}`,
        `${sig},${sig}`,
      ]
    ) {
      assert.equal(await verifySignature(SECRET, BODY, ts, bad, NOW), false, JSON.stringify(bad));
    }
  });

  it("rejects any single flipped hex digit", async () => {
    const h = await signed();
    const sig = h["X-Extauth-Signature"];
    for (let i = "sha256=".length; i < sig.length; i++) {
      const flipped = sig.slice(0, i) + (sig[i] === "0" ? "1" : "0") + sig.slice(i + 1);
      assert.equal(
        await verifySignature(SECRET, BODY, h["X-Extauth-Timestamp"], flipped, NOW),
        false,
      );
    }
  });

  it("rejects an empty secret with a RangeError", async () => {
    const h = await signed();
    await assert.rejects(
      verifySignature(
        new Uint8Array(0),
        BODY,
        h["X-Extauth-Timestamp"],
        h["X-Extauth-Signature"],
        NOW,
      ),
      { name: "RangeError", message: "Cannot use HMAC secret: it is empty" },
    );
  });

  it("puts the secret in no error message", async () => {
    const messages: string[] = [];
    const collect = async (run: () => Promise<unknown> | unknown) => {
      try {
        await run();
      } catch (error) {
        messages.push(String(error), error instanceof Error ? String(error.stack) : "");
      }
    };
    const signer = await createSigner(SECRET);
    await collect(() => signer.sign(BODY, -1));
    await collect(() => signer.sign(BODY, 0.5));
    // deno-lint-ignore no-explicit-any
    await collect(() => signer.sign(undefined as any, Number.NaN));
    await collect(() => createSigner(new Uint8Array(0)));
    await collect(() => parseSecretFile(new Uint8Array(0)));
    await collect(() => verifySignature(new Uint8Array(0), BODY, "1", "sha256=", NOW));
    assert.ok(messages.length >= 12);
    for (const message of messages) assertNoSecret(message);
  });
});
