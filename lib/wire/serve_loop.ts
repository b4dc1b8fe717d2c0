/**
 * The serving loop: read requests from a byte stream, answer each one, in
 * order, with exactly one reply, and stop cleanly at end of input. Knows no
 * runtime: stdin is a `ReadableStream`, stdout a write function.
 *
 * @module
 */

import { encodeReply, readFrames } from "./ejabberd_frames.ts";
import { encodeLineReply, readLines } from "./prosody_lines.ts";
import type { Logger } from "../log/logger.ts";
import type { Protocol, Verdict } from "./protocol.ts";

/** ejabberd's 2-byte length framing. */
export const EJABBERD: Protocol = {
  name: "ejabberd",
  read: (input, logger) =>
    readFrames(input, ({ leftover, announced }) => {
      logger.warn(
        announced < 0
          ? "stdin closed in the middle of a frame header (1 byte)"
          : `stdin closed in the middle of a frame: got ${leftover - 2} of ${announced} bytes`,
      );
    }),
  encode: encodeReply,
};

/** Prosody's `mod_auth_external_insecure` line protocol. */
export const PROSODY: Protocol = {
  name: "prosody",
  read: (input) => readLines(input),
  encode: encodeLineReply,
};

/** What {@linkcode serve} needs. */
export interface ServeOptions {
  readonly input: ReadableStream<Uint8Array>;
  /** Writes one reply, synchronously and completely; throws when stdout is closed. */
  readonly write: (bytes: Uint8Array) => void;
  readonly handle: (payload: Uint8Array) => Promise<Verdict>;
  readonly protocol: Protocol;
  readonly logger: Logger;
  /** The replies the loop itself gives (the reply policy's, `auth/reply_policy.ts`). */
  readonly replies: FallbackReplies;
}

/**
 * The replies the serving loop gives without its handler: to input that is not a request,
 * and, as a last resort, for a handler that throws. Every other verdict is the handler's,
 * written as it is.
 */
export interface FallbackReplies {
  /** The reply to a unit of input that is not a request (a bad frame, an overlong line). */
  readonly rejectedInput: Verdict;
  /** The reply to `payload` when the handler threw. */
  thrown(payload: Uint8Array): Verdict;
}

/** How serving ended. */
export interface ServeResult {
  readonly requests: number;
  readonly reason: "eof" | "stdout-closed";
}

/**
 * Serves until the input ends. Every input unit gets exactly one reply, even
 * one that is not a request or whose handler throws.
 *
 * @example Serve stdin
 * ```ts
 * import assert from "node:assert/strict";
 * import { EJABBERD, serve } from "./serve_loop.ts";
 * import { silentLogger } from "../log/logger.ts";
 * const input = new Blob([Uint8Array.of(0, 1, 0x78)]).stream();
 * const written: number[] = [];
 * await serve({
 *   input,
 *   write: (bytes) => written.push(...bytes),
 *   handle: () => Promise.resolve("false"),
 *   protocol: EJABBERD,
 *   logger: silentLogger,
 *   replies: { rejectedInput: "false", thrown: () => "error" },
 * });
 * assert.deepEqual(written, [0, 2, 0, 0]);
 * ```
 */
export async function serve(options: ServeOptions): Promise<ServeResult> {
  const { logger, protocol } = options;
  let requests = 0;
  for await (const incoming of protocol.read(options.input, logger)) {
    requests++;
    let verdict: Verdict;
    if (!incoming.ok) {
      verdict = options.replies.rejectedInput;
      logger.warn(`rejected input: ${incoming.reason}; replying ${verdict}`);
    } else {
      try {
        verdict = await options.handle(incoming.payload);
      } catch (error) {
        logger.error(`internal error: ${(error as Error)?.stack ?? String(error)}; replying error`);
        verdict = options.replies.thrown(incoming.payload);
      }
    }
    try {
      options.write(protocol.encode(verdict));
    } catch (error) {
      logger.info(`stdout closed (${(error as Error)?.message ?? String(error)}); exiting`);
      return { requests, reason: "stdout-closed" };
    }
  }
  return { requests, reason: "eof" };
}
