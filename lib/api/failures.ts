/**
 * What can go wrong with a request to the API, and the outcome of one: the failure kinds
 * `check` prints, and the reading of an exception thrown by `fetch` into a kind and a cause
 * an admin can act on.
 *
 * @module
 */

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
 * Classifies an exception thrown by `fetch` (the wording differs between
 * Deno and Bun) into a kind and a short cause.
 *
 * @example Deno's wording for a refused connection
 * ```ts
 * import assert from "node:assert/strict";
 * import { classifyFetchError } from "./failures.ts";
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
