import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startIdleCollector } from "../lib/modes/idle_gc.ts";
import { manualClock } from "./helpers/clock.ts";

describe("startIdleCollector", () => {
  it("collects once per quiet spell, between one and two periods after the last request", () => {
    const clock = manualClock();
    let collected = 0;
    const idle = startIdleCollector({ collect: () => collected++, everyMs: 10_000, clock });
    clock.advance(60_000);
    assert.equal(collected, 0, "no request yet: nothing to collect");
    idle.touch();
    clock.advance(10_000);
    assert.equal(collected, 0, "the check right after a request only notes it");
    clock.advance(10_000);
    assert.equal(collected, 1, "a whole period without requests: one collection");
    clock.advance(100_000);
    assert.equal(collected, 1, "once per quiet spell");
    idle.stop();
  });

  it("never collects while requests keep coming", () => {
    const clock = manualClock();
    let collected = 0;
    const idle = startIdleCollector({ collect: () => collected++, everyMs: 10_000, clock });
    for (let i = 0; i < 100; i++) {
      idle.touch();
      clock.advance(5_000);
    }
    assert.equal(collected, 0);
    clock.advance(20_000);
    assert.equal(collected, 1);
    idle.stop();
  });

  it("stops checking when stopped", () => {
    const clock = manualClock();
    let collected = 0;
    const idle = startIdleCollector({ collect: () => collected++, everyMs: 10_000, clock });
    idle.touch();
    idle.stop();
    clock.advance(100_000);
    assert.equal(collected, 0);
  });
});
