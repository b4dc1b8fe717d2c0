/**
 * Builds the Debian package `xmpp-extauth_VERSION_ARCH.deb` (amd64, arm64) from a release
 * executable, with Debian's own `dpkg-deb` (no archive code of ours), and checks it with
 * `lintian` when that is installed. `scripts/release.ts` calls it for each bun-compiled
 * `linux-gnu` target; it also runs alone:
 *
 * ```sh
 * deno run -A scripts/deb.ts --binary dist/xmpp-extauth --arch amd64 --out-dir dist/release
 * ```
 *
 * The package holds:
 *
 * ```text
 * /usr/bin/xmpp-extauth                                   the executable, as built (0755)
 * /usr/share/man/man1/xmpp-extauth.1.gz                   scripts/man_page.ts, gzip -9n
 * /usr/share/doc/xmpp-extauth/copyright                   DEP-5
 * /usr/share/doc/xmpp-extauth/changelog.gz                Debian changelog format, gzip -9n
 * /usr/share/doc/xmpp-extauth/examples/config.json        an example --config file
 * /usr/share/lintian/overrides/xmpp-extauth               why the Bun executable's tags are expected
 * ```
 *
 * `Depends: libc6 (>= X)`, X the newest `GLIBC_x.y` symbol version the executable asks for
 * (read with `readelf -V`, which reads any ELF whatever the build machine's CPU). No
 * maintainer scripts and no service: the XMPP server starts the program. The executable is
 * not stripped: a Bun single-file executable keeps its program after the ELF sections, and
 * `strip` cuts it off.
 *
 * `SOURCE_DATE_EPOCH` (seconds), when set, dates the changelog and the man page and is every
 * file's time in the archive, so the same inputs give the same package.
 *
 * Uses only `node:` modules: runs under `deno run -A` and `bun`.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { manPage } from "./man_page.ts";

/** Debian's architecture names for the two Linux CPUs. */
export type DebArch = "amd64" | "arm64";

/** The package name, also the executable's and the man page's. */
export const PACKAGE = "xmpp-extauth";

/** Who answers for the package unless `DEB_MAINTAINER` says otherwise. */
export const DEFAULT_MAINTAINER =
  "xmpp-extauth maintainers <maintainers@users.noreply.r-seed-b76ae6e6.example>";

/** What one package build needs. */
export interface DebOptions {
  /** The executable to package (a bun-compiled glibc build). */
  binary: string;
  arch: DebArch;
  /** The program's version, as `--version` prints it (1.2.3, 1.2.3-rc.1). */
  version: string;
  outDir: string;
  maintainer?: string;
  /** The project's web page; left out of the package when unknown. */
  homepage?: string;
  /** Seconds since 1970: the changelog's date and every file's time. Default: now. */
  epoch?: number;
}

/** The files of the package, as `dpkg -L` lists them (directories left out). */
export const PACKAGE_FILES: readonly string[] = [
  "/usr/bin/xmpp-extauth",
  "/usr/share/doc/xmpp-extauth/changelog.gz",
  "/usr/share/doc/xmpp-extauth/copyright",
  "/usr/share/doc/xmpp-extauth/examples/config.json",
  "/usr/share/lintian/overrides/xmpp-extauth",
  "/usr/share/man/man1/xmpp-extauth.1.gz",
];

/**
 * A program version as a Debian version of a native package: a pre-release (`-rc.1`) becomes
 * `~rc.1`, which dpkg sorts before the release, as semver does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(debianVersion("1.2.3"), "1.2.3");
 * assert.equal(debianVersion("1.2.3-rc.1"), "1.2.3~rc.1");
 * assert.equal(debianVersion("1.2.3-rc.1+build.5"), "1.2.3~rc.1+build.5");
 * ```
 */
export function debianVersion(version: string): string {
  const match = /^(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/.exec(version);
  if (match === null) throw new Error(`Cannot package version ${version}: not like 1.2.3`);
  const [, release, pre, build] = match;
  return `${release}${pre === undefined ? "" : `~${pre.replaceAll("-", ".")}`}${
    build === undefined ? "" : `+${build.replaceAll("-", ".")}`
  }`;
}

/** The package's file name: `xmpp-extauth_VERSION_ARCH.deb`. */
export function debFileName(version: string, arch: DebArch): string {
  return `${PACKAGE}_${debianVersion(version)}_${arch}.deb`;
}

/**
 * The newest glibc symbol version (`GLIBC_x.y`) in `readelf -V` output; undefined when none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const out = "  0x0010:   Name: GLIBC_2.2.5  Flags: none\n  0x0020:   Name: GLIBC_2.17\n" +
 *   "  0x0030:   Name: GLIBC_2.3.4\n  0x0040:   Name: GLIBC_PRIVATE\n";
 * assert.equal(newestGlibc(out), "2.17");
 * ```
 */
export function newestGlibc(readelfOutput: string): string | undefined {
  const versions = [...readelfOutput.matchAll(/\bGLIBC_(\d+(?:\.\d+)+)\b/g)].map((m) => m[1]!);
  const parts = (v: string) => v.split(".").map(Number);
  const newer = (a: string, b: string) => {
    const [x, y] = [parts(a), parts(b)];
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      const d = (x[i] ?? 0) - (y[i] ?? 0);
      if (d !== 0) return d > 0;
    }
    return false;
  };
  return versions.reduce<string | undefined>(
    (best, v) => (best === undefined || newer(v, best) ? v : best),
    undefined,
  );
}

/** Runs a tool; throws a one-line error when it cannot run or fails. */
function run(command: string, args: string[], what: string, input?: Uint8Array): Buffer {
  const result = spawnSync(command, args, {
    input,
    maxBuffer: 512 * 1024 * 1024,
    stdio: ["pipe", "pipe", "pipe"],
  });
  if (result.error !== undefined) {
    throw new Error(`Cannot ${what}: cannot run ${command}: ${result.error.message}`);
  }
  if (result.status !== 0) {
    const why = result.stderr.toString().trim().split("\n").at(-1) ?? "";
    throw new Error(`Cannot ${what}: ${command} exited with ${result.status}: ${why}`);
  }
  return result.stdout;
}

/** The glibc version the executable needs, from its symbol versions (`readelf -V`). */
export function glibcNeeded(binary: string): string {
  const out = run("readelf", ["-V", "-W", binary], "read the symbol versions").toString();
  const version = newestGlibc(out);
  if (version === undefined) {
    throw new Error(`Cannot find the glibc version of ${binary}: no GLIBC_x.y symbol version`);
  }
  return version;
}

/** A date as the changelog's trailer wants it (RFC 2822, UTC). */
function rfc2822(epoch: number): string {
  const d = new Date(epoch * 1000);
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
  ];
  const two = (n: number) => String(n).padStart(2, "0");
  return `${days[d.getUTCDay()]}, ${two(d.getUTCDate())} ${months[d.getUTCMonth()]} ` +
    `${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:` +
    `${two(d.getUTCSeconds())} +0000`;
}

/** `DEBIAN/control`. */
export function controlFile(
  o: { version: string; arch: DebArch; glibc: string; maintainer: string; homepage?: string },
  installedKiB: number,
): string {
  return [
    `Package: ${PACKAGE}`,
    `Version: ${debianVersion(o.version)}`,
    `Architecture: ${o.arch}`,
    `Maintainer: ${o.maintainer}`,
    `Installed-Size: ${installedKiB}`,
    `Depends: libc6 (>= ${o.glibc})`,
    "Section: net",
    "Priority: optional",
    ...(o.homepage === undefined ? [] : [`Homepage: ${o.homepage}`]),
    "Description: external authentication for XMPP servers against an HTTP API",
    " xmpp-extauth is the external authentication program of ejabberd, Prosody",
    " and MongooseIM: the server starts it and writes requests (log in, user",
    " exists, change password, register, remove) to its standard input; it asks",
    " the site's HTTP API and writes the answer back. It retries safe requests,",
    " can remember answers through an API outage (optionally in one SQLite file",
    " shared by the server's pool), signs requests, and never logs a secret.",
    " .",
    " The package installs the executable and its manual page, and no service:",
    " the XMPP server starts the program. The executable carries its own",
    " JavaScript runtime (Bun).",
    "",
  ].join("\n");
}

/** `usr/share/doc/xmpp-extauth/changelog` (Debian format), before gzip. */
export function changelog(version: string, maintainer: string, epoch: number): string {
  return `${PACKAGE} (${debianVersion(version)}) unstable; urgency=medium\n\n` +
    `  * Release ${version}; the changes are in the project's git history.\n\n` +
    ` -- ${maintainer}  ${rfc2822(epoch)}\n`;
}

/** `usr/share/doc/xmpp-extauth/copyright` (DEP-5 machine-readable format). */
export function copyright(maintainer: string, year: number, homepage?: string): string {
  return [
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
    `Upstream-Name: ${PACKAGE}`,
    `Upstream-Contact: ${maintainer}`,
    ...(homepage === undefined ? [] : [`Source: ${homepage}`]),
    "Comment: The executable is a Bun single-file executable: it embeds the Bun",
    " runtime, which is under the MIT license and itself includes libraries",
    " under other licenses (among them JavaScriptCore, LGPL-2), listed at",
    " https://bun.sh/docs/project/licensing.",
    "",
    "Files: *",
    `Copyright: ${year} the xmpp-extauth authors`,
    "License: unspecified",
    "",
    "Files: usr/bin/xmpp-extauth",
    `Copyright: ${year} the xmpp-extauth authors`,
    " Oven and the Bun contributors",
    "License: unspecified and MIT",
    "",
    "License: unspecified",
    " The xmpp-extauth repository does not name a license yet; until it does,",
    " ask the authors before redistributing this package.",
    "",
    "License: MIT",
    " Permission is hereby granted, free of charge, to any person obtaining a",
    ' copy of this software and associated documentation files (the "Software"),',
    " to deal in the Software without restriction, including without limitation",
    " the rights to use, copy, modify, merge, publish, distribute, sublicense,",
    " and/or sell copies of the Software, and to permit persons to whom the",
    " Software is furnished to do so, subject to the following conditions:",
    " .",
    " The above copyright notice and this permission notice shall be included in",
    " all copies or substantial portions of the Software.",
    " .",
    ' THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR',
    " IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,",
    " FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE",
    " AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER",
    " LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING",
    " FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER",
    " DEALINGS IN THE SOFTWARE.",
    "",
  ].join("\n");
}

/** The example `--config` file installed under the package's doc folder. */
export const EXAMPLE_CONFIG = `${
  JSON.stringify(
    {
      url: "https://accounts.example.org/xmpp",
      "token-file": "/etc/xmpp-extauth/token",
      timeout: "3s",
      "stale-ttl": "1h",
      "log-file": "/var/log/ejabberd/xmpp-extauth.log",
    },
    null,
    2,
  )
}\n`;

/**
 * The lintian overrides: the tags that follow from a Bun single-file executable, each with
 * why it is expected. Everything else lintian reports is fixed in the package instead.
 */
export const LINTIAN_OVERRIDES = [
  "# A Bun single-file executable keeps the program after its ELF sections; strip cuts it off",
  "# (the stripped file runs plain bun), so the executable ships as Bun builds it.",
  "xmpp-extauth: unstripped-binary-or-object [usr/bin/xmpp-extauth]",
  "# Bun links its runtime's libraries into the executable (lintian recognises libjpeg's);",
  "# they are Bun's, updated with Bun, not the system's.",
  "xmpp-extauth: embedded-library * [usr/bin/xmpp-extauth]",
  "# Bun's runtime is built with its own toolchain and linker flags, not Debian's; no build",
  "# flag of ours changes how it was linked.",
  "xmpp-extauth: hardening-no-bindnow [usr/bin/xmpp-extauth]",
  "xmpp-extauth: hardening-no-pie [usr/bin/xmpp-extauth]",
  "xmpp-extauth: hardening-no-relro [usr/bin/xmpp-extauth]",
  "# The misspelt words are in the strings of Bun's runtime and JavaScriptCore, not ours.",
  "xmpp-extauth: spelling-error-in-binary * [usr/bin/xmpp-extauth]",
  "",
].join("\n");

/** gzip -9n: maximum compression, no name and no time in the header (reproducible). */
function gzip(bytes: Uint8Array): Buffer {
  return run("gzip", ["-9n"], "compress", bytes);
}

/** What `buildDeb` wrote. */
export interface BuiltDeb {
  /** The package's path. */
  file: string;
  /** Its name in `outDir`. */
  name: string;
  sha256: string;
  /** The `libc6` version it depends on. */
  glibc: string;
}

/** Every regular file under `dir`, as paths relative to it, sorted. */
function filesUnder(dir: string, skip: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        if (path !== skip) walk(path);
      } else out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * Writes the installed files into `root` (as `root/usr/...`): the executable, the man page, the
 * doc folder and, for the .deb, the lintian overrides. `scripts/rpm.ts` packages the same tree.
 */
export function layoutPayload(
  root: string,
  options: Pick<DebOptions, "binary" | "version" | "maintainer" | "homepage"> & { epoch: number },
  { lintianOverrides = true }: { lintianOverrides?: boolean } = {},
): void {
  const { epoch } = options;
  const maintainer = options.maintainer ?? DEFAULT_MAINTAINER;
  const put = (path: string, content: Uint8Array | string, mode = 0o644) => {
    const file = join(root, path);
    mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
    writeFileSync(file, content);
    chmodSync(file, mode);
  };
  const bin = join(root, "usr/bin/xmpp-extauth");
  mkdirSync(dirname(bin), { recursive: true, mode: 0o755 });
  copyFileSync(options.binary, bin);
  chmodSync(bin, 0o755);
  const date = new Date(epoch * 1000).toISOString().slice(0, 10);
  put(
    "usr/share/man/man1/xmpp-extauth.1.gz",
    gzip(Buffer.from(manPage({ version: options.version, date }))),
  );
  const doc = "usr/share/doc/xmpp-extauth";
  put(
    `${doc}/copyright`,
    copyright(maintainer, new Date(epoch * 1000).getUTCFullYear(), options.homepage),
  );
  put(`${doc}/changelog.gz`, gzip(Buffer.from(changelog(options.version, maintainer, epoch))));
  put(`${doc}/examples/config.json`, EXAMPLE_CONFIG);
  if (lintianOverrides) put("usr/share/lintian/overrides/xmpp-extauth", LINTIAN_OVERRIDES);
}

/** Every folder under `root` 0755 (mkdtemp makes the root 0700), every time `epoch`. */
export function stampTree(root: string, epoch: number): void {
  const stamp = (path: string) => {
    if (statSync(path).isDirectory()) {
      chmodSync(path, 0o755);
      for (const name of readdirSync(path)) stamp(join(path, name));
    }
    utimesSync(path, epoch, epoch);
  };
  stamp(root);
}

/** Lays out the package tree in a temporary folder and builds it with `dpkg-deb`. */
export function buildDeb(options: DebOptions): BuiltDeb {
  const epoch = options.epoch ?? Math.floor(Date.now() / 1000);
  const maintainer = options.maintainer ?? DEFAULT_MAINTAINER;
  const glibc = glibcNeeded(options.binary);
  const root = mkdtempSync(join(tmpdir(), "xmpp-extauth-deb-"));
  try {
    const put = (path: string, content: Uint8Array | string, mode = 0o644) => {
      const file = join(root, path);
      mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
      writeFileSync(file, content);
      chmodSync(file, mode);
    };
    layoutPayload(root, { ...options, epoch });

    const control = join(root, "DEBIAN");
    const files = filesUnder(root, control);
    const md5sums = files.map((f) =>
      `${createHash("md5").update(readFileSync(join(root, f))).digest("hex")}  ${f}\n`
    ).join("");
    // Installed-Size: KiB, each file rounded up, as dpkg-gencontrol counts.
    const kib = files.reduce((sum, f) => sum + Math.ceil(statSync(join(root, f)).size / 1024), 0);
    const controlOptions = {
      version: options.version,
      arch: options.arch,
      glibc,
      maintainer,
      ...(options.homepage === undefined ? {} : { homepage: options.homepage }),
    };
    put("DEBIAN/control", controlFile(controlOptions, kib));
    put("DEBIAN/md5sums", md5sums);
    stampTree(root, epoch);

    mkdirSync(options.outDir, { recursive: true });
    const name = debFileName(options.version, options.arch);
    const file = join(options.outDir, name);
    rmSync(file, { force: true });
    run(
      "dpkg-deb",
      // gzip: every dpkg reads it, and it packs the 100 MB executable in a few seconds
      // (xz at its default level takes several times as long for a quarter less).
      ["--root-owner-group", "-Zgzip", "-z6", "--build", root, file],
      `build ${name}`,
    );
    const sha256 = createHash("sha256").update(readFileSync(file)).digest("hex");
    return { file, name, sha256, glibc };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** What lintian said about a package. */
export interface LintianResult {
  /** False when lintian is not installed. */
  ran: boolean;
  /** Exit status 0 with `--fail-on error`: no error-level tag. */
  ok: boolean;
  /** Its whole output (tags of every level, and the overridden ones). */
  output: string;
}

/** Runs `lintian --fail-on error` on a package; `ran: false` when lintian is not installed. */
export function lintian(file: string): LintianResult {
  const result = spawnSync(
    "lintian",
    // (--show-overrides would count the overridden errors toward --fail-on.)
    ["--fail-on", "error", "--display-info", file],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.error !== undefined) return { ran: false, ok: false, output: "" };
  return { ran: true, ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

/** `GITHUB_SERVER_URL/GITHUB_REPOSITORY` under GitHub Actions, else undefined. */
export function homepageFromEnvironment(
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  if (env.DEB_HOMEPAGE !== undefined && env.DEB_HOMEPAGE !== "") return env.DEB_HOMEPAGE;
  const server = env.GITHUB_SERVER_URL;
  const repository = env.GITHUB_REPOSITORY;
  return server && repository ? `${server}/${repository}` : undefined;
}

/** `SOURCE_DATE_EPOCH` when set and a number, else undefined. */
export function epochFromEnvironment(
  env: Record<string, string | undefined> = process.env,
): number | undefined {
  const value = env.SOURCE_DATE_EPOCH;
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

if (import.meta.main) {
  try {
    const { values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        binary: { type: "string", default: "dist/xmpp-extauth" },
        arch: { type: "string", default: process.arch === "arm64" ? "arm64" : "amd64" },
        version: { type: "string" },
        "out-dir": { type: "string", default: "dist" },
      },
    });
    if (values.arch !== "amd64" && values.arch !== "arm64") {
      throw new Error(`Cannot parse --arch: ${values.arch} is not amd64 or arm64`);
    }
    if (!existsSync(values.binary)) {
      throw new Error(`Cannot package: ${values.binary} does not exist`);
    }
    const { VERSION } = await import("../lib/core/version.ts");
    const homepage = homepageFromEnvironment();
    const epoch = epochFromEnvironment();
    const built = buildDeb({
      binary: resolve(values.binary),
      arch: values.arch,
      version: values.version ?? VERSION,
      outDir: resolve(values["out-dir"]),
      ...(process.env.DEB_MAINTAINER ? { maintainer: process.env.DEB_MAINTAINER } : {}),
      ...(homepage === undefined ? {} : { homepage }),
      ...(epoch === undefined ? {} : { epoch }),
    });
    console.log(
      `wrote ${
        relative(process.cwd(), built.file)
      }: Depends libc6 (>= ${built.glibc}), sha256 ${built.sha256}`,
    );
    const lint = lintian(built.file);
    if (!lint.ran) console.log("lintian is not installed: the package was not checked");
    else {
      process.stdout.write(lint.output);
      console.log(lint.ok ? "lintian: no errors" : "lintian reported errors (above)");
      if (!lint.ok) process.exit(1);
    }
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
