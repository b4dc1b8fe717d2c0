/**
 * `xmpp-extauth check OP USER SERVER`, black box: the request it shows (the
 * password and the token masked, never printed), the HTTP status, the answer,
 * the exit code (0 true, 1 false, 2 error), the cause of each kind of failure,
 * and `check --self-test`. Runs for `deno run -A main.ts`, `bun main.ts` and
 * the binary in `EXTAUTH_TEST_BINARY`.
 *
 * Run: `deno test --allow-all tests/blackbox/check_test.ts`, `bun test tests/blackbox/check_test.ts`.
 */
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import type { FailureKind } from "../../lib/api/failures.ts";
import { hintFor } from "../../lib/modes/check.ts";
import { VERSION } from "../../lib/core/version.ts";
import {
  type Api,
  listen,
  type Mode,
  type ProgrammableServer,
  reply,
  slow,
  startApi,
  startApiWithToken,
} from "../helpers/api_server.ts";
import {
  REPO_ROOT,
  runExtauth,
  type Runner,
  runners,
  type RunOptions,
  type RunResult,
} from "../helpers/spawn.ts";

const T = { timeout: 60_000 };
const PASSWORD = "Chk-Pw-4417-leakcheck";
const TOKEN = "Chk-Tok-9023-leakcheck";

/** Asserts that no secret, whole or in part, reached stdout or stderr. */
function assertNoSecrets(r: RunResult) {
  for (const [where, text] of [["stdout", r.stdoutText], ["stderr", r.stderr]] as const) {
    assert.equal(text.includes("leakcheck"), false, `${where} shows a secret: ${text}`);
    assert.equal(text.includes(PASSWORD.slice(0, 10)), false, `${where} shows the password`);
    assert.equal(text.includes(TOKEN.slice(0, 10)), false, `${where} shows the token`);
  }
}

function lines(r: RunResult): string[] {
  return r.stdoutText.trimEnd().split("\n");
}

function suite(runner: Runner) {
  describe(`xmpp-extauth check (${runner.name})`, () => {
    let api: Api;
    let tokenFile: string;
    const check = (args: readonly string[], options: RunOptions = {}) =>
      runExtauth(runner, ["check", ...args, "--url", api.url, "--token-file", tokenFile], options);

    let close: () => Promise<void>;
    before(async () => {
      ({ api, tokenFile, close } = await startApiWithToken(
        { users: { "alice@example.com": PASSWORD } },
        TOKEN,
        "extauth-check-",
      ));
    });
    after(() => close());
    afterEach(() => api.reset());

    it(
      "auth: shows the request masked, the status and the answer; exit 0 for true",
      T,
      async () => {
        const r = await check(["auth", "alice", "example.com"], { stdin: `${PASSWORD}\n` });
        assert.equal(r.code, 0, r.stderr);
        const out = lines(r);
        assert.equal(out[0], `POST ${api.url}/login`);
        assert.ok(out.includes(`User-Agent: xmpp-extauth/${VERSION}`), r.stdoutText);
        assert.ok(out.includes("Authorization: Bearer ***"), r.stdoutText);
        assert.ok(out.includes("Content-Type: application/json"), r.stdoutText);
        assert.ok(
          out.includes(
            'body: {"username":"alice@example.com","user":"alice","server":"example.com",' +
              '"password":"***"}',
          ),
          r.stdoutText,
        );
        assert.match(r.stdoutText, /^HTTP 200 in [\d.]+ ms$/m);
        assert.equal(out.at(-1), "answer: true");
        assertNoSecrets(r);
        // The API got the real password (one trailing newline removed) and the real token.
        assert.equal(api.requests.length, 1);
        assert.deepEqual(api.requests[0]!.json, {
          username: "alice@example.com",
          user: "alice",
          server: "example.com",
          password: PASSWORD,
        });
        assert.equal(api.requests[0]!.headers["authorization"], `Bearer ${TOKEN}`);
      },
    );

    it("auth: exit 1 for a wrong password, with the API's message", T, async () => {
      const r = await check(["auth", "alice", "example.com"], { stdin: `${PASSWORD}x\r\n` });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdoutText, /^HTTP 200 in [\d.]+ ms$/m);
      assert.equal(lines(r).at(-1), "answer: false (wrong user name or password)");
      assert.equal((api.requests[0]!.json as { password: string }).password, `${PASSWORD}x`);
      assertNoSecrets(r);
    });

    it(
      "takes the password byte-exact from stdin: colons, non-ASCII, inner newlines",
      T,
      async () => {
        const password = `\ufeffpä:ss ✓:\nsecond line:${PASSWORD}`; // a leading U+FEFF too
        const r = await check(["tryregister", "zoe", "example.com"], { stdin: `${password}\n` });
        assert.equal(r.code, 0, r.stdoutText + r.stderr);
        assert.equal(api.users.get("zoe@example.com"), password);
        assert.match(r.stdoutText, /^POST .*\/tryregister$/m);
        assertNoSecrets(r);
      },
    );

    it("isuser: no password, stdin not read (left open); exit 0 and 1", T, async () => {
      const yes = await check(["isuser", "alice", "example.com"], { stdin: "open" });
      assert.equal(yes.code, 0, yes.stderr);
      assert.ok(
        lines(yes).includes(
          'body: {"username":"alice@example.com","user":"alice","server":"example.com"}',
        ),
        yes.stdoutText,
      );
      assert.equal(lines(yes).at(-1), "answer: true");
      const no = await check(["isuser", "nobody", "example.com"], { stdin: "open" });
      assert.equal(no.code, 1, no.stderr);
      assert.equal(lines(no).at(-1), "answer: false (no such user)");
      assert.equal(api.requests.length, 2);
      assertNoSecrets(yes);
    });

    const failures: [string, Mode, RegExp, string[]][] = [
      ["bad status", "status500", /^error \(status\) .*HTTP 500/m, ["--retries", "0"]],
      ["bad status echoing the password", "echo500", /^error \(status\) .*HTTP 500/m, [
        "--retries",
        "0",
      ]],
      ["HTML instead of JSON", "html", /^error \(contract\) .*not JSON/m, []],
      ["{} instead of the contract", "emptyObject", /^error \(contract\) .*success/m, []],
      ['"success":"true"', "successString", /^error \(contract\) .*success/m, []],
      ["a dropped connection", "hangUp", /^error \(network\) /m, ["--retries", "0"]],
      [
        "an API slower than --timeout",
        slow(30_000),
        /^error \(timeout\) /m,
        ["--timeout", "200ms", "--deadline", "1s"],
      ],
    ];
    for (const [name, mode, says, extra] of failures) {
      it(`exit 2 and the cause for ${name}`, T, async () => {
        api.setMode(mode);
        const r = await check(["auth", "alice", "example.com", ...extra], {
          stdin: PASSWORD,
          waitMs: 15_000,
        });
        assert.equal(r.code, 2, r.stdoutText + r.stderr);
        assert.match(r.stdoutText, says);
        assert.match(lines(r).at(-1)!, /^hint: /);
        assert.ok(api.requests.length >= 1, "the API was asked");
        assertNoSecrets(r);
      });
    }

    it("exit 2 and the cause when the API refuses connections", T, async () => {
      const gone = await startApi();
      await gone.close();
      const r = await runExtauth(
        runner,
        ["check", "auth", "alice", "example.com", "--url", gone.url, "--retries", "0"],
        { stdin: PASSWORD },
      );
      assert.equal(r.code, 2, r.stdoutText + r.stderr);
      assert.match(r.stdoutText, /^error \(refused\) .*connection refused/m);
      assert.match(lines(r).at(-1)!, /^hint: nothing listens/);
      assertNoSecrets(r);
    });

    it("exit 2 with one line on stderr for bad check usage", T, async () => {
      for (
        const args of [
          ["check", "auth", "alice"],
          ["check", "frobnicate", "alice", "example.com"],
          ["check", "auth", "alice", "example.com", "extra"],
        ]
      ) {
        const r = await runExtauth(runner, [...args, "--url", api.url], { stdin: "open" });
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.equal(r.stdoutText, "");
        assert.match(r.stderr, /^xmpp-extauth: [^\n]+\n$/);
      }
      assert.equal(api.requests.length, 0);
    });

    it("check --self-test exits 0 with a one-line summary, without stdin", T, async () => {
      const r = await runExtauth(runner, ["check", "--self-test"], { stdin: "open" });
      assert.equal(r.code, 0, r.stdoutText + r.stderr);
      assert.match(r.stdoutText, /^self-test passed: .*\n$/);
      assert.equal(r.stderr, "");
    });
  });
}

for (const runner of runners()) suite(runner);

for (const runner of runners()) {
  describe(`check at a terminal (${runner.name})`, () => {
    let api: Api;
    before(async () => {
      api = await startApi({ users: { "alice@example.com": PASSWORD } });
    });
    after(async () => {
      await api.close();
    });

    it("prompts for the password with echo off", T, async () => {
      const result = await new Promise<{ exit: number; screen: string }>((resolve, reject) => {
        execFile(
          "python3",
          [
            join(REPO_ROOT, "tests/helpers/pty_prompt.py"),
            "Password: ",
            PASSWORD,
            runner.command,
            ...runner.prefix,
            "check",
            "auth",
            "alice",
            "example.com",
            "--url",
            api.url,
          ],
          { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeout: 45_000 },
          (error, stdout) => error ? reject(error) : resolve(JSON.parse(stdout)),
        );
      });
      assert.match(result.screen, /Password: /);
      assert.match(result.screen, /answer: true/);
      assert.ok(
        !result.screen.includes(PASSWORD),
        `the typed password was echoed:\n${result.screen}`,
      );
      assert.equal(result.exit, 0);
      assert.equal(api.requests.length, 1);
      assert.equal((api.requests[0]!.json as { password: string }).password, PASSWORD);
    });
  });
}

/** Runs `check auth alice example.com` at a terminal, types `keys`, returns the screen and exit. */
function atTerminal(
  runner: Runner,
  url: string,
  keys: string,
): Promise<{ exit: number; screen: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      "python3",
      [
        join(REPO_ROOT, "tests/helpers/pty_prompt.py"),
        "Password: ",
        keys,
        runner.command,
        ...runner.prefix,
        "check",
        "auth",
        "alice",
        "example.com",
        "--url",
        url,
      ],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeout: 45_000 },
      (error, stdout) => error ? reject(error) : resolve(JSON.parse(stdout)),
    );
  });
}

for (const runner of runners()) {
  describe(`check: cancelled at the prompt (${runner.name})`, () => {
    let api: Api;
    before(async () => {
      api = await startApi({ users: { "alice@example.com": PASSWORD } });
    });
    after(() => api.close());

    for (const [name, key] of [["Ctrl-C", "\x03"], ["Ctrl-D", "\x04"]] as const) {
      it(`${name} prints one line "cancelled", exits 130 and asks nothing`, T, async () => {
        const { exit, screen } = await atTerminal(runner, api.url, `${PASSWORD.slice(0, 3)}${key}`);
        assert.equal(exit, 130, screen);
        // The prompt, then exactly one line; no stack, no "internal error".
        assert.equal(screen.replace(/\r/g, ""), "Password: \nxmpp-extauth: cancelled\n");
        assert.equal(api.requests.length, 0);
      });
    }
  });

  describe(`check: the hint fits the failure (${runner.name})`, () => {
    let server: ProgrammableServer;
    before(async () => {
      server = await listen();
    });
    after(() => server.close());

    const hintOf = async (url: string) => {
      const r = await runExtauth(runner, [
        "check",
        "isuser",
        "alice",
        "example.com",
        "--url",
        url,
        "--retries",
        "0",
      ], { stdin: "open" });
      assert.equal(r.code, 2, r.stdoutText + r.stderr);
      const last = lines(r).at(-1)!;
      assert.match(last, /^hint: /, r.stdoutText);
      return { hint: last, out: r.stdoutText };
    };
    const status = (code: number) =>
      server.on((_req, _body, res) => reply(res, code, { error: "no" }));

    it("404: check --url and --endpoint, with the full URL that was tried", T, async () => {
      status(404);
      const { hint } = await hintOf(`${server.url}/wrong/base/`);
      assert.equal(
        hint,
        `hint: nothing at ${server.url}/wrong/base/exists (HTTP 404); check --url and --endpoint`,
      );
      assert.equal(server.seen[0]?.path, "/wrong/base/exists");
    });

    for (const code of [401, 403]) {
      it(`${code}: check the token or credentials`, T, async () => {
        status(code);
        const { hint } = await hintOf(server.url);
        assert.match(
          hint,
          /^hint: the API refused the credentials; check --token-file or --basic-auth-file/,
        );
      });
    }

    for (const code of [500, 503]) {
      it(`${code}: the API's own logs`, T, async () => {
        status(code);
        const { hint } = await hintOf(server.url);
        assert.equal(hint, "hint: the API failed; its own logs say why");
      });
    }

    it(
      "https:// to a plain-HTTP port: TLS on that port, not an untrusted certificate",
      T,
      async () => {
        status(200);
        const url = server.url.replace("http://", "https://");
        const { hint, out } = await hintOf(url);
        assert.match(out, /^error \(tls\) /m);
        assert.equal(
          hint,
          `hint: the server at ${new URL(url).host} does not speak TLS on that port; for plain ` +
            "HTTP write --url http://..., or use the port where it serves HTTPS",
        );
        assert.doesNotMatch(out, /certificate/);
      },
    );
  });
}

describe("hintFor", () => {
  it("has a hint for every failure kind, the open breaker included", () => {
    const kinds = [
      "dns",
      "refused",
      "tls",
      "timeout",
      "network",
      "status",
      "contract",
      "deadline",
      "breaker",
    ] as const satisfies readonly FailureKind[];
    const hints = kinds.map((kind) => hintFor(kind, undefined, "", "https://example.org/x"));
    assert.equal(new Set(hints).size, kinds.length, "each kind its own hint");
    assert.match(hintFor("breaker", undefined, "", "https://example.org/x"), /circuit breaker/);
  });
});
