/**
 * One circuit breaker per route, each logging when it opens and closes.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { Logger } from "../log/logger.ts";
import type { Route } from "../api/router.ts";
import { CircuitBreaker } from "./breaker.ts";
import type { Recorder } from "../metrics/recorder.ts";

/** The breakers' settings (`--breaker-failures`, `--breaker-cooldown`). */
export interface BreakerSettings {
  /** Consecutive backend errors that open a route's breaker (0 = never). */
  readonly breakerFailures: number;
  readonly breakerCooldownMs: number;
}

/**
 * A breaker for each route, on `clock`: an error line when one opens, an info line when it
 * closes again.
 *
 * @example One breaker per route
 * ```ts ignore
 * import { createBreakers } from "./breakers.ts";
 * const breakers = createBreakers(router.routes, settings, SYSTEM_CLOCK, logger);
 * breakers.get(router.routes[0]!)!.allow();
 * ```
 */
export function createBreakers(
  routes: readonly Route[],
  settings: BreakerSettings,
  clock: Clock,
  logger: Logger,
  recorder?: Pick<Recorder, "breakerOpened">,
): Map<Route, CircuitBreaker> {
  const breakers = new Map<Route, CircuitBreaker>();
  for (const route of routes) {
    const where = route.name === "*" ? "the API" : `the API for ${route.name}`;
    breakers.set(
      route,
      new CircuitBreaker({
        failures: settings.breakerFailures,
        cooldownMs: settings.breakerCooldownMs,
        clock,
        onChange: (state, detail) => {
          if (state === "open") {
            recorder?.breakerOpened();
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
  return breakers;
}
