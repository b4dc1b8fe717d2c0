import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { concatBytes } from "../lib/core/bytes.ts";

describe("concatBytes", () => {
  it("joins in order, empty parts included", () => {
    assert.deepEqual(
      concatBytes([Uint8Array.of(1, 2), new Uint8Array(), Uint8Array.of(3)]),
      Uint8Array.of(1, 2, 3),
    );
    assert.deepEqual(concatBytes([]), new Uint8Array());
  });

  it("returns a copy, never one of the parts", () => {
    const part = Uint8Array.of(7);
    const joined = concatBytes([part]);
    part[0] = 8;
    assert.deepEqual(joined, Uint8Array.of(7));
  });

  it("takes the total length when the caller knows it", () => {
    assert.deepEqual(concatBytes([Uint8Array.of(1), Uint8Array.of(2)], 2), Uint8Array.of(1, 2));
  });
});
