import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type BreakerChange,
  type BreakerOptions,
  type BreakerState,
  CircuitBreaker,
} from "../lib/auth/breaker.ts";
import { SYSTEM_CLOCK } from "../lib/core/clock.ts";
import { readClock } from "./helpers/clock.ts";

/** A breaker on a clock the test moves by hand, recording every onChange call. */
function makeBreaker(options: Partial<BreakerOptions> = {}) {
  const clock = { now: 500_000 };
  const changes: [BreakerState, BreakerChange][] = [];
  const breaker = new CircuitBreaker({
    failures: 3,
    cooldownMs: 5_000,
    clock: readClock(() => clock.now),
    onChange: (state, detail) => changes.push([state, detail]),
    ...options,
  });
  return { breaker, clock, changes };
}

function fail(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i++) {
    assert.equal(breaker.allow(), true, `request ${i + 1} is let through`);
    breaker.failure();
  }
}

describe("CircuitBreaker", () => {
  it("opens after the configured number of consecutive failures", () => {
    const { breaker, changes } = makeBreaker();
    fail(breaker, 2);
    assert.equal(breaker.state, "closed");
    assert.equal(changes.length, 0);
    fail(breaker, 1);
    assert.equal(breaker.state, "open");
    assert.equal(breaker.allow(), false);
    assert.deepEqual(changes, [["open", { failures: 3, cooldownMs: 5_000, openMs: 0 }]]);
  });

  it("starts counting again after a success", () => {
    const { breaker } = makeBreaker();
    fail(breaker, 2);
    assert.equal(breaker.allow(), true);
    breaker.success();
    fail(breaker, 2);
    assert.equal(breaker.state, "closed");
    assert.equal(breaker.allow(), true);
    breaker.failure();
    assert.equal(breaker.state, "open");
  });

  it("refuses everything during the cooldown and says how long is left", () => {
    const { breaker, clock } = makeBreaker();
    const start = clock.now;
    fail(breaker, 3);
    assert.equal(breaker.retryInMs, 5_000);
    for (const elapsed of [0, 1, 2_500, 4_999]) {
      clock.now = start + elapsed;
      assert.equal(breaker.allow(), false, `at ${elapsed} ms`);
      assert.equal(breaker.retryInMs, 5_000 - elapsed);
      assert.equal(breaker.state, "open");
    }
    clock.now = start + 5_000;
    assert.equal(breaker.retryInMs, 0);
    assert.equal(breaker.state, "open", "reading the state does not start the probe");
  });

  it("lets exactly one probe through after the cooldown", () => {
    const { breaker, clock } = makeBreaker();
    const start = clock.now;
    fail(breaker, 3);
    clock.now = start + 5_000;
    assert.equal(breaker.allow(), true);
    assert.equal(breaker.state, "half-open");
    assert.equal(breaker.retryInMs, 0);
    for (const elapsed of [5_000, 10_000, 60_000, 3_600_000]) {
      clock.now = start + elapsed;
      assert.equal(breaker.allow(), false, `a second request at ${elapsed} ms`);
    }
  });

  it("reopens for another full cooldown when the probe fails, without reporting it", () => {
    const { breaker, clock, changes } = makeBreaker();
    const start = clock.now;
    fail(breaker, 3);
    clock.now = start + 7_000;
    assert.equal(breaker.allow(), true);
    breaker.failure();
    assert.equal(breaker.state, "open");
    assert.equal(breaker.retryInMs, 5_000);
    clock.now = start + 11_999;
    assert.equal(breaker.allow(), false);
    clock.now = start + 12_000;
    assert.equal(breaker.allow(), true);
    assert.equal(changes.length, 1, "still the one open transition");
  });

  it("closes when the probe succeeds, and reports it once", () => {
    const { breaker, clock, changes } = makeBreaker();
    const start = clock.now;
    fail(breaker, 3);
    clock.now = start + 5_000;
    assert.equal(breaker.allow(), true);
    breaker.failure(); // the first probe fails
    clock.now = start + 10_000;
    assert.equal(breaker.allow(), true);
    clock.now = start + 10_250;
    breaker.success(); // a definite answer, true or false
    assert.equal(breaker.state, "closed");
    assert.equal(breaker.retryInMs, 0);
    for (let i = 0; i < 10; i++) assert.equal(breaker.allow(), true);
    breaker.success();
    assert.deepEqual(changes, [
      ["open", { failures: 3, cooldownMs: 5_000, openMs: 0 }],
      ["closed", { failures: 4, cooldownMs: 5_000, openMs: 10_250 }],
    ]);
    // And it opens again, from a count of zero, after the next run of failures.
    fail(breaker, 2);
    assert.equal(breaker.state, "closed");
    fail(breaker, 1);
    assert.equal(breaker.state, "open");
    assert.equal(changes.length, 3);
    assert.deepEqual(changes[2], ["open", { failures: 3, cooldownMs: 5_000, openMs: 0 }]);
  });

  it("closes on a late success from a request let through before it opened", () => {
    const { breaker, changes } = makeBreaker();
    assert.equal(breaker.allow(), true); // a slow request
    fail(breaker, 3);
    breaker.success(); // the slow request got a definite answer: the API is up
    assert.equal(breaker.state, "closed");
    assert.equal(breaker.allow(), true);
    assert.deepEqual(changes.map(([state]) => state), ["open", "closed"]);
  });

  it("does not extend the cooldown for late failures while open", () => {
    const { breaker, clock } = makeBreaker();
    const start = clock.now;
    assert.equal(breaker.allow(), true); // a slow request
    fail(breaker, 3);
    clock.now = start + 4_000;
    breaker.failure(); // the slow request times out
    assert.equal(breaker.retryInMs, 1_000);
    clock.now = start + 5_000;
    assert.equal(breaker.allow(), true);
  });

  it("never opens with failures: 0", () => {
    const { breaker, changes } = makeBreaker({ failures: 0 });
    fail(breaker, 1_000);
    assert.equal(breaker.state, "closed");
    assert.equal(breaker.retryInMs, 0);
    assert.equal(changes.length, 0);
  });

  it("opens on the first failure with failures: 1, and probes at once with cooldown 0", () => {
    const { breaker } = makeBreaker({ failures: 1, cooldownMs: 0 });
    fail(breaker, 1);
    assert.equal(breaker.state, "open");
    assert.equal(breaker.allow(), true);
    assert.equal(breaker.state, "half-open");
    assert.equal(breaker.allow(), false);
  });

  it("allows another probe when one reports nothing for probeTimeoutMs", () => {
    const { breaker, clock } = makeBreaker({ probeTimeoutMs: 20_000 });
    const start = clock.now;
    fail(breaker, 3);
    clock.now = start + 5_000;
    assert.equal(breaker.allow(), true);
    clock.now = start + 24_999;
    assert.equal(breaker.allow(), false);
    clock.now = start + 25_000;
    assert.equal(breaker.allow(), true);
    assert.equal(breaker.allow(), false);
    breaker.success();
    assert.equal(breaker.state, "closed");
  });

  it("works with the system clock", () => {
    const breaker = new CircuitBreaker({ failures: 1, cooldownMs: 60_000, clock: SYSTEM_CLOCK });
    breaker.failure();
    assert.equal(breaker.allow(), false);
    assert.ok(breaker.retryInMs > 0 && breaker.retryInMs <= 60_000);
  });

  it("rejects options that make no sense", () => {
    for (
      const [options, message] of [
        [{ failures: -1, cooldownMs: 0 }, /failures must be a whole number >= 0, got -1/],
        [{ failures: 2.5, cooldownMs: 0 }, /failures must be a whole number >= 0, got 2.5/],
        [{ failures: 1, cooldownMs: NaN }, /cooldownMs must be a finite number >= 0, got NaN/],
        [{ failures: 1, cooldownMs: Infinity }, /cooldownMs .* got Infinity/],
        [{ failures: 1, cooldownMs: 1, probeTimeoutMs: -5 }, /probeTimeoutMs .* got -5/],
      ] as const
    ) {
      assert.throws(
        () => new CircuitBreaker({ ...options, clock: SYSTEM_CLOCK }),
        (error: unknown) => {
          assert.ok(error instanceof RangeError);
          assert.match(error.message, /^Cannot create circuit breaker: /);
          assert.match(error.message, message);
          return true;
        },
      );
    }
    assert.doesNotThrow(() =>
      new CircuitBreaker({
        failures: 1,
        cooldownMs: 1,
        probeTimeoutMs: Infinity,
        clock: SYSTEM_CLOCK,
      })
    );
  });
});
