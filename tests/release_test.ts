/**
 * Tests of scripts/release.ts: argument handling, version rewriting, header checks, SHA256SUMS,
 * and one real cross-build with bun (linux x64 + arm64) of a tiny entry file.
 * Runs under `deno test --allow-all` and `bun test`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { scriptCommand } from "./helpers/spawn.ts";
import {
  checkLinking,
  compileCommand,
  type ElfLinking,
  formatChecksums,
  parseReleaseArgs,
  readElfLinking,
  readExecutableKind,
  setVersion,
  summarizeFailure,
  type Target,
  TARGETS,
} from "../scripts/release.ts";
import { RPM_FILES } from "../scripts/rpm.ts";
import { ONCE_ON_DENO } from "./helpers/spawn.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** rpmbuild is there (Debian's `rpm` package): the cross-build also makes the RPMs. */
const RPMBUILD = spawnSync("sh", ["-c", "command -v rpmbuild"]).status === 0;
const SCRIPT = join(ROOT, "scripts", "release.ts");

/** Runs release.ts under the current runtime. */
function runRelease(args: string[]) {
  const [command, ...runtime] = scriptCommand(SCRIPT);
  return spawnSync(command, [...runtime, ...args], { encoding: "utf8" });
}

describe("release arguments", () => {
  it("defaults to deno, the five targets deno compile has, and the repository's paths", () => {
    const options = parseReleaseArgs([]);
    assert.equal(options.compiler, "deno");
    assert.deepEqual(options.targets.map((t) => t.name), [
      "x86_64-unknown-linux-gnu",
      "aarch64-unknown-linux-gnu",
      "x86_64-apple-darwin",
      "aarch64-apple-darwin",
      "x86_64-pc-windows-msvc",
    ]);
    assert.equal(options.version, undefined);
    assert.equal(options.entry, join(ROOT, "main.ts"));
    assert.equal(options.outDir, join(ROOT, "dist", "release"));
    // lib/core/version.ts, where VERSION lives (a --version release failed on lib/version.ts).
    assert.equal(options.versionFile, join(ROOT, "lib", "core", "version.ts"));
    assert.ok(readFileSync(options.versionFile, "utf8").includes("export const VERSION = "));
    assert.equal(options.packages, true);
    assert.equal(options.lintian, true);
  });

  it("builds the two musl targets for Alpine with bun, by default", () => {
    const options = parseReleaseArgs(["--compiler", "bun"]);
    assert.deepEqual(options.targets.map((t) => `${t.name} ${t.bun}`), [
      "x86_64-unknown-linux-gnu bun-linux-x64-baseline",
      "aarch64-unknown-linux-gnu bun-linux-arm64",
      "x86_64-unknown-linux-musl bun-linux-x64-musl-baseline",
      "aarch64-unknown-linux-musl bun-linux-arm64-musl",
      "x86_64-apple-darwin bun-darwin-x64",
      "aarch64-apple-darwin bun-darwin-arm64",
      "x86_64-pc-windows-msvc bun-windows-x64-baseline",
    ]);
  });

  it("refuses a musl target for deno compile, which has none", () => {
    assert.throws(
      () => parseReleaseArgs(["--targets", "x86_64-unknown-linux-gnu,aarch64-unknown-linux-musl"]),
      {
        message: "Cannot parse --targets: deno compile has no target " +
          "aarch64-unknown-linux-musl; use --compiler bun",
      },
    );
  });

  it("takes a subset of targets, a compiler and a version", () => {
    const options = parseReleaseArgs([
      "--compiler",
      "bun",
      "--targets",
      "aarch64-apple-darwin, x86_64-pc-windows-msvc",
      "--version",
      "1.2.3-rc.1",
      "--out-dir",
      "out",
    ]);
    assert.equal(options.compiler, "bun");
    assert.deepEqual(options.targets.map((t) => t.bun), [
      "bun-darwin-arm64",
      "bun-windows-x64-baseline",
    ]);
    assert.equal(options.version, "1.2.3-rc.1");
    assert.equal(options.outDir, resolve("out"));
  });

  it("refuses unknown compilers, targets and versions with one clear message", () => {
    assert.throws(
      () => parseReleaseArgs(["--compiler", "node"]),
      { message: "Cannot parse --compiler: node is not deno or bun" },
    );
    assert.throws(
      () => parseReleaseArgs(["--targets", "x86_64-unknown-linux-gnu,riscv64"]),
      /^Error: Cannot parse --targets: unknown target riscv64 \(known: x86_64-unknown-linux-gnu,/,
    );
    assert.throws(() => parseReleaseArgs(["--targets", ","]), /no target given/);
    assert.throws(
      () => parseReleaseArgs(["--version", "v1.2.3"]),
      { message: "Cannot parse --version: v1.2.3 is not a version like 1.2.3" },
    );
    assert.throws(() => parseReleaseArgs(["--nope"]), /nope/);
  });

  it("builds the documented compiler command lines", () => {
    const linuxArm = TARGETS[1];
    assert.ok(linuxArm);
    const bun = compileCommand("bun", linuxArm, "main.ts", "out/x");
    assert.deepEqual(bun.slice(1), [
      "build",
      "--compile",
      "--minify",
      "--bytecode",
      "--format=esm",
      "--splitting",
      "--compile-exec-argv=--smol",
      "--no-compile-autoload-dotenv",
      "--no-compile-autoload-bunfig",
      "--no-compile-autoload-tsconfig",
      "--no-compile-autoload-package-json",
      "--target=bun-linux-arm64",
      "--outfile",
      "out/x",
      "main.ts",
    ]);
    const deno = compileCommand("deno", linuxArm, "main.ts", "out/x");
    assert.deepEqual(deno.slice(1), [
      "compile",
      "--target",
      "aarch64-unknown-linux-gnu",
      "--output",
      "out/x",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      "--allow-write",
      "main.ts",
    ]);
  });
});

describe("setVersion", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "release-version-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("rewrites only the VERSION literal", () => {
    const file = join(dir, "version.ts");
    const head = "/** Docs mentioning export const VERSION. */\n\n/** The version. */\n";
    writeFileSync(file, `${head}export const VERSION = "0.1.0";\n`);
    setVersion(file, "2.0.0-beta.1");
    assert.equal(readFileSync(file, "utf8"), `${head}export const VERSION = "2.0.0-beta.1";\n`);
  });

  it("refuses a file without a VERSION line, and a missing file", () => {
    const file = join(dir, "other.ts");
    writeFileSync(file, "export const NAME = 'x';\n");
    assert.throws(
      () => setVersion(file, "1.0.0"),
      /^Error: Cannot set version: .*other\.ts has no/,
    );
    assert.throws(() => setVersion(join(dir, "missing.ts"), "1.0.0"), /missing\.ts has no/);
  });
});

/** A 64-byte header with `bytes` written at the given offsets. */
function header(writes: Array<[number, number[]]>): Uint8Array {
  const bytes = new Uint8Array(256);
  for (const [at, values] of writes) bytes.set(values, at);
  return bytes;
}

describe("readExecutableKind", () => {
  it("reads ELF, Mach-O and PE headers", () => {
    const elf = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1];
    assert.deepEqual(readExecutableKind(header([[0, elf], [18, [0x3e, 0]]])), {
      format: "ELF",
      cpu: "x86_64",
    });
    assert.deepEqual(readExecutableKind(header([[0, elf], [18, [0xb7, 0]]])), {
      format: "ELF",
      cpu: "aarch64",
    });
    const macho = [0xcf, 0xfa, 0xed, 0xfe];
    assert.deepEqual(readExecutableKind(header([[0, macho], [4, [7, 0, 0, 1]]])), {
      format: "Mach-O",
      cpu: "x86_64",
    });
    assert.deepEqual(readExecutableKind(header([[0, macho], [4, [12, 0, 0, 1]]])), {
      format: "Mach-O",
      cpu: "aarch64",
    });
    const pe = header([[0, [0x4d, 0x5a]], [0x3c, [0x80, 0, 0, 0]], [0x80, [0x50, 0x45, 0, 0]]]);
    pe.set([0x64, 0x86], 0x84);
    assert.deepEqual(readExecutableKind(pe), { format: "PE", cpu: "x86_64" });
  });

  it("answers undefined for other CPUs, 32-bit ELF, scripts and short files", () => {
    const elf = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1];
    assert.equal(readExecutableKind(header([[0, elf], [18, [0x28, 0]]])), undefined); // ARM32
    assert.equal(readExecutableKind(header([[0, [0x7f, 0x45, 0x4c, 0x46, 1, 1]]])), undefined);
    assert.equal(readExecutableKind(new TextEncoder().encode("#!/bin/sh\necho hi\n")), undefined);
    assert.equal(readExecutableKind(new Uint8Array([0x4d, 0x5a])), undefined);
    assert.equal(readExecutableKind(new Uint8Array()), undefined);
  });
});

/**
 * A minimal 64-bit little-endian ELF: program headers PT_LOAD (the whole file at address
 * 0x400000), PT_INTERP (when `interpreter` is given) and PT_DYNAMIC with DT_NEEDED entries.
 */
function elf(interpreter: string | undefined, needed: readonly string[]): Uint8Array {
  const base = 0x400000;
  const strings = ["", ...needed].join("\0") + "\0";
  const phoff = 64;
  const phnum = 1 + (interpreter === undefined ? 0 : 1) + (needed.length > 0 ? 1 : 0);
  const interpAt = phoff + 56 * phnum;
  const interpBytes = new TextEncoder().encode(`${interpreter ?? ""}\0`);
  const strAt = interpAt + interpBytes.length;
  const strBytes = new TextEncoder().encode(strings);
  const dynAt = Math.ceil((strAt + strBytes.length) / 8) * 8;
  const dynCount = needed.length + 3; // DT_NEEDED…, DT_STRTAB, DT_STRSZ, DT_NULL
  const size = dynAt + 16 * dynCount;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  view.setUint16(16, 2, true); // ET_EXEC
  view.setUint16(18, 0x3e, true);
  view.setBigUint64(0x20, BigInt(phoff), true);
  view.setUint16(0x36, 56, true);
  view.setUint16(0x38, phnum, true);
  let ph = phoff;
  const header = (type: number, offset: number, filesz: number) => {
    view.setUint32(ph, type, true);
    view.setBigUint64(ph + 8, BigInt(offset), true);
    view.setBigUint64(ph + 16, BigInt(base + offset), true);
    view.setBigUint64(ph + 32, BigInt(filesz), true);
    ph += 56;
  };
  header(1, 0, size);
  if (interpreter !== undefined) header(3, interpAt, interpBytes.length);
  if (needed.length > 0) header(2, dynAt, 16 * dynCount);
  bytes.set(interpBytes, interpAt);
  bytes.set(strBytes, strAt);
  let dyn = dynAt;
  const entry = (tag: number, value: number) => {
    view.setBigUint64(dyn, BigInt(tag), true);
    view.setBigUint64(dyn + 8, BigInt(value), true);
    dyn += 16;
  };
  let offset = 1;
  for (const name of needed) {
    entry(1, offset);
    offset += name.length + 1;
  }
  entry(5, base + strAt);
  entry(10, strBytes.length);
  entry(0, 0);
  return bytes;
}

function target(name: string): Target {
  const found = TARGETS.find((t) => t.name === name);
  assert.ok(found, name);
  return found;
}

describe("readElfLinking and checkLinking", () => {
  const MUSL_X64 = ["libstdc++.so.6", "libc.musl-x86_64.so.1"];

  it("reads the loader and the needed libraries", () => {
    assert.deepEqual(readElfLinking(elf("/lib/ld-musl-x86_64.so.1", MUSL_X64)), {
      interpreter: "/lib/ld-musl-x86_64.so.1",
      needed: MUSL_X64,
    });
    assert.deepEqual(readElfLinking(elf(undefined, [])), { interpreter: "", needed: [] });
    assert.equal(readElfLinking(new TextEncoder().encode("#!/bin/sh\n")), undefined);
  });

  it("refuses headers that point outside the file instead of reading garbage", () => {
    const cut = elf("/lib/ld-musl-x86_64.so.1", MUSL_X64);
    assert.throws(() => readElfLinking(cut.subarray(0, 100)), /broken ELF file: a program header/);
    const far = cut.slice();
    new DataView(far.buffer).setBigUint64(64 + 8, 1n << 40n, true); // PT_LOAD's offset
    assert.throws(() => readElfLinking(far), /broken ELF file/);
  });

  it("accepts each Linux target's own loader and libraries", () => {
    const glibcX64: ElfLinking = {
      interpreter: "/lib64/ld-linux-x86-64.so.2",
      needed: ["libc.so.6", "ld-linux-x86-64.so.2", "libpthread.so.0", "libdl.so.2", "libm.so.6"],
    };
    assert.equal(checkLinking(target("x86_64-unknown-linux-gnu"), glibcX64), undefined);
    const denoArm: ElfLinking = {
      interpreter: "/lib/ld-linux-aarch64.so.1",
      needed: ["libdl.so.2", "libgcc_s.so.1", "librt.so.1", "libc.so.6", "ld-linux-aarch64.so.1"],
    };
    assert.equal(checkLinking(target("aarch64-unknown-linux-gnu"), denoArm), undefined);
    assert.equal(
      checkLinking(target("x86_64-unknown-linux-musl"), {
        interpreter: "/lib/ld-musl-x86_64.so.1",
        needed: MUSL_X64,
      }),
      undefined,
    );
    assert.equal(
      checkLinking(target("aarch64-unknown-linux-musl"), {
        interpreter: "/lib/ld-musl-aarch64.so.1",
        needed: ["libstdc++.so.6", "libc.musl-aarch64.so.1"],
      }),
      undefined,
    );
    // macOS and Windows files carry no ELF linking to check.
    assert.equal(checkLinking(target("aarch64-apple-darwin"), undefined), undefined);
  });

  it("names a wrong loader, a wrong CPU's musl, a foreign library and a static file", () => {
    assert.equal(
      checkLinking(target("x86_64-unknown-linux-musl"), {
        interpreter: "/lib64/ld-linux-x86-64.so.2",
        needed: ["libc.so.6"],
      }),
      "expected the musl loader /lib/ld-musl-x86_64.so.1, the file names " +
        "/lib64/ld-linux-x86-64.so.2",
    );
    assert.equal(
      checkLinking(target("aarch64-unknown-linux-gnu"), {
        interpreter: "/lib/ld-musl-aarch64.so.1",
        needed: ["libc.musl-aarch64.so.1"],
      }),
      "expected the glibc loader /lib/ld-linux-aarch64.so.1, the file names " +
        "/lib/ld-musl-aarch64.so.1",
    );
    assert.equal(
      checkLinking(target("aarch64-unknown-linux-musl"), {
        interpreter: "/lib/ld-musl-aarch64.so.1",
        needed: ["libstdc++.so.6", "libc.musl-x86_64.so.1"],
      }),
      "it needs libc.musl-x86_64.so.1, which a musl system may lack (allowed: " +
        "libc.musl-aarch64.so.1, libstdc++.so.6, libgcc_s.so.1)",
    );
    assert.match(
      checkLinking(target("x86_64-unknown-linux-gnu"), {
        interpreter: "/lib64/ld-linux-x86-64.so.2",
        needed: ["libc.so.6", "libssl.so.3"],
      }) ?? "",
      /^it needs libssl\.so\.3, which a glibc system may lack/,
    );
    assert.equal(
      checkLinking(target("x86_64-unknown-linux-gnu"), { interpreter: "", needed: [] }),
      "expected the glibc loader /lib64/ld-linux-x86-64.so.2, the file names no loader (static)",
    );
    assert.equal(
      checkLinking(target("x86_64-unknown-linux-gnu"), undefined),
      "expected an ELF executable",
    );
  });
});

describe("SHA256SUMS and failure messages", () => {
  it("formats checksums like sha256sum, sorted by name", () => {
    assert.equal(
      formatChecksums({ "xmpp-extauth-b": "bb".repeat(32), "xmpp-extauth-a.exe": "aa".repeat(32) }),
      `${"aa".repeat(32)}  xmpp-extauth-a.exe\n${"bb".repeat(32)}  xmpp-extauth-b\n`,
    );
    assert.equal(formatChecksums({}), "");
  });

  it("sums up deno compile's download failure in one line", () => {
    const output = [
      "\x1b[0m\x1b[32mCompile\x1b[0m main.ts to dist/release/x",
      "\x1b[0m\x1b[32mDownload\x1b[0m https://dl.deno.land/release/v2.9.6/denort-x.zip",
      "\x1b[0m\x1b[1m\x1b[31merror\x1b[0m: Writing deno compile executable to temporary file 'x'",
      "",
      "Caused by:",
      "    0: Setting up base binary.",
      "    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-x.zip)",
      "    2: dns error",
      "    3: failed to lookup address information: Name or service not known",
      "",
      "Stack backtrace:",
      "   0: <unknown>",
    ].join("\n");
    assert.equal(
      summarizeFailure(output),
      "cannot download https://dl.deno.land/release/v2.9.6/denort-x.zip: failed to lookup " +
        "address information: Name or service not known (deno compile fetches its runtime for " +
        "each target from the network; try --compiler bun)",
    );
  });

  it("keeps bun's source location", () => {
    const output =
      "1 | const x: = 1\n             ^\nerror: Unexpected =\n    at /src/bad.ts:1:10\n";
    assert.equal(summarizeFailure(output), "Unexpected = at /src/bad.ts:1:10");
    assert.equal(summarizeFailure(""), "no output");
  });
});

describe("release.ts with bun (real cross-compilation)", { skip: ONCE_ON_DENO }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "release-build-"));
    writeFileSync(join(dir, "version.ts"), 'export const VERSION = "0.1.0";\n');
    writeFileSync(
      join(dir, "entry.ts"),
      'import { VERSION } from "./version.ts";\nconsole.log(`entry ${VERSION}`);\n',
    );
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    "builds linux glibc and musl executables and the two .debs, stamps the version, writes SHA256SUMS",
    {
      timeout: 300_000,
    },
    () => {
      const out = join(dir, "out");
      const run = runRelease([
        "--compiler",
        "bun",
        "--targets",
        "x86_64-unknown-linux-gnu,aarch64-unknown-linux-gnu," +
        "x86_64-unknown-linux-musl,aarch64-unknown-linux-musl",
        "--version",
        "9.8.7",
        "--version-file",
        join(dir, "version.ts"),
        "--entry",
        join(dir, "entry.ts"),
        "--out-dir",
        out,
        // lintian on the real program's package is tests/deb_test.ts's; here the tiny entry's.
        "--no-lintian",
        ...(RPMBUILD ? ["--rpm"] : []),
      ]);
      assert.equal(run.stderr, "");
      assert.equal(run.status, 0);
      assert.deepEqual(
        readdirSync(out).sort(),
        [
          "SHA256SUMS",
          "xmpp-extauth-aarch64-unknown-linux-gnu",
          "xmpp-extauth-aarch64-unknown-linux-musl",
          "xmpp-extauth-x86_64-unknown-linux-gnu",
          "xmpp-extauth-x86_64-unknown-linux-musl",
          ...(RPMBUILD
            ? ["xmpp-extauth-9.8.7-1.aarch64.rpm", "xmpp-extauth-9.8.7-1.x86_64.rpm"]
            : []),
          "xmpp-extauth_9.8.7_amd64.deb",
          "xmpp-extauth_9.8.7_arm64.deb",
        ].sort(),
      );

      // SHA256SUMS: "HEX  NAME" per file, matching the files' real digests.
      const sums = readFileSync(join(out, "SHA256SUMS"), "utf8");
      const lines = sums.trimEnd().split("\n");
      assert.equal(lines.length, RPMBUILD ? 8 : 6);
      for (const line of lines) {
        const match = /^([0-9a-f]{64}) {2}(xmpp-extauth[-_][a-z0-9_.-]+)$/.exec(line);
        assert.ok(match, `bad SHA256SUMS line: ${line}`);
        const digest = createHash("sha256").update(readFileSync(join(out, match[2] ?? "")))
          .digest();
        assert.equal(match[1], digest.toString("hex"));
      }

      // The arm64 file is a 64-bit little-endian ELF for aarch64: e_machine 0xB7 at offset 18.
      const arm = readFileSync(join(out, "xmpp-extauth-aarch64-unknown-linux-gnu"));
      assert.deepEqual([...arm.subarray(0, 6)], [0x7f, 0x45, 0x4c, 0x46, 2, 1]);
      assert.equal(arm.readUInt16LE(18), 0xb7);
      const x64 = readFileSync(join(out, "xmpp-extauth-x86_64-unknown-linux-gnu"));
      assert.equal(x64.readUInt16LE(18), 0x3e);

      // What each file asks of the system (readelf -l / -d): Alpine's loader and libstdc++ for
      // the musl builds, glibc's for the others. The script printed the same.
      const linking = (name: string) => readElfLinking(readFileSync(join(out, name)));
      assert.deepEqual(linking("xmpp-extauth-x86_64-unknown-linux-musl"), {
        interpreter: "/lib/ld-musl-x86_64.so.1",
        needed: ["libstdc++.so.6", "libc.musl-x86_64.so.1"],
      });
      assert.deepEqual(linking("xmpp-extauth-aarch64-unknown-linux-musl"), {
        interpreter: "/lib/ld-musl-aarch64.so.1",
        needed: ["libstdc++.so.6", "libc.musl-aarch64.so.1"],
      });
      assert.equal(
        linking("xmpp-extauth-x86_64-unknown-linux-gnu")?.interpreter,
        "/lib64/ld-linux-x86-64.so.2",
      );
      assert.equal(
        linking("xmpp-extauth-aarch64-unknown-linux-gnu")?.interpreter,
        "/lib/ld-linux-aarch64.so.1",
      );
      assert.match(
        run.stdout,
        /xmpp-extauth-x86_64-unknown-linux-musl with bun\n {2}\d+\.\d MB, ELF x86_64, loader \/lib\/ld-musl-x86_64\.so\.1, needs libstdc\+\+\.so\.6 libc\.musl-x86_64\.so\.1, sha256 [0-9a-f]{64}\n/,
      );

      // Each glibc executable is packaged for its Debian architecture, as it was built.
      for (const [arch, target] of [["amd64", "x86_64"], ["arm64", "aarch64"]]) {
        const deb = join(out, `xmpp-extauth_9.8.7_${arch}.deb`);
        const field = (name: string) =>
          spawnSync("dpkg-deb", ["--field", deb, name], { encoding: "utf8" }).stdout.trim();
        assert.equal(field("Architecture"), arch);
        assert.equal(field("Version"), "9.8.7");
        assert.match(field("Depends"), /^libc6 \(>= 2\.\d+\)$/);
        const extracted = join(dir, `deb-${arch}`);
        assert.equal(spawnSync("dpkg-deb", ["-x", deb, extracted]).status, 0);
        assert.ok(
          readFileSync(join(extracted, "usr/bin/xmpp-extauth"))
            .equals(readFileSync(join(out, `xmpp-extauth-${target}-unknown-linux-gnu`))),
        );
      }
      assert.match(
        run.stdout,
        /\npackaged xmpp-extauth_9\.8\.7_arm64\.deb with dpkg-deb\n {2}\d+\.\d MB, Depends: libc6 \(>= 2\.\d+\), sha256 [0-9a-f]{64}\n/,
      );
      assert.match(
        run.stdout,
        RPMBUILD
          ? /\nwrote 4 executables, 2 Debian packages, 2 RPM packages and SHA256SUMS to /
          : /\nwrote 4 executables, 2 Debian packages and SHA256SUMS to /,
      );
      // The RPMs: rpm reads their CPU, version, files and the glibc they need.
      for (const arch of RPMBUILD ? ["x86_64", "aarch64"] : []) {
        const rpm = join(out, `xmpp-extauth-9.8.7-1.${arch}.rpm`);
        const query = (...args: string[]) =>
          spawnSync("rpm", ["-qp", ...args, rpm], { encoding: "utf8" }).stdout;
        assert.equal(
          query("--queryformat", "%{NAME} %{VERSION}-%{RELEASE} %{ARCH}"),
          `xmpp-extauth 9.8.7-1 ${arch}`,
        );
        assert.deepEqual(query("--list").trimEnd().split("\n"), RPM_FILES);
        assert.match(query("--requires"), /^libc\.so\.6\(GLIBC_2\.\d+\)\(64bit\)$/m);
      }

      // The native one runs, with the version written by --version.
      if (process.platform === "linux" && process.arch === "x64") {
        const ran = spawnSync(join(out, "xmpp-extauth-x86_64-unknown-linux-gnu"), [], {
          encoding: "utf8",
        });
        assert.equal(ran.stdout, "entry 9.8.7\n");
      }
    },
  );

  it("fails with a one-line message when the compiler fails, and leaves no SHA256SUMS", {
    timeout: 120_000,
  }, () => {
    const bad = join(dir, "bad.ts");
    writeFileSync(bad, "const x: = 1;\n");
    const out = join(dir, "out-bad");
    const run = runRelease([
      "--compiler",
      "bun",
      "--targets",
      "x86_64-unknown-linux-gnu",
      "--entry",
      bad,
      "--out-dir",
      out,
    ]);
    assert.equal(run.status, 1);
    assert.equal(
      run.stderr,
      `Cannot build xmpp-extauth-x86_64-unknown-linux-gnu: bun build failed (exit code 1): ` +
        `Unexpected = at ${bad}:1:10\n`,
    );
    assert.deepEqual(readdirSync(out), []);
  });
});
