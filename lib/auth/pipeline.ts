/**
 * The request pipeline: payload → parsed request → route → outage cache and
 * circuit breaker → API → verdict, with one debug line per request and a
 * warning, with its cause, for every backend failure. The verdict it returns
 * is final: every reply that is not the API's plain answer comes from the
 * reply policy (`reply_policy.ts`). Never throws.
 *
 * @module
 */

import type { CacheMark, OutageCache } from "../cache/memory_cache.ts";
import { askApi, type Policy } from "../api/backend.ts";
import type { Outcome } from "../api/failures.ts";
import type { Clock } from "../core/clock.ts";
import type { CachedOperation } from "../core/operations.ts";
import type { CircuitBreaker } from "./breaker.ts";
import { type BreakerSettings, createBreakers } from "./breakers.ts";
import { cachedOp, isChange, lookup, updateCache } from "./cache_steps.ts";
import { fetchFor } from "../api/fetchers.ts";
import type { Logger } from "../log/logger.ts";
import { jidOf, logAnswer, logCachedHit } from "./outcome_log.ts";
import { NO_RECORDER, type Recorder } from "../metrics/recorder.ts";
import type { ReplyPolicy } from "./reply_policy.ts";
import type { Verdict } from "../wire/protocol.ts";
import { type AuthRequest, parseRequest } from "../core/request.ts";
import { type Route, type Router, targetFor } from "../api/router.ts";

/** What the pipeline needs. */
export interface AuthenticatorOptions extends BreakerSettings {
  readonly router: Router;
  readonly policy: Policy;
  /** For operations that may be sent twice (`auth`, `isuser`, `setpass`). */
  readonly fetch: typeof fetch;
  /** For operations that must reach the API at most once; defaults to `fetch`. */
  readonly fetchOnce?: typeof fetch;
  readonly logger: Logger;
  /** The outage cache; a disabled one costs nothing. */
  readonly cache?: OutageCache;
  /** The replies for refusals, errors and unreadable requests (`createReplyPolicy`). */
  readonly replies: ReplyPolicy;
  /** The clock of the breakers, the API requests and the timings logged; tests move their own. */
  readonly clock: Clock;
  /** Hears every request's outcome and the API's timing (`--metrics-file`); default: none. */
  readonly recorder?: Recorder;
}

/** Handles one request payload and says what to reply. */
export type Handler = (payload: Uint8Array) => Promise<Verdict>;

/** What every request of one pipeline shares. */
interface Context {
  readonly options: AuthenticatorOptions;
  readonly breakers: Map<Route, CircuitBreaker>;
  /** The outage cache when it is on. */
  readonly cache: OutageCache | undefined;
  readonly recorder: Recorder;
}

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
 *   replies: createReplyPolicy({ server: "ejabberd", onError: "error" }),
 *   clock: SYSTEM_CLOCK,
 *   breakerFailures: 5,
 *   breakerCooldownMs: 5000,
 * });
 * await handle(new TextEncoder().encode("isuser:alice:example.com")); // "true" | "false" | "error"
 * ```
 */
export function createAuthenticator(options: AuthenticatorOptions): Handler {
  const { router, logger, replies, clock } = options;
  const recorder = options.recorder ?? NO_RECORDER;
  const context: Context = {
    options,
    breakers: createBreakers(router.routes, options, clock, logger, recorder),
    cache: options.cache?.enabled === true ? options.cache : undefined,
    recorder,
  };
  return async (payload) => {
    const started = clock.now();
    const parsed = parseRequest(payload);
    if (!parsed.ok) {
      const reply = replies.rejected(parsed.op);
      recorder.rejected();
      logger.warn(
        `rejected request (${payload.length} bytes): ${parsed.reason}; replying ${reply}`,
      );
      return reply;
    }
    const request = parsed.request;
    const route = router.resolve(request.server);
    if (route === undefined) {
      logger.warn(
        `${request.op} ${jidOf(request)}: no route for domain ${
          JSON.stringify(request.server)
        }; replying error`,
      );
      recorder.request(request.op, "refused", clock.now() - started);
      return replies.error(request.op);
    }
    return await answer(context, request, route, started);
  };
}

/** A readable request with its route: the cache steps around the API step. */
async function answer(
  context: Context,
  request: AuthRequest,
  route: Route,
  started: number,
): Promise<Verdict> {
  const { cache, recorder, options: { logger, replies, clock } } = context;
  const { op, user, server } = request;
  const cached = cachedOp(cache, request);
  let mark: CacheMark | undefined;
  if (cached !== undefined) {
    const hit = await lookup(cache!, cached, request, "fresh");
    if (hit.hit) {
      logCachedHit(logger, request, hit.ageMs);
      recorder.cacheAnswer("hit");
      recorder.request(op, "true", clock.now() - started);
      return "true";
    }
    // Before the API is asked: a remember after its "yes" is void if a forget came since.
    mark = await cache!.mark();
  }
  // A change may be applied by the site from the moment it is sent, answer or none: no copy
  // may serve the old password from then on. A forget that no cache could record stops it.
  const change = isChange(cache, request);
  if (change && !(await cache!.forget(user, server))) {
    logger.error(
      `${op} ${jidOf(request)}: not sent to the API: the outage cache could not forget the ` +
        "user (see above); replying error",
    );
    recorder.request(op, "refused", clock.now() - started);
    return replies.error(op);
  }
  const outcome = await askThroughBreaker(context, request, route);
  // Again after the change: a login confirmed while it was on its way is not remembered.
  // No answer after a try: the site may still apply it, so no remember of the user for a while.
  if (change) {
    await cache!.forget(user, server, {
      hold: outcome.kind !== "answer" && outcome.attempts > 0,
    });
  }
  const elapsed = clock.now() - started;
  if (outcome.kind === "answer") {
    if (cached !== undefined) await updateCache(cache!, request, outcome.value, mark);
    const reply = outcome.value ? "true" : replies.refused(op);
    logAnswer(logger, request, outcome, elapsed, reply);
    recorder.request(op, outcome.value ? "true" : "false", elapsed);
    return reply;
  }
  return await whenApiFailed(context, request, outcome, cached, started);
}

/** The API could not answer: the success remembered (an outage), else the error reply. */
async function whenApiFailed(
  context: Context,
  request: AuthRequest,
  outcome: Exclude<Outcome, { kind: "answer" }>,
  cached: CachedOperation | undefined,
  started: number,
): Promise<Verdict> {
  const { cache, recorder, options: { logger, replies, clock } } = context;
  const op = request.op;
  if (cached !== undefined) {
    const stale = await lookup(cache!, cached, request, "stale");
    if (stale.hit) {
      logger.warn(
        `${op} ${jidOf(request)}: backend error (${outcome.cause}); serving the success ` +
          `remembered ${Math.round(stale.ageMs / 1000)}s ago`,
      );
      recorder.cacheAnswer("outage");
      recorder.request(op, "true", clock.now() - started);
      return "true";
    }
  }
  const elapsed = clock.now() - started;
  logger.warn(
    `${op} ${jidOf(request)}: backend error after ${elapsed.toFixed(1)} ms: ${outcome.cause}`,
  );
  recorder.request(op, outcome.attempts > 0 ? "error" : "refused", elapsed);
  return replies.error(op);
}

/** The API step: asked when the route's breaker allows it, which then hears how it went. */
async function askThroughBreaker(
  context: Context,
  request: AuthRequest,
  route: Route,
): Promise<Outcome> {
  const { options } = context;
  const breaker = context.breakers.get(route)!;
  if (!breaker.allow()) {
    return {
      kind: "error",
      failure: "breaker",
      cause: `circuit breaker open, next try in ${Math.ceil(breaker.retryInMs)} ms`,
      attempts: 0,
    };
  }
  const asked = options.clock.now();
  const outcome = await askApi(
    fetchFor(options, request.op),
    targetFor(route, request.op, request.server),
    options.policy,
    request,
    options.clock,
  );
  if (outcome.attempts > 0) context.recorder.api(options.clock.now() - asked, outcome.attempts);
  if (outcome.kind === "answer") breaker.success();
  else breaker.failure();
  return outcome;
}
