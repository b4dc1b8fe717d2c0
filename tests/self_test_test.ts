import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { runSelfTest } from "../lib/modes/self_test.ts";

describe("runSelfTest", () => {
  it("passes and says how many frames it checked", async () => {
    const { ok, summary } = await runSelfTest();
    assert.equal(ok, true, summary);
    assert.match(summary, /^self-test passed: 13 frames in \d+ chunks → 13 correct replies$/);
  });

  it("gives the same result when run again", async () => {
    const first = await runSelfTest();
    const second = await runSelfTest();
    assert.deepEqual(second, first);
  });
});
