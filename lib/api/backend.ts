/**
 * One request to the API: build the HTTP request from a route and a contract,
 * send it with a per-attempt timeout inside an overall deadline, retry what
 * is safe to retry, and classify every failure with a cause an admin can act
 * on. Never throws.
 *
 * @module
 */

import { type Clock, sleep, SYSTEM_CLOCK } from "../core/clock.ts";
import { concatBytes } from "../core/bytes.ts";
import type { Contract, Interpretation } from "./contracts.ts";
import { createMask, type Mask } from "../log/mask.ts";
import { isIdempotent, type Operation } from "../core/operations.ts";
import type { AuthRequest } from "../core/request.ts";
import type { Target } from "./router.ts";

/** Timing and retry policy. */
export interface Policy {
  readonly timeoutMs: number;
  readonly deadlineMs: number;
  readonly retries: number;
  /** Backoff before retry n (1-based) is random in [0, min(cap, base·2^(n-1))]. */
  readonly backoffBaseMs?: number;
  readonly backoffCapMs?: number;
}

/** The kind of a failure, as `check` prints it. */
export type FailureKind =
  | "dns"
  | "refused"
  | "tls"
  | "timeout"
  | "network"
  | "status"
  | "contract"
  | "deadline"
  /** The route's circuit breaker is open: the API was not asked. */
  | "breaker";

/** The result of one request, with what the logs need. */
export type Outcome =
  | {
    readonly kind: "answer";
    readonly value: boolean;
    readonly status: number;
    readonly message?: string;
    readonly attempts: number;
  }
  | {
    readonly kind: "error";
    readonly failure: FailureKind;
    readonly cause: string;
    readonly status?: number;
    readonly attempts: number;
  };

/**
 * The most bytes of an answer that are read (after any decompression). An
 * answer is a few hundred bytes; reading stops past this and the request is
 * aborted, so no API can make the program hold more.
 */
export const ANSWER_LIMIT = 65536;

/**
 * Classifies an exception thrown by `fetch` (the wording differs between
 * Deno and Bun) into a kind and a short cause.
 *
 * @example Deno's wording for a refused connection
 * ```ts
 * import assert from "node:assert/strict";
 * import { classifyFetchError } from "./backend.ts";
 * assert.deepEqual(
 *   classifyFetchError(new TypeError("error sending request: Connection refused (os error 111)")),
 *   { failure: "refused", cause: "connection refused" },
 * );
 * ```
 */
export function classifyFetchError(error: unknown): { failure: FailureKind; cause: string } {
  const e = error as { name?: string; message?: string; code?: string; cause?: unknown };
  const text = `${e?.code ?? ""} ${e?.message ?? String(error)} ${
    (e?.cause as { message?: string; code?: string } | undefined)?.message ?? ""
  } ${(e?.cause as { code?: string } | undefined)?.code ?? ""}`;
  if (e?.name === "TimeoutError") return { failure: "timeout", cause: "timed out" };
  if (/refused|ECONNREFUSED/i.test(text)) {
    return { failure: "refused", cause: "connection refused" };
  }
  if (/dns|lookup|ENOTFOUND|EAI_|getaddrinfo|name or service|resolve/i.test(text)) {
    return { failure: "dns", cause: `DNS lookup failed (${oneLine(e?.message ?? text)})` };
  }
  // Deno says only "fetch failed" and puts what happened in the cause.
  const inner = (e?.cause as { message?: string } | undefined)?.message;
  const detail = e?.message === "fetch failed" && inner ? inner : e?.message;
  // "corrupt message of type InvalidContentType": rustls got plain HTTP back.
  if (
    /certificate|tls|ssl|CERT_|self.signed|UNABLE_TO_VERIFY|handshake|InvalidContentType/i.test(
      text,
    )
  ) {
    return { failure: "tls", cause: `TLS failed (${oneLine(detail ?? text)})` };
  }
  return { failure: "network", cause: oneLine(detail ?? String(error)) };
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/** Whether a failed attempt may be repeated. */
function retryable(op: Operation, failure: FailureKind, status: number | undefined): boolean {
  // A refused connection never reached the API: safe to repeat for any operation.
  if (failure === "refused") return true;
  if (!isIdempotent(op)) return false;
  if (failure === "status") return status === 429 || (status !== undefined && status >= 500);
  return failure === "timeout" || failure === "network";
}

/**
 * Asks the API once (with retries where safe) and returns what it said.
 * `fetchFn` is the runtime's `fetch` (or one with a private CA).
 *
 * @example Ask the API whether a user exists (needs an API listening)
 * ```ts ignore
 * import { askApi } from "./backend.ts";
 * import { JSON_CONTRACT } from "./contracts.ts";
 * const outcome = await askApi(fetch, {
 *   url: "http://127.0.0.1:8080/exists",
 *   contract: JSON_CONTRACT,
 *   headers: {},
 * }, { timeoutMs: 5000, deadlineMs: 20000, retries: 2 }, {
 *   op: "isuser",
 *   user: "alice",
 *   server: "example.com",
 * });
 * ```
 */
export async function askApi(
  fetchFn: typeof fetch,
  target: Target,
  policy: Policy,
  request: AuthRequest,
  clock: Clock = SYSTEM_CLOCK,
): Promise<Outcome> {
  const now = () => clock.now();
  const started = now();
  const { contract } = target;
  const body = contract.body(request);
  const base = policy.backoffBaseMs ?? 100;
  const cap = policy.backoffCapMs ?? 2000;
  let attempts = 0;
  let last: Outcome | undefined;
  while (true) {
    const remaining = policy.deadlineMs - (now() - started);
    if (remaining <= 0) break;
    attempts++;
    const timeoutMs = Math.min(policy.timeoutMs, remaining);
    // A controller that aborts after the timeout, its timer cleared as soon as the attempt
    // ends. Not AbortSignal.timeout(): that keeps every signal and its timer alive for the
    // full timeout (Bun's RSS after 100k requests: 60 MiB against 40). Written out here, not
    // in a helper: one async frame and one closure less per request for the garbage
    // collector, which with the JIT off pauses every request it interrupts.
    const controller = new AbortController();
    const cancel = clock.after(timeoutMs, () => controller.abort(timeoutError()));
    let outcome: Outcome;
    try {
      outcome = await attempt(fetchFn, target, body, request, timeoutMs, attempts, controller);
    } finally {
      cancel();
    }
    if (outcome.kind === "answer") return outcome;
    last = outcome;
    if (attempts > policy.retries || !retryable(request.op, outcome.failure, outcome.status)) break;
    const backoff = Math.random() * Math.min(cap, base * 2 ** (attempts - 1));
    const left = policy.deadlineMs - (now() - started);
    if (backoff >= left) break;
    await sleep(clock, backoff);
  }
  if (last === undefined) {
    return { kind: "error", failure: "deadline", cause: "deadline passed before a try", attempts };
  }
  return last.kind === "error" && attempts > 1
    ? { ...last, cause: `${last.cause} (after ${attempts} attempts)` }
    : last;
}

/** The reason an attempt's controller is aborted with when its time is up. */
function timeoutError(): DOMException {
  return new DOMException("timed out", "TimeoutError");
}

async function attempt(
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
  const { status } = response;
  let text: string;
  try {
    // Both a length and a transfer coding make an answer whose end the two disagree on
    // (RFC 9112 §6.3: a sender must not, and such a message may be a smuggling attempt); both
    // runtimes show both headers and follow the chunks. Refused unread.
    const declared = response.headers.get("content-length");
    if (declared !== null && response.headers.has("transfer-encoding")) {
      await response.body?.cancel().catch(() => {});
      controller.abort(new DOMException("malformed answer", "AbortError"));
      return {
        kind: "error",
        failure: status >= 200 && status <= 299 ? "contract" : "status",
        cause: `HTTP ${status}, malformed answer: both Content-Length and Transfer-Encoding`,
        status,
        attempts,
      };
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
      return {
        kind: "error",
        failure: status >= 200 && status <= 299 ? "contract" : "status",
        cause: `HTTP ${status}, answer larger than ${ANSWER_LIMIT} bytes`,
        status,
        attempts,
      };
    }
    text = read;
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
