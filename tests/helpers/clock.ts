/**
 * Clocks for tests, in the shape of `Clock` (lib/core/clock.ts), so that timeouts,
 * backoffs, deadlines and breaker cooldowns run without waiting real time.
 */
import type { Clock } from "../../lib/core/clock.ts";

/** The wall-clock time at which the test clocks start (2026-01-01). */
const WALL_START = Date.UTC(2026, 0, 1);

/** A clock that moves only when the test calls `advance`, firing the timers that fall due. */
export function manualClock(): Clock & { advance(ms: number): void } {
  let time = 0;
  const timers = new Set<{ readonly at: number; readonly fn: () => void }>();
  return {
    now: () => time,
    wall: () => WALL_START + time,
    after(ms, fn) {
      const timer = { at: time + ms, fn };
      timers.add(timer);
      return () => timers.delete(timer);
    },
    advance(ms) {
      time += ms;
      for (const timer of [...timers].sort((a, b) => a.at - b.at)) {
        if (timer.at > time) break;
        timers.delete(timer);
        timer.fn();
      }
    },
  };
}

/**
 * A clock on which every timer fires at once (on the next turn of the event
 * loop), time jumping forward by its delay: whatever waits on a timer
 * finishes as if that time had passed, unless it was cancelled first.
 */
export function instantClock(): Clock {
  let time = 0;
  return {
    now: () => time,
    wall: () => WALL_START + time,
    after(ms, fn) {
      let live = true;
      setTimeout(() => {
        if (!live) return;
        time += ms;
        fn();
      }, 0);
      return () => {
        live = false;
      };
    },
  };
}

/** A clock whose time is what `read` says (the test moves it by hand); its timers never fire. */
export function readClock(read: () => number): Clock {
  return { now: read, wall: () => WALL_START + read(), after: () => () => {} };
}
