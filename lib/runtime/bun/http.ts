/**
 * {@linkcode Http} on Bun's `fetch`, with its `tls`, `proxy` and `decompress` options.
 *
 * @module
 */

import { proxyFor, type ProxyServer, type ProxySettings } from "../environment.ts";
import { urlOf } from "../common.ts";
import type { Http } from "../types.ts";

/** HTTP through Bun's fetch. */
export function bunHttp(settings: ProxySettings): Http {
  return {
    createFetch(caCerts) {
      // Bun's fetch never re-sends a request on its own: one client serves both kinds.
      // decompress: false — Bun inflates a gzip body even when the request asked for
      // identity, and not in bounded steps (a 1 GiB gzip bomb: 242 MiB RSS).
      const tls = caCerts.length === 0 ? {} : { tls: { ca: [...caCerts] } };
      if (settings.http === undefined && settings.https === undefined) {
        // No proxy at all: nothing to decide per request (no URL parse on the hot path).
        const extra = { decompress: false, ...tls };
        return ((input: RequestInfo | URL, init?: RequestInit) =>
          fetch(input, { ...init, ...extra } as unknown as RequestInit)) as typeof fetch;
      }
      return ((input: RequestInfo | URL, init?: RequestInit) => {
        const proxy = proxyFor(settings, urlOf(input));
        return fetch(input, {
          ...init,
          decompress: false,
          ...tls,
          ...(proxy === undefined ? {} : { proxy: proxyUrl(proxy) }),
        } as unknown as RequestInit);
      }) as typeof fetch;
    },
  };
}

/** A proxy as Bun's `proxy` option takes it: credentials in the URL. */
function proxyUrl(proxy: ProxyServer): string {
  if (proxy.username === undefined) return proxy.url;
  const credentials = `${encodeURIComponent(proxy.username)}:${
    encodeURIComponent(proxy.password ?? "")
  }@`;
  return proxy.url.replace("//", `//${credentials}`);
}
