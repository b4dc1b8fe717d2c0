/**
 * Which `fetch` a request goes out with: the runtime's own, trusting
 * `--ca-file` when given, keeping connections alive for operations that are
 * safe to send twice, and one that never re-sends for the others. Serving
 * (`app.ts`) and `check` both get theirs here.
 *
 * @module
 */

import { ConfigError } from "../core/config_error.ts";
import { isRetrySafe, type Operation } from "../core/operations.ts";
import type { Files, Http } from "../runtime/mod.ts";

/** The two `fetch` functions the pipeline uses. */
export interface Fetchers {
  /** For `auth`, `isuser`, `setpass`: keeps connections alive. */
  readonly fetch: typeof fetch;
  /** For `tryregister`, `removeuser`, `removeuser3`: never sends a request twice. */
  readonly fetchOnce: typeof fetch;
}

/**
 * The `fetch` functions to use: the runtime's own, trusting `--ca-file` when
 * given, and one that never re-sends for operations that must run once.
 *
 * @throws {ConfigError} when the CA file is unreadable or holds no certificate.
 * @example Make the fetchers for a config (needs a parsed config and the runtime)
 * ```ts ignore
 * import { createFetchers } from "./fetchers.ts";
 * const { fetch, fetchOnce } = createFetchers(config, runtime);
 * ```
 */
export function createFetchers(
  config: { readonly caFile?: string },
  runtime: Pick<Files, "readFile"> & Http,
): Fetchers {
  const caCerts: string[] = [];
  if (config.caFile !== undefined) {
    let pem: string;
    try {
      pem = new TextDecoder().decode(runtime.readFile(config.caFile));
    } catch (error) {
      throw new ConfigError(`Cannot read --ca-file ${config.caFile}: ${(error as Error).message}`);
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new ConfigError(`Cannot use --ca-file ${config.caFile}: no PEM certificate in it`);
    }
    caCerts.push(pem);
  }
  return {
    fetch: runtime.createFetch(caCerts),
    fetchOnce: runtime.createFetch(caCerts, { reuse: false }),
  };
}

/**
 * The `fetch` for one operation: `fetchOnce` for those that must reach the
 * API at most once (the operations table's `retrySafe`), else `fetch`.
 *
 * @example Pick the fetch for a registration
 * ```ts
 * import assert from "node:assert/strict";
 * import { fetchFor } from "./fetchers.ts";
 * const fetchers = { fetch, fetchOnce: fetch.bind(globalThis) };
 * assert.equal(fetchFor(fetchers, "tryregister"), fetchers.fetchOnce);
 * assert.equal(fetchFor(fetchers, "auth"), fetchers.fetch);
 * ```
 */
export function fetchFor(
  fetchers: { readonly fetch: typeof fetch; readonly fetchOnce?: typeof fetch },
  op: Operation,
): typeof fetch {
  return isRetrySafe(op) ? fetchers.fetch : fetchers.fetchOnce ?? fetchers.fetch;
}
