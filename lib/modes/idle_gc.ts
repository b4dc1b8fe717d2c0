/**
 * One full garbage collection once requests stop: ejabberd's copies sit idle
 * most of the day, and a heap that grew under load stays at its size until
 * the next collection, which an idle process never triggers. The collector
 * runs once per quiet spell, `everyMs` to twice `everyMs` after the last
 * request, never during traffic, and costs nothing per request but a flag.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";

/** What {@linkcode startIdleCollector} returns. */
export interface IdleCollector {
  /** Marks activity (a request); the collection waits for a quiet spell after it. */
  touch(): void;
  /** Stops the timer (serving ended). */
  stop(): void;
}

/** Options of {@linkcode startIdleCollector}. */
export interface IdleCollectorOptions {
  /** Runs one full collection (the runtime's `Bun.gc(true)`). */
  readonly collect: () => void;
  /** How long a quiet spell must last before the collection (checked every `everyMs`). */
  readonly everyMs: number;
  /** The program's one clock; its timer runs the checks. */
  readonly clock: Clock;
}

/**
 * Starts checking for quiet spells every `everyMs`: a check that finds no
 * request since the previous one, after requests came, collects once.
 *
 * @example Collect after a quiet spell
 * ```ts
 * import assert from "node:assert/strict";
 * import { startIdleCollector } from "./idle_gc.ts";
 * import { sleep, SYSTEM_CLOCK } from "../core/clock.ts";
 * let collected = 0;
 * const clock = SYSTEM_CLOCK;
 * const idle = startIdleCollector({ collect: () => collected++, everyMs: 10, clock });
 * idle.touch();
 * await sleep(clock, 300);
 * idle.stop();
 * assert.equal(collected, 1);
 * ```
 */
export function startIdleCollector(options: IdleCollectorOptions): IdleCollector {
  const { collect, everyMs } = options;
  const { clock } = options;
  let active = false;
  let pending = false;
  let cancel: (() => void) | undefined;
  const check = () => {
    if (active) {
      active = false;
      pending = true;
    } else if (pending) {
      pending = false;
      collect();
    }
    cancel = clock.after(everyMs, check);
  };
  cancel = clock.after(everyMs, check);
  return {
    touch() {
      active = true;
    },
    stop() {
      cancel?.();
      cancel = undefined;
    },
  };
}
