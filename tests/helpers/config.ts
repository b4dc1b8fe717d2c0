/**
 * The configuration the unit tests parse: command-line arguments, environment
 * and files, all in memory (one copy for every test that calls `parseCommand`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Config, type ConfigSources, parseCommand } from "../../lib/cli/config.ts";

const encoder = new TextEncoder();

/**
 * A `readFile` over in-memory files: path → text. A missing path throws the
 * message Deno gives for a missing file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memoryFiles } from "./config.ts";
 * const readFile = memoryFiles({ "/etc/token": "s3cret\n" });
 * assert.equal(new TextDecoder().decode(readFile("/etc/token")), "s3cret\n");
 * assert.throws(() => readFile("/missing"), /No such file/);
 * ```
 */
export function memoryFiles(
  files: Readonly<Record<string, string>> = {},
): (path: string) => Uint8Array {
  return (path) => {
    if (!Object.hasOwn(files, path)) {
      throw new Error(`No such file or directory (os error 2): readfile '${path}'`);
    }
    return encoder.encode(files[path]);
  };
}

/**
 * Command-line args, environment and files, all in memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sources } from "./config.ts";
 * const s = sources(["--url", "http://api"], { XMPP_EXTAUTH_TIMEOUT: "3s" });
 * assert.equal(s.env("XMPP_EXTAUTH_TIMEOUT"), "3s");
 * assert.deepEqual(s.envNames(), ["XMPP_EXTAUTH_TIMEOUT"]);
 * ```
 */
export function sources(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  files: Readonly<Record<string, string>> | ((path: string) => Uint8Array) = {},
): ConfigSources {
  return {
    args,
    env: (name) => (Object.hasOwn(env, name) ? env[name] : undefined),
    envNames: () => Object.keys(env),
    readFile: typeof files === "function" ? files : memoryFiles(files),
  };
}

/**
 * The serving configuration of a command line (fails the test for another command).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveConfig } from "./config.ts";
 * assert.equal(serveConfig(["--url", "http://api", "--retries", "0"]).retries, 0);
 * ```
 */
export function serveConfig(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  files: Readonly<Record<string, string>> | ((path: string) => Uint8Array) = {},
): Config {
  const command = parseCommand(sources(args, env, files));
  assert.ok(command.kind === "serve", `expected serve, got ${command.kind}`);
  return command.config;
}
