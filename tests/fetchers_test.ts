import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../lib/cli/config.ts";
import { createFetch, fetchFor } from "../lib/api/fetchers.ts";
import { OPERATIONS } from "../lib/core/operations.ts";
import { detectRuntime } from "../lib/runtime/mod.ts";
import { serveConfig } from "./helpers/config.ts";

const real = detectRuntime();

function config(args: string[]): Config {
  return serveConfig(args, {}, () => new Uint8Array());
}

describe("createFetch", () => {
  it("refuses a CA file that is missing or holds no certificate", () => {
    const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-ca-"));
    try {
      assert.throws(
        () =>
          createFetch(config(["--url", "https://h", "--ca-file", join(dir, "missing.pem")]), real),
        /^ConfigError: Cannot read --ca-file .*missing\.pem/,
      );
      const notPem = join(dir, "key.txt");
      writeFileSync(notPem, "not a certificate");
      assert.throws(
        () => createFetch(config(["--url", "https://h", "--ca-file", notPem]), real),
        /Cannot use --ca-file .*key\.txt: no PEM certificate in it/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("fetchFor", () => {
  it("sends only auth, isuser and setpass with the fetch that may repeat", () => {
    const fetchers = { fetch, fetchOnce: fetch.bind(globalThis) };
    assert.deepEqual(
      OPERATIONS.filter((op) => fetchFor(fetchers, op) === fetchers.fetch),
      ["auth", "isuser", "setpass"],
    );
    assert.deepEqual(
      OPERATIONS.filter((op) => fetchFor(fetchers, op) === fetchers.fetchOnce),
      ["tryregister", "removeuser", "removeuser3"],
    );
  });
});
