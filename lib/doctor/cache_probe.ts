/**
 * `xmpp-extauth doctor --probe-cache -- ARGS`: the child side of doctor's `cache url` check,
 * run as the server's user by the program under test. It parses ARGS as serving would, opens
 * the outage cache through the same code (`openCache`: the password file read as this user,
 * `--ca-file`, connect, AUTH, SELECT, the cache's key) and prints one line: `cache: ok URL`,
 * `cache: off REASON` or `cache: down REASON`. Exit 0 when connected, 1 otherwise, 2 when
 * the options are refused (the message on stderr).
 *
 * @module
 */

import { openCache } from "../cache/open_cache.ts";
import { RedisAuthCache } from "../cache/redis_cache.ts";
import { parseCommand } from "../cli/config.ts";
import { fail } from "../core/config_error.ts";
import { SYSTEM_CLOCK } from "../core/clock.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime/mod.ts";

/** Runs the probe; returns the exit code. */
export async function probeCache(
  args: readonly string[],
  runtime: Runtime,
  print: (line: string) => void,
): Promise<number> {
  const command = parseCommand({
    args,
    env: runtime.env,
    envNames: runtime.envNames,
    readFile: runtime.readFile,
  });
  if (command.kind !== "serve") fail(`doctor --probe-cache: the options make ${command.kind}`);
  const config = command.config;
  if (config.cacheUrl === undefined) fail("doctor --probe-cache: no --cache-url");
  const said: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (message) => said.push(message),
    error: (message) => said.push(message),
    enabled: (level) => level !== "debug",
  };
  const cache = await openCache(config, runtime, logger, SYSTEM_CLOCK);
  if (!(cache instanceof RedisAuthCache)) {
    print(`cache: off ${said.join("; ") || "the outage cache is off"}`);
    return 1;
  }
  const connected = cache.connected;
  cache.close();
  print(
    connected
      ? `cache: ok ${config.cacheUrl.url}`
      : `cache: down ${said.join("; ") || "not connected"}`,
  );
  return connected ? 0 : 1;
}
