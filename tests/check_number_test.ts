import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { checkNumber } from "../lib/core/check_number.ts";

describe("checkNumber", () => {
  it("accepts numbers >= 0 of the asked kind", () => {
    checkNumber("x", "a", 0);
    checkNumber("x", "a", 2.5);
    checkNumber("x", "n", 3, { integer: true });
    checkNumber("x", "t", Infinity, { infinite: true });
  });

  it("names the component, the option, the kind and the value", () => {
    const cases: [number, Parameters<typeof checkNumber>[3], string][] = [
      [-1, {}, "a finite number"],
      [NaN, {}, "a finite number"],
      [Infinity, {}, "a finite number"],
      [2.5, { integer: true }, "a whole number"],
      [-1, { infinite: true }, "a number"],
    ];
    for (const [value, options, kind] of cases) {
      assert.throws(() => checkNumber("circuit breaker", "cooldownMs", value, options), {
        name: "RangeError",
        message: `Cannot create circuit breaker: cooldownMs must be ${kind} >= 0, got ${value}`,
      });
    }
  });
});
