/**
 * Prosody's line protocol (`--protocol prosody`, mod_auth_external_insecure's
 * "generic" protocol): every request is one line, `auth:USER:HOST:PASS`,
 * `isuser:USER:HOST` or `setpass:USER:HOST:PASS`, ended by `\n`; every reply
 * is `1\n` or `0\n`.
 *
 * Prosody runs the program under a pseudo-terminal, which turns `\r` into
 * `\n` on input (so a `\r\n` line ending arrives as `\n\n`) and `\n` into
 * `\r\n` on output (Prosody strips one trailing `\r?\n`). Empty lines are
 * therefore skipped without a reply, and a trailing `\r` is removed from a
 * line in case the program is driven through a plain pipe.
 *
 * @module
 */

import { concatBytes } from "../core/bytes.ts";
import type { Incoming, Verdict } from "./protocol.ts";

/** The default limit on a line's length in bytes (Prosody itself sends at most 1000). */
export const MAX_LINE_LENGTH = 65535;

/** The reply Prosody reads as "true": `1\n`. */
export const LINE_REPLY_TRUE: Uint8Array = Uint8Array.of(0x31, 0x0a);
/** The reply Prosody reads as "false": `0\n`. */
export const LINE_REPLY_FALSE: Uint8Array = Uint8Array.of(0x30, 0x0a);
/**
 * A reply that is neither true nor false: Prosody logs "Unable to interpret
 * data from auth process" and fails the call with an internal error.
 */
export const LINE_REPLY_ERROR: Uint8Array = new TextEncoder().encode("error\n");

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** Options for {@linkcode readLines}. */
export interface ReadLinesOptions {
  /**
   * The longest line accepted, in bytes, not counting the newline and a
   * trailing `\r`. Defaults to {@linkcode MAX_LINE_LENGTH}.
   */
  readonly maxLength?: number;
}

/**
 * Encodes a verdict as Prosody's line reply.
 *
 * @example Encode a verdict
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeLineReply } from "./prosody_lines.ts";
 * assert.deepEqual(encodeLineReply("true"), new TextEncoder().encode("1\n"));
 * ```
 */
export function encodeLineReply(verdict: Verdict): Uint8Array {
  switch (verdict) {
    case "true":
      return LINE_REPLY_TRUE;
    case "false":
      return LINE_REPLY_FALSE;
    case "error":
      return LINE_REPLY_ERROR;
  }
}

/**
 * Reads newline-terminated requests from a byte stream, however the bytes are
 * split into chunks. Lines are split on the byte `0x0A`, never on decoded
 * text, so a multi-byte UTF-8 character split across chunks stays whole.
 *
 * - Each payload is the line's bytes without the `\n` and without one
 *   trailing `\r`.
 * - Empty lines (also a lone `\r`) are skipped: they get no reply.
 * - A line longer than `maxLength` is consumed up to its newline without being
 *   kept in memory and yields ONE `{ ok: false }`, whatever its chunks.
 * - A last line without a newline at the end of input is still a request.
 *
 * A line that arrives within one chunk is yielded as a view of that chunk
 * without copying; a line split across chunks is joined once, at its end.
 *
 * @param input The bytes Prosody writes (stdin).
 * @param options The line length limit.
 * @throws {RangeError} If `maxLength` is not a positive integer.
 *
 * @example Read lines from stdin
 * ```ts
 * import assert from "node:assert/strict";
 * import { readLines } from "./prosody_lines.ts";
 * const input = new Blob(["isuser:alice:example.com\n"]).stream();
 * const lines: string[] = [];
 * for await (const incoming of readLines(input)) {
 *   if (incoming.ok) lines.push(new TextDecoder().decode(incoming.payload));
 * }
 * assert.deepEqual(lines, ["isuser:alice:example.com"]);
 * ```
 */
export async function* readLines(
  input: ReadableStream<Uint8Array>,
  options: ReadLinesOptions = {},
): AsyncGenerator<Incoming, void, undefined> {
  const maxLength = options.maxLength ?? MAX_LINE_LENGTH;
  if (!Number.isSafeInteger(maxLength) || maxLength < 1) {
    throw new RangeError(`Cannot read lines: maxLength ${maxLength} is not a positive integer`);
  }
  const { finish, carry, pending } = lineAssembler(maxLength);
  const reader = input.getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      let offset = 0;
      while (offset < value.length) {
        const newline = value.indexOf(NEWLINE, offset);
        if (newline === -1) {
          carry(value.subarray(offset));
          break;
        }
        const incoming = finish(value.subarray(offset, newline));
        offset = newline + 1;
        if (incoming !== undefined) yield incoming;
      }
    }
  } finally {
    reader.releaseLock();
  }
  if (pending()) {
    const incoming = finish(new Uint8Array(0));
    if (incoming !== undefined) yield incoming;
  }
}

/**
 * The line being read, across chunks: `carry` keeps (or, past `maxLength`, only counts) a piece of
 * an unfinished line, `finish` ends it with its final piece and says what to yield, `pending`
 * whether an unfinished line is held. Made once per {@linkcode readLines}, not per line.
 */
function lineAssembler(maxLength: number): {
  readonly finish: (tail: Uint8Array) => Incoming | undefined;
  readonly carry: (piece: Uint8Array) => void;
  readonly pending: () => boolean;
} {
  // Pieces of an unfinished line carried over between chunks.
  let parts: Uint8Array[] = [];
  let partsLength = 0;
  // Once an unfinished line is known to be too long (more than maxLength + 1
  // bytes, room for a trailing "\r"), its bytes are only counted.
  let overlong = false;
  let lastByte = -1;

  /** Ends the current line, whose final piece is `tail`; returns what to yield, if anything. */
  const finish = (tail: Uint8Array): Incoming | undefined => {
    const length = partsLength + tail.length;
    if (tail.length > 0) lastByte = tail[tail.length - 1]!;
    const payloadLength = length > 0 && lastByte === CARRIAGE_RETURN ? length - 1 : length;
    let result: Incoming | undefined;
    if (payloadLength > maxLength) {
      result = {
        ok: false,
        reason: `Cannot parse line: length ${payloadLength} exceeds ${maxLength}`,
      };
    } else if (payloadLength > 0) {
      let line = tail;
      if (partsLength > 0) line = concatBytes([...parts, tail], length);
      result = { ok: true, payload: line.subarray(0, payloadLength) };
    }
    parts = [];
    partsLength = 0;
    overlong = false;
    lastByte = -1;
    return result;
  };

  /** Keeps (or, for an overlong line, just counts) the bytes of an unfinished line. */
  const carry = (piece: Uint8Array): void => {
    if (piece.length === 0) return;
    lastByte = piece[piece.length - 1]!;
    partsLength += piece.length;
    if (overlong) return;
    if (partsLength > maxLength + 1) {
      overlong = true;
      parts = [];
    } else {
      parts.push(piece.slice());
    }
  };

  return { finish, carry, pending: () => partsLength > 0 };
}
