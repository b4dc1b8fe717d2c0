/**
 * Builds the release executables: one per target, plus a `SHA256SUMS` file.
 *
 * ```sh
 * deno task release                                   # deno compile, the five glibc/macOS/Windows targets
 * deno task release --compiler bun                    # bun build --compile, all seven (with musl)
 * deno task release --targets x86_64-unknown-linux-gnu,aarch64-unknown-linux-gnu
 * deno task release --version 1.2.3                   # first rewrites VERSION in lib/core/version.ts
 * ```
 *
 * Output: `dist/release/xmpp-extauth-TARGET[.exe]`, for each bun-built `linux-gnu` target the
 * Debian package `xmpp-extauth_VERSION_ARCH.deb` (`scripts/deb.ts`, checked with `lintian`
 * when installed; `--no-packages`, `--no-lintian` leave them out; `--rpm` adds
 * `xmpp-extauth-VERSION-1.ARCH.rpm`, `scripts/rpm.ts`), and `dist/release/SHA256SUMS`, in the
 * format of `sha256sum` (`HEX  FILENAME`), so users check a download with
 * `sha256sum -c --ignore-missing SHA256SUMS`. Every executable's header is checked against its
 * target (ELF / Mach-O / PE, and the CPU), and a Linux one's dynamic loader (`PT_INTERP`) and
 * needed libraries (`DT_NEEDED`) against its C library, so a cross-compiler that quietly produced
 * the wrong file (a glibc build where a musl one was asked for, a new library the target system
 * may lack) fails the build. A compiler failure stops the build with a one-line message.
 *
 * The two musl targets are for Alpine, ejabberd's official container: `deno compile` has no musl
 * target, so they are built by `--compiler bun` only (and left out of a deno build's default).
 *
 * Uses only `node:` modules: runs under `deno run -A` and `bun`.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BUN_BUILD_FLAGS } from "./build_flags.ts";
import {
  buildDeb,
  type DebArch,
  epochFromEnvironment,
  homepageFromEnvironment,
  lintian,
} from "./deb.ts";
import { buildRpm } from "./rpm.ts";

/** What an executable's header says it is. */
export interface ExecutableKind {
  format: "ELF" | "Mach-O" | "PE";
  cpu: "x86_64" | "aarch64";
}

/** What a dynamically linked Linux executable asks of the system that runs it. */
export interface ElfLinking {
  /** The dynamic loader named in `PT_INTERP`. */
  interpreter: string;
  /** The shared libraries named in `DT_NEEDED`, in file order. */
  needed: string[];
}

/** A Linux target's C library: the loader it must name and the libraries it may need. */
export interface LinuxLibc {
  name: "glibc" | "musl";
  interpreter: string;
  /** Every library the executable may need; anything else fails the check. */
  allowed: readonly string[];
}

/** A release target: its name (Rust/Deno triple), Bun's name for it, and the file it yields. */
export interface Target {
  name: string;
  bun: string;
  /** False when `deno compile` has no such target (musl). */
  deno: boolean;
  kind: ExecutableKind;
  /** Linux targets: the C library the executable must be linked against. */
  libc?: LinuxLibc;
  exe: boolean;
}

/**
 * glibc's libraries that Deno's and Bun's Linux executables link (checked with `readelf -d`:
 * bun needs libc, libpthread, libdl, libm and the loader; deno also libgcc_s and librt), all
 * part of every glibc system.
 */
function glibc(loader: string): LinuxLibc {
  return {
    name: "glibc",
    interpreter: `/lib${loader.includes("x86-64") ? "64" : ""}/${loader}`,
    allowed: [
      "libc.so.6",
      "libm.so.6",
      "libpthread.so.0",
      "libdl.so.2",
      "librt.so.1",
      "libgcc_s.so.1",
      loader,
    ],
  };
}

/**
 * musl's loader and the libraries Bun's musl executables need: musl itself and GCC's C++
 * runtime (`libstdc++.so.6`, which pulls in `libgcc_s.so.1`): on Alpine `apk add libstdc++`,
 * already present in ejabberd's image, whose Erlang JIT links it.
 */
function musl(arch: "x86_64" | "aarch64"): LinuxLibc {
  return {
    name: "musl",
    interpreter: `/lib/ld-musl-${arch}.so.1`,
    allowed: [`libc.musl-${arch}.so.1`, "libstdc++.so.6", "libgcc_s.so.1"],
  };
}

/** The release targets, in build order. */
export const TARGETS: readonly Target[] = [
  {
    name: "x86_64-unknown-linux-gnu",
    // baseline: runs on x86-64 CPUs without AVX2, as older servers are.
    bun: "bun-linux-x64-baseline",
    deno: true,
    kind: { format: "ELF", cpu: "x86_64" },
    libc: glibc("ld-linux-x86-64.so.2"),
    exe: false,
  },
  {
    name: "aarch64-unknown-linux-gnu",
    bun: "bun-linux-arm64",
    deno: true,
    kind: { format: "ELF", cpu: "aarch64" },
    libc: glibc("ld-linux-aarch64.so.1"),
    exe: false,
  },
  {
    name: "x86_64-unknown-linux-musl",
    // baseline, as the glibc build: runs on x86-64 CPUs without AVX2.
    bun: "bun-linux-x64-musl-baseline",
    deno: false,
    kind: { format: "ELF", cpu: "x86_64" },
    libc: musl("x86_64"),
    exe: false,
  },
  {
    name: "aarch64-unknown-linux-musl",
    bun: "bun-linux-arm64-musl",
    deno: false,
    kind: { format: "ELF", cpu: "aarch64" },
    libc: musl("aarch64"),
    exe: false,
  },
  {
    name: "x86_64-apple-darwin",
    bun: "bun-darwin-x64",
    deno: true,
    kind: { format: "Mach-O", cpu: "x86_64" },
    exe: false,
  },
  {
    name: "aarch64-apple-darwin",
    bun: "bun-darwin-arm64",
    deno: true,
    kind: { format: "Mach-O", cpu: "aarch64" },
    exe: false,
  },
  {
    name: "x86_64-pc-windows-msvc",
    bun: "bun-windows-x64-baseline",
    deno: true,
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
  /** Build the Debian packages of the bun-built linux-gnu targets. */
  packages: boolean;
  /** Check the packages with lintian (when it is installed). */
  lintian: boolean;
  /** Also build RPM packages of the bun-built linux-gnu targets (needs rpmbuild). */
  rpm: boolean;
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
      "no-packages": { type: "boolean", default: false },
      "no-lintian": { type: "boolean", default: false },
      rpm: { type: "boolean", default: false },
    },
  });
  const compiler = values.compiler;
  if (compiler !== "deno" && compiler !== "bun") {
    throw new Error(`Cannot parse --compiler: ${compiler} is not deno or bun`);
  }
  let targets = TARGETS.filter((t) => compiler === "bun" || t.deno);
  if (values.targets !== undefined) {
    const names = values.targets.split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (names.length === 0) throw new Error("Cannot parse --targets: no target given");
    targets = names.map((name) => {
      const target = TARGETS.find((t) => t.name === name);
      if (target === undefined) {
        const known = TARGETS.map((t) => t.name).join(", ");
        throw new Error(`Cannot parse --targets: unknown target ${name} (known: ${known})`);
      }
      if (compiler === "deno" && !target.deno) {
        throw new Error(
          `Cannot parse --targets: deno compile has no target ${name}; use --compiler bun`,
        );
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
    versionFile: resolve(values["version-file"] ?? join(ROOT, "lib", "core", "version.ts")),
    verbose: values.verbose,
    help: values.help,
    packages: !values["no-packages"],
    lintian: !values["no-lintian"],
    rpm: values.rpm,
  };
  if (version !== undefined) options.version = version;
  return options;
}

/**
 * Replaces the version in a file holding `export const VERSION = "…";`, keeping the rest.
 *
 * @example Set the version of a tagged build
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const file = join(mkdtempSync(join(tmpdir(), "version-")), "version.ts");
 * writeFileSync(file, 'export const VERSION = "0.1.0";\n');
 * setVersion(file, "1.2.3");
 * assert.equal(readFileSync(file, "utf8"), 'export const VERSION = "1.2.3";\n');
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
 * Reads the dynamic loader (`PT_INTERP`) and the needed libraries (`DT_NEEDED`) of a 64-bit
 * little-endian ELF executable; `undefined` when it is not one, `{ interpreter: "", needed: [] }`
 * for a static one. Throws when the headers point outside the file.
 *
 * @example A glibc executable built here
 * ```ts
 * import assert from "node:assert/strict";
 * import { readFileSync } from "node:fs";
 * const deno = readFileSync(Deno.execPath());
 * const linking = readElfLinking(deno);
 * if (Deno.build.os === "linux") {
 *   assert.ok(linking !== undefined && linking.needed.includes("libc.so.6"));
 * }
 * ```
 */
export function readElfLinking(bytes: Uint8Array): ElfLinking | undefined {
  if (
    bytes.length < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c ||
    bytes[3] !== 0x46 || bytes[4] !== 2 || bytes[5] !== 1
  ) {
    return undefined;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const broken = (what: string): never => {
    throw new Error(`broken ELF file: ${what} lies outside the file`);
  };
  const u64 = (at: number, what: string): number => {
    if (at < 0 || at + 8 > bytes.length) broken(what);
    return Number(view.getBigUint64(at, true));
  };
  const u32 = (at: number) => view.getUint32(at, true);
  const phoff = u64(0x20, "the program header table");
  const phentsize = view.getUint16(0x36, true);
  const phnum = view.getUint16(0x38, true);
  if (phentsize < 56 || phoff + phentsize * phnum > bytes.length) broken("a program header");
  const headers = Array.from({ length: phnum }, (_, i) => {
    const at = phoff + i * phentsize;
    return {
      type: u32(at),
      offset: u64(at + 8, "a segment"),
      vaddr: u64(at + 16, "a segment"),
      filesz: u64(at + 32, "a segment"),
    };
  });
  const cString = (at: number, end: number, what: string): string => {
    if (at < 0 || at >= end || end > bytes.length) broken(what);
    const zero = bytes.indexOf(0, at);
    return new TextDecoder().decode(bytes.subarray(at, zero < 0 || zero > end ? end : zero));
  };
  const interp = headers.find((h) => h.type === 3); // PT_INTERP
  const interpreter = interp === undefined
    ? ""
    : cString(interp.offset, interp.offset + interp.filesz, "the interpreter");
  const dynamic = headers.find((h) => h.type === 2); // PT_DYNAMIC
  if (dynamic === undefined) return { interpreter, needed: [] };
  const names: number[] = [];
  let strtab = -1;
  let strsz = 0;
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.filesz; at += 16) {
    const tag = u64(at, "the dynamic section");
    const value = u64(at + 8, "the dynamic section");
    if (tag === 0) break; // DT_NULL
    if (tag === 1) names.push(value); // DT_NEEDED: offset into the string table
    else if (tag === 5) strtab = value; // DT_STRTAB: an address
    else if (tag === 10) strsz = value; // DT_STRSZ
  }
  if (names.length === 0) return { interpreter, needed: [] };
  // The string table is given by address: find the loaded segment that holds it.
  const load = headers.find((h) =>
    h.type === 1 && h.vaddr <= strtab && strtab < h.vaddr + h.filesz
  );
  if (load === undefined) broken("the dynamic string table");
  const table = load!.offset + (strtab - load!.vaddr);
  const needed = names.map((name) => cString(table + name, table + strsz, "a library name"));
  return { interpreter, needed };
}

/**
 * Checks an executable's linking against its target's C library; returns what is wrong, or
 * `undefined` when it fits.
 *
 * @example A glibc build where musl was asked for
 * ```ts
 * import assert from "node:assert/strict";
 * const musl = TARGETS.find((t) => t.name === "x86_64-unknown-linux-musl")!;
 * assert.equal(
 *   checkLinking(musl, { interpreter: "/lib64/ld-linux-x86-64.so.2", needed: ["libc.so.6"] }),
 *   "expected the musl loader /lib/ld-musl-x86_64.so.1, the file names /lib64/ld-linux-x86-64.so.2",
 * );
 * ```
 */
export function checkLinking(target: Target, linking: ElfLinking | undefined): string | undefined {
  const libc = target.libc;
  if (libc === undefined) return undefined;
  if (linking === undefined) return "expected an ELF executable";
  if (linking.interpreter !== libc.interpreter) {
    const named = linking.interpreter === "" ? "no loader (static)" : linking.interpreter;
    return `expected the ${libc.name} loader ${libc.interpreter}, the file names ${named}`;
  }
  const foreign = linking.needed.filter((lib) => !libc.allowed.includes(lib));
  if (foreign.length > 0) {
    return `it needs ${foreign.join(", ")}, which a ${libc.name} system may lack ` +
      `(allowed: ${libc.allowed.join(", ")})`;
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

/** The Debian architecture of a bun-built glibc target, which gets a package; else undefined. */
export function debArchOf(compiler: "deno" | "bun", target: Target): DebArch | undefined {
  if (compiler !== "bun" || target.libc?.name !== "glibc") return undefined;
  return target.kind.cpu === "x86_64" ? "amd64" : "arm64";
}

/** The version in a file holding `export const VERSION = "…";`. */
export function readVersion(file: string): string {
  const match = /export const VERSION = "([^"\n]*)";/.exec(readFileSync(file, "utf8"));
  if (match === null) throw new Error(`Cannot read the version: ${file} has no VERSION line`);
  return match[1]!;
}

/** The last commit's time (seconds), for reproducible package dates; undefined outside git. */
function commitTime(): number | undefined {
  const run = spawnSync("git", ["-C", ROOT, "log", "-1", "--format=%ct"], { encoding: "utf8" });
  const value = run.status === 0 ? run.stdout.trim() : "";
  return /^\d+$/.test(value) ? Number(value) : undefined;
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
  --targets A,B         only these targets (default: all that the compiler can build;
                        the musl ones need --compiler bun)
                        ${TARGETS.map((t) => t.name).join("\n                        ")}
  --version X.Y.Z       first write this version into lib/core/version.ts
  --entry FILE          program to compile (default main.ts)
  --out-dir DIR         output folder (default dist/release)
  --version-file FILE   file holding VERSION (default lib/core/version.ts)
  --no-packages         no Debian packages (built by default for bun's linux-gnu targets)
  --no-lintian          do not check the packages with lintian
  --rpm                 also build xmpp-extauth-VERSION-1.ARCH.rpm for them (rpmbuild)
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
    if (
      name.startsWith("xmpp-extauth-") || name === "SHA256SUMS" ||
      /^xmpp-extauth_.*\.deb$/.test(name)
    ) {
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
    let linking: ElfLinking | undefined;
    try {
      linking = target.libc === undefined ? undefined : readElfLinking(bytes);
    } catch (error) {
      console.error(`Cannot verify ${name}: ${(error as Error).message}`);
      return 1;
    }
    const wrong = checkLinking(target, linking);
    if (wrong !== undefined) {
      console.error(`Cannot verify ${name}: ${wrong}`);
      return 1;
    }
    const links = linking === undefined
      ? ""
      : `, loader ${linking.interpreter}, needs ${linking.needed.join(" ")}`;
    hashes[name] = createHash("sha256").update(bytes).digest("hex");
    console.log(`  ${megabytes(bytes.length)}, ${got}${links}, sha256 ${hashes[name]}`);
  }
  const packaged = options.packages
    ? options.targets.filter((t) => debArchOf(options.compiler, t) !== undefined)
    : [];
  const version = packaged.length > 0 ? readVersion(options.versionFile) : "";
  const homepage = homepageFromEnvironment();
  const epoch = epochFromEnvironment() ?? commitTime();
  for (const target of packaged) {
    const arch = debArchOf(options.compiler, target)!;
    let built;
    try {
      built = buildDeb({
        binary: join(options.outDir, fileNameFor(target)),
        arch,
        version,
        outDir: options.outDir,
        ...(process.env.DEB_MAINTAINER ? { maintainer: process.env.DEB_MAINTAINER } : {}),
        ...(homepage === undefined ? {} : { homepage }),
        ...(epoch === undefined ? {} : { epoch }),
      });
    } catch (error) {
      console.error((error as Error).message);
      return 1;
    }
    hashes[built.name] = built.sha256;
    const size = megabytes(statSync(built.file).size);
    console.log(`packaged ${built.name} with dpkg-deb`);
    console.log(`  ${size}, Depends: libc6 (>= ${built.glibc}), sha256 ${built.sha256}`);
    if (!options.lintian) continue;
    const lint = lintian(built.file);
    if (!lint.ran) {
      console.log("  lintian is not installed (apt-get install lintian): not checked");
      continue;
    }
    // The tag lines only (as root, lintian also warns that it runs as root).
    const tags = lint.output.split("\n").filter((l) => /^[EWIPX]: /.test(l));
    if (!lint.ok) {
      console.error(`Cannot verify ${built.name}: lintian reports errors:\n${tags.join("\n")}`);
      return 1;
    }
    console.log(`  lintian: no errors${tags.length > 0 ? `; ${tags.join("; ")}` : ", no tags"}`);
  }
  const rpms = options.rpm ? packaged : [];
  for (const target of rpms) {
    let built;
    try {
      built = buildRpm({
        binary: join(options.outDir, fileNameFor(target)),
        arch: target.kind.cpu,
        version,
        outDir: options.outDir,
        ...(process.env.DEB_MAINTAINER ? { maintainer: process.env.DEB_MAINTAINER } : {}),
        ...(homepage === undefined ? {} : { homepage }),
        ...(epoch === undefined ? {} : { epoch }),
      });
    } catch (error) {
      console.error((error as Error).message);
      return 1;
    }
    hashes[built.name] = built.sha256;
    console.log(`packaged ${built.name} with rpmbuild`);
    console.log(`  ${megabytes(statSync(built.file).size)}, sha256 ${built.sha256}`);
  }
  writeFileSync(join(options.outDir, "SHA256SUMS"), formatChecksums(hashes));
  const where = relative(process.cwd(), options.outDir) || ".";
  const files = Object.keys(hashes).length - packaged.length - rpms.length;
  const debs = packaged.length > 0 ? `, ${packaged.length} Debian packages` : "";
  const rpmCount = rpms.length > 0 ? `, ${rpms.length} RPM packages` : "";
  console.log(`wrote ${files} executables${debs}${rpmCount} and SHA256SUMS to ${where}`);
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
