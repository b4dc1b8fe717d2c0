/**
 * `--cache-url`: Redis reached as the server's user, through the program's own code
 * (`PROGRAM doctor --probe-cache -- ARGS`, see `cache_probe.ts`), within `--cache-timeout`'s
 * connection bound. The password file's owner and mode are checked with the other secrets
 * (`files.ts`).
 *
 * @module
 */

import type { Config } from "../../cli/config.ts";
import { shq, type Target } from "../context.ts";

/** The ✓ / ✗ of `cache url` for one program. */
export async function checkCacheUrl(
  t: Target,
  head: readonly string[],
  args: readonly string[],
  options: Config,
): Promise<void> {
  const redis = options.cacheUrl;
  if (redis === undefined) return;
  const run = await t.probe([...head, "doctor", "--probe-cache", "--", ...args], 20_000);
  const line = run.stdout.split("\n").find((l) => l.startsWith("cache: ")) ?? "";
  const [, state, detail] = /^cache: (\w+) ?(.*)$/.exec(line) ?? [];
  if (run.code === 0 && state === "ok") {
    t.add({
      status: "ok",
      check: "cache url",
      message: `${redis.url}: reached by ${t.account.name} (connected and read the cache's key)`,
    });
    return;
  }
  const stderr = run.stderr.trim().split("\n").filter((l) => l && !/warning:/.test(l)).slice(-1)[0];
  t.add({
    status: state === "off" ? "warn" : "fail",
    check: "cache url",
    message: state === "off"
      ? `${redis.url} is not used: ${detail}`
      : state === "down"
      ? `${redis.url}: ${t.account.name} cannot use it: ${detail}`
      : run.timedOut
      ? `${redis.url}: no answer from the probe in 20 s`
      : `${redis.url}: the probe failed as ${t.account.name}: ${stderr ?? `exit ${run.code}`}`,
    fix: state === "off"
      ? "give --stale-ttl (e.g. 1h) or --cache-ttl, or drop --cache-url"
      : `see the message; the same probe by hand: ${
        [...head, "doctor", "--probe-cache", "--", ...args].map(shq).join(" ")
      }`,
  });
}
