/**
 * `xmpp-extauth check --self-test`: runs the real framing, parsing and serving
 * path in-process, on frames split into awkward chunks, against a built-in
 * answerer, and checks every reply byte. Shows an admin that the binary itself
 * works on their machine, without any API.
 *
 * @module
 */

import { createReplyPolicy } from "../auth/reply_policy.ts";
import { concatBytes } from "../core/bytes.ts";
import { encodeFrame } from "../wire/ejabberd_frames.ts";
import { silentLogger } from "../log/logger.ts";
import type { Verdict } from "../wire/protocol.ts";
import { parseRequest } from "../core/request.ts";
import { EJABBERD, serve } from "../wire/serve_loop.ts";

const CASES: readonly (readonly [string, Verdict])[] = [
  ["auth:alice:example.com:wonderland", "true"],
  ["auth:alice:example.com:wrong", "false"],
  ["auth:alice:example.com:with:colons: and spaces", "true"],
  ["auth:alice:example.com:pässwörd ✓", "true"],
  ["isuser:alice:example.com", "true"],
  ["isuser:bob:example.com", "false"],
  ["setpass:alice:example.com:new", "true"],
  ["tryregister:bob:example.com:x", "true"],
  ["removeuser:alice:example.com", "true"],
  ["removeuser3:alice:example.com:wonderland", "true"],
  ["certauth:alice:example.com:x", "false"],
  ["", "false"],
  ["isuser:" + "a".repeat(65535 - 19) + ":example.com", "false"],
];

/** The replies as ejabberd reads them, written out rather than taken from framing.ts. */
const WIRE: Readonly<Record<Verdict, readonly number[]>> = {
  true: [0, 2, 0, 1],
  false: [0, 2, 0, 0],
  error: [0, 2, 0, 2],
};

const GOOD = new Set(["wonderland", "with:colons: and spaces", "pässwörd ✓", "new", "x"]);

/**
 * Runs the self-test and returns a one-line summary and whether it passed.
 *
 * @example Run the self-test
 * ```ts
 * import assert from "node:assert/strict";
 * import { runSelfTest } from "./self_test.ts";
 * const { ok } = await runSelfTest();
 * assert.equal(ok, true);
 * ```
 */
export async function runSelfTest(): Promise<{ ok: boolean; summary: string }> {
  const encoder = new TextEncoder();
  const frames = CASES.map(([text]) => encodeFrame(encoder.encode(text)));
  const all = concatBytes(frames);
  // Chunks of 1, 2, 3, ... bytes: frames split at every kind of boundary.
  const chunks: Uint8Array[] = [];
  for (let at = 0, size = 1; at < all.length; at += size, size = (size % 7) + 1) {
    chunks.push(all.slice(at, at + size));
  }
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  const replies: Uint8Array[] = [];
  const result = await serve({
    input,
    write: (bytes) => replies.push(bytes),
    handle: (payload) => {
      const parsed = parseRequest(payload);
      if (!parsed.ok) return Promise.resolve("false");
      const { op, user, password } = parsed.request;
      const known = user === "alice";
      const verdict = op === "isuser"
        ? known
        : op === "tryregister"
        ? !known
        : op === "auth"
        ? known && password !== undefined && GOOD.has(password)
        : true;
      return Promise.resolve(verdict ? "true" : "false");
    },
    protocol: EJABBERD,
    logger: silentLogger,
    replies: createReplyPolicy({ server: "ejabberd", onError: "error" }),
  });
  const wrong = CASES.filter(([, expected], i) => {
    const reply = replies[i];
    const want = WIRE[expected];
    return reply === undefined || reply.length !== 4 || !reply.every((b, j) => b === want[j]);
  });
  const ok = wrong.length === 0 && replies.length === CASES.length && result.reason === "eof";
  const summary = ok
    ? `self-test passed: ${CASES.length} frames in ${chunks.length} chunks → ${replies.length} ` +
      "correct replies"
    : `self-test FAILED: ${replies.length} replies to ${CASES.length} frames, ${wrong.length} wrong`;
  return { ok, summary };
}
