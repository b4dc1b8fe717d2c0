import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  encodeFrame,
  encodeReply,
  type FrameEnd,
  MAX_FRAME_LENGTH,
  readFrames,
  REPLY_ERROR,
  REPLY_FALSE,
  REPLY_TRUE,
} from "../lib/wire/ejabberd_frames.ts";
import { concatBytes, prng, randomChunks, splitAt, streamOf } from "./helpers/bytes.ts";

/** A payload whose bytes depend on its length and position, so any misalignment shows. */
function payloadOf(length: number, salt = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + length + salt) & 0xff;
  return out;
}

interface Read {
  readonly payloads: number[][];
  readonly rejected: string[];
  readonly ends: FrameEnd[];
  readonly locked: boolean;
}

async function read(chunks: readonly Uint8Array[]): Promise<Read> {
  const payloads: number[][] = [];
  const rejected: string[] = [];
  const ends: FrameEnd[] = [];
  const stream = streamOf(chunks);
  for await (const incoming of readFrames(stream, (end) => ends.push(end))) {
    if (incoming.ok) payloads.push(Array.from(incoming.payload));
    else rejected.push(incoming.reason);
  }
  return { payloads, rejected, ends, locked: stream.locked };
}

function byteByByte(bytes: Uint8Array): Uint8Array[] {
  return Array.from(bytes, (b) => Uint8Array.of(b));
}

/**
 * A deliberately naive model of the framing: walk the whole input, unsigned
 * 16-bit big-endian lengths, and report what is left at the end.
 */
function model(input: Uint8Array): { payloads: number[][]; ends: FrameEnd[] } {
  const payloads: number[][] = [];
  let at = 0;
  while (input.length - at >= 2) {
    const length = input[at]! * 256 + input[at + 1]!;
    if (at + 2 + length > input.length) break;
    payloads.push(Array.from(input.subarray(at + 2, at + 2 + length)));
    at += 2 + length;
  }
  const leftover = input.length - at;
  const ends: FrameEnd[] = leftover === 0 ? [] : [{
    leftover,
    announced: leftover >= 2 ? input[at]! * 256 + input[at + 1]! : -1,
  }];
  return { payloads, ends };
}

async function assertReadsLikeModel(chunks: readonly Uint8Array[], label: string): Promise<void> {
  const result = await read(chunks);
  const expected = model(concatBytes(chunks));
  assert.equal(result.payloads.length, expected.payloads.length, `${label}: frame count`);
  assert.deepEqual(result.payloads, expected.payloads, `${label}: payloads`);
  assert.deepEqual(result.ends, expected.ends, `${label}: onEnd`);
  assert.deepEqual(result.rejected, [], `${label}: nothing rejected`);
  assert.equal(result.locked, false, `${label}: reader lock released`);
}

const SMALL_LENGTHS = [0, 1, 2, 3, 255, 256, 257, 0, 1];
const smallFrames = SMALL_LENGTHS.map((n, i) => encodeFrame(payloadOf(n, i)));
const smallStream = concatBytes(smallFrames);
const smallPayloads = SMALL_LENGTHS.map((n, i) => Array.from(payloadOf(n, i)));

describe("encodeReply", () => {
  it("encodes true, false and error as ejabberd's 4-byte replies", () => {
    assert.deepEqual(Array.from(encodeReply("true")), [0, 2, 0, 1]);
    assert.deepEqual(Array.from(encodeReply("false")), [0, 2, 0, 0]);
    assert.deepEqual(Array.from(encodeReply("error")), [0, 2, 0, 2]);
  });

  it("returns the exported reply constants", () => {
    assert.deepEqual(Array.from(REPLY_TRUE), [0, 2, 0, 1]);
    assert.deepEqual(Array.from(REPLY_FALSE), [0, 2, 0, 0]);
    assert.deepEqual(Array.from(REPLY_ERROR), [0, 2, 0, 2]);
    assert.equal(encodeReply("true"), REPLY_TRUE);
    assert.equal(encodeReply("false"), REPLY_FALSE);
    assert.equal(encodeReply("error"), REPLY_ERROR);
  });
});

describe("encodeFrame", () => {
  it("writes a 2-byte big-endian unsigned length before the payload", () => {
    assert.deepEqual(Array.from(encodeFrame(new Uint8Array(0))), [0, 0]);
    assert.deepEqual(Array.from(encodeFrame(Uint8Array.of(0x68, 0x69))), [0, 2, 0x68, 0x69]);
    const cases: [number, number, number][] = [
      [1, 0x00, 0x01],
      [255, 0x00, 0xff],
      [256, 0x01, 0x00],
      [32767, 0x7f, 0xff],
      [32768, 0x80, 0x00],
      [65535, 0xff, 0xff],
    ];
    for (const [length, high, low] of cases) {
      const payload = payloadOf(length);
      const frame = encodeFrame(payload);
      assert.equal(frame.length, length + 2, `length ${length}`);
      assert.deepEqual([frame[0], frame[1]], [high, low], `header of ${length}`);
      assert.deepEqual(frame.subarray(2), payload, `payload of ${length}`);
    }
  });

  it("keeps every byte value of the payload", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    assert.deepEqual(encodeFrame(all).subarray(2), all);
  });

  it("throws a RangeError for a payload over 65535 bytes", () => {
    assert.equal(MAX_FRAME_LENGTH, 65535);
    assert.throws(() => encodeFrame(new Uint8Array(65536)), {
      name: "RangeError",
      message: "Cannot encode frame: length 65536 exceeds 65535",
    });
    assert.throws(() => encodeFrame(new Uint8Array(70000)), {
      message: "Cannot encode frame: length 70000 exceeds 65535",
    });
  });
});

describe("readFrames: chunking of small frames", () => {
  it("reads frames glued together in one chunk", async () => {
    const result = await read([smallStream]);
    assert.deepEqual(result.payloads, smallPayloads);
    assert.deepEqual(result.ends, []);
    assert.equal(result.locked, false);
  });

  it("reads the stream byte by byte", async () => {
    const result = await read(byteByByte(smallStream));
    assert.deepEqual(result.payloads, smallPayloads);
    assert.deepEqual(result.ends, []);
  });

  it("reads the stream split into two chunks at every offset", async () => {
    for (let cut = 0; cut <= smallStream.length; cut++) {
      const result = await read(splitAt(smallStream, [cut]));
      assert.deepEqual(result.payloads, smallPayloads, `split at ${cut}`);
      assert.deepEqual(result.ends, [], `split at ${cut}`);
    }
  });

  it("reads the stream split into three chunks at many pairs of offsets", async () => {
    // Every pair of cuts around the first frame boundaries, where headers and
    // payloads of several frames meet.
    const limit = Math.min(smallStream.length, 40);
    for (let a = 0; a <= limit; a++) {
      for (let b = a; b <= limit; b++) {
        const result = await read(splitAt(smallStream, [a, b]));
        assert.deepEqual(result.payloads, smallPayloads, `split at ${a}, ${b}`);
      }
    }
  });

  it("reads the stream in random chunkings (seeded)", async () => {
    const random = prng(0x5eed);
    for (let round = 0; round < 300; round++) {
      const maxSize = 1 + Math.floor(random() * 300);
      const chunks = randomChunks(smallStream, random, maxSize);
      const result = await read(chunks);
      assert.deepEqual(result.payloads, smallPayloads, `round ${round}`);
      assert.deepEqual(result.ends, [], `round ${round}`);
    }
  });

  it("ignores empty chunks anywhere", async () => {
    const empty = new Uint8Array(0);
    const chunks = [empty, ...byteByByte(smallStream).flatMap((c) => [c, empty]), empty];
    const result = await read(chunks);
    assert.deepEqual(result.payloads, smallPayloads);
    assert.deepEqual(result.ends, []);
  });

  it("yields a zero-length frame as an empty payload", async () => {
    const result = await read([Uint8Array.of(0, 0, 0, 0, 0, 1, 0x41)]);
    assert.deepEqual(result.payloads, [[], [], [0x41]]);
  });

  it("yields nothing and reports nothing for an empty stream", async () => {
    assert.deepEqual(await read([]), { payloads: [], rejected: [], ends: [], locked: false });
  });

  it("keeps earlier payloads intact while later chunks arrive", async () => {
    // Payloads are views; collecting them all first and comparing afterwards
    // shows that no later chunk overwrote an earlier payload's bytes.
    const stream = streamOf(randomChunks(smallStream, prng(7), 5));
    const kept: Uint8Array[] = [];
    for await (const incoming of readFrames(stream)) if (incoming.ok) kept.push(incoming.payload);
    assert.deepEqual(kept.map((p) => Array.from(p)), smallPayloads);
  });
});

describe("readFrames: long payloads and unsigned lengths", () => {
  const LONG_LENGTHS = [255, 256, 32767, 32768, 65535];

  for (const length of LONG_LENGTHS) {
    it(`reads a ${length}-byte payload followed by a small frame, in one chunk`, async () => {
      const big = payloadOf(length, 3);
      const input = concatBytes([encodeFrame(big), encodeFrame(Uint8Array.of(0x7a))]);
      const result = await read([input]);
      assert.equal(result.payloads.length, 2);
      assert.equal(result.payloads[0]!.length, length);
      assert.deepEqual(result.payloads[0], Array.from(big));
      assert.deepEqual(result.payloads[1], [0x7a]);
      assert.deepEqual(result.ends, []);
    });
  }

  it("reads 32768 and 65535 as unsigned (the seed script read them as negative)", async () => {
    // A signed 16-bit read gives -32768 and -1 here; any such reader loses the
    // frames or the alignment of everything after them.
    const frames = [32768, 65535, 0, 32768].map((n, i) => encodeFrame(payloadOf(n, i)));
    assert.deepEqual([frames[0]![0], frames[0]![1]], [0x80, 0x00]);
    assert.deepEqual([frames[1]![0], frames[1]![1]], [0xff, 0xff]);
    await assertReadsLikeModel([concatBytes(frames)], "one chunk");
    const result = await read([concatBytes(frames)]);
    assert.deepEqual(result.payloads.map((p) => p.length), [32768, 65535, 0, 32768]);
  });

  it("reads long frames split at every interesting offset", async () => {
    const frames = [0, 1, 255, 256, 32768, 65535].map((n, i) => encodeFrame(payloadOf(n, i)));
    const input = concatBytes(frames);
    const boundaries: number[] = [];
    let at = 0;
    for (const frame of frames) {
      boundaries.push(at);
      at += frame.length;
    }
    boundaries.push(at);
    const cuts = new Set<number>();
    for (const b of boundaries) {
      for (const d of [-3, -2, -1, 0, 1, 2, 3, 128]) {
        if (b + d >= 0 && b + d <= input.length) cuts.add(b + d);
      }
    }
    for (const cut of cuts) await assertReadsLikeModel(splitAt(input, [cut]), `split at ${cut}`);
    const result = await read([input]);
    assert.deepEqual(result.payloads.map((p) => p.length), [0, 1, 255, 256, 32768, 65535]);
  });

  it("reads long frames in random chunkings (seeded)", async () => {
    const random = prng(0xf00d);
    const input = concatBytes(
      [1, 256, 32768, 255, 65535, 0].map((n, i) => encodeFrame(payloadOf(n, i))),
    );
    for (let round = 0; round < 25; round++) {
      const maxSize = 1 + Math.floor(random() * (round % 2 === 0 ? 70000 : 5000));
      await assertReadsLikeModel(randomChunks(input, random, maxSize), `round ${round}`);
    }
  });

  it("reads 32768- and 65535-byte payloads byte by byte", async () => {
    const input = concatBytes([32768, 65535].map((n, i) => encodeFrame(payloadOf(n, i))));
    const result = await read(byteByByte(input));
    assert.equal(result.payloads.length, 2);
    assert.deepEqual(result.payloads[0], Array.from(payloadOf(32768, 0)));
    assert.deepEqual(result.payloads[1], Array.from(payloadOf(65535, 1)));
    assert.deepEqual(result.ends, []);
  });
});

describe("readFrames: end of input in the middle of a frame", () => {
  it("reports EOF in the middle of a header without yielding", async () => {
    const result = await read([Uint8Array.of(0x00)]);
    assert.deepEqual(result.payloads, []);
    assert.deepEqual(result.ends, [{ leftover: 1, announced: -1 }]);
    const high = await read([Uint8Array.of(0xff)]);
    assert.deepEqual(high.ends, [{ leftover: 1, announced: -1 }]);
  });

  it("reports EOF right after a header", async () => {
    const result = await read([Uint8Array.of(0x00, 0x05)]);
    assert.deepEqual(result.payloads, []);
    assert.deepEqual(result.ends, [{ leftover: 2, announced: 5 }]);
  });

  it("reports EOF in the middle of a payload with the bytes left and the length announced", async () => {
    const result = await read([Uint8Array.of(0x00, 0x05, 0x61, 0x62)]);
    assert.deepEqual(result.payloads, []);
    assert.deepEqual(result.ends, [{ leftover: 4, announced: 5 }]);
  });

  it("reads the announced length unsigned in the report", async () => {
    const partial = concatBytes([Uint8Array.of(0xff, 0xff), payloadOf(100)]);
    assert.deepEqual((await read([partial])).ends, [{ leftover: 102, announced: 65535 }]);
    const half = concatBytes([Uint8Array.of(0x80, 0x00), payloadOf(32767)]);
    assert.deepEqual((await read(byteByByte(half.subarray(0, 300)))).ends, [
      { leftover: 300, announced: 32768 },
    ]);
  });

  it("yields the complete frames before the unfinished one", async () => {
    const input = concatBytes([
      encodeFrame(Uint8Array.of(1, 2, 3)),
      Uint8Array.of(0x00, 0x09, 0x41),
    ]);
    const result = await read(byteByByte(input));
    assert.deepEqual(result.payloads, [[1, 2, 3]]);
    assert.deepEqual(result.ends, [{ leftover: 3, announced: 9 }]);
  });

  it("calls onEnd only when something is left over", async () => {
    assert.deepEqual((await read([smallStream])).ends, []);
    assert.deepEqual((await read(byteByByte(smallStream))).ends, []);
  });

  it("reports the right numbers when the input stops at any offset", async () => {
    // Cut the stream at every offset and compare with the model, in one chunk
    // and byte by byte.
    for (let cut = 0; cut <= smallStream.length; cut++) {
      const truncated = smallStream.subarray(0, cut);
      await assertReadsLikeModel([truncated.slice()], `cut at ${cut}`);
      if (cut % 7 === 0) await assertReadsLikeModel(byteByByte(truncated), `cut at ${cut}, bytes`);
    }
  });

  it("works without an onEnd callback", async () => {
    const kept: number[][] = [];
    for await (const incoming of readFrames(streamOf([Uint8Array.of(0, 1, 0x41, 0, 9, 1)]))) {
      if (incoming.ok) kept.push(Array.from(incoming.payload));
    }
    assert.deepEqual(kept, [[0x41]]);
  });
});

describe("readFrames: the reader", () => {
  it("releases the stream when the consumer stops early", async () => {
    const stream = streamOf([smallStream]);
    for await (const _incoming of readFrames(stream)) break;
    assert.equal(stream.locked, false);
  });

  it("yields the frames read before the input stream fails, then propagates its error", async () => {
    // One pull delivers a frame and the start of the next, the following one fails.
    const pulls = [
      (c: ReadableStreamDefaultController<Uint8Array>) => c.enqueue(Uint8Array.of(0, 1, 0x41, 0)),
      (c: ReadableStreamDefaultController<Uint8Array>) => c.error(new Error("stdin broke")),
    ];
    const stream = new ReadableStream<Uint8Array>({ pull: (c) => pulls.shift()?.(c) });
    const seen: number[][] = [];
    await assert.rejects(async () => {
      for await (const incoming of readFrames(stream)) {
        seen.push(incoming.ok ? Array.from(incoming.payload) : [-1]);
      }
    }, { message: "stdin broke" });
    assert.deepEqual(seen, [[0x41]]);
  });
});
