/**
 * Prosody mode under the pseudo-terminal, through the real program driven the
 * way mod_auth_external_insecure and lpty drive it (tests/helpers/pty_module.py),
 * with lpty's start-up race made to happen on purpose; and the helpers of
 * lib/prosody.ts.
 *
 * Run: `deno test --allow-all tests/blackbox/prosody_test.ts`, `bun test tests/blackbox/prosody_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorMessage, prosodyErrorLine } from "../../lib/wire/prosody_terminal.ts";
import { asksForProsody as asks, readEarlyCommand } from "../../lib/cli/early_args.ts";
import { type Api, startApi } from "../helpers/api_server.ts";
import { cleanEnv, REPO_ROOT, type Runner, runners } from "../helpers/spawn.ts";

const T = { timeout: 120_000 };
const PASSWORD = "Prosody-Pw-5120-leakcheck";
const TOKEN = "Tok-3391-leakcheck";
const READY = "serving prosody";

interface Step {
  readonly query: string;
  readonly start?: "echo" | "quiet";
  readonly waitFor?: { readonly path: string; readonly text: string };
  readonly writeFile?: { readonly path: string; readonly text: string };
  readonly waitExit?: boolean;
}

interface ModuleResult {
  readonly started: boolean;
  readonly response: string | null;
  readonly outcome: "true" | "not-authorized" | "internal-server-error" | "error";
  readonly log: string | null;
}

interface Session {
  readonly results: ModuleResult[];
  readonly leftover: string;
  readonly exits: [string, number][];
}

/** Runs the steps through the program as Prosody's module does (see pty_module.py). */
function asProsody(runner: Runner, args: string[], steps: Step[], timeout = 2): Promise<Session> {
  const script = JSON.stringify({
    command: [runner.command, ...runner.prefix, ...args],
    env: cleanEnv(),
    timeout,
    steps,
  });
  return new Promise((resolve, reject) => {
    execFile(
      "python3",
      [join(REPO_ROOT, "tests/helpers/pty_module.py"), script],
      { cwd: REPO_ROOT, timeout: 100_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    );
  });
}

const outcomes = (s: Session) => s.results.map((r) => r.outcome);

describe("errorMessage and prosodyErrorLine", () => {
  it("escape every control character, so that an error is one line", () => {
    assert.equal(
      errorMessage("a\r\nb\x00c\x07d\x1b[1Ae\x7f\u0085\u2028"),
      String.raw`a\r\nb\x00c\x07d\x1b[1Ae\x7f\x85\u2028`,
    );
    assert.equal(
      new TextDecoder().decode(prosodyErrorLine("Cannot read x\nfake")),
      "error: xmpp-extauth: Cannot read x\\nfake\n",
    );
  });

  it("cut a long message, so that lpty reads the line in one piece", () => {
    const line = prosodyErrorLine("x".repeat(10_000));
    assert.ok(line.length < 1100, `${line.length} bytes`);
    assert.equal(line[line.length - 1], 0x0a);
  });
});

describe("asksForProsody", () => {
  const asksForProsody = (sources: Parameters<typeof readEarlyCommand>[0]) =>
    asks(readEarlyCommand(sources));
  const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-prosody-unit-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const sources = (args: string[], env: Record<string, string> = {}) => ({
    args,
    env: (name: string) => env[name],
    readFile: (path: string) => new Uint8Array(readFileSync(path)),
  });

  it("finds the protocol in a flag, the environment or the config file", () => {
    const file = join(dir, "c.json");
    writeFileSync(file, JSON.stringify({ protocol: "prosody", url: 5 }));
    const cases: [string[], Record<string, string>, boolean][] = [
      [["--protocol", "prosody", "--url", "x"], {}, true],
      [["--protocol=prosody"], {}, true],
      [["--protocol", "ejabberd"], { XMPP_EXTAUTH_PROTOCOL: "prosody" }, false],
      [[], { XMPP_EXTAUTH_PROTOCOL: "prosody" }, true],
      [["--config", file], {}, true],
      [[], { XMPP_EXTAUTH_CONFIG: file }, true],
      [["--config", join(dir, "missing.json")], {}, false],
      [["check", "auth", "a", "b", "--protocol", "prosody"], {}, false],
      [[], {}, false],
    ];
    for (const [args, env, expected] of cases) {
      assert.equal(
        asksForProsody(sources(args, env)),
        expected,
        JSON.stringify([args, env]),
      );
    }
  });
});

for (const runner of runners()) {
  describe(`Prosody's module and lpty drive the program (${runner.name})`, () => {
    let api: Api;
    let dir: string;
    before(async () => {
      api = await startApi({ users: { "alice@example.com": PASSWORD } });
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-prosody-"));
    });
    after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("never answers one step behind when the terminal echoed the first query", T, async () => {
      // lpty turns echo off in the child while the module writes the first query in the
      // parent: here the write wins, the module reads the echo as the answer, and a program
      // that answered that query too would have every later answer read one query late.
      api.reset();
      const log = join(dir, "echo.log");
      const session = await asProsody(
        runner,
        ["--url", api.url, "--protocol", "prosody", "--log-file", log],
        [
          { query: `auth:alice:example.com:${PASSWORD}`, start: "echo" },
          { query: "auth:alice:example.com:wrong", waitFor: { path: log, text: READY } },
          { query: `auth:alice:example.com:${PASSWORD}` },
          { query: "isuser:alice:example.com" },
          { query: "isuser:nobody:example.com" },
        ],
      );
      assert.equal(
        session.results[0]!.response,
        `auth:alice:example.com:${PASSWORD}\r\n`,
        "the echo is what the module reads first",
      );
      assert.deepEqual(outcomes(session), [
        "internal-server-error",
        "not-authorized",
        "true",
        "true",
        "not-authorized",
      ]);
      assert.equal(session.leftover, "");
      // The echoed query was discarded unread, never asked.
      assert.deepEqual(api.requests.map((r) => r.path.split("/").pop()), [
        "login",
        "login",
        "exists",
        "exists",
      ]);
    });

    it(
      "pays for the race with the query queued before the start, and stays in step",
      T,
      async () => {
        // Echo off in time, but the query is queued before the program runs: it may have been
        // echoed for all the program can know, so it is discarded; the module times out on it.
        api.reset();
        const log = join(dir, "quiet.log");
        const session = await asProsody(
          runner,
          ["--url", api.url, "--protocol", "prosody", "--log-file", log],
          [
            { query: `auth:alice:example.com:${PASSWORD}`, start: "quiet" },
            { query: "auth:alice:example.com:wrong", waitFor: { path: log, text: READY } },
            { query: `auth:alice:example.com:${PASSWORD}` },
          ],
        );
        assert.deepEqual(outcomes(session), ["error", "not-authorized", "true"]);
        assert.equal(session.leftover, "");
      },
    );

    it(
      "reports a fatal start-up error in Prosody's log, and starts again once it is fixed",
      T,
      async () => {
        api.reset();
        const token = join(dir, "token");
        rmSync(token, { force: true });
        const log = join(dir, "restart.log");
        const session = await asProsody(
          runner,
          ["--url", api.url, "--protocol", "prosody", "--token-file", token, "--log-file", log],
          [
            { query: `auth:alice:example.com:${PASSWORD}`, start: "quiet" },
            {
              query: `auth:alice:example.com:${PASSWORD}`,
              start: "quiet",
              waitExit: true,
              writeFile: { path: token, text: `${TOKEN}\n` },
            },
            { query: `auth:alice:example.com:${PASSWORD}`, waitFor: { path: log, text: READY } },
          ],
        );
        const [failed, restarted, served] = session.results;
        assert.equal(failed!.outcome, "internal-server-error");
        assert.match(
          failed!.log!,
          /^Unable to interpret data from auth process, error: xmpp-extauth: Cannot read --token-file \S+token: .*\r\n$/,
        );
        assert.equal(failed!.response!.split("\n").length, 2, "one line");
        assert.deepEqual(session.exits[0], ["exit", 0], "exit 0 lets the module start it again");
        assert.equal(restarted!.started, true);
        assert.equal(served!.outcome, "true");
        assert.equal(api.requests.at(-1)!.headers.authorization, `Bearer ${TOKEN}`);
      },
    );

    it("sends a config error to Prosody's log as one escaped line, secret-free", T, async () => {
      const session = await asProsody(
        runner,
        ["--protocol", "prosody", "--url", "ftp://x/\u001b[31m"],
        [{ query: `auth:alice:example.com:${PASSWORD}`, start: "quiet" }],
      );
      const [result] = session.results;
      assert.equal(result!.outcome, "internal-server-error");
      assert.match(result!.response!, /^error: xmpp-extauth: --url: .* must start with http/);
      assert.ok(result!.response!.includes("\\x1b[31m"), result!.response!);
      assert.ok(!result!.response!.includes(PASSWORD));
      assert.deepEqual(session.exits, [["exit", 0]]);
    });
  });
}
