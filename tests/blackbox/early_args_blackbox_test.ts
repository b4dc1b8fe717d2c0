/**
 * Where a configuration error goes, when the strict parse failed, read from the
 * command line by the same rules as the strict parse (lib/cli/early_args.ts):
 * the last `--protocol` wins, and an option's value is never taken for the
 * `check` subcommand. Through the real program, once driven as Prosody's
 * module drives it under lpty (tests/helpers/pty_module.py), once with stderr
 * on /dev/null as `ejabberdctl start` runs it.
 *
 * Run: `deno test --allow-all tests/blackbox/early_args_blackbox_test.ts`,
 * `EXTAUTH_TEST_BINARY=dist/xmpp-extauth deno test --allow-all tests/blackbox/early_args_blackbox_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, REPO_ROOT, type Runner, runners } from "../helpers/spawn.ts";

const T = { timeout: 60_000 };
const BAD_URL = "ftp://x/";
const PROSODY_ERROR = /^error: xmpp-extauth: --url: "ftp:\/\/x\/" must start with http/;

interface ModuleResult {
  readonly started: boolean;
  readonly response: string | null;
  readonly outcome: string;
}

interface Session {
  readonly results: ModuleResult[];
  readonly exits: [string, number][];
}

/** One query through the program as Prosody's module sends it (see pty_module.py), in `cwd`. */
function asProsody(runner: Runner, args: string[], cwd: string): Promise<Session> {
  const script = JSON.stringify({
    command: [runner.command, ...runner.prefix, ...args],
    env: cleanEnv(),
    timeout: 2,
    steps: [{ query: "auth:alice:example.com:pw", start: "quiet" }],
  });
  return new Promise((resolve, reject) => {
    execFile(
      "python3",
      [join(REPO_ROOT, "tests/helpers/pty_module.py"), script],
      { cwd, timeout: 50_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    );
  });
}

/** Runs the program with stderr on /dev/null and stdin at its end; resolves to the exit code. */
function withStderrNowhere(
  runner: Runner,
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<number | null> {
  const child = spawn(runner.command, [...runner.prefix, ...args], {
    cwd,
    env: cleanEnv(env),
    stdio: ["pipe", "ignore", "ignore"],
  });
  child.stdin!.on("error", () => {});
  child.stdin!.end();
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code));
  });
}

for (const runner of runners()) {
  describe(`a configuration error goes where the command line says (${runner.name})`, () => {
    let dir: string;
    let n = 0;
    const fresh = () => {
      const path = join(dir, `run-${++n}`);
      mkdirSync(path);
      return path;
    };
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-early-"));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("--protocol ejabberd --protocol prosody is Prosody: the last one wins", T, async () => {
      const session = await asProsody(
        runner,
        ["--protocol", "ejabberd", "--protocol", "prosody", "--url", BAD_URL],
        fresh(),
      );
      const [result] = session.results;
      assert.equal(result!.outcome, "internal-server-error");
      assert.match(result!.response!, PROSODY_ERROR);
      assert.deepEqual(session.exits, [["exit", 0]], "exit 0 lets the module start it again");
      // Control: the other order is ejabberd's, so no error: line for Prosody.
      const other = await asProsody(
        runner,
        ["--protocol", "prosody", "--protocol", "ejabberd", "--url", BAD_URL],
        fresh(),
      );
      assert.doesNotMatch(other.results[0]!.response ?? "", /^error:/);
      assert.deepEqual(other.exits, [["exit", 2]]);
    });

    it("--log-file check is a log file, not the check command (Prosody)", T, async () => {
      const cwd = fresh();
      const session = await asProsody(
        runner,
        ["--log-file", "check", "--protocol", "prosody", "--url", BAD_URL],
        cwd,
      );
      const [result] = session.results;
      assert.equal(result!.outcome, "internal-server-error");
      assert.match(result!.response!, PROSODY_ERROR);
      assert.deepEqual(session.exits, [["exit", 0]]);
      assert.deepEqual(readdirSync(cwd), [], "nothing written beside it");
    });

    it("--token-file check is a file, not the check command (fallback log)", T, async () => {
      const logs = fresh();
      const env = { EJABBERD_LOG_PATH: join(logs, "ejabberd.log") };
      const fallback = join(logs, "xmpp-extauth.log");
      const code = await withStderrNowhere(
        runner,
        ["--token-file", "check", "--url", "http://127.0.0.1:9/", "--tiemout", "3s"],
        env,
        logs,
      );
      assert.equal(code, 2);
      assert.match(
        existsSync(fallback) ? readFileSync(fallback, "utf8") : "(no fallback file)",
        new RegExp(
          "^\\S+Z xmpp-extauth\\[\\d+\\] ERROR configuration error, exiting with status 2: " +
            "Unknown option '--tiemout'; did you mean '--timeout'\\? \\(see --help\\)\\n$",
        ),
      );
      // Control: the check command itself never writes the fallback file (it has stdout).
      rmSync(fallback);
      const check = await withStderrNowhere(
        runner,
        ["check", "isuser", "a", "b", "--url", "http://127.0.0.1:9/", "--tiemout", "3s"],
        env,
        logs,
      );
      assert.equal(check, 2);
      assert.equal(existsSync(fallback), false);
    });
  });
}
