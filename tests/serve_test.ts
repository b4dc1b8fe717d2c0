import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeFrame, REPLY_ERROR, REPLY_FALSE, REPLY_TRUE } from "../lib/wire/ejabberd_frames.ts";
import type { Protocol, Verdict } from "../lib/wire/protocol.ts";
import { createLogger, type Logger, silentLogger } from "../lib/log/logger.ts";
import { parseRequest } from "../lib/core/request.ts";
import { EJABBERD, PROSODY, serve, type ServeResult } from "../lib/wire/serve_loop.ts";
import { createReplyPolicy, type ReplyPolicy } from "../lib/auth/reply_policy.ts";
import { concatBytes, prng, randomChunks, streamOf } from "./helpers/bytes.ts";

const encoder = new TextEncoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

const frames = (...texts: string[]): Uint8Array =>
  concatBytes(texts.map((t) => encodeFrame(bytes(t))));

/** The reply policy of ejabberd's mode under `--on-error` (the stub's and the loop's). */
const policyFor = (onError: "error" | "false"): ReplyPolicy =>
  createReplyPolicy({ server: "ejabberd", onError });
const DEFAULT_POLICY = policyFor("error");

/**
 * The handler stub used throughout: the real parser, and a verdict chosen by
 * the user name. User "boom" makes it throw, user "err" answers as the reply
 * policy answers an API that cannot answer (error, unless --on-error false).
 */
function stubVerdict(payload: Uint8Array, policy: ReplyPolicy = DEFAULT_POLICY): Verdict {
  const parsed = parseRequest(payload);
  if (!parsed.ok) return "false";
  const { op, user, password } = parsed.request;
  if (user === "boom") throw new Error("handler exploded");
  if (user === "err") return policy.error(op);
  if (password !== undefined) return password === "good" ? "true" : "false";
  return user === "alice" ? "true" : "false";
}

/** What the stub makes serve() reply: a throw is answered as the reply policy says. */
function expectedVerdict(payload: Uint8Array, onError: "error" | "false"): Verdict {
  const policy = policyFor(onError);
  try {
    return stubVerdict(payload, policy);
  } catch {
    return policy.thrown(payload);
  }
}

interface Run {
  readonly result: ServeResult;
  readonly writes: Uint8Array[];
  readonly logs: string[];
  readonly handled: number;
}

async function run(
  input: Uint8Array | readonly Uint8Array[],
  options: {
    protocol?: Protocol;
    onError?: "error" | "false";
    handle?: (payload: Uint8Array) => Promise<Verdict>;
    write?: (bytes: Uint8Array) => void;
  } = {},
): Promise<Run> {
  const writes: Uint8Array[] = [];
  const logs: string[] = [];
  let handled = 0;
  const logger: Logger = createLogger({ level: "debug", sink: (line) => logs.push(line) });
  const policy = policyFor(options.onError ?? "error");
  // A throw of the stub becomes a rejected promise, as from an async handler.
  const handle = options.handle ??
    ((payload: Uint8Array) =>
      new Promise<Verdict>((resolve) => resolve(stubVerdict(payload, policy))));
  const result = await serve({
    input: streamOf(input instanceof Uint8Array ? [input] : input),
    write: options.write ?? ((b) => writes.push(b.slice())),
    handle: (payload) => {
      handled++;
      return handle(payload);
    },
    protocol: options.protocol ?? EJABBERD,
    logger,
    replies: policy,
  });
  return { result, writes, logs, handled };
}

const T = [0, 2, 0, 1];
const F = [0, 2, 0, 0];
const E = [0, 2, 0, 2];
const arrays = (writes: readonly Uint8Array[]) => writes.map((w) => Array.from(w));
const texts = (writes: readonly Uint8Array[]) => writes.map((w) => new TextDecoder().decode(w));

describe("serve: ejabberd protocol", () => {
  it("replies exactly once per request, in order", async () => {
    const input = frames(
      "auth:alice:example.com:good",
      "auth:alice:example.com:bad",
      "isuser:alice:example.com",
      "isuser:bob:example.com",
      "setpass:alice:example.com:good",
      "auth:err:example.com:good",
    );
    const { result, writes, handled } = await run(input);
    assert.deepEqual(arrays(writes), [T, F, T, F, T, E]);
    assert.deepEqual(result, { requests: 6, reason: "eof" });
    assert.equal(handled, 6);
  });

  it("gives every request its reply in order, whatever the handler's timing", async () => {
    // Handlers that finish after different numbers of event-loop turns.
    const texts = Array.from(
      { length: 30 },
      (_, i) => `auth:user${i}:example.com:${i % 3 === 0 ? "good" : "bad"}`,
    );
    let inFlight = 0;
    let maxInFlight = 0;
    const { writes, result } = await run(randomChunks(frames(...texts), prng(3), 7, 0.03), {
      handle: async (payload) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const parsed = parseRequest(payload);
        const n = parsed.ok ? Number(parsed.request.user.slice(4)) : 0;
        if (n % 2 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
        for (let i = 0; i < (n * 7) % 5; i++) await Promise.resolve();
        inFlight--;
        return stubVerdict(payload);
      },
    });
    assert.deepEqual(arrays(writes), texts.map((_, i) => (i % 3 === 0 ? T : F)));
    assert.equal(result.requests, 30);
    assert.equal(maxInFlight, 1, "one request at a time, as ejabberd expects");
  });

  it("replies false to a request that does not parse", async () => {
    const { writes } = await run(frames("certauth:alice:example.com:x", "", "isuser:alice"));
    assert.deepEqual(arrays(writes), [F, F, F]);
  });

  it("replies error when the handler throws, and goes on serving", async () => {
    const input = frames("auth:boom:example.com:good", "isuser:alice:example.com");
    const { writes, logs, result } = await run(input);
    assert.deepEqual(arrays(writes), [E, T]);
    assert.equal(result.requests, 2);
    assert.ok(logs.some((l) => l.includes("ERROR") && l.includes("handler exploded")), logs.join());
  });

  it("replies error when the handler rejects with something that is not an Error", async () => {
    for (const thrown of [undefined, null, "text", 42, { no: "stack" }]) {
      const { writes } = await run(frames("isuser:alice:example.com"), {
        handle: () => Promise.reject(thrown),
      });
      assert.deepEqual(arrays(writes), [E], String(thrown));
    }
  });

  it("replies error when the handler throws synchronously", async () => {
    const { writes } = await run(frames("isuser:alice:example.com"), {
      handle: () => {
        throw new Error("sync");
      },
    });
    assert.deepEqual(arrays(writes), [E]);
  });

  it("replies false instead of error with onError false", async () => {
    const input = frames(
      "auth:boom:example.com:good",
      "auth:err:example.com:good",
      "auth:alice:example.com:good",
      "auth:alice:example.com:bad",
    );
    const { writes } = await run(input, { onError: "false" });
    assert.deepEqual(arrays(writes), [F, F, T, F]);
  });

  it("keeps an error that must stand (ejabberd's setpass) whatever onError says", async () => {
    const input = frames("setpass:err:example.com:good", "auth:boom:example.com:good");
    const { writes } = await run(input, { onError: "false" });
    assert.deepEqual(arrays(writes), [E, F]);
  });

  it("writes the reply constants, 4 bytes each", async () => {
    const { writes } = await run(frames("isuser:alice:example.com", "isuser:bob:example.com"));
    assert.deepEqual(arrays(writes), [Array.from(REPLY_TRUE), Array.from(REPLY_FALSE)]);
    assert.deepEqual(Array.from(REPLY_ERROR), E);
  });

  it("ends at EOF without replying to a half frame, and logs it", async () => {
    const half = concatBytes([
      frames("isuser:alice:example.com"),
      Uint8Array.of(0, 30, 0x61, 0x62),
    ]);
    const { writes, result, logs } = await run(half);
    assert.deepEqual(arrays(writes), [T]);
    assert.deepEqual(result, { requests: 1, reason: "eof" });
    assert.ok(
      logs.some((l) => l.includes("WARN") && l.includes("got 2 of 30 bytes")),
      logs.join(""),
    );
  });

  it("logs EOF in the middle of a frame header", async () => {
    const { writes, logs } = await run([frames("isuser:alice:example.com"), Uint8Array.of(0)]);
    assert.deepEqual(arrays(writes), [T]);
    assert.ok(logs.some((l) => l.includes("middle of a frame header")), logs.join(""));
  });

  it("ends at once on empty input", async () => {
    const { writes, result, handled } = await run([]);
    assert.deepEqual(writes, []);
    assert.deepEqual(result, { requests: 0, reason: "eof" });
    assert.equal(handled, 0);
  });
});

describe("serve: stdout closed", () => {
  it("returns stdout-closed without throwing when write throws", async () => {
    const logs: string[] = [];
    let handled = 0;
    const input = streamOf([frames("isuser:alice:example.com", "isuser:bob:example.com")]);
    const result = await serve({
      input,
      write: () => {
        throw new Error("Broken pipe (os error 32)");
      },
      handle: (payload) => {
        handled++;
        return Promise.resolve(stubVerdict(payload));
      },
      protocol: EJABBERD,
      logger: createLogger({ level: "info", sink: (line) => logs.push(line) }),
      replies: DEFAULT_POLICY,
    });
    assert.deepEqual(result, { requests: 1, reason: "stdout-closed" });
    assert.equal(handled, 1, "no request is handled after stdout closed");
    assert.equal(input.locked, false, "stdin is released");
    assert.ok(logs.some((l) => l.includes("stdout closed")), logs.join(""));
  });

  it("counts the requests answered before stdout closed", async () => {
    const writes: Uint8Array[] = [];
    const { result } = await run(
      frames("isuser:alice:example.com", "isuser:bob:example.com", "isuser:carol:example.com"),
      {
        write: (b) => {
          if (writes.length === 2) throw new Error("EPIPE");
          writes.push(b);
        },
      },
    );
    assert.deepEqual(result, { requests: 3, reason: "stdout-closed" });
    assert.deepEqual(arrays(writes), [T, F]);
  });

  it("works the same for the Prosody protocol", async () => {
    const { result } = await run(bytes("isuser:alice:example.com\nisuser:bob:example.com\n"), {
      protocol: PROSODY,
      write: () => {
        throw new Error("EIO");
      },
    });
    assert.deepEqual(result, { requests: 1, reason: "stdout-closed" });
  });
});

describe("serve: random input (seeded fuzz)", () => {
  const OPS = ["auth", "isuser", "setpass", "tryregister", "removeuser", "removeuser3", "certauth"];
  const USERS = ["alice", "bob", "boom", "err", "", "jürgen"];
  const PASSWORDS = ["good", "bad", "", "a:b", "x\ny", "✓"];

  /** A stream of frames with request-like and random payloads, plus stray bytes. */
  function randomInput(random: () => number): Uint8Array {
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const parts: Uint8Array[] = [];
    const count = Math.floor(random() * 12);
    for (let i = 0; i < count; i++) {
      const kind = random();
      if (kind < 0.6) {
        const fields = [pick(OPS), pick(USERS), pick(["example.com", "", "x.org"])];
        if (random() < 0.7) fields.push(pick(PASSWORDS));
        parts.push(encodeFrame(bytes(fields.join(":"))));
      } else if (kind < 0.85) {
        const length = Math.floor(random() * 40);
        parts.push(encodeFrame(Uint8Array.from({ length }, () => Math.floor(random() * 256))));
      } else {
        // Stray bytes: they shift the framing of everything after them.
        const length = 1 + Math.floor(random() * 4);
        parts.push(
          Uint8Array.from({ length }, () => (random() < 0.5 ? 0 : Math.floor(random() * 256))),
        );
      }
    }
    return concatBytes(parts);
  }

  /** Fully random bytes, with small header values made likely. */
  function randomBytes(random: () => number): Uint8Array {
    const length = Math.floor(random() * 200);
    return Uint8Array.from(
      { length },
      () => (random() < 0.4 ? 0 : random() < 0.3 ? 0x3a : Math.floor(random() * 256)),
    );
  }

  /** The complete frames in `input`, by a naive walk over the whole buffer. */
  function completeFrames(input: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let at = 0;
    while (input.length - at >= 2) {
      const length = input[at]! * 256 + input[at + 1]!;
      if (at + 2 + length > input.length) break;
      out.push(input.subarray(at + 2, at + 2 + length));
      at += 2 + length;
    }
    return out;
  }

  const VALID = new Set([T.join(), F.join(), E.join()]);

  for (
    const [name, generate] of [["request-like frames", randomInput], [
      "random bytes",
      randomBytes,
    ]] as const
  ) {
    it(`answers every complete frame of ${name} exactly once, with whole replies`, async () => {
      const random = prng(name.length * 7919);
      let totalFrames = 0;
      for (let round = 0; round < 1000; round++) {
        const input = generate(random);
        const onError = random() < 0.5 ? "error" : "false";
        const chunks = randomChunks(input, random, 1 + Math.floor(random() * 20), 0.03);
        const expected = completeFrames(input).map((p) => expectedVerdict(p, onError));
        totalFrames += expected.length;
        const { result, writes } = await run(chunks, { onError });
        const label = `round ${round}: ${JSON.stringify(Array.from(input))}`;
        assert.equal(writes.length, expected.length, label);
        for (const w of writes) {
          assert.equal(w.length, 4, label);
          assert.ok(VALID.has(Array.from(w).join()), label);
        }
        assert.deepEqual(
          arrays(writes),
          expected.map((v) => (v === "true" ? T : v === "false" ? F : E)),
          label,
        );
        assert.deepEqual(result, { requests: expected.length, reason: "eof" }, label);
      }
      assert.ok(totalFrames > 300, `only ${totalFrames} frames generated`);
    });
  }
});

describe("serve: Prosody protocol", () => {
  it("replies 1, 0 or error to each line, in order", async () => {
    const input = bytes(
      "auth:alice:example.com:good\n" +
        "auth:alice:example.com:bad\n" +
        "isuser:alice:example.com\n" +
        "isuser:bob:example.com\n" +
        "setpass:err:example.com:good\n" +
        "auth:boom:example.com:good\n",
    );
    const { writes, result } = await run(input, { protocol: PROSODY });
    assert.deepEqual(texts(writes), ["1\n", "0\n", "1\n", "0\n", "error\n", "error\n"]);
    assert.deepEqual(result, { requests: 6, reason: "eof" });
  });

  it("answers the same however the lines are chunked", async () => {
    const input = bytes(
      "auth:alice:example.com:good\nisuser:bob:example.com\r\n\nauth:jürgen:example.com:good\n" +
        "isuser:alice:example.com",
    );
    const random = prng(11);
    for (let round = 0; round < 100; round++) {
      const chunks = randomChunks(input, random, 1 + Math.floor(random() * 10), 0.03);
      const { writes } = await run(chunks, { protocol: PROSODY });
      assert.deepEqual(texts(writes), ["1\n", "0\n", "1\n", "1\n"], `round ${round}`);
    }
  });

  it("replies 0 instead of error with onError false", async () => {
    const input = bytes("auth:boom:example.com:good\nauth:err:example.com:good\n");
    const { writes } = await run(input, { protocol: PROSODY, onError: "false" });
    assert.deepEqual(texts(writes), ["0\n", "0\n"]);
  });

  it("replies 0 to a line that is too long, and goes on", async () => {
    const input = bytes(`auth:alice:example.com:${"x".repeat(70000)}\nisuser:alice:example.com\n`);
    const { writes, logs, handled } = await run(input, { protocol: PROSODY });
    assert.deepEqual(texts(writes), ["0\n", "1\n"]);
    assert.equal(handled, 1, "the overlong line never reaches the handler");
    assert.ok(logs.some((l) => l.includes("rejected input")), logs.join(""));
  });

  it("does not reply to empty lines", async () => {
    const { writes, result } = await run(bytes("\n\r\n\nisuser:alice:example.com\n\n"), {
      protocol: PROSODY,
    });
    assert.deepEqual(texts(writes), ["1\n"]);
    assert.equal(result.requests, 1);
  });

  it("names the protocols", () => {
    assert.equal(EJABBERD.name, "ejabberd");
    assert.equal(PROSODY.name, "prosody");
    assert.deepEqual(Array.from(PROSODY.encode("true")), [0x31, 0x0a]);
    assert.deepEqual(Array.from(EJABBERD.encode("error")), E);
  });
});

describe("serve: logging", () => {
  it("logs nothing but through the logger (silent logger works)", async () => {
    const writes: Uint8Array[] = [];
    const result = await serve({
      input: streamOf([frames("auth:boom:example.com:good")]),
      write: (b) => writes.push(b),
      handle: (payload) => Promise.resolve(stubVerdict(payload)),
      protocol: EJABBERD,
      logger: silentLogger,
      replies: DEFAULT_POLICY,
    });
    assert.deepEqual(arrays(writes), [E]);
    assert.equal(result.reason, "eof");
  });
});
