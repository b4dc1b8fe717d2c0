/**
 * What the pipeline does with the outage cache around one request: a remembered success
 * answers `auth` and `isuser` (fresh instead of asking, stale when the API cannot answer);
 * a definite answer updates the user's entry; a change forgets the user before it is sent
 * and again after, whatever the answer.
 *
 * @module
 */

import type { CacheLookup, CacheMark, Freshness, OutageCache } from "../cache/memory_cache.ts";
import { type CachedOperation, isCached, OPERATION_TABLE } from "../core/operations.ts";
import type { AuthRequest } from "../core/request.ts";

/** The operation as a cached one, when a cache is on and remembers its answers. */
export function cachedOp(
  cache: OutageCache | undefined,
  request: AuthRequest,
): CachedOperation | undefined {
  return cache !== undefined && isCached(request.op) ? request.op : undefined;
}

/** Whether a cache is on and the request changes the user (it forgets around the request). */
export function isChange(cache: OutageCache | undefined, request: AuthRequest): boolean {
  return cache !== undefined && OPERATION_TABLE[request.op].kind === "change";
}

/** A remembered success of `op` for the request, as fresh or as stale as asked. */
export function lookup(
  cache: OutageCache,
  op: CachedOperation,
  request: AuthRequest,
  freshness: Freshness,
): Promise<CacheLookup> {
  return cache.lookup(op, request.user, request.server, request.password, freshness);
}

/** After an answer to `auth` or `isuser` (changes forget around the request, above). */
export async function updateCache(
  cache: OutageCache,
  request: AuthRequest,
  value: boolean,
  mark: CacheMark | undefined,
): Promise<void> {
  const { op, user, server, password } = request;
  const spec = OPERATION_TABLE[op];
  const effect = value ? spec.afterTrue : spec.afterFalse;
  // A remembered password or account is gone after a definite no.
  if (effect === "remember" && isCached(op)) {
    await cache.remember(op, user, server, password, mark);
  } else if (effect === "forget") await cache.forget(user, server);
}
