import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../lib/cli/config.ts";
import { createFetchers, fetchFor } from "../lib/api/fetchers.ts";
import { OPERATIONS } from "../lib/core/operations.ts";
import { detectRuntime, type Files, type Http } from "../lib/runtime/mod.ts";
import { serveConfig } from "./helpers/config.ts";

const real = detectRuntime();

function config(args: string[]): Config {
  return serveConfig(args, {}, () => new Uint8Array());
}

describe("createFetchers", () => {
  it("takes the CA file from Files and two fetches from Http: keep-alive, and never reused", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const asked: [readonly string[], { reuse?: boolean } | undefined][] = [];
    const made: (typeof fetch)[] = [];
    const http: Http = {
      createFetch(caCerts, options) {
        asked.push([caCerts, options]);
        const one = (() => Promise.reject(new Error("not sent"))) as unknown as typeof fetch;
        made.push(one);
        return one;
      },
    };
    const files: Pick<Files, "readFile"> = { readFile: () => new TextEncoder().encode(pem) };
    const fetchers = createFetchers(config(["--url", "https://h", "--ca-file", "/ca.pem"]), {
      ...files,
      ...http,
    });
    assert.deepEqual(asked, [[[pem], undefined], [[pem], { reuse: false }]]);
    assert.equal(fetchers.fetch, made[0]);
    assert.equal(fetchers.fetchOnce, made[1]);
  });

  it("refuses a CA file that is missing or holds no certificate", () => {
    const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-ca-"));
    try {
      assert.throws(
        () =>
          createFetchers(
            config(["--url", "https://h", "--ca-file", join(dir, "missing.pem")]),
            real,
          ),
        /^ConfigError: Cannot read --ca-file .*missing\.pem/,
      );
      const notPem = join(dir, "key.txt");
      writeFileSync(notPem, "not a certificate");
      assert.throws(
        () => createFetchers(config(["--url", "https://h", "--ca-file", notPem]), real),
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
