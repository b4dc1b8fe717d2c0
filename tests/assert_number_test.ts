import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { assertNumber } from "../lib/core/assert_number.ts";

describe("assertNumber", () => {
  it("accepts numbers >= 0 of the asked kind", () => {
    assertNumber("x", "a", 0);
    assertNumber("x", "a", 2.5);
    assertNumber("x", "n", 3, { integer: true });
    assertNumber("x", "t", Infinity, { infinite: true });
  });

  it("names the component, the option, the kind and the value", () => {
    const cases: [number, Parameters<typeof assertNumber>[3], string][] = [
      [-1, {}, "a finite number"],
      [NaN, {}, "a finite number"],
      [Infinity, {}, "a finite number"],
      [2.5, { integer: true }, "a whole number"],
      [-1, { infinite: true }, "a number"],
    ];
    for (const [value, options, kind] of cases) {
      assert.throws(() => assertNumber("circuit breaker", "cooldownMs", value, options), {
        name: "RangeError",
        message: `Cannot create circuit breaker: cooldownMs must be ${kind} >= 0, got ${value}`,
      });
    }
  });
});
