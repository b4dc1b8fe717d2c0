import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { classifyFetchError } from "../lib/api/failures.ts";

describe("classifyFetchError", () => {
  it("reads Deno's and Bun's wording", () => {
    assert.equal(
      classifyFetchError(
        new TypeError(
          "error sending request: tcp connect error: Connection refused (os error 111)",
        ),
      ).failure,
      "refused",
    );
    assert.equal(
      classifyFetchError(
        Object.assign(new TypeError("Unable to connect"), { code: "ECONNREFUSED" }),
      ).failure,
      "refused",
    );
    assert.equal(
      classifyFetchError(new TypeError("invalid peer certificate: UnknownIssuer")).failure,
      "tls",
    );
    assert.equal(
      classifyFetchError(Object.assign(new Error("x"), { name: "TimeoutError" })).failure,
      "timeout",
    );
    assert.equal(classifyFetchError("weird").failure, "network");
  });
});
