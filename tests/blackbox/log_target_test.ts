/**
 * Logs an admin can find: with stderr on /dev/null (`ejabberdctl start`) and no --log-file the
 * program logs beside ejabberd's log; a configuration error also goes to the log file the
 * command line, the environment or the config file names. Unit tests of lib/log_target.ts and
 * lib/runtime/stderr.ts, then the real program with its stderr on /dev/null, closed, or a pipe.
 *
 * Run: `deno test --allow-all tests/blackbox/log_target_test.ts`, `bun test tests/blackbox/log_target_test.ts`,
 * `EXTAUTH_TEST_BINARY=dist/xmpp-extauth deno test --allow-all tests/blackbox/log_target_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readEarlyCommand } from "../../lib/cli/early_args.ts";
import { fallbackFor, fallbackLogFile } from "../../lib/log/log_target.ts";
import { stderrGoesNowhere } from "../../lib/runtime/stderr.ts";
import { closedPort } from "../helpers/api_server.ts";
import { ERROR, frame, hex, type Runner, runners, runWithStderr } from "../helpers/spawn.ts";

const T = { timeout: 60_000 };
const encoder = new TextEncoder();

/** The log file a command line names, read leniently as main.ts reads it after a refusal. */
const findLogFile = (sources: Parameters<typeof readEarlyCommand>[0]) =>
  readEarlyCommand(sources).setting("log-file");

function sources(
  args: string[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
) {
  return {
    args,
    env: (name: string) => env[name],
    readFile: (path: string) => {
      if (!(path in files)) throw new Error(`ENOENT: ${path}`);
      return encoder.encode(files[path]);
    },
  };
}

describe("findLogFile: the log file of a command line the strict parse refused", () => {
  it("reads the flag in both spellings, the last one winning, up to --", () => {
    assert.equal(findLogFile(sources(["--tiemout", "3s", "--log-file", "/a.log"])), "/a.log");
    assert.equal(findLogFile(sources(["--log-file=/b.log", "--nope"])), "/b.log");
    assert.equal(findLogFile(sources(["--log-file", "/a", "--log-file=/c"])), "/c");
    assert.equal(findLogFile(sources(["--", "--log-file", "/a"])), undefined);
    assert.equal(findLogFile(sources(["--log-file"])), undefined);
    assert.equal(findLogFile(sources(["--log-file="])), undefined);
  });

  it("falls back to the environment, then the config file, as parseCommand ranks them", () => {
    const env = { XMPP_EXTAUTH_LOG_FILE: "/env.log", XMPP_EXTAUTH_CONFIG: "/etc/x.json" };
    const files = { "/etc/x.json": JSON.stringify({ "log-file": "/file.log", "tiemout": 1 }) };
    assert.equal(findLogFile(sources(["--log-file", "/flag.log"], env, files)), "/flag.log");
    assert.equal(findLogFile(sources([], env, files)), "/env.log");
    assert.equal(
      findLogFile(sources([], { XMPP_EXTAUTH_CONFIG: "/etc/x.json" }, files)),
      "/file.log",
    );
    assert.equal(findLogFile(sources(["--config", "/etc/x.json"], {}, files)), "/file.log");
    assert.equal(findLogFile(sources(["--config=/etc/x.json"], {}, files)), "/file.log");
  });

  it("gives up quietly on a missing, broken or odd config file", () => {
    assert.equal(findLogFile(sources(["--config", "/missing.json"])), undefined);
    const files = {
      "/broken.json": "{",
      "/array.json": "[]",
      "/null.json": "null",
      "/number.json": JSON.stringify({ "log-file": 3 }),
    };
    for (const path of Object.keys(files)) {
      assert.equal(findLogFile(sources(["--config", path], {}, files)), undefined, path);
    }
  });
});

describe("the fallback file and when it is used", () => {
  it("lies beside ejabberd's log, else in /var/log/ejabberd", () => {
    const env = (value: string) => (name: string) =>
      name === "EJABBERD_LOG_PATH" ? value : undefined;
    assert.equal(
      fallbackLogFile(env("/var/log/ejabberd/ejabberd.log")),
      "/var/log/ejabberd/xmpp-extauth.log",
    );
    assert.equal(
      fallbackLogFile(env("/opt/ejabberd/logs/ejabberd.log")),
      "/opt/ejabberd/logs/xmpp-extauth.log",
    );
    assert.equal(fallbackLogFile(env("ejabberd.log")), "/var/log/ejabberd/xmpp-extauth.log");
    assert.equal(fallbackLogFile(() => undefined), "/var/log/ejabberd/xmpp-extauth.log");
  });

  it("is used for ejabberd's framing only, and only when stderr goes nowhere", () => {
    const runtime = (nowhere: boolean) => ({
      stderrGoesNowhere: () => nowhere,
      env: () => undefined,
    });
    assert.equal(fallbackFor("ejabberd", runtime(true)), "/var/log/ejabberd/xmpp-extauth.log");
    assert.equal(fallbackFor("ejabberd", runtime(false)), undefined);
    assert.equal(fallbackFor("prosody", runtime(true)), undefined);
  });

  it("tells /dev/null and a closed fd 2 from a pipe, a file and a system without /proc", () => {
    const readLink = (links: Record<string, string>) => (path: string) => {
      if (path in links) return links[path]!;
      throw new Error(`ENOENT: ${path}`);
    };
    const exe = { "/proc/self/exe": "/usr/bin/xmpp-extauth" };
    assert.equal(stderrGoesNowhere(readLink({ ...exe, "/proc/self/fd/2": "/dev/null" })), true);
    assert.equal(stderrGoesNowhere(readLink(exe)), true); // fd 2 closed
    assert.equal(stderrGoesNowhere(readLink({ ...exe, "/proc/self/fd/2": "pipe:[4711]" })), false);
    assert.equal(stderrGoesNowhere(readLink({ ...exe, "/proc/self/fd/2": "/dev/pts/0" })), false);
    assert.equal(stderrGoesNowhere(readLink({ ...exe, "/proc/self/fd/2": "/var/log/x" })), false);
    assert.equal(stderrGoesNowhere(readLink({})), false); // no /proc (macOS)
  });
});

const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : "");

function suite(runner: Runner) {
  describe(`logs an admin can find (${runner.name})`, () => {
    let dir: string;
    let url: string;
    let n = 0;
    /** A fresh folder standing for ejabberd's log folder, and the variable naming its log. */
    const logDir = () => {
      const path = join(dir, `logs-${++n}`);
      mkdirSync(path);
      return { path, env: { EJABBERD_LOG_PATH: join(path, "ejabberd.log") } };
    };
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "extauth-logtarget-"));
      url = `http://127.0.0.1:${await closedPort()}/api`;
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    for (const stderr of ["devnull", "closed"] as const) {
      it(
        `stderr ${stderr === "devnull" ? "on /dev/null" : "closed"}: logs beside ejabberd's log`,
        T,
        async () => {
          const logs = logDir();
          const ran = await runWithStderr(
            runner,
            ["--url", url, "--retries", "0"],
            stderr,
            logs.env,
            frame("isuser:alice:example.com"),
          );
          assert.equal(ran.code, 0);
          assert.equal(hex(ran.stdout), hex(ERROR), "exactly one error reply");
          const log = read(join(logs.path, "xmpp-extauth.log"));
          const tag = "^\\S+Z xmpp-extauth\\[\\d+\\] ";
          assert.match(
            log,
            new RegExp(
              `${tag}WARN  stderr goes nowhere \\(/dev/null or closed\\) and no --log-file was ` +
                `given: logging to ${logs.path}/xmpp-extauth\\.log; choose the file with --log-file\\n`,
            ),
          );
          assert.match(log, new RegExp(`${tag}INFO  xmpp-extauth .* serving ejabberd`, "m"));
          assert.match(
            log,
            new RegExp(`${tag}WARN  isuser alice@example\\.com: backend error`, "m"),
          );
          assert.match(
            log,
            new RegExp(`${tag}INFO  stdin closed after 1 request; exiting\\n$`, "m"),
          );
        },
      );
    }

    it("run by root, gives the file it creates to the owner of ejabberd's log folder", {
      ...T,
      skip: process.getuid?.() !== 0 ? "needs root" : false,
    }, async () => {
      // An admin trying the program by hand as root (`… 2>/dev/null`) created a root-owned
      // file that ejabberd's own copies (user ejabberd) then could not open: they logged nowhere.
      const logs = logDir();
      chownSync(logs.path, 65534, 65534);
      const ran = await runWithStderr(
        runner,
        ["--url", url, "--retries", "0"],
        "devnull",
        logs.env,
      );
      assert.equal(ran.code, 0);
      const file = join(logs.path, "xmpp-extauth.log");
      assert.match(read(file), /stderr goes nowhere/);
      const { uid, gid } = statSync(file);
      assert.deepEqual([uid, gid], [65534, 65534]);
      // A folder of root's own: the file stays root's.
      const rootLogs = logDir();
      await runWithStderr(runner, ["--url", url, "--retries", "0"], "devnull", rootLogs.env);
      assert.equal(statSync(join(rootLogs.path, "xmpp-extauth.log")).uid, 0);
    });

    it("control: stderr a pipe, or --log-file given: no fallback file", T, async () => {
      const logs = logDir();
      const ran = await runWithStderr(
        runner,
        ["--url", url, "--retries", "0"],
        "pipe",
        logs.env,
        frame("isuser:a:b"),
      );
      assert.equal(hex(ran.stdout), hex(ERROR));
      assert.match(ran.stderr, /backend error/);
      const chosen = join(logs.path, "chosen.log");
      const quiet = await runWithStderr(
        runner,
        ["--url", url, "--log-file", chosen],
        "devnull",
        logs.env,
      );
      assert.equal(quiet.code, 0);
      assert.match(read(chosen), /stdin closed after 0 requests/);
      assert.doesNotMatch(read(chosen), /stderr goes nowhere/);
      assert.equal(existsSync(join(logs.path, "xmpp-extauth.log")), false);
    });

    it("Prosody's protocol never falls back (its stderr is the reply channel)", T, async () => {
      const logs = logDir();
      const ran = await runWithStderr(
        runner,
        ["--url", url, "--protocol", "prosody"],
        "devnull",
        logs.env,
      );
      assert.equal(ran.code, 0);
      assert.equal(existsSync(join(logs.path, "xmpp-extauth.log")), false);
    });

    it("a fallback folder it cannot write costs nothing: it still serves", T, async () => {
      const env = { EJABBERD_LOG_PATH: join(dir, "no-such-folder", "ejabberd.log") };
      const ran = await runWithStderr(
        runner,
        ["--url", url, "--retries", "0"],
        "devnull",
        env,
        frame("isuser:a:b"),
      );
      assert.equal(ran.code, 0);
      assert.equal(hex(ran.stdout), hex(ERROR));
    });

    it(
      "a configuration error goes to --log-file too (flag, environment, config file)",
      T,
      async () => {
        const logs = logDir();
        const flagLog = join(logs.path, "flag.log");
        const typo = ["--url", url, "--tiemout", "3s"];
        const line = (log: string) =>
          new RegExp(
            "^\\S+Z xmpp-extauth\\[\\d+\\] ERROR configuration error, exiting with status 2: " +
              "Unknown option '--tiemout'; did you mean '--timeout'\\? \\(see --help\\)\\n$",
          ).test(log);
        const a = await runWithStderr(runner, [...typo, "--log-file", flagLog], "pipe", {});
        assert.equal(a.code, 2);
        assert.equal(
          a.stderr,
          "xmpp-extauth: Unknown option '--tiemout'; did you mean '--timeout'? (see --help)\n",
        );
        assert.equal(a.stdout.length, 0);
        assert.ok(line(read(flagLog)), read(flagLog));

        const envLog = join(logs.path, "env.log");
        const b = await runWithStderr(runner, typo, "devnull", { XMPP_EXTAUTH_LOG_FILE: envLog });
        assert.equal(b.code, 2);
        assert.ok(line(read(envLog)), read(envLog));

        const fileLog = join(logs.path, "file.log");
        const config = join(logs.path, "extauth.json");
        writeFileSync(config, JSON.stringify({ url, "log-file": fileLog }));
        const c = await runWithStderr(
          runner,
          ["--config", config, "--tiemout", "3s"],
          "devnull",
          {},
        );
        assert.equal(c.code, 2);
        assert.ok(line(read(fileLog)), read(fileLog));
      },
    );

    it(
      "a configuration error with stderr on /dev/null and no --log-file: the fallback file",
      T,
      async () => {
        const logs = logDir();
        // A value with a line break and an escape sequence stays on one line of the log.
        const ran = await runWithStderr(
          runner,
          ["--url", "http://x\n\x1b[31m/"],
          "devnull",
          logs.env,
        );
        assert.equal(ran.code, 2);
        const log = read(join(logs.path, "xmpp-extauth.log"));
        assert.equal(log.split("\n").length, 2, log);
        assert.match(
          log,
          /ERROR configuration error, exiting with status 2: --url: "http:\/\/x\\n\\x1b\[31m\/" is not a URL/,
        );
        // The same error with stderr read by someone: stderr only.
        const seen = logDir();
        const piped = await runWithStderr(
          runner,
          ["--url", "http://x\n\x1b[31m/"],
          "pipe",
          seen.env,
        );
        assert.equal(piped.code, 2);
        assert.equal(existsSync(join(seen.path, "xmpp-extauth.log")), false);
      },
    );
  });
}

for (const runner of runners()) suite(runner);
