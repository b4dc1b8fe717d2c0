/**
 * The pipeline's log lines for what the API said: one debug line per request, an info line
 * for a false with the API's reason, a warning for a refused password change and for every
 * backend failure, with its cause.
 *
 * @module
 */

import type { Outcome } from "../api/failures.ts";
import { OPERATION_TABLE } from "../core/operations.ts";
import type { AuthRequest } from "../core/request.ts";
import type { Logger } from "../log/logger.ts";
import type { Verdict } from "../wire/protocol.ts";

type Answer = Extract<Outcome, { kind: "answer" }>;

/** The user's JID as the log lines name it. */
export function jidOf(request: AuthRequest): string {
  return `${request.user}@${request.server}`;
}

/** Whether the API refused a password change (its reply and its warning are its own). */
export function refusedSetpass(request: AuthRequest, outcome: Answer): boolean {
  return request.op === "setpass" && !outcome.value;
}

/**
 * Logs an answer: the debug line, or at info a false with the API's reason; for a refused
 * `setpass`, a warning naming `reply`.
 */
export function logAnswer(
  logger: Logger,
  request: AuthRequest,
  outcome: Answer,
  elapsed: number,
  reply: Verdict,
): void {
  const { op } = request;
  const jid = jidOf(request);
  const refused = refusedSetpass(request, outcome);
  if (logger.enabled("debug")) {
    logger.debug(
      `${op} ${jid} → ${outcome.value} (HTTP ${outcome.status}, ${elapsed.toFixed(1)} ms` +
        `${outcome.attempts > 1 ? `, ${outcome.attempts} attempts` : ""})` +
        `${outcome.message === undefined ? "" : `: ${outcome.message}`}`,
    );
  } else if (!outcome.value && outcome.message !== undefined && !refused) {
    logger.info(`${op} ${jid} → false: ${outcome.message}`);
  }
  if (refused) {
    const why = outcome.message === undefined ? "" : ` (${outcome.message})`;
    logger.warn(
      `setpass ${jid}: ${OPERATION_TABLE.setpass.falseMeans}${why}; replying ${reply}` +
        (reply === "error" ? ", as a false reply would be taken for success" : ""),
    );
  }
}

/** Logs a success served from the cache (debug). */
export function logCachedHit(logger: Logger, request: AuthRequest, ageMs: number): void {
  if (logger.enabled("debug")) {
    logger.debug(
      `${request.op} ${jidOf(request)} → true (cached ${Math.round(ageMs / 1000)}s ago)`,
    );
  }
}
