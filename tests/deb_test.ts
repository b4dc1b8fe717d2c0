/**
 * Tests of the Debian package (scripts/deb.ts) of the real program: built from a fresh
 * `bun build --compile` of main.ts, then read back with Debian's tools (`dpkg-deb`,
 * `dpkg-parsechangelog`, `lintian`) and, as root, installed into this very system with
 * `dpkg -i`, used as ejabberd uses it (as user `nobody`, against a real HTTP API on 127.0.0.1)
 * and purged again in a `finally`. Runs under `deno test --allow-all` and `bun test`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { gunzipSync } from "node:zlib";
import { bunBuildCommand, bunExecutable } from "../scripts/build_flags.ts";
import { buildDeb, type BuiltDeb, EXAMPLE_CONFIG, lintian, PACKAGE_FILES } from "../scripts/deb.ts";
import { ONCE_ON_DENO } from "./helpers/spawn.ts";
import { manPage } from "../scripts/man_page.ts";
import { buildRpm, RPM_FILES } from "../scripts/rpm.ts";
import { parseCommand } from "../lib/cli/config.ts";
import { VERSION } from "../lib/core/version.ts";
import { startApi } from "./helpers/api_server.ts";
import {
  assertReply,
  FALSE,
  MAIN_TS,
  REPO_ROOT,
  runExtauth,
  type Runner,
  startExtauth,
  TRUE,
} from "./helpers/spawn.ts";

/** Whether a command is on PATH. */
function have(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

const EPOCH = 1_767_312_000; // 2026-01-02 00:00:00 UTC
const LINUX_X64 = process.platform === "linux" && process.arch === "x64";
const NO_PACKAGE = ONCE_ON_DENO ||
  (!LINUX_X64
    ? "the package is built and installed for Linux x86-64 (amd64) only"
    : !have("dpkg-deb") || !have("readelf")
    ? "dpkg-deb or readelf is missing (apt-get install dpkg-dev binutils)"
    : false);
const IS_ROOT = typeof process.getuid === "function" && process.getuid() === 0;
const TIMEOUT = 300_000;

let built: Promise<{ dir: string; deb: BuiltDeb; binary: string }> | undefined;

/** Compiles main.ts and packages it, once per test run; the folder is removed at exit. */
function debPackage(): Promise<{ dir: string; deb: BuiltDeb; binary: string }> {
  built ??= Promise.resolve().then(() => {
    const dir = mkdtempSync(join(tmpdir(), "deb-test-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    const binary = join(dir, "xmpp-extauth");
    const [command, ...args] = bunBuildCommand(bunExecutable(), MAIN_TS, binary);
    const run = spawnSync(command!, args, { cwd: REPO_ROOT, encoding: "utf8" });
    assert.equal(run.status, 0, `bun build failed: ${run.stderr}`);
    const deb = buildDeb({ binary, arch: "amd64", version: VERSION, outDir: dir, epoch: EPOCH });
    return { dir, deb, binary };
  });
  return built;
}

/** Runs a tool and returns its stdout; fails the test when it fails. */
function tool(command: string, args: string[], input?: string): string {
  const run = spawnSync(command, args, { encoding: "utf8", input, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(run.status, 0, `${command} ${args.join(" ")}: ${run.stderr}`);
  return run.stdout;
}

/** The folders dpkg lists for the package's files (each parent, up to /usr). */
function folders(): string[] {
  const all = new Set<string>(["/."]);
  for (const file of PACKAGE_FILES) {
    const parts = file.split("/").slice(1, -1);
    for (let i = 1; i <= parts.length; i++) all.add(`/${parts.slice(0, i).join("/")}`);
  }
  return [...all];
}

describe("the Debian package", { skip: NO_PACKAGE }, () => {
  it("holds exactly the expected files, owned by root, with Debian's modes", {
    timeout: TIMEOUT,
  }, async () => {
    const { deb } = await debPackage();
    assert.equal(deb.name, `xmpp-extauth_${VERSION}_amd64.deb`);
    const entries = tool("dpkg-deb", ["--contents", deb.file]).trimEnd().split("\n").map(
      (line) => {
        const [mode, owner, , , , path] = line.split(/ +/);
        return `${mode} ${owner} ${path}`;
      },
    );
    const expected = [
      ...folders().map((d) => `drwxr-xr-x root/root .${d === "/." ? "/" : `${d}/`}`),
      ...PACKAGE_FILES.map((f) =>
        `${f === "/usr/bin/xmpp-extauth" ? "-rwxr-xr-x" : "-rw-r--r--"} root/root .${f}`
      ),
    ];
    assert.deepEqual(entries.sort(), expected.sort());
  });

  it("says what it is and needs: libc6 from the newest GLIBC symbol version", {
    timeout: TIMEOUT,
  }, async () => {
    const { deb, dir } = await debPackage();
    const control = tool("dpkg-deb", ["--field", deb.file]);
    const field = (name: string) => new RegExp(`^${name}: (.*)$`, "m").exec(control)?.[1];
    assert.equal(field("Package"), "xmpp-extauth");
    assert.equal(field("Version"), VERSION);
    assert.equal(field("Architecture"), "amd64");
    assert.equal(field("Section"), "net");
    assert.equal(field("Priority"), "optional");
    // Bun 1.4.4's x86-64 baseline build asks for GLIBC_2.17 at most (README: glibc 2.17).
    assert.equal(field("Depends"), "libc6 (>= 2.17)");
    assert.match(field("Maintainer") ?? "", /^.+ <[^@\s]+@[^@\s]+>$/);
    // Installed-Size (KiB) covers the executable.
    const size = Number(field("Installed-Size"));
    assert.ok(size * 1024 >= readFileSync((await debPackage()).binary).length, String(size));
    // No maintainer scripts, no conffiles, no service: the control archive holds two files.
    const control_dir = join(dir, "control");
    tool("dpkg-deb", ["--control", deb.file, control_dir]);
    assert.deepEqual(
      tool("ls", ["-A", control_dir]).trim().split("\n"),
      ["control", "md5sums"],
    );
    // md5sums holds every file, and every sum is right.
    const tree = join(dir, "tree");
    tool("dpkg-deb", ["--extract", deb.file, tree]);
    const sums = readFileSync(join(control_dir, "md5sums"), "utf8");
    assert.deepEqual(
      sums.trimEnd().split("\n").map((l) => `/${l.split("  ")[1]}`).sort(),
      [...PACKAGE_FILES].sort(),
    );
    tool("sh", ["-c", `cd "${tree}" && md5sum --check --quiet`], sums);
    // The executable is the one that was built, not stripped or changed.
    assert.ok(
      readFileSync(join(tree, "usr/bin/xmpp-extauth")).equals(
        readFileSync((await debPackage()).binary),
      ),
    );
  });

  it("carries the man page, the changelog, the copyright and an example config", {
    timeout: TIMEOUT,
  }, async () => {
    const { dir } = await debPackage();
    const tree = join(dir, "tree-docs");
    tool("dpkg-deb", ["--extract", (await debPackage()).deb.file, tree]);
    const man = readFileSync(join(tree, "usr/share/man/man1/xmpp-extauth.1.gz"));
    // gzip -9n: no file name and no time in the header, maximum compression (XFL 2).
    assert.deepEqual([...man.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
    assert.equal(gunzipSync(man).toString(), manPage({ version: VERSION, date: "2026-01-02" }));
    const changelog = join(tree, "usr/share/doc/xmpp-extauth/changelog.gz");
    if (have("dpkg-parsechangelog")) {
      const parsed = tool("dpkg-parsechangelog", ["-l", changelog]);
      assert.match(parsed, /^Source: xmpp-extauth$/m);
      assert.match(parsed, new RegExp(`^Version: ${VERSION.replaceAll(".", "\\.")}$`, "m"));
      assert.match(parsed, /^Date: Fri, 02 Jan 2026 00:00:00 \+0000$/m);
    }
    const copyright = readFileSync(join(tree, "usr/share/doc/xmpp-extauth/copyright"), "utf8");
    assert.match(
      copyright,
      /^Format: https:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/\n/,
    );
    const example = readFileSync(
      join(tree, "usr/share/doc/xmpp-extauth/examples/config.json"),
      "utf8",
    );
    assert.equal(example, EXAMPLE_CONFIG);
    // docs/packages.md shows the same file as a config example, which
    // tests/blackbox/readme_examples_test.ts starts the real program with.
    const docs = readFileSync(join(REPO_ROOT, "docs/packages.md"), "utf8");
    const shown = /<!-- config-example -->\n\n```json\n([^`]*)```/.exec(docs)?.[1];
    assert.equal(shown, EXAMPLE_CONFIG);
    // The program takes the example as it is (its token file stands in).
    const command = parseCommand({
      args: ["--config", "/usr/share/doc/xmpp-extauth/examples/config.json"],
      env: () => undefined,
      envNames: () => [],
      readFile: (path) => {
        if (path.endsWith("config.json")) return new TextEncoder().encode(example);
        if (path === "/etc/xmpp-extauth/token") return new TextEncoder().encode("token\n");
        throw new Error(`unexpected read of ${path}`);
      },
    });
    assert.equal(command.kind, "serve");
  });

  it("is clean for lintian: no error, no warning, no info tag", {
    timeout: TIMEOUT,
    skip: have("lintian") ? false : "lintian is not installed (apt-get install lintian)",
  }, async () => {
    const result = lintian((await debPackage()).deb.file);
    const tags = result.output.split("\n").filter((l) => /^[EWIPX]: /.test(l));
    assert.deepEqual(tags, []);
    assert.equal(result.ok, true);
  });
});

/**
 * Holds `/tmp/xmpp-extauth-deb-install.lock` (flock) until `release` is called, so that two
 * test runs on one machine never install and purge the package at the same time.
 */
async function lockInstall(): Promise<() => void> {
  const holder: ChildProcess = spawn(
    "flock",
    ["-w", "600", "/tmp/xmpp-extauth-deb-install.lock", "-c", "echo locked; cat >/dev/null"],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("locked")) resolve();
    });
    holder.on("exit", (code) => reject(new Error(`flock exited with ${code}`)));
  });
  return () => holder.stdin!.end();
}

/** apt waits up to 5 minutes for dpkg's lock instead of failing at once. */
const APT_WAIT = ["-o", "DPkg::Lock::Timeout=300"];

const NO_INSTALL = NO_PACKAGE ||
  (!IS_ROOT
    ? "installing into the system needs root"
    : !have("apt-get") || !have("dpkg") || !have("flock") || !have("setpriv")
    ? "apt-get, dpkg, flock or setpriv is missing"
    : false);

describe("the Debian package installed with apt", { skip: NO_INSTALL }, () => {
  it("installs /usr/bin/xmpp-extauth and its man page, serves ejabberd, and purges cleanly", {
    timeout: TIMEOUT,
  }, async () => {
    const { deb } = await debPackage();
    const release = await lockInstall();
    try {
      const owned = spawnSync("dpkg-query", ["--search", "/usr/bin/xmpp-extauth"]).status === 0;
      if (existsSync("/usr/bin/xmpp-extauth") && !owned) {
        assert.fail("/usr/bin/xmpp-extauth exists and belongs to no package: not overwriting it");
      }
      // As docs/packages.md says: apt install ./xmpp-extauth_VERSION_amd64.deb (apt checks
      // Depends against this system; the lock timeout waits for another apt or dpkg).
      tool("apt-get", ["install", "--yes", "--quiet", ...APT_WAIT, deb.file]);
      try {
        assert.match(
          tool("dpkg-query", [
            "--show",
            "--showformat",
            "${db:Status-Status} ${Version}",
            "xmpp-extauth",
          ]),
          new RegExp(`^installed ${VERSION.replaceAll(".", "\\.")}$`),
        );
        // dpkg -L lists exactly the package's folders and files.
        const listed = tool("dpkg", ["--listfiles", "xmpp-extauth"]).trimEnd().split("\n");
        assert.deepEqual(listed.sort(), [...folders(), ...PACKAGE_FILES].sort());

        const installed: Runner = { name: "binary", command: "/usr/bin/xmpp-extauth", prefix: [] };
        const version = await runExtauth(installed, ["--version"]);
        assert.match(
          version.stdoutText,
          new RegExp(
            `^xmpp-extauth ${VERSION.replaceAll(".", "\\.")} \\(bun \\d+\\.\\d+\\.\\d+\\)\\n$`,
          ),
        );
        assert.equal(version.code, 0);
        // As the user the server runs as (nobody stands in for ejabberd).
        const asNobody: Runner = {
          name: "binary",
          command: "setpriv",
          prefix: [
            "--reuid",
            "nobody",
            "--regid",
            "nogroup",
            "--clear-groups",
            "/usr/bin/xmpp-extauth",
          ],
        };
        const selfTest = await runExtauth(asNobody, ["check", "--self-test"], { cwd: "/" });
        assert.equal(selfTest.stderr, "");
        assert.match(selfTest.stdoutText, /^self-test passed: .*\n$/);
        assert.equal(selfTest.code, 0);

        // Serving as ejabberd starts it, against a real API.
        const api = await startApi({ users: { "alice@example.com": "wonderland" } });
        try {
          const p = startExtauth(asNobody, ["--url", api.url], { cwd: "/" });
          try {
            assertReply(
              await p.request("auth:alice:example.com:wonderland"),
              TRUE,
              "right password",
            );
            assertReply(await p.request("auth:alice:example.com:guess"), FALSE, "wrong password");
            assertReply(await p.request("isuser:bob:example.com"), FALSE, "unknown user");
            assert.equal(await p.finish(), 0);
          } finally {
            p.kill();
          }
        } finally {
          await api.close();
        }

        // man finds and shows the page.
        assert.equal(
          tool("man", ["-w", "xmpp-extauth"]),
          "/usr/share/man/man1/xmpp-extauth.1.gz\n",
        );
        const page = spawnSync("man", ["xmpp-extauth"], {
          encoding: "utf8",
          env: {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            MANWIDTH: "100",
            MANPAGER: "cat",
            PAGER: "cat",
          },
        });
        assert.equal(page.stderr, "");
        assert.match(page.stdout, /^XMPP-EXTAUTH\(1\) +User Commands +XMPP-EXTAUTH\(1\)\n/);
        assert.match(page.stdout, /^ +--cache-file FILE\n +keep the cache in this SQLite file/m);
      } finally {
        tool("apt-get", ["purge", "--yes", "--quiet", ...APT_WAIT, "xmpp-extauth"]);
      }
      // Nothing left: no file, no folder of its own, no trace in dpkg's database.
      for (const path of [...PACKAGE_FILES, "/usr/share/doc/xmpp-extauth"]) {
        assert.equal(existsSync(path), false, `${path} is left after the purge`);
      }
      assert.notEqual(spawnSync("dpkg-query", ["--status", "xmpp-extauth"]).status, 0);
    } finally {
      release();
    }
  });
});

describe("the RPM package", {
  skip: NO_PACKAGE ||
    (have("rpmbuild") && have("rpm2cpio") && have("cpio")
      ? false
      : "rpmbuild, rpm2cpio or cpio is missing (apt-get install rpm cpio)"),
}, () => {
  it("lists the same files as the .deb (less lintian's) and carries the executable unchanged", {
    timeout: TIMEOUT,
  }, async () => {
    const { dir, binary } = await debPackage();
    const rpm = buildRpm({ binary, arch: "x86_64", version: VERSION, outDir: dir, epoch: EPOCH });
    assert.equal(rpm.name, `xmpp-extauth-${VERSION}-1.x86_64.rpm`);
    assert.deepEqual(tool("rpm", ["-qlp", rpm.file]).trimEnd().split("\n"), RPM_FILES);
    assert.deepEqual(
      RPM_FILES.filter((f) =>
        !["/usr/share/doc/xmpp-extauth", "/usr/share/doc/xmpp-extauth/examples"].includes(f)
      ),
      PACKAGE_FILES.filter((f) => !f.startsWith("/usr/share/lintian/")),
    );
    const modes = tool("rpm", [
      "-qp",
      "--queryformat",
      "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\\n]",
      rpm.file,
    ]);
    assert.match(modes, /^-rwxr-xr-x root:root \/usr\/bin\/xmpp-extauth$/m);
    assert.match(modes, /^-rw-r--r-- root:root \/usr\/share\/man\/man1\/xmpp-extauth\.1\.gz$/m);
    assert.match(
      tool("rpm", ["-qp", "--requires", rpm.file]),
      /^libc\.so\.6\(GLIBC_2\.17\)\(64bit\)$/m,
    );
    const tree = join(dir, "rpm-tree");
    tool("sh", [
      "-c",
      `mkdir -p "${tree}" && cd "${tree}" && rpm2cpio "${rpm.file}" | cpio -idm --quiet`,
    ]);
    assert.ok(readFileSync(join(tree, "usr/bin/xmpp-extauth")).equals(readFileSync(binary)));
  });
});
