/**
 * What the two stdin/stdout protocols share: the {@linkcode Incoming} unit
 * they read, the {@linkcode Verdict} the pipeline gives for it, and the
 * {@linkcode Protocol} shape each implements (ejabberd's framing in
 * `framing.ts`, Prosody's lines in `line_framing.ts`; `serve.ts` runs one).
 * Types only.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";

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

/** A stdin/stdout protocol: how requests are delimited and replies encoded. */
export interface Protocol {
  readonly name: "ejabberd" | "prosody";
  read(input: ReadableStream<Uint8Array>, logger: Logger): AsyncIterable<Incoming>;
  encode(verdict: Verdict): Uint8Array;
}
