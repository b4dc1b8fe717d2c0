/**
 * No file the program opens, creates, chowns or reopens can be redirected by someone who can
 * write its folder: the fallback log, the configuration-error log, `--log-file` at start and at
 * SIGHUP, and `--cache-file` with its `-wal`. The real program runs as root (as an admin trying it
 * by hand, `… 2>/dev/null`) against folders owned by user `nobody` (standing in for `ejabberd`),
 * who plants links and hard links to root's files kept in a root-only folder; every target's
 * owner, mode and bytes are checked afterwards, and every byte of stdout.
 *
 * Run: `deno test --allow-all tests/blackbox/file_safety_test.ts`, `bun test tests/blackbox/file_safety_test.ts`,
 * `EXTAUTH_TEST_BINARY=dist/xmpp-extauth deno test --allow-all tests/blackbox/file_safety_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { closedPort } from "../helpers/api_server.ts";
import {
  concat,
  ERROR,
  frame,
  hex,
  type Runner,
  runners,
  runWithStderr,
  startExtauth,
  waitUntil,
} from "../helpers/spawn.ts";

const T = { timeout: 60_000 };
const NOBODY = 65534;
const notRoot = process.getuid?.() !== 0
  ? "needs root: the attacks are on root's files, by a folder's owner who is not root"
  : false;

const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : "");

/** A root file's owner, mode, link count and bytes, to compare before and after. */
function snapshot(path: string) {
  const stat = lstatSync(path);
  return {
    uid: stat.uid,
    gid: stat.gid,
    mode: stat.mode,
    nlink: stat.nlink,
    bytes: hex(readFileSync(path)),
  };
}

function suite(runner: Runner) {
  describe(`files the program opens cannot be redirected (${runner.name})`, () => {
    let dir: string;
    let rootOnly: string;
    let url: string;
    let n = 0;
    /** A root file in a root-only folder: the stand-in for /etc/passwd or /etc/shadow. */
    const rootFile = (mode: number, content = "root:x:0:0:root:/root:/bin/bash\n") => {
      const path = join(rootOnly, `target-${++n}`);
      writeFileSync(path, content);
      chmodSync(path, mode);
      return path;
    };
    /** A folder owned by `owner` (nobody by default) with `mode`. */
    const folder = (owner = NOBODY, mode = 0o755) => {
      const path = join(dir, `folder-${++n}`);
      mkdirSync(path);
      chmodSync(path, mode);
      chownSync(path, owner, owner);
      return path;
    };
    /** The variable ejabberdctl exports, for a log in `path`. */
    const ejabberdLog = (path: string) => ({ EJABBERD_LOG_PATH: join(path, "ejabberd.log") });

    before(async () => {
      if (notRoot) return;
      dir = mkdtempSync(join(tmpdir(), "extauth-files-"));
      rootOnly = join(dir, "root-only");
      mkdirSync(rootOnly, { mode: 0o700 });
      url = `http://127.0.0.1:${await closedPort()}/api`;
    });
    after(() => {
      if (!notRoot) rmSync(dir, { recursive: true, force: true });
    });

    const opts = { ...T, skip: notRoot };

    it(
      "the fallback log planted as a link to a root file: not written, not chowned",
      opts,
      async () => {
        const logs = folder();
        const passwd = rootFile(0o644);
        const before = snapshot(passwd);
        symlinkSync(passwd, join(logs, "xmpp-extauth.log"));
        const ran = await runWithStderr(
          runner,
          ["--url", url, "--retries", "0"],
          "devnull",
          ejabberdLog(logs),
          frame("isuser:alice:example.com"),
        );
        assert.equal(ran.code, 0);
        assert.equal(hex(ran.stdout), hex(ERROR), "exactly one error reply");
        assert.deepEqual(snapshot(passwd), before);
      },
    );

    it(
      "the fallback log as a dangling link into a root-only folder: nothing created",
      opts,
      async () => {
        const logs = folder();
        const preload = join(rootOnly, `ld.so.preload-${++n}`);
        symlinkSync(preload, join(logs, "xmpp-extauth.log"));
        const ran = await runWithStderr(runner, ["--url", url], "devnull", ejabberdLog(logs));
        assert.equal(ran.code, 0);
        assert.equal(existsSync(preload), false, "root created a file through the link");
      },
    );

    it(
      "the fallback log as a hard link of a root file: not written, not chowned",
      opts,
      async () => {
        const logs = folder();
        const passwd = rootFile(0o644);
        linkSync(passwd, join(logs, "xmpp-extauth.log"));
        const before = snapshot(passwd);
        assert.equal(before.nlink, 2);
        const ran = await runWithStderr(
          runner,
          ["--url", url, "--retries", "0"],
          "devnull",
          ejabberdLog(logs),
          frame("isuser:alice:example.com"),
        );
        assert.equal(ran.code, 0);
        assert.deepEqual(snapshot(passwd), before);
      },
    );

    it(
      "root's new fallback log goes to the folder's owner; an existing one is never given away",
      opts,
      async () => {
        const logs = folder();
        const ran = await runWithStderr(runner, ["--url", url], "devnull", ejabberdLog(logs));
        assert.equal(ran.code, 0);
        const file = join(logs, "xmpp-extauth.log");
        const stat = lstatSync(file);
        assert.deepEqual([stat.uid, stat.gid, stat.nlink], [NOBODY, NOBODY, 1]);
        assert.equal(stat.mode & 0o137, 0, "0640 at most");
        assert.match(read(file), /stderr goes nowhere/);
        // An existing root-owned fallback log is written but never given away.
        const again = folder();
        writeFileSync(join(again, "xmpp-extauth.log"), "");
        await runWithStderr(runner, ["--url", url], "devnull", ejabberdLog(again));
        assert.equal(statSync(join(again, "xmpp-extauth.log")).uid, 0);
        assert.match(read(join(again, "xmpp-extauth.log")), /stderr goes nowhere/);
      },
    );

    it("a configuration error is not appended through a planted link", opts, async () => {
      const logs = folder();
      const passwd = rootFile(0o644);
      const before = snapshot(passwd);
      symlinkSync(passwd, join(logs, "xmpp-extauth.log"));
      const typo = ["--url", url, "--tiemout", "3s"];
      const fallback = await runWithStderr(runner, typo, "devnull", ejabberdLog(logs));
      assert.equal(fallback.code, 2);
      assert.deepEqual(snapshot(passwd), before, "through the fallback log");
      // The same through an explicit --log-file that is a link in the folder nobody owns.
      const link = join(logs, "chosen.log");
      symlinkSync(passwd, link);
      const explicit = await runWithStderr(runner, [...typo, "--log-file", link], "pipe", {});
      assert.equal(explicit.code, 2);
      assert.equal(explicit.stdout.length, 0);
      assert.deepEqual(snapshot(passwd), before, "through --log-file");
    });

    it(
      "--log-file that is a link in a folder others can write: refused, exit 2",
      opts,
      async () => {
        const target = rootFile(0o640, "");
        for (
          const [owner, mode, why] of [[NOBODY, 0o755, "belongs to uid 65534"], [
            0,
            0o1777,
            "has mode 1777",
          ]] as const
        ) {
          const links = folder(owner, mode);
          const link = join(links, "x.log");
          symlinkSync(target, link);
          const ran = await runWithStderr(runner, ["--url", url, "--log-file", link], "pipe", {});
          assert.equal(ran.code, 2, ran.stderr);
          assert.equal(ran.stdout.length, 0);
          assert.equal(
            ran.stderr,
            `xmpp-extauth: Cannot use --log-file ${link}: it is a symbolic link in a folder other ` +
              `users can write (${links} ${why}); give the file's real path\n`,
          );
          assert.equal(read(target), "", "nothing written through the link");
        }
        // The same link in a folder only root can write: followed.
        const trusted = folder(0, 0o755);
        const link = join(trusted, "x.log");
        symlinkSync(target, link);
        const ran = await runWithStderr(runner, ["--url", url, "--log-file", link], "pipe", {});
        assert.equal(ran.code, 0, ran.stderr);
        assert.match(read(target), /INFO {2}stdin closed after 0 requests; exiting\n$/);
      },
    );

    it(
      "--log-file swapped for a link to a root-only file, then SIGHUP: keeps the old file",
      opts,
      async () => {
        const logs = folder();
        const path = join(logs, "x.log");
        const shadow = rootFile(0o600, "root:$6$secret:19000:0:99999:7:::\n");
        const before = snapshot(shadow);
        const p = startExtauth(runner, ["--url", url, "--retries", "0", "--log-file", path]);
        try {
          await waitUntil(() => /serving ejabberd/.test(read(path)), "the start line", p);
          renameSync(path, `${path}.1`);
          symlinkSync(shadow, path);
          process.kill(p.pid, "SIGHUP");
          await waitUntil(() => /cannot reopen/.test(read(`${path}.1`)), "the reopen error", p);
          assert.equal(hex(await p.request("isuser:alice:example.com")), hex(ERROR));
          assert.equal(await p.finish(), 0);
        } finally {
          p.kill();
        }
        assert.deepEqual(snapshot(shadow), before);
        const old = read(`${path}.1`);
        assert.ok(
          old.includes(
            `ERROR cannot reopen ${path}: it is a symbolic link in a folder other users can write ` +
              `(${logs} belongs to uid 65534); give the file's real path; still logging to the ` +
              "file opened before\n",
          ),
          old,
        );
        assert.match(old, /WARN {2}isuser alice@example\.com: backend error/);
        assert.match(old, /INFO {2}stdin closed after 1 request; exiting\n$/);
        assert.equal(p.stdout.length, 4, "one reply, nothing else");
      },
    );

    it(
      "after SIGHUP the log path leads to stdout: no log byte goes out as a reply",
      opts,
      async () => {
        const logs = folder(0, 0o755); // root's folder: the link is trusted, stdout is not
        const path = join(logs, "x.log");
        // stdout a named pipe, as ejabberd's port is a pipe (Bun's child_process gives a socket,
        // which /proc/self/fd/1 cannot open at all); `cat` passes it on to the test.
        const fifo = join(logs, "stdout");
        execFileSync("mkfifo", [fifo]);
        const viaFifo: Runner = {
          name: runner.name,
          command: "/bin/sh",
          prefix: ["-c", 'cat "$0" & exec "$@" > "$0"', fifo, runner.command, ...runner.prefix],
        };
        const p = startExtauth(viaFifo, ["--url", url, "--retries", "0", "--log-file", path]);
        try {
          await waitUntil(() => /serving ejabberd/.test(read(path)), "the start line", p);
          renameSync(path, `${path}.1`);
          symlinkSync("/proc/self/fd/1", path);
          process.kill(p.pid, "SIGHUP");
          await waitUntil(() => /cannot reopen/.test(read(`${path}.1`)), "the reopen error", p);
          assert.equal(hex(await p.request("isuser:alice:example.com")), hex(ERROR));
          assert.equal(hex(await p.request("isuser:bob:example.com")), hex(ERROR));
          assert.equal(await p.finish(), 0);
        } finally {
          p.kill();
        }
        assert.equal(hex(p.stdout), hex(concat(ERROR, ERROR)), "only the two replies");
        const old = read(`${path}.1`);
        assert.ok(
          old.includes(
            `ERROR cannot reopen ${path}: it is stdout, where only replies may go; still logging ` +
              "to the file opened before\n",
          ),
          old,
        );
        assert.match(old, /INFO {2}stdin closed after 2 requests; exiting\n$/);
      },
    );

    const cacheArgs = (file: string) => [
      "--url",
      url,
      "--retries",
      "0",
      "--stale-ttl",
      "1h",
      "--cache-file",
      file,
    ];
    const cacheWarning = (file: string, problem: string) =>
      `ERROR cannot use --cache-file ${file}: ${problem}; no outage cache until it can be used`;

    it("--cache-file as a link to a root file: the file stays as it was", opts, async () => {
      const empty = rootFile(0o600, "");
      const before = snapshot(empty);
      const folderOfRoot = folder(0, 0o700);
      const link = join(folderOfRoot, "cache.db");
      symlinkSync(empty, link);
      const ran = await runWithStderr(
        runner,
        cacheArgs(link),
        "pipe",
        {},
        frame("isuser:a:example.com"),
      );
      assert.equal(ran.code, 0, ran.stderr);
      assert.equal(hex(ran.stdout), hex(ERROR));
      assert.deepEqual(snapshot(empty), before, "still empty");
      assert.ok(
        ran.stderr.includes(
          cacheWarning(link, "it is a symbolic link (give the file's real path)"),
        ),
        ran.stderr,
      );
    });

    it(
      "--cache-file with its -wal planted as a link: the target stays as it was",
      opts,
      async () => {
        const target = rootFile(0o600, "not a WAL\n");
        const before = snapshot(target);
        const cacheFolder = folder(0, 0o700);
        const file = join(cacheFolder, "cache.db");
        symlinkSync(target, `${file}-wal`);
        const ran = await runWithStderr(
          runner,
          cacheArgs(file),
          "pipe",
          {},
          frame("isuser:a:example.com"),
        );
        assert.equal(ran.code, 0, ran.stderr);
        assert.deepEqual(snapshot(target), before);
        assert.ok(lstatSync(`${file}-wal`).isSymbolicLink(), "the link is left alone");
        assert.ok(
          ran.stderr.includes(cacheWarning(file, "its -wal file is a symbolic link")),
          ran.stderr,
        );
      },
    );

    it("--cache-file in a folder other users can write: refused with a warning", opts, async () => {
      for (
        const [owner, mode, why] of [[NOBODY, 0o700, "belongs to uid 65534"], [
          0,
          0o1777,
          "has mode 1777",
        ], [0, 0o775, "has mode 0775"]] as const
      ) {
        const shared = folder(owner, mode);
        const file = join(shared, "cache.db");
        const ran = await runWithStderr(runner, cacheArgs(file), "pipe", {}, frame("isuser:a:b"));
        assert.equal(ran.code, 0, ran.stderr);
        assert.equal(hex(ran.stdout), hex(ERROR));
        assert.ok(
          ran.stderr.includes(
            cacheWarning(
              file,
              `other users can write its folder (${shared} ${why}): use a folder only the ` +
                "server's user can write",
            ),
          ),
          ran.stderr,
        );
        assert.equal(existsSync(file), false, "nothing created there");
      }
    });
  });
}

for (const runner of runners()) suite(runner);
