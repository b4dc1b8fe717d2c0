/**
 * Builds the RPM package `xmpp-extauth-VERSION-1.ARCH.rpm` (x86_64, aarch64) for RHEL-family
 * hosts from the same tree as the .deb (`layoutPayload` of scripts/deb.ts, less the lintian
 * overrides), with `rpmbuild -bb` (Debian packages it: `apt-get install rpm`).
 * `scripts/release.ts --rpm` calls it for each bun-compiled `linux-gnu` target.
 *
 * Nothing is compiled: `%install` copies the tree. The brp scripts (`__os_install_post`,
 * which would strip the executable and cut off the program a Bun single-file executable
 * carries after its ELF sections) and the debuginfo subpackage are off. The `Requires` are
 * rpm's own, read from the executable's ELF (`libc.so.6(GLIBC_2.17)(64bit)` and the like).
 *
 * Uses only `node:` modules: runs under `deno run -A` and `bun`.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { DEFAULT_MAINTAINER, layoutPayload, PACKAGE, stampTree } from "./deb.ts";

/** RPM's architecture names for the two Linux CPUs. */
export type RpmArch = "x86_64" | "aarch64";

/** What one RPM build needs. */
export interface RpmOptions {
  binary: string;
  arch: RpmArch;
  /** The program's version (1.2.3, 1.2.3-rc.1). */
  version: string;
  outDir: string;
  maintainer?: string;
  homepage?: string;
  /** Seconds since 1970: the changelog's date and every file's time. */
  epoch?: number;
}

/** The files of the RPM, as `rpm -qlp` lists them. */
export const RPM_FILES: readonly string[] = [
  "/usr/bin/xmpp-extauth",
  "/usr/share/doc/xmpp-extauth",
  "/usr/share/doc/xmpp-extauth/changelog.gz",
  "/usr/share/doc/xmpp-extauth/copyright",
  "/usr/share/doc/xmpp-extauth/examples",
  "/usr/share/doc/xmpp-extauth/examples/config.json",
  "/usr/share/man/man1/xmpp-extauth.1.gz",
];

/**
 * A program version as an RPM version: `-` is not allowed, a pre-release becomes `~rc.1`,
 * which rpm (4.10 and later) sorts before the release.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(rpmVersion("1.2.3-rc.1"), "1.2.3~rc.1");
 * ```
 */
export function rpmVersion(version: string): string {
  return version.replace(/-/, "~").replaceAll("-", ".");
}

/** The package's file name: `xmpp-extauth-VERSION-1.ARCH.rpm`. */
export function rpmFileName(version: string, arch: RpmArch): string {
  return `${PACKAGE}-${rpmVersion(version)}-1.${arch}.rpm`;
}

/** The spec file: copies `tree` into the build root and lists its files. */
export function specFile(o: {
  version: string;
  arch: RpmArch;
  tree: string;
  maintainer: string;
  homepage?: string;
}): string {
  return [
    // No brp scripts (they strip), no debuginfo package, no build-id links.
    "%global __os_install_post %{nil}",
    "%global debug_package %{nil}",
    "%global _build_id_links none",
    "%global _binary_payload w6.gzdio",
    `Name: ${PACKAGE}`,
    `Version: ${rpmVersion(o.version)}`,
    "Release: 1",
    "Summary: External authentication for XMPP servers against an HTTP API",
    // The repository names no license yet (see usr/share/doc/xmpp-extauth/copyright).
    "License: LicenseRef-unspecified",
    ...(o.homepage === undefined ? [] : [`URL: ${o.homepage}`]),
    `Packager: ${o.maintainer}`,
    // The CPU comes from rpmbuild --target (BuildArch would refuse a foreign one).
    "",
    "%description",
    "xmpp-extauth is the external authentication program of ejabberd, Prosody and",
    "MongooseIM: the server starts it and writes requests to its standard input; it",
    "asks the site's HTTP API and writes the answer back. The package installs the",
    "executable (which carries its own JavaScript runtime, Bun) and its manual page,",
    "and no service: the XMPP server starts the program.",
    "",
    "%install",
    `cp -a ${JSON.stringify(`${o.tree}/.`)} %{buildroot}/`,
    "",
    "%files",
    "%attr(0755, root, root) /usr/bin/xmpp-extauth",
    "%attr(0644, root, root) /usr/share/man/man1/xmpp-extauth.1.gz",
    "%dir %attr(0755, root, root) /usr/share/doc/xmpp-extauth",
    "%dir %attr(0755, root, root) /usr/share/doc/xmpp-extauth/examples",
    "%attr(0644, root, root) /usr/share/doc/xmpp-extauth/changelog.gz",
    "%attr(0644, root, root) /usr/share/doc/xmpp-extauth/copyright",
    "%attr(0644, root, root) /usr/share/doc/xmpp-extauth/examples/config.json",
    "",
  ].join("\n");
}

/** What `buildRpm` wrote. */
export interface BuiltRpm {
  file: string;
  name: string;
  sha256: string;
}

/** Builds the RPM with `rpmbuild -bb` in a temporary top folder. */
export function buildRpm(options: RpmOptions): BuiltRpm {
  const epoch = options.epoch ?? Math.floor(Date.now() / 1000);
  const maintainer = options.maintainer ?? DEFAULT_MAINTAINER;
  const top = mkdtempSync(join(tmpdir(), "xmpp-extauth-rpm-"));
  try {
    const tree = join(top, "tree");
    layoutPayload(tree, { ...options, epoch }, { lintianOverrides: false });
    stampTree(tree, epoch);
    const spec = join(top, "xmpp-extauth.spec");
    writeFileSync(
      spec,
      specFile({
        version: options.version,
        arch: options.arch,
        tree,
        maintainer,
        ...(options.homepage === undefined ? {} : { homepage: options.homepage }),
      }),
    );
    const run = spawnSync("rpmbuild", [
      "-bb",
      "--quiet",
      "--define",
      `_topdir ${join(top, "rpmbuild")}`,
      "--define",
      `source_date_epoch_from_changelog 0`,
      "--target",
      `${options.arch}-linux`,
      spec,
    ], {
      encoding: "utf8",
      env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
      maxBuffer: 64 * 1024 * 1024,
    });
    const name = rpmFileName(options.version, options.arch);
    if (run.error !== undefined) {
      throw new Error(`Cannot build ${name}: cannot run rpmbuild: ${run.error.message}`);
    }
    const built = join(top, "rpmbuild", "RPMS", options.arch, name);
    if (run.status !== 0) {
      const why = `${run.stderr}`.trim().split("\n").at(-1) ?? "";
      throw new Error(`Cannot build ${name}: rpmbuild exited with ${run.status}: ${why}`);
    }
    mkdirSync(options.outDir, { recursive: true });
    const file = join(options.outDir, name);
    rmSync(file, { force: true });
    renameSync(built, file);
    const sha256 = createHash("sha256").update(readFileSync(file)).digest("hex");
    return { file, name, sha256 };
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
}
