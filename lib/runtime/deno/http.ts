/**
 * {@linkcode Http} on Deno's `fetch` and `Deno.createHttpClient`.
 *
 * @module
 */

import { proxyFor, type ProxyServer, type ProxySettings } from "../environment.ts";
import { urlOf } from "../common.ts";
import type { Http } from "../types.ts";

/** HTTP through Deno's clients: one per proxy, made on first use. */
export function denoHttp(D: typeof Deno, settings: ProxySettings): Http {
  return {
    createFetch(caCerts, options) {
      const reuse = options?.reuse ?? true;
      if (caCerts.length === 0 && reuse && !usesProxy(settings)) return fetch;
      const clientFor = clients(D, caCerts, reuse);
      return ((input: RequestInfo | URL, init?: RequestInit) =>
        fetch(input, {
          ...init,
          client: clientFor(proxyFor(settings, urlOf(input))),
        } as RequestInit)) as typeof fetch;
    },
  };
}

/** The client for each proxy (or none), made once per proxy. */
function clients(
  D: typeof Deno,
  caCerts: readonly string[],
  reuse: boolean,
): (proxy: ProxyServer | undefined) => Deno.HttpClient {
  const made = new Map<string, Deno.HttpClient>();
  return (proxy) => {
    const key = proxy?.url ?? "";
    let client = made.get(key);
    if (client === undefined) {
      client = D.createHttpClient({
        caCerts: [...caCerts],
        ...(reuse ? {} : { poolMaxIdlePerHost: 0 }),
        ...(proxy === undefined ? {} : {
          proxy: {
            url: proxy.url,
            ...(proxy.username === undefined
              ? {}
              : { basicAuth: { username: proxy.username, password: proxy.password ?? "" } }),
          },
        }),
      });
      made.set(key, client);
    }
    return client;
  };
}

/** Whether any request may go through a proxy. */
function usesProxy(settings: ProxySettings): boolean {
  return settings.http !== undefined || settings.https !== undefined;
}
