import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../lib/cli/duration.ts";

describe("parseDuration", () => {
  it("reads every unit", () => {
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration("5s"), 5000);
    assert.equal(parseDuration("2m"), 120_000);
    assert.equal(parseDuration("1h"), 3_600_000);
    assert.equal(parseDuration("0ms"), 0);
    assert.equal(parseDuration("0s"), 0);
    assert.equal(parseDuration("0h"), 0);
  });

  it("reads a bare number as seconds", () => {
    assert.equal(parseDuration("5"), 5000);
    assert.equal(parseDuration("0"), 0);
    assert.equal(parseDuration("30"), 30_000);
    assert.equal(parseDuration("007"), 7000);
  });

  it("reads decimals", () => {
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("0.25"), 250);
    assert.equal(parseDuration("1.5m"), 90_000);
    assert.equal(parseDuration("0.5h"), 1_800_000);
    assert.equal(parseDuration("2.5ms"), 3);
  });

  it("rounds to whole milliseconds", () => {
    assert.equal(parseDuration("0.4ms"), 0);
    assert.equal(parseDuration("0.0004"), 0);
    assert.equal(parseDuration("0.0016s"), 2);
    assert.equal(Number.isInteger(parseDuration("1.23456s")), true);
  });

  it("ignores surrounding whitespace", () => {
    assert.equal(parseDuration(" 5s "), 5000);
    assert.equal(parseDuration("\t250ms\n"), 250);
  });

  it("refuses what is not a duration, with the text in the message", () => {
    const bad = [
      "",
      " ",
      "s",
      "ms",
      "5 s",
      "5sec",
      "5S",
      "5MS",
      "5d",
      "-1",
      "-1s",
      "+5s",
      "1e3",
      ".5s",
      "5.",
      "5.s",
      "1,5s",
      "0x10",
      "Infinity",
      "NaN",
      "5s5",
      "5m30s",
      "five",
    ];
    for (const text of bad) {
      assert.throws(() => parseDuration(text), {
        name: "SyntaxError",
        message: `Cannot parse duration ${
          JSON.stringify(text)
        }: expected a number with ms, s, m or h`,
      }, JSON.stringify(text));
    }
  });

  it("refuses a number too large to be a finite duration", () => {
    assert.throws(() => parseDuration("1" + "0".repeat(400)), RangeError);
    assert.throws(() => parseDuration("1" + "0".repeat(400) + "ms"), RangeError);
    assert.throws(
      () => parseDuration("1000h"),
      {
        name: "RangeError",
        message: 'Cannot use duration "1000h": longer than 596h, the most a timer can wait',
      },
    );
    assert.equal(parseDuration("2147483647ms"), 2_147_483_647);
  });

  it("round-trips through formatDuration", () => {
    for (const text of ["250ms", "1500ms", "5s", "90s", "2m", "90m", "1h", "25h", "0ms"]) {
      assert.equal(formatDuration(parseDuration(text)), text);
    }
  });
});

describe("formatDuration", () => {
  it("uses the largest unit that divides the value", () => {
    assert.equal(formatDuration(0), "0ms");
    assert.equal(formatDuration(1), "1ms");
    assert.equal(formatDuration(250), "250ms");
    assert.equal(formatDuration(999), "999ms");
    assert.equal(formatDuration(1000), "1s");
    assert.equal(formatDuration(1500), "1500ms");
    assert.equal(formatDuration(5000), "5s");
    assert.equal(formatDuration(20_000), "20s");
    assert.equal(formatDuration(59_000), "59s");
    assert.equal(formatDuration(60_000), "1m");
    assert.equal(formatDuration(90_000), "90s");
    assert.equal(formatDuration(120_000), "2m");
    assert.equal(formatDuration(3_600_000), "1h");
    assert.equal(formatDuration(5_400_000), "90m");
    assert.equal(formatDuration(7_200_000), "2h");
    assert.equal(formatDuration(86_400_000), "24h");
  });

  it("gives text that parseDuration reads back to the same value", () => {
    for (const ms of [0, 1, 7, 999, 1000, 1001, 59_999, 60_000, 61_000, 3_599_000, 3_600_000]) {
      assert.equal(parseDuration(formatDuration(ms)), ms, String(ms));
    }
  });
});
