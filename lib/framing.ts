/**
 * ejabberd's extauth framing: every request is a 2-byte big-endian unsigned
 * length followed by that many bytes; every reply is the 4 bytes
 * `00 02 00 0X`.
 *
 * @module
 */

/**
 * The outcome of one request: a definite answer from the API, or "the API
 * could not answer".
 */
export type Verdict = "true" | "false" | "error";

/**
 * One unit of input read from ejabberd or Prosody: either a request payload,
 * or an input that cannot be a request (it still gets exactly one reply).
 */
export type Incoming =
  | { readonly ok: true; readonly payload: Uint8Array }
  | { readonly ok: false; readonly reason: string };

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
 * import { encodeReply } from "./framing.ts";
 * encodeReply("true"); // Uint8Array [0, 2, 0, 1]
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
 * import { encodeFrame } from "./framing.ts";
 * encodeFrame(new TextEncoder().encode("isuser:alice:example.com"));
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
 * import { readFrames } from "./framing.ts";
 * const input = new Blob([Uint8Array.of(0, 2, 0x68, 0x69)]).stream();
 * for await (const incoming of readFrames(input)) {
 *   if (incoming.ok) console.log(new TextDecoder().decode(incoming.payload)); // "hi"
 * }
 * ```
 */
export async function* readFrames(
  input: ReadableStream<Uint8Array>,
  onEnd?: (end: FrameEnd) => void,
): AsyncGenerator<Incoming, void, undefined> {
  const reader = input.getReader();
  // Bytes of an unfinished frame carried over between chunks.
  let pending: Uint8Array = new Uint8Array(0);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      if (value.length === 0) continue;
      let chunk: Uint8Array = value;
      if (pending.length > 0) {
        const joined = new Uint8Array(pending.length + chunk.length);
        joined.set(pending);
        joined.set(chunk, pending.length);
        chunk = joined;
        pending = new Uint8Array(0);
      }
      let offset = 0;
      while (chunk.length - offset >= 2) {
        const length = (chunk[offset]! << 8) | chunk[offset + 1]!;
        const end = offset + 2 + length;
        if (end > chunk.length) break;
        yield { ok: true, payload: chunk.subarray(offset + 2, end) };
        offset = end;
      }
      if (offset < chunk.length) pending = chunk.slice(offset);
    }
  } finally {
    reader.releaseLock();
  }
  if (pending.length > 0) {
    onEnd?.({
      leftover: pending.length,
      announced: pending.length >= 2 ? (pending[0]! << 8) | pending[1]! : -1,
    });
  }
}
