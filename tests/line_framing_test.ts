import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Incoming } from "../lib/wire/protocol.ts";
import {
  encodeLineReply,
  LINE_REPLY_ERROR,
  LINE_REPLY_FALSE,
  LINE_REPLY_TRUE,
  MAX_LINE_LENGTH,
  readLines,
} from "../lib/wire/prosody_lines.ts";
import { prng, splitAt, streamOf } from "./helpers/bytes.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

async function collect(
  chunks: readonly Uint8Array[],
  maxLength?: number,
): Promise<Incoming[]> {
  const out: Incoming[] = [];
  const options = maxLength === undefined ? {} : { maxLength };
  for await (const incoming of readLines(streamOf(chunks), options)) out.push(incoming);
  return out;
}

/** A comparable form: payloads as byte arrays, errors as their reason. */
type Simple = number[] | string;
function simplify(items: readonly Incoming[]): Simple[] {
  return items.map((item) => (item.ok ? Array.from(item.payload) : item.reason));
}
const ok = (text: string): Simple => Array.from(bytes(text));

/**
 * A deliberately naive model of the protocol: split the whole input on "\n",
 * drop one trailing "\r", skip empty lines, and turn lines over the limit into
 * one error each.
 */
function model(input: Uint8Array, maxLength = MAX_LINE_LENGTH): Simple[] {
  const out: Simple[] = [];
  let start = 0;
  for (let i = 0; i <= input.length; i++) {
    if (i < input.length && input[i] !== 0x0a) continue;
    if (i === input.length && start === input.length) break;
    let line = Array.from(input.subarray(start, i));
    if (line.at(-1) === 0x0d) line = line.slice(0, -1);
    if (line.length > maxLength) {
      out.push(`Cannot parse line: length ${line.length} exceeds ${maxLength}`);
    } else if (line.length > 0) out.push(line);
    start = i + 1;
  }
  return out;
}

describe("encodeLineReply", () => {
  it("encodes each verdict as the line Prosody expects", () => {
    assert.equal(decoder.decode(LINE_REPLY_TRUE), "1\n");
    assert.equal(decoder.decode(LINE_REPLY_FALSE), "0\n");
    assert.equal(decoder.decode(LINE_REPLY_ERROR), "error\n");
    assert.equal(encodeLineReply("true"), LINE_REPLY_TRUE);
    assert.equal(encodeLineReply("false"), LINE_REPLY_FALSE);
    assert.equal(encodeLineReply("error"), LINE_REPLY_ERROR);
  });

  it("makes an error reply that Prosody can read as neither 1 nor 0", () => {
    // Prosody strips one trailing \r?\n (the pty turns \n into \r\n) and compares with "1" / "0".
    const seen = decoder.decode(LINE_REPLY_ERROR).replace(/\n/g, "\r\n").replace(/\r?\n$/, "");
    assert.notEqual(seen, "1");
    assert.notEqual(seen, "0");
    assert.equal(
      seen.includes("\n"),
      false,
      "one line, so no stray line is left for the next query",
    );
  });
});

describe("readLines", () => {
  const SAMPLE = "auth:alice:example.com:pä:ss wörd😀\nisuser:bob:example.com\n" +
    "setpass:carol:example.com:new\r\n\n\nisuser:dave:example.com";
  const SAMPLE_EXPECTED = [
    ok("auth:alice:example.com:pä:ss wörd😀"),
    ok("isuser:bob:example.com"),
    ok("setpass:carol:example.com:new"),
    ok("isuser:dave:example.com"),
  ];

  it("reads several lines in one chunk", async () => {
    assert.deepEqual(simplify(await collect([bytes(SAMPLE)])), SAMPLE_EXPECTED);
  });

  it("reads the same lines fed byte by byte", async () => {
    const input = bytes(SAMPLE);
    const chunks = Array.from(input, (b) => Uint8Array.of(b));
    assert.deepEqual(simplify(await collect(chunks)), SAMPLE_EXPECTED);
  });

  it("reads the same lines split into two chunks at every offset", async () => {
    const input = bytes(SAMPLE);
    for (let cut = 0; cut <= input.length; cut++) {
      assert.deepEqual(
        simplify(await collect(splitAt(input, [cut]))),
        SAMPLE_EXPECTED,
        `cut at ${cut}`,
      );
    }
  });

  it("reads the same lines split into three chunks at every pair of offsets", async () => {
    const input = bytes("isuser:a:b\nauth:ü:b:p\r\n\nx\n");
    const expected = [ok("isuser:a:b"), ok("auth:ü:b:p"), ok("x")];
    for (let a = 0; a <= input.length; a++) {
      for (let b = a; b <= input.length; b++) {
        assert.deepEqual(simplify(await collect(splitAt(input, [a, b]))), expected, `${a},${b}`);
      }
    }
  });

  it("ignores empty chunks", async () => {
    const empty = new Uint8Array(0);
    const chunks = [empty, bytes("isuser:a"), empty, empty, bytes(":b\n"), empty];
    assert.deepEqual(simplify(await collect(chunks)), [ok("isuser:a:b")]);
  });

  it("yields nothing for empty input or input of only newlines", async () => {
    assert.deepEqual(await collect([]), []);
    assert.deepEqual(await collect([new Uint8Array(0)]), []);
    assert.deepEqual(await collect([bytes("\n\n\n")]), []);
    assert.deepEqual(await collect([bytes("\r\n\r\n\r")]), []);
  });

  it("skips empty lines silently, as a \\r\\n ending arrives through the pty as \\n\\n", async () => {
    const input = bytes("\nisuser:a:b\n\nisuser:c:d\n\n\n\nisuser:e:f\n\n");
    assert.deepEqual(simplify(await collect([input])), [
      ok("isuser:a:b"),
      ok("isuser:c:d"),
      ok("isuser:e:f"),
    ]);
  });

  it("strips one trailing \\r and keeps \\r elsewhere", async () => {
    const input = bytes("isuser:a:b\r\nauth:a:b:p\r\r\nauth:a:b:\rp\n\r\n");
    assert.deepEqual(simplify(await collect([input])), [
      ok("isuser:a:b"),
      ok("auth:a:b:p\r"),
      ok("auth:a:b:\rp"),
    ]);
  });

  it("reads a last line without a trailing newline", async () => {
    assert.deepEqual(simplify(await collect([bytes("isuser:a:b")])), [ok("isuser:a:b")]);
    assert.deepEqual(simplify(await collect([bytes("isuser:a:b\r")])), [ok("isuser:a:b")]);
    assert.deepEqual(simplify(await collect([bytes("x\nisuser:a"), bytes(":b")])), [
      ok("x"),
      ok("isuser:a:b"),
    ]);
  });

  it("keeps multi-byte UTF-8 split across chunks intact", async () => {
    const text = "auth:jürgen:例え.jp:pä😀ß€";
    const input = bytes(`${text}\n`);
    for (let cut = 0; cut <= input.length; cut++) {
      const out = await collect(splitAt(input, [cut]));
      assert.equal(out.length, 1);
      const [first] = out;
      assert.ok(first?.ok);
      assert.equal(decoder.decode(first.payload), text, `cut at ${cut}`);
    }
  });

  it("passes arbitrary bytes through: NUL, invalid UTF-8, colons", async () => {
    const line = Uint8Array.of(0x61, 0x3a, 0x00, 0xff, 0xc3, 0x3a, 0x80, 0x0d, 0x7f);
    const input = new Uint8Array([...line, 0x0a]);
    assert.deepEqual(simplify(await collect([input])), [Array.from(line)]);
  });

  it("keeps split lines intact when the source reuses one buffer for every chunk", async () => {
    // Some sources (BYOB readers, pooled buffers) overwrite a chunk after it was read.
    // Lines split across chunks must be copied; payloads are read as soon as they are yielded.
    const input = bytes("isuser:alice:example.com\nauth:bob:example.com:pässwörd\nx\n");
    const shared = new Uint8Array(5);
    let offset = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (offset >= input.length) return c.close();
        const n = Math.min(shared.length, input.length - offset);
        shared.set(input.subarray(offset, offset + n));
        offset += n;
        c.enqueue(shared.subarray(0, n));
      },
    }, { highWaterMark: 0 });
    const seen: string[] = [];
    for await (const item of readLines(stream)) {
      seen.push(item.ok ? decoder.decode(item.payload) : item.reason);
    }
    assert.deepEqual(seen, ["isuser:alice:example.com", "auth:bob:example.com:pässwörd", "x"]);
  });

  describe("long lines", () => {
    it("accepts a line of exactly maxLength bytes, with or without a trailing \\r", async () => {
      const line = "x".repeat(10);
      assert.deepEqual(simplify(await collect([bytes(`${line}\n`)], 10)), [ok(line)]);
      assert.deepEqual(simplify(await collect([bytes(`${line}\r\n`)], 10)), [ok(line)]);
      assert.deepEqual(simplify(await collect([bytes(line)], 10)), [ok(line)]);
    });

    it("rejects maxLength + 1 with one error and still reads the next line", async () => {
      const input = bytes(`${"x".repeat(11)}\nisuser:a:b\n`);
      const expected = ["Cannot parse line: length 11 exceeds 10", ok("isuser:a:b")];
      assert.deepEqual(simplify(await collect([input], 10)), expected);
      for (let cut = 0; cut <= input.length; cut++) {
        assert.deepEqual(simplify(await collect(splitAt(input, [cut]), 10)), expected, `${cut}`);
      }
      const byteByByte = Array.from(input, (b) => Uint8Array.of(b));
      assert.deepEqual(simplify(await collect(byteByByte, 10)), expected);
    });

    it("counts a \\r inside an overlong line but not a trailing one", async () => {
      assert.deepEqual(simplify(await collect([bytes(`${"x".repeat(10)}\r\r\n`)], 10)), [
        "Cannot parse line: length 11 exceeds 10",
      ]);
      assert.deepEqual(simplify(await collect([bytes(`${"x".repeat(10)}\r\ry\n`)], 10)), [
        "Cannot parse line: length 13 exceeds 10",
      ]);
    });

    it("uses 65535 bytes by default", async () => {
      assert.equal(MAX_LINE_LENGTH, 65535);
      const exact = "a".repeat(65535);
      const over = "b".repeat(65536);
      const input = bytes(`${exact}\n${over}\r\n${exact}`);
      const out = simplify(await collect(splitAt(input, [1000, 65535, 65536, 70000, 131000])));
      assert.deepEqual(out, [
        ok(exact),
        "Cannot parse line: length 65536 exceeds 65535",
        ok(exact),
      ]);
    });

    it("yields ONE error for a huge line however it is chunked, then goes on", async () => {
      const chunk = new Uint8Array(16384).fill(0x41);
      const chunks = [bytes("isuser:a:b\nauth:")];
      for (let i = 0; i < 64; i++) chunks.push(chunk); // 1 MiB without a newline
      chunks.push(bytes("tail\nisuser:c:d\n"));
      const length = 5 + 64 * 16384 + 4;
      assert.deepEqual(simplify(await collect(chunks)), [
        ok("isuser:a:b"),
        `Cannot parse line: length ${length} exceeds 65535`,
        ok("isuser:c:d"),
      ]);
    });

    it("yields one error for an overlong last line without a newline", async () => {
      assert.deepEqual(simplify(await collect([bytes("ok\n"), bytes("y".repeat(20))], 10)), [
        ok("ok"),
        "Cannot parse line: length 20 exceeds 10",
      ]);
    });

    it("rejects a maxLength that is not a positive integer", async () => {
      for (const maxLength of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await assert.rejects(collect([bytes("x\n")], maxLength), {
          name: "RangeError",
          message: `Cannot read lines: maxLength ${maxLength} is not a positive integer`,
        });
      }
    });
  });

  it("releases the stream when the reader stops early", async () => {
    const stream = streamOf([bytes("isuser:a:b\nisuser:c:d\n")]);
    for await (const _ of readLines(stream)) break;
    assert.equal(stream.locked, false);
  });

  describe("fuzz (seeded)", () => {
    // Bytes biased towards the ones that matter: newline, carriage return, NUL,
    // colon and UTF-8 lead/continuation bytes.
    function randomInput(random: () => number, length: number): Uint8Array {
      const special = [0x0a, 0x0a, 0x0d, 0x00, 0x3a, 0xc3, 0xa4, 0xf0, 0x9f, 0xff];
      return Uint8Array.from(
        { length },
        () =>
          random() < 0.3
            ? special[Math.floor(random() * special.length)]!
            : Math.floor(random() * 256),
      );
    }

    function randomChunks(random: () => number, input: Uint8Array): Uint8Array[] {
      const cuts: number[] = [];
      for (let i = 1; i < input.length; i++) if (random() < 0.2) cuts.push(i);
      return splitAt(input, cuts);
    }

    it("never throws and matches the naive model, overlong lines included", async () => {
      const random = prng(0xc0ffee);
      for (let round = 0; round < 1500; round++) {
        const input = randomInput(random, Math.floor(random() * 120));
        const maxLength = 1 + Math.floor(random() * 24);
        const out = await collect(randomChunks(random, input), maxLength);
        assert.deepEqual(simplify(out), model(input, maxLength), `round ${round}`);
      }
    });

    it("reconstructs the input minus empty lines when no line is overlong and no \\r", async () => {
      const random = prng(42);
      for (let round = 0; round < 1500; round++) {
        const input = randomInput(random, Math.floor(random() * 200))
          .map((b) => (b === 0x0d ? 0x0a : b)); // as the pty delivers it
        const out = await collect(randomChunks(random, input));
        // Every yield is a request: no errors without overlong lines.
        const payloads = out.map((item) => {
          assert.ok(item.ok, `round ${round}`);
          assert.ok(item.payload.length > 0);
          assert.equal(item.payload.includes(0x0a), false);
          return Array.from(item.payload);
        });
        const rebuilt = payloads.flatMap((p) => [...p, 0x0a]);
        // The input with every run of newlines collapsed, leading ones dropped and one at the end.
        const expected: number[] = [];
        for (const b of input) {
          if (b === 0x0a && (expected.length === 0 || expected.at(-1) === 0x0a)) continue;
          expected.push(b);
        }
        if (expected.length > 0 && expected.at(-1) !== 0x0a) expected.push(0x0a);
        assert.deepEqual(rebuilt, expected, `round ${round}`);
      }
    });
  });
});
