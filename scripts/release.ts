/**
 * Builds the release executables: one per target, plus a `SHA256SUMS` file.
 *
 * ```sh
 * deno task release                                   # deno compile, all five targets
 * deno task release --compiler bun                    # bun build --compile instead
 * deno task release --targets x86_64-unknown-linux-gnu,aarch64-unknown-linux-gnu
 * deno task release --version 1.2.3                   # first rewrites VERSION in lib/version.ts
 * ```
 *
 * Output: `dist/release/xmpp-extauth-TARGET[.exe]` and `dist/release/SHA256SUMS`, in the format of
 * `sha256sum` (`HEX  FILENAME`), so users check a download with
 * `sha256sum -c --ignore-missing SHA256SUMS`. Every executable's header is checked against its
 * target (ELF / Mach-O / PE, and the CPU), so a cross-compiler that quietly produced the wrong
 * file fails the build. A compiler failure stops the build with a one-line message.
 *
 * Uses only `node:` modules: runs under `deno run -A` and `bun`.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BUN_BUILD_FLAGS } from "./build_flags.ts";

/** What an executable's header says it is. */
export interface ExecutableKind {
  format: "ELF" | "Mach-O" | "PE";
  cpu: "x86_64" | "aarch64";
}

/** A release target: its name (Rust/Deno triple), Bun's name for it, and the file it yields. */
export interface Target {
  name: string;
  bun: string;
  kind: ExecutableKind;
  exe: boolean;
}

/** The release targets, in build order. */
export const TARGETS: readonly Target[] = [
  {
    name: "x86_64-unknown-linux-gnu",
    // baseline: runs on x86-64 CPUs without AVX2, as older servers are.
    bun: "bun-linux-x64-baseline",
    kind: { format: "ELF", cpu: "x86_64" },
    exe: false,
  },
  {
    name: "aarch64-unknown-linux-gnu",
    bun: "bun-linux-arm64",
    kind: { format: "ELF", cpu: "aarch64" },
    exe: false,
  },
  {
    name: "x86_64-apple-darwin",
    bun: "bun-darwin-x64",
    kind: { format: "Mach-O", cpu: "x86_64" },
    exe: false,
  },
  {
    name: "aarch64-apple-darwin",
    bun: "bun-darwin-arm64",
    kind: { format: "Mach-O", cpu: "aarch64" },
    exe: false,
  },
  {
    name: "x86_64-pc-windows-msvc",
    bun: "bun-windows-x64-baseline",
    kind: { format: "PE", cpu: "x86_64" },
    exe: true,
  },
];

/** Permissions baked into `deno compile` binaries: the same as `deno task start`. */
const DENO_PERMISSIONS = ["--allow-net", "--allow-read", "--allow-env", "--allow-write"];

/** The repository root (this file lives in scripts/). */
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Parsed command line of the release script. */
export interface ReleaseOptions {
  compiler: "deno" | "bun";
  targets: Target[];
  version?: string;
  entry: string;
  outDir: string;
  versionFile: string;
  verbose: boolean;
  help: boolean;
}

/**
 * Parses the release script's arguments; relative paths are taken from the working directory.
 *
 * @example Two targets with bun
 * ```ts
 * const options = parseReleaseArgs(["--compiler", "bun", "--targets", "x86_64-apple-darwin"]);
 * console.log(options.targets.map((t) => t.bun)); // ["bun-darwin-x64"]
 * ```
 */
export function parseReleaseArgs(args: string[]): ReleaseOptions {
  const { values } = parseArgs({
    args,
    options: {
      compiler: { type: "string", default: "deno" },
      targets: { type: "string" },
      version: { type: "string" },
      entry: { type: "string" },
      "out-dir": { type: "string" },
      "version-file": { type: "string" },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const compiler = values.compiler;
  if (compiler !== "deno" && compiler !== "bun") {
    throw new Error(`Cannot parse --compiler: ${compiler} is not deno or bun`);
  }
  let targets = [...TARGETS];
  if (values.targets !== undefined) {
    const names = values.targets.split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (names.length === 0) throw new Error("Cannot parse --targets: no target given");
    targets = names.map((name) => {
      const target = TARGETS.find((t) => t.name === name);
      if (target === undefined) {
        const known = TARGETS.map((t) => t.name).join(", ");
        throw new Error(`Cannot parse --targets: unknown target ${name} (known: ${known})`);
      }
      return target;
    });
  }
  const version = values.version;
  if (version !== undefined && !/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/.test(version)) {
    throw new Error(`Cannot parse --version: ${version} is not a version like 1.2.3`);
  }
  const options: ReleaseOptions = {
    compiler,
    targets,
    entry: resolve(values.entry ?? join(ROOT, "main.ts")),
    outDir: resolve(values["out-dir"] ?? join(ROOT, "dist", "release")),
    versionFile: resolve(values["version-file"] ?? join(ROOT, "lib", "version.ts")),
    verbose: values.verbose,
    help: values.help,
  };
  if (version !== undefined) options.version = version;
  return options;
}

/**
 * Replaces the version in a file holding `export const VERSION = "…";`, keeping the rest.
 *
 * @example Set the version of a tagged build
 * ```ts
 * setVersion("lib/version.ts", "1.2.3");
 * ```
 */
export function setVersion(file: string, version: string): void {
  const pattern = /export const VERSION = "[^"\n]*";/;
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  if (!pattern.test(text)) {
    throw new Error(`Cannot set version: ${file} has no line 'export const VERSION = "…";'`);
  }
  writeFileSync(file, text.replace(pattern, `export const VERSION = ${JSON.stringify(version)};`));
}

/**
 * Reads what an executable's first bytes say it is: ELF, Mach-O (64-bit, thin) or PE, and the
 * CPU; `undefined` for anything else.
 *
 * @example An ELF header for aarch64
 * ```ts
 * const header = new Uint8Array(64);
 * header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1]);
 * header[18] = 0xb7;
 * console.log(readExecutableKind(header)); // { format: "ELF", cpu: "aarch64" }
 * ```
 */
export function readExecutableKind(bytes: Uint8Array): ExecutableKind | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => (at + 2 <= bytes.length ? view.getUint16(at, true) : -1);
  const u32 = (at: number) => (at + 4 <= bytes.length ? view.getUint32(at, true) : -1);
  // ELF: 7f 'E' 'L' 'F', class 2 (64-bit), data 1 (little-endian); e_machine at offset 18.
  if (u32(0) === 0x464c457f && bytes[4] === 2 && bytes[5] === 1) {
    const machine = u16(18);
    if (machine === 0x3e) return { format: "ELF", cpu: "x86_64" };
    if (machine === 0xb7) return { format: "ELF", cpu: "aarch64" };
    return undefined;
  }
  // Mach-O 64-bit little-endian: magic 0xfeedfacf; cputype at offset 4.
  if (u32(0) === 0xfeedfacf) {
    const cpu = u32(4);
    if (cpu === 0x01000007) return { format: "Mach-O", cpu: "x86_64" };
    if (cpu === 0x0100000c) return { format: "Mach-O", cpu: "aarch64" };
    return undefined;
  }
  // PE: 'MZ', offset of "PE\0\0" at 0x3c, then the machine field.
  if (u16(0) === 0x5a4d) {
    const pe = u32(0x3c);
    if (pe < 0 || u32(pe) !== 0x00004550) return undefined;
    const machine = u16(pe + 4);
    if (machine === 0x8664) return { format: "PE", cpu: "x86_64" };
    if (machine === 0xaa64) return { format: "PE", cpu: "aarch64" };
    return undefined;
  }
  return undefined;
}

/**
 * Formats checksums as `sha256sum` does: `HEX  NAME` lines, sorted by name.
 *
 * @example
 * ```ts
 * formatChecksums({ "b.bin": "00ff", "a.bin": "ff00" }); // "ff00  a.bin\n00ff  b.bin\n"
 * ```
 */
export function formatChecksums(hashes: Record<string, string>): string {
  return Object.keys(hashes).sort().map((name) => `${hashes[name]}  ${name}\n`).join("");
}

/** The output file name for a target. */
export function fileNameFor(target: Target): string {
  return `xmpp-extauth-${target.name}${target.exe ? ".exe" : ""}`;
}

/** Bun's build flags: the shared ones of `scripts/build_flags.ts`. */
export const BUN_FLAGS: readonly string[] = BUN_BUILD_FLAGS;

/** The command line that builds `target` from `entry` into `output`. */
export function compileCommand(
  compiler: "deno" | "bun",
  target: Target,
  entry: string,
  output: string,
): string[] {
  if (compiler === "bun") {
    const bun = process.versions.bun !== undefined ? process.execPath : "bun";
    return [
      bun,
      "build",
      "--compile",
      ...BUN_FLAGS,
      `--target=${target.bun}`,
      "--outfile",
      output,
      entry,
    ];
  }
  const deno = process.versions.deno !== undefined ? process.execPath : "deno";
  return [deno, "compile", "--target", target.name, "--output", output, ...DENO_PERMISSIONS, entry];
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * Boils a compiler's output down to one line: its first error (with the source location bun
 * gives on the next line), deno's deepest cause, and a hint when deno could not download.
 *
 * @example
 * ```ts
 * summarizeFailure("1 | x\nerror: Unexpected =\n    at /src/a.ts:1:10\n");
 * // "Unexpected = at /src/a.ts:1:10"
 * ```
 */
export function summarizeFailure(output: string): string {
  const lines = output.replace(ANSI, "").split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const at = lines.findIndex((l) => /^error\b/i.test(l));
  let error = at < 0 ? undefined : lines[at]?.replace(/^error:?\s*/i, "");
  const next = lines[at + 1];
  if (error !== undefined && next?.startsWith("at ")) error += ` ${next}`;
  // deno: "Caused by:" then "0: …", "1: …", until "Stack backtrace:".
  const start = lines.indexOf("Caused by:");
  const end = lines.indexOf("Stack backtrace:");
  const causes = start < 0 ? [] : lines.slice(start + 1, end > start ? end : undefined);
  const deepest = causes.at(-1)?.replace(/^\d+:\s*/, "");
  const download = lines.find((l) => l.startsWith("Download "))?.slice("Download ".length);
  if (download !== undefined) {
    return `cannot download ${download}: ${deepest ?? error ?? "no details"} ` +
      "(deno compile fetches its runtime for each target from the network; try --compiler bun)";
  }
  const summary = error ?? lines.at(-1) ?? "no output";
  return deepest !== undefined && deepest !== summary ? `${summary}: ${deepest}` : summary;
}

/** Size in MB, for humans. */
function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

const USAGE = `Usage: release.ts [options]

Builds dist/release/xmpp-extauth-TARGET[.exe] for each target and dist/release/SHA256SUMS.
  --compiler deno|bun   deno compile (default) or bun build --compile
  --targets A,B         only these targets (default: all)
                        ${TARGETS.map((t) => t.name).join("\n                        ")}
  --version X.Y.Z       first write this version into lib/version.ts
  --entry FILE          program to compile (default main.ts)
  --out-dir DIR         output folder (default dist/release)
  --version-file FILE   file holding VERSION (default lib/version.ts)
  --verbose             show the compiler's output`;

/** Builds, checks and hashes every target; returns the process exit code. */
export function release(options: ReleaseOptions): number {
  if (options.version !== undefined) {
    setVersion(options.versionFile, options.version);
    console.log(`${relative(process.cwd(), options.versionFile)}: VERSION = ${options.version}`);
  }
  mkdirSync(options.outDir, { recursive: true });
  // Start clean, so SHA256SUMS and the folder hold this build only. Only our own files go.
  for (const name of readdirSync(options.outDir)) {
    if (name.startsWith("xmpp-extauth-") || name === "SHA256SUMS") {
      rmSync(join(options.outDir, name), { force: true });
    }
  }

  const hashes: Record<string, string> = {};
  for (const target of options.targets) {
    const name = fileNameFor(target);
    const output = join(options.outDir, name);
    const [command = "", ...args] = compileCommand(options.compiler, target, options.entry, output);
    console.log(`building ${name} with ${options.compiler}`);
    const run = spawnSync(command, args, {
      cwd: dirname(options.entry),
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (options.verbose) process.stderr.write(`${run.stdout ?? ""}${run.stderr ?? ""}`);
    if (run.error !== undefined) {
      console.error(`Cannot build ${name}: cannot run ${command}: ${run.error.message}`);
      return 1;
    }
    if (run.status !== 0 || !existsSync(output)) {
      const how = run.status !== 0 ? `exit code ${run.status ?? run.signal}` : "no output file";
      const why = summarizeFailure(`${run.stdout}\n${run.stderr}`);
      const tool = options.compiler === "bun" ? "bun build" : "deno compile";
      console.error(`Cannot build ${name}: ${tool} failed (${how}): ${why}`);
      return 1;
    }
    const bytes = readFileSync(output);
    const kind = readExecutableKind(bytes);
    const want = `${target.kind.format} ${target.kind.cpu}`;
    const got = kind === undefined ? "an unknown format" : `${kind.format} ${kind.cpu}`;
    if (got !== want) {
      console.error(`Cannot verify ${name}: expected ${want}, the file is ${got}`);
      return 1;
    }
    hashes[name] = createHash("sha256").update(bytes).digest("hex");
    console.log(`  ${megabytes(bytes.length)}, ${got}, sha256 ${hashes[name]}`);
  }
  writeFileSync(join(options.outDir, "SHA256SUMS"), formatChecksums(hashes));
  const where = relative(process.cwd(), options.outDir) || ".";
  console.log(`wrote ${Object.keys(hashes).length} executables and SHA256SUMS to ${where}`);
  return 0;
}

if (import.meta.main) {
  let code: number;
  try {
    const options = parseReleaseArgs(process.argv.slice(2));
    if (options.help) {
      console.log(USAGE);
      code = 0;
    } else {
      if (!existsSync(options.entry)) {
        throw new Error(`Cannot build: entry ${basename(options.entry)} does not exist`);
      }
      code = release(options);
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    code = 1;
  }
  process.exit(code);
}
