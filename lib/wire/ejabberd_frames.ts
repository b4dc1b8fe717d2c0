/**
 * ejabberd's extauth framing: every request is a 2-byte big-endian unsigned
 * length followed by that many bytes; every reply is the 4 bytes
 * `00 02 00 0X`.
 *
 * @module
 */

import { concatBytes } from "../core/bytes.ts";
import type { Incoming, Verdict } from "./protocol.ts";

/** The largest payload a 2-byte length can announce. */
export const MAX_FRAME_LENGTH = 65535;

/** The reply ejabberd reads as "true": `00 02 00 01`. */
export const REPLY_TRUE: Uint8Array = Uint8Array.of(0, 2, 0, 1);
/** The reply ejabberd reads as "false": `00 02 00 00`. */
export const REPLY_FALSE: Uint8Array = Uint8Array.of(0, 2, 0, 0);
/**
 * A well-framed reply that is neither true nor false: ejabberd logs
 * "Received unexpected response from external authentication program",
 * fails the call and, unlike a false, does not cache it.
 */
export const REPLY_ERROR: Uint8Array = Uint8Array.of(0, 2, 0, 2);

/**
 * Encodes a verdict as ejabberd's 4-byte reply.
 *
 * @example Encode a verdict
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeReply } from "./ejabberd_frames.ts";
 * assert.deepEqual(encodeReply("true"), Uint8Array.of(0, 2, 0, 1));
 * ```
 */
export function encodeReply(verdict: Verdict): Uint8Array {
  switch (verdict) {
    case "true":
      return REPLY_TRUE;
    case "false":
      return REPLY_FALSE;
    case "error":
      return REPLY_ERROR;
  }
}

/**
 * Encodes a payload as one ejabberd request frame (used by tests, the demo and
 * the self-test).
 *
 * @example Frame a request
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFrame } from "./ejabberd_frames.ts";
 * assert.deepEqual(encodeFrame(new TextEncoder().encode("hi")), Uint8Array.of(0, 2, 0x68, 0x69));
 * ```
 */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_FRAME_LENGTH) {
    throw new RangeError(
      `Cannot encode frame: length ${payload.length} exceeds ${MAX_FRAME_LENGTH}`,
    );
  }
  const frame = new Uint8Array(payload.length + 2);
  frame[0] = payload.length >> 8;
  frame[1] = payload.length & 0xff;
  frame.set(payload, 2);
  return frame;
}

/** What {@linkcode readFrames} reports when stdin ends. */
export interface FrameEnd {
  /** Bytes of an unfinished frame (header included) left when the input ended. */
  readonly leftover: number;
  /** The length the unfinished frame announced, or -1 if not even its header arrived. */
  readonly announced: number;
}

/**
 * Reads length-prefixed frames from a byte stream, however the bytes are split
 * into chunks. Ends when the stream ends; an unfinished frame at the end is
 * reported through `onEnd` and dropped (ejabberd closed the pipe and waits for
 * nothing). A frame waits in a small pending buffer only while it is split
 * across chunks; whole frames are yielded as views without copying.
 *
 * @example Read frames from stdin
 * ```ts
 * import assert from "node:assert/strict";
 * import { readFrames } from "./ejabberd_frames.ts";
 * const input = new Blob([Uint8Array.of(0, 2, 0x68, 0x69)]).stream();
 * const payloads: string[] = [];
 * for await (const incoming of readFrames(input)) {
 *   if (incoming.ok) payloads.push(new TextDecoder().decode(incoming.payload));
 * }
 * assert.deepEqual(payloads, ["hi"]);
 * ```
 */
export async function* readFrames(
  input: ReadableStream<Uint8Array>,
  onEnd?: (end: FrameEnd) => void,
): AsyncGenerator<Incoming, void, undefined> {
  const reader = input.getReader();
  // Chunks of an unfinished frame, joined only once the whole frame is there,
  // so a frame arriving byte by byte costs O(n), not O(n²).
  let parts: Uint8Array[] = [];
  let partsLength = 0;
  // The whole length of the unfinished frame (header included), once known.
  let needed = -1;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      if (value.length === 0) continue;
      let chunk: Uint8Array = value;
      if (partsLength > 0) {
        parts.push(chunk.slice());
        partsLength += chunk.length;
        if (needed < 0 && partsLength >= 2) needed = 2 + frameLength(parts);
        if (needed < 0 || partsLength < needed) continue;
        chunk = concatBytes(parts, partsLength);
        parts = [];
        partsLength = 0;
        needed = -1;
      }
      let offset = 0;
      while (chunk.length - offset >= 2) {
        const length = (chunk[offset]! << 8) | chunk[offset + 1]!;
        const end = offset + 2 + length;
        if (end > chunk.length) break;
        yield { ok: true, payload: chunk.subarray(offset + 2, end) };
        offset = end;
      }
      if (offset < chunk.length) {
        // Copy: the runtime may reuse the chunk's buffer for the next read.
        const rest = chunk.slice(offset);
        parts = [rest];
        partsLength = rest.length;
        needed = rest.length >= 2 ? 2 + ((rest[0]! << 8) | rest[1]!) : -1;
      }
    }
  } finally {
    reader.releaseLock();
  }
  if (partsLength > 0) {
    onEnd?.({
      leftover: partsLength,
      announced: partsLength >= 2 ? frameLength(parts) : -1,
    });
  }
}

/** The length announced by the first two bytes of `parts` (which hold at least two). */
function frameLength(parts: readonly Uint8Array[]): number {
  const first = parts[0]!;
  const high = first[0]!;
  const low = first.length > 1 ? first[1]! : parts[1]![0]!;
  return (high << 8) | low;
}
