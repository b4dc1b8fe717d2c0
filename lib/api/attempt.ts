/**
 * One attempt at a request to the API: build the HTTP request from a route and a contract,
 * send it, read the answer within a size limit, and read it by the contract; every failure
 * classified with a cause in which the request's password is masked. Never throws. Retries
 * and the deadline are `backend.ts`'s.
 *
 * @module
 */

import { concatBytes } from "../core/bytes.ts";
import type { Contract, Interpretation } from "./contracts.ts";
import { classifyFetchError, type FailureKind, type Outcome } from "./failures.ts";
import { createMask, type Mask } from "../log/mask.ts";
import type { AuthRequest } from "../core/request.ts";
import type { Target } from "./router.ts";

/**
 * The most bytes of an answer that are read (after any decompression). An
 * answer is a few hundred bytes; reading stops past this and the request is
 * aborted, so no API can make the program hold more.
 */
export const ANSWER_LIMIT = 65536;

/**
 * One attempt: the request sent with the route's headers (signed afresh), the answer read
 * within {@linkcode ANSWER_LIMIT} and read by the contract. `controller` aborts it when its
 * time is up. Never throws.
 */
export async function attempt(
  fetchFn: typeof fetch,
  target: Target,
  body: string,
  request: AuthRequest,
  timeoutMs: number,
  attempts: number,
  controller: AbortController,
): Promise<Outcome> {
  const { signal } = controller;
  // The password is masked, in every encoding, in whatever part of the answer reaches a
  // message; the answer itself is read as the API sent it.
  const mask = passwordMask(request);
  const fixed = requestHeaders(target);
  // Signed per attempt: a retry gets a fresh nonce and timestamp.
  const headers = target.sign
    ? { ...fixed, ...await target.sign("POST", target.url, body) }
    : fixed;
  let response: Response;
  try {
    response = await fetchFn(target.url, {
      method: "POST",
      headers,
      body,
      signal,
      redirect: "manual",
    });
  } catch (error) {
    const { failure, cause } = signal.aborted
      ? { failure: "timeout" as const, cause: `no answer within ${Math.round(timeoutMs)} ms` }
      : classifyFetchError(error);
    return { kind: "error", failure, cause: mask(cause), attempts };
  }
  const read = await readAnswer(response, timeoutMs, attempts, controller, mask);
  if (typeof read !== "string") return read;
  return interpretAnswer(target, request, response.status, read, attempts, mask);
}

/** The answer's body as text, or the failure that reading it ended in. */
async function readAnswer(
  response: Response,
  timeoutMs: number,
  attempts: number,
  controller: AbortController,
  mask: Mask,
): Promise<string | Outcome> {
  const { signal } = controller;
  const { status } = response;
  try {
    // Both a length and a transfer coding make an answer whose end the two disagree on
    // (RFC 9112 §6.3: a sender must not, and such a message may be a smuggling attempt); both
    // runtimes show both headers and follow the chunks. Refused unread.
    const declared = response.headers.get("content-length");
    if (declared !== null && response.headers.has("transfer-encoding")) {
      await response.body?.cancel().catch(() => {});
      controller.abort(new DOMException("malformed answer", "AbortError"));
      const cause = `HTTP ${status}, malformed answer: both Content-Length and Transfer-Encoding`;
      return refusedAnswer(status, cause, attempts);
    }
    // A declared length past the limit is refused unread. A plain one within it, with no
    // transfer or content coding, bounds the body by HTTP's own framing: read whole, here (no
    // async frame per request; `response.body` untouched, which under Bun would build a
    // stream), and the attempt's timeout aborts that read too. Every other body (no length,
    // a length that is not one number, a content coding) goes chunk by chunk through the cap.
    const read = declared === null
      ? await readCapped(response, ANSWER_LIMIT, signal)
      : Number(declared) > ANSWER_LIMIT
      ? await response.body?.cancel().catch(() => {})
      : PLAIN_LENGTH.test(declared) && !response.headers.has("content-encoding")
      ? await response.text()
      : await readCapped(response, ANSWER_LIMIT, signal);
    if (read === undefined) {
      controller.abort(new DOMException("answer too large", "AbortError"));
      return refusedAnswer(
        status,
        `HTTP ${status}, answer larger than ${ANSWER_LIMIT} bytes`,
        attempts,
      );
    }
    return read;
  } catch (error) {
    const cause = signal.aborted
      ? `HTTP ${status}, body not complete within ${Math.round(timeoutMs)} ms`
      : `HTTP ${status}, body unreadable: ${mask(classifyFetchError(error).cause)}`;
    return {
      kind: "error",
      failure: signal.aborted ? "timeout" : "network",
      cause,
      status,
      attempts,
    };
  }
}

/**
 * An answer refused unread (malformed framing, too large): a contract failure for a 2xx status,
 * else a status failure. Built only on those paths.
 */
function refusedAnswer(status: number, cause: string, attempts: number): Outcome {
  return {
    kind: "error",
    failure: status >= 200 && status <= 299 ? "contract" : "status",
    cause,
    status,
    attempts,
  };
}

/** The contract's reading of a complete answer, as an outcome. */
function interpretAnswer(
  target: Target,
  request: AuthRequest,
  status: number,
  text: string,
  attempts: number,
  mask: Mask,
): Outcome {
  const reading: Interpretation = target.contract.interpret(
    request.op,
    { status, body: text },
    mask,
  );
  if (reading.kind === "answer") {
    return reading.message === undefined
      ? { kind: "answer", value: reading.value, status, attempts }
      : { kind: "answer", value: reading.value, status, message: mask(reading.message), attempts };
  }
  const failure: FailureKind = status >= 200 && status <= 299 ? "contract" : "status";
  return { kind: "error", failure, cause: mask(reading.cause), status, attempts };
}

/** The headers of every request to one route, built once per route and contract. */
const headersCache = new WeakMap<object, Map<Contract, Readonly<Record<string, string>>>>();

/**
 * A target's fixed headers with the body's type, the answer's type and no compression: the
 * same object for every request of a route (nothing to build per request).
 */
function requestHeaders(target: Target): Readonly<Record<string, string>> {
  let byContract = headersCache.get(target.headers);
  if (byContract === undefined) headersCache.set(target.headers, byContract = new Map());
  let headers = byContract.get(target.contract);
  if (headers === undefined) {
    headers = Object.freeze({
      ...target.headers,
      "Content-Type": target.contract.contentType,
      Accept: target.contract.accept,
      // An answer is small: no compression, so no gzip bomb. Bun decompresses what a server
      // compresses anyway; its fetch is told not to in runtime/bun.ts.
      "Accept-Encoding": "identity",
    });
    byContract.set(target.contract, headers);
  }
  return headers;
}

/**
 * Reads a body as UTF-8 text, or returns undefined (having cancelled the
 * stream) as soon as it delivers more than `limit` bytes. Reads chunk by
 * chunk, so no more than `limit` plus one chunk is ever held, and stops with
 * the signal's reason once it is aborted, even while chunks keep coming.
 */
async function readCapped(
  response: Response,
  limit: number,
  signal: AbortSignal,
): Promise<string | undefined> {
  const stream = response.body;
  if (stream === null) return "";
  const reader = stream.getReader();
  let first: Uint8Array | undefined;
  let chunks: Uint8Array[] | undefined;
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    signal.throwIfAborted();
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    // Most answers come in one chunk: decoded as it is, no copy.
    if (first === undefined) first = value;
    else (chunks ??= [first]).push(value);
  }
  if (first === undefined) return "";
  return decoder.decode(chunks === undefined ? first : concatBytes(chunks, size));
}

const decoder = new TextDecoder();
/** A Content-Length that is one decimal number (not a list, not signed, not blank). */
const PLAIN_LENGTH = /^[0-9]{1,15}$/;

/**
 * The mask for one request's password (in every encoding, see `mask.ts`);
 * the program's own secrets are masked by the logger and by `check`.
 */
function passwordMask(request: AuthRequest): Mask {
  let mask: Mask | undefined;
  return (text) => (mask ??= createMask([request.password]))(text);
}
