/**
 * Durations on the command line: `250ms`, `5s`, `2m`, `1h`; a bare number
 * means seconds.
 *
 * @module
 */

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** The longest duration a timer can wait (2^31 - 1 ms, about 24.8 days). */
export const MAX_DURATION_MS = 2_147_483_647;

const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/**
 * Parses a duration into milliseconds.
 *
 * @throws {SyntaxError} when the text is not a duration.
 * @example Parse durations
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration } from "./duration.ts";
 * assert.equal(parseDuration("250ms"), 250);
 * assert.equal(parseDuration("5"), 5000);
 * assert.equal(parseDuration("2m"), 120000);
 * ```
 */
export function parseDuration(text: string): number {
  const match = PATTERN.exec(text.trim());
  if (!match) {
    throw new SyntaxError(
      `Cannot parse duration ${JSON.stringify(text)}: expected a number with ms, s, m or h`,
    );
  }
  const ms = Math.round(Number(match[1]) * UNITS[match[2] ?? "s"]!);
  if (!(ms <= MAX_DURATION_MS)) {
    throw new RangeError(
      `Cannot use duration ${JSON.stringify(text)}: longer than 596h, the most a timer can wait`,
    );
  }
  return ms;
}

/**
 * Formats milliseconds the way they are written on the command line.
 *
 * @example Format durations
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDuration } from "./duration.ts";
 * assert.equal(formatDuration(5000), "5s");
 * assert.equal(formatDuration(250), "250ms");
 * ```
 */
export function formatDuration(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
