/**
 * The one place that says how the shipped executable is built with Bun. `deno task build:bun`
 * runs this file, `scripts/release.ts` builds every target with these flags and
 * `deno task bench` builds the binary it measures with them, so the benchmark measures what
 * ships.
 *
 * ```sh
 * deno task build:bun                               # dist/xmpp-extauth for this machine
 * deno run -A scripts/build_flags.ts --outfile out  # another output path
 * ```
 *
 * Uses only `node:` modules: runs under `deno run -A` and `bun`.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/**
 * Bun's build flags for the release executable:
 * - `--bytecode` starts the program in about 9 ms instead of 16; it needs ESM output
 *   (`--format=esm`) for main.ts's top-level await;
 * - `--minify` makes the embedded source smaller (no measurable memory effect);
 * - `--splitting` keeps what only `check`, the self-test or `--cache-file` need in chunks of
 *   their own, loaded when asked for: the start before the JIT restart loads only the entry
 *   chunk, and serving evaluates less (spawn to first reply 48 → 45 ms, 70 KiB less heap);
 * - `--compile-exec-argv=--smol` runs the executable with Bun's smaller heap (2–3 MiB less RSS
 *   under load; `deno task bench`);
 * - `--no-compile-autoload-*`: the executable reads no `.env`, `bunfig.toml`, `tsconfig.json`
 *   or `package.json` from its working directory. ejabberd's working directory is not ours: a
 *   `.env` there could set variables such as `BUN_CONFIG_VERBOSE_FETCH` (every password
 *   printed), and a `bunfig.toml` `preload` would run any code inside the program. (Bun
 *   reads `.env` and `bunfig.toml` by default, also from a compiled executable.)
 */
export const BUN_BUILD_FLAGS: readonly string[] = [
  "--minify",
  "--bytecode",
  "--format=esm",
  "--splitting",
  "--compile-exec-argv=--smol",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  "--no-compile-autoload-tsconfig",
  "--no-compile-autoload-package-json",
];

/**
 * The command line that compiles `entry` into the executable `outfile`, for `target` (one of
 * Bun's `--target` names) or for this machine when `target` is undefined.
 *
 * @example Build for Linux arm64
 * ```ts
 * import assert from "node:assert/strict";
 * import { bunBuildCommand } from "./build_flags.ts";
 * const argv = bunBuildCommand("bun", "main.ts", "out/x", "bun-linux-arm64");
 * assert.deepEqual(argv.slice(0, 3), ["bun", "build", "--compile"]);
 * assert.ok(argv.includes("--target=bun-linux-arm64"));
 * ```
 */
export function bunBuildCommand(
  bun: string,
  entry: string,
  outfile: string,
  target?: string,
): string[] {
  return [
    bun,
    "build",
    "--compile",
    ...BUN_BUILD_FLAGS,
    ...(target === undefined ? [] : [`--target=${target}`]),
    "--outfile",
    outfile,
    entry,
  ];
}

/** The `bun` to run: this process's own executable under Bun, else `bun` from PATH. */
export function bunExecutable(): string {
  return process.versions.bun !== undefined ? process.execPath : "bun";
}

if (import.meta.main) {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      outfile: { type: "string", default: "dist/xmpp-extauth" },
      entry: { type: "string", default: "main.ts" },
    },
  });
  // doctor's npm dependencies (package.json, bun.lock), bundled into the executable.
  const install = spawnSync(bunExecutable(), ["install", "--frozen-lockfile"], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (install.status !== 0) {
    console.error("bun install --frozen-lockfile failed: doctor's YAML/TOML readers are missing");
    process.exit(1);
  }
  const [command = "", ...args] = bunBuildCommand(bunExecutable(), values.entry, values.outfile);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (result.error !== undefined) {
    console.error(`Cannot build with ${command}: ${result.error.message}`);
    process.exit(1);
  }
  process.exit(result.status ?? 1);
}
