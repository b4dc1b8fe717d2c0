/**
 * The request pipeline: payload → parsed request → route → outage cache and
 * circuit breaker → API → verdict, with one debug line per request and a
 * warning, with its cause, for every backend failure. Never throws.
 *
 * @module
 */

import type { CacheMark, OutageCache } from "../cache/memory_cache.ts";
import { askApi, type Outcome, type Policy } from "../api/backend.ts";
import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { CircuitBreaker } from "./breaker.ts";
import { fetchFor } from "../api/fetchers.ts";
import type { Logger } from "../log/logger.ts";
import { isCached, OPERATION_TABLE, type XmppServer } from "../core/operations.ts";
import type { Verdict } from "../wire/protocol.ts";
import { type AuthRequest, parseRequest } from "../core/request.ts";
import { type Route, type Router, targetFor } from "../api/router.ts";

/**
 * How a `setpass` that did not succeed is answered. `"error"` for ejabberd,
 * which takes any true/false reply to `setpass` as success and caches the new
 * password: a refusal is answered error, and a backend error stays error
 * whatever `--on-error` says. `"false"` for servers that read false as a
 * failed change (Prosody, MongooseIM).
 */
export type SetpassFailure = "error" | "false";

/**
 * The reply for a `setpass` that did not succeed, for a server (the
 * operations table's `refusedReply`).
 *
 * @example Only ejabberd gets an error for a refused change
 * ```ts
 * import assert from "node:assert/strict";
 * import { setpassFailureFor } from "./pipeline.ts";
 * assert.equal(setpassFailureFor("ejabberd"), "error");
 * assert.equal(setpassFailureFor("prosody"), "false");
 * ```
 */
export function setpassFailureFor(server: XmppServer): SetpassFailure {
  return OPERATION_TABLE.setpass.refusedReply[server];
}

/**
 * Whether an error reply to this payload must stay error whatever `--on-error`
 * says: a `setpass` when {@linkcode SetpassFailure} is `"error"`.
 *
 * @example A setpass error stands in ejabberd mode
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorMustStand } from "./pipeline.ts";
 * const payload = new TextEncoder().encode("setpass:alice:example.com:new");
 * assert.equal(errorMustStand(payload, "error"), true);
 * assert.equal(errorMustStand(payload, "false"), false);
 * ```
 */
export function errorMustStand(payload: Uint8Array, setpassFailure: SetpassFailure): boolean {
  if (setpassFailure !== "error") return false;
  const op = parseRequest(payload);
  return (op.ok ? op.request.op : op.op) === "setpass";
}

/** What the pipeline needs. */
export interface AuthenticatorOptions {
  readonly router: Router;
  readonly policy: Policy;
  /** For operations that may be sent twice (`auth`, `isuser`, `setpass`). */
  readonly fetch: typeof fetch;
  /** For operations that must reach the API at most once; defaults to `fetch`. */
  readonly fetchOnce?: typeof fetch;
  readonly logger: Logger;
  /** The outage cache; a disabled one costs nothing. */
  readonly cache?: OutageCache;
  /** Consecutive backend errors that open a route's breaker (0 = never). */
  readonly breakerFailures: number;
  readonly breakerCooldownMs: number;
  /** How a refused `setpass` is answered (default `"error"`, safe for ejabberd). */
  readonly setpassFailure?: SetpassFailure;
  /** The clock of the breakers, the API requests and the timings logged; tests move their own. */
  readonly clock?: Clock;
}

/** Handles one request payload and says what to reply. */
export type Handler = (payload: Uint8Array) => Promise<Verdict>;

/**
 * Creates the request handler.
 *
 * @example Answer one request
 * ```ts ignore
 * import { createAuthenticator } from "./pipeline.ts";
 * const handle = createAuthenticator({
 *   router,
 *   policy,
 *   fetch,
 *   logger,
 *   breakerFailures: 5,
 *   breakerCooldownMs: 5000,
 * });
 * await handle(new TextEncoder().encode("isuser:alice:example.com")); // "true" | "false" | "error"
 * ```
 */
export function createAuthenticator(options: AuthenticatorOptions): Handler {
  const { router, policy, logger, cache } = options;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const now = () => clock.now();
  const breakers = new Map<Route, CircuitBreaker>();
  for (const route of router.routes) {
    breakers.set(
      route,
      new CircuitBreaker({
        failures: options.breakerFailures,
        cooldownMs: options.breakerCooldownMs,
        now,
        onChange: (state, detail) => {
          const where = route.name === "*" ? "the API" : `the API for ${route.name}`;
          if (state === "open") {
            logger.error(
              `circuit breaker open: ${detail.failures} backend errors in a row from ${where}; ` +
                `answering error at once for ${detail.cooldownMs} ms`,
            );
          } else if (state === "closed") {
            logger.info(`circuit breaker closed: ${where} answers again`);
          }
        },
      }),
    );
  }
  const cacheOn = cache?.enabled === true;
  const setpassFailure = options.setpassFailure ?? "error";

  return async (payload) => {
    const started = now();
    const parsed = parseRequest(payload);
    if (!parsed.ok) {
      const reply = parsed.op === "setpass" ? setpassFailure : "false";
      logger.warn(
        `rejected request (${payload.length} bytes): ${parsed.reason}; replying ${reply}`,
      );
      return reply;
    }
    const request = parsed.request;
    const { op, user, server } = request;
    const jid = `${user}@${server}`;
    const route = router.resolve(server);
    if (route === undefined) {
      logger.warn(`${op} ${jid}: no route for domain ${JSON.stringify(server)}; replying error`);
      return "error";
    }
    const cachedOp = cacheOn && isCached(op) ? op : undefined;
    let mark: CacheMark | undefined;
    if (cachedOp !== undefined) {
      const hit = await cache!.lookup(cachedOp, user, server, request.password, "fresh");
      if (hit.hit) {
        if (logger.enabled("debug")) {
          logger.debug(`${op} ${jid} → true (cached ${Math.round(hit.ageMs / 1000)}s ago)`);
        }
        return "true";
      }
      // Before the API is asked: a remember after its "yes" is void if a forget came since.
      mark = await cache!.mark();
    }
    // A change may be applied by the site from the moment it is sent, answer or none: no copy
    // may serve the old password from then on. A forget that no cache could record stops it.
    const change = cacheOn && OPERATION_TABLE[op].kind === "change";
    if (change && !(await cache!.forget(user, server))) {
      logger.error(
        `${op} ${jid}: not sent to the API: the outage cache could not forget the user (see ` +
          "above); replying error",
      );
      return "error";
    }
    const breaker = breakers.get(route)!;
    let outcome: Outcome;
    if (breaker.allow()) {
      outcome = await askApi(
        fetchFor(options, op),
        targetFor(route, op, server),
        policy,
        request,
        clock,
      );
      if (outcome.kind === "answer") breaker.success();
      else breaker.failure();
    } else {
      outcome = {
        kind: "error",
        failure: "breaker",
        cause: `circuit breaker open, next try in ${Math.ceil(breaker.retryInMs)} ms`,
        attempts: 0,
      };
    }
    // Again after the change: a login confirmed while it was on its way is not remembered.
    // No answer after a try: the site may still apply it, so no remember of the user for a while.
    if (change) {
      await cache!.forget(user, server, {
        hold: outcome.kind !== "answer" && outcome.attempts > 0,
      });
    }
    const elapsed = now() - started;
    if (outcome.kind === "answer") {
      if (cachedOp !== undefined) await updateCache(cache!, request, outcome.value, mark);
      if (logger.enabled("debug")) {
        logger.debug(
          `${op} ${jid} → ${outcome.value} (HTTP ${outcome.status}, ${elapsed.toFixed(1)} ms` +
            `${outcome.attempts > 1 ? `, ${outcome.attempts} attempts` : ""})` +
            `${outcome.message === undefined ? "" : `: ${outcome.message}`}`,
        );
      } else if (!outcome.value && outcome.message !== undefined && !refusedSetpass(op, outcome)) {
        logger.info(`${op} ${jid} → false: ${outcome.message}`);
      }
      if (refusedSetpass(op, outcome)) {
        const why = outcome.message === undefined ? "" : ` (${outcome.message})`;
        logger.warn(
          `setpass ${jid}: ${OPERATION_TABLE.setpass.falseMeans}${why}; replying ${setpassFailure}` +
            (setpassFailure === "error" ? ", as a false reply would be taken for success" : ""),
        );
        return setpassFailure;
      }
      return outcome.value ? "true" : "false";
    }
    if (cachedOp !== undefined) {
      const stale = await cache!.lookup(cachedOp, user, server, request.password, "stale");
      if (stale.hit) {
        logger.warn(
          `${op} ${jid}: backend error (${outcome.cause}); serving the success remembered ` +
            `${Math.round(stale.ageMs / 1000)}s ago`,
        );
        return "true";
      }
    }
    logger.warn(`${op} ${jid}: backend error after ${elapsed.toFixed(1)} ms: ${outcome.cause}`);
    return "error";
  };
}

function refusedSetpass(op: string, outcome: Outcome): boolean {
  return op === "setpass" && outcome.kind === "answer" && !outcome.value;
}

/** After an answer to `auth` or `isuser` (changes forget around the request, above). */
async function updateCache(
  cache: OutageCache,
  request: AuthRequest,
  value: boolean,
  mark: CacheMark | undefined,
): Promise<void> {
  const { op, user, server, password } = request;
  const spec = OPERATION_TABLE[op];
  const effect = value ? spec.afterTrue : spec.afterFalse;
  // A remembered password or account is gone after a definite no.
  if (effect === "remember" && isCached(op)) {
    await cache.remember(op, user, server, password, mark);
  } else if (effect === "forget") await cache.forget(user, server);
}
