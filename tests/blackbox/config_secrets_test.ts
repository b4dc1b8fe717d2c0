/**
 * Secrets in the config file's error messages and on the command line (audit
 * items 5a, 5b), black box: a bad config file or a token file given as
 * `--config` stops the program naming the file and the key, never a value
 * from it; `--header-file NAME=FILE` sends a secret header whose value is in
 * no `ps`-visible argv, no log line and no `check` line; a credential given
 * with `--header` is warned about at start, without its value. Runs for
 * `deno run -A main.ts`, `bun main.ts` and the binary in `EXTAUTH_TEST_BINARY`.
 *
 * Run: `deno test --allow-all tests/blackbox/config_secrets_test.ts`, `bun test tests/blackbox/config_secrets_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Api, startApi } from "../helpers/api_server.ts";
import {
  assertReply,
  FALSE,
  hex,
  runExtauth,
  type Runner,
  runners,
  TRUE,
  withExtauth,
} from "../helpers/spawn.ts";

const T = { timeout: 60_000 };
const SECRET = "REALKEY-7781-leakcheck";
const PASSWORD = "Cfg-Pw-3390-leakcheck";

function suite(runner: Runner) {
  describe(`config file errors never echo a value (${runner.name})`, () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-cfgsecret-"));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    /** Runs with `--config` on `text`, expects exit 2 and no secret anywhere; returns stderr. */
    const refused = async (name: string, text: string, extra: readonly string[] = []) => {
      const path = join(dir, `${name}.json`);
      const log = join(dir, `${name}.log`);
      writeFileSync(path, text, { mode: 0o600 });
      const r = await runExtauth(runner, ["--config", path, "--log-file", log, ...extra]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(hex(r.stdout), "", "nothing on stdout");
      const logText = existsSync(log) ? readFileSync(log, "utf8") : "";
      for (const [where, out] of [["stderr", r.stderr], ["log", logText]] as const) {
        assert.ok(!out.includes("leakcheck"), `${where} shows the secret: ${out}`);
        assert.ok(!out.includes(SECRET.slice(0, 7)), `${where} shows part of it: ${out}`);
      }
      assert.ok(logText.includes("configuration error"), `the log has the error: ${logText}`);
      assert.ok(r.stderr.includes(path), `the message names the file: ${r.stderr}`);
      return r.stderr;
    };

    it("a header object with a credential and a number: names header and the key", T, async () => {
      const stderr = await refused(
        "header",
        JSON.stringify({
          url: "http://127.0.0.1:9",
          header: { "X-Api-Key": SECRET, "X-Retry": 3 },
        }),
      );
      assert.match(stderr, /"header\.X-Retry" must be a string, got a number/);
    });

    it("--config pointed at a token file: not valid JSON, with a position", T, async () => {
      const stderr = await refused("token", `${SECRET}\n`, ["--url", "http://127.0.0.1:9"]);
      assert.match(stderr, /: not valid JSON \(line 1, column 1\)$/m);
    });

    it("invalid JSON after a secret: the position, never the text", T, async () => {
      const stderr = await refused("broken", `{\n  "header": {"X-Api-Key": "${SECRET}",}\n}\n`);
      assert.match(stderr, /: not valid JSON \(line 2, column \d+\)$/m);
    });

    const wrongTypes: [string, unknown, RegExp][] = [
      [
        "timeout",
        { "X-Api-Key": SECRET },
        /"timeout" must be a number or a duration string, got an object/,
      ],
      ["token-file", [SECRET], /"token-file" must be a string, got an array/],
      [
        "header",
        [`X-Api-Key: ${SECRET}`, 3],
        /"header" must be an object or an array of strings, got an array/,
      ],
      [
        "endpoint",
        { auth: SECRET, isuser: 5 },
        /"endpoint\.isuser" must be a string, got a number/,
      ],
      ["debug", SECRET, /"debug" must be true or false, got a string/],
    ];
    for (const [key, value, says] of wrongTypes) {
      it(`a secret in the wrong-typed "${key}": names the key and the type`, T, async () => {
        const stderr = await refused(
          `type-${key}`,
          JSON.stringify({ url: "http://127.0.0.1:9", [key]: value }),
        );
        assert.match(stderr, says);
      });
    }

    it("a secret under an unknown key and in a domain's header: names the key", T, async () => {
      let stderr = await refused(
        "unknown",
        JSON.stringify({ url: "http://127.0.0.1:9", "api-key": { value: SECRET } }),
      );
      assert.match(stderr, /unknown key "api-key"/);
      stderr = await refused(
        "domain",
        JSON.stringify({
          url: "http://127.0.0.1:9",
          domains: { "a.example": { header: { "X-Api-Key": SECRET, "X-N": 1 } } },
        }),
      );
      assert.match(stderr, /"domains\.a\.example\.header\.X-N" must be a string, got a number/);
    });
  });

  describe(`secret headers from a file (${runner.name})`, () => {
    let api: Api;
    let dir: string;
    let keyFile: string;
    before(async () => {
      api = await startApi({ users: { "alice@example.com": PASSWORD } });
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-hdrfile-"));
      keyFile = join(dir, "api-key");
      // One line; spaces around it are trimmed, the one inside kept.
      writeFileSync(keyFile, `  ${SECRET} v2 \n`, { mode: 0o600 });
    });
    after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it(
      "--header-file sends the exact value; argv, the log and check never hold it",
      T,
      async () => {
        api.reset();
        const log = join(dir, "serve.log");
        const args = ["--url", api.url, "--header-file", `X-Api-Key=${keyFile}`, "-d"];
        await withExtauth(runner, [...args, "--log-file", log], {}, async (p) => {
          assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "login");
          const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, "utf8");
          assert.ok(cmdline.includes(keyFile), `the file is on the command line: ${cmdline}`);
          assert.ok(!cmdline.includes(SECRET), "the value is not");
          assert.equal(await p.finish(), 0);
          assert.ok(!p.stderr.includes(SECRET), p.stderr);
        });
        assert.equal(api.requests.length, 1);
        assert.equal(api.requests[0]!.headers["x-api-key"], `${SECRET} v2`);
        const logText = readFileSync(log, "utf8");
        assert.match(logText, /serving ejabberd/);
        assert.ok(!logText.includes(SECRET.slice(0, 7)), logText);

        // The API echoes it back: masked in the log line.
        api.reset();
        api.setMode("echoFalse");
        const echoLog = join(dir, "echo.log");
        await withExtauth(runner, [...args, "--log-file", echoLog], {}, async (p) => {
          assertReply(await p.request(`auth:alice:example.com:${SECRET} v2`), FALSE, "echo");
          assert.equal(await p.finish(), 0);
        });
        const echoed = readFileSync(echoLog, "utf8");
        assert.ok(!echoed.includes(SECRET.slice(0, 7)), echoed);

        api.reset();
        const r = await runExtauth(runner, ["check", "isuser", "alice", "example.com", ...args]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdoutText, /^X-Api-Key: \*{3,8}$/m);
        assert.ok(!r.stdoutText.includes(SECRET.slice(0, 7)), r.stdoutText);
        assert.ok(!r.stderr.includes(SECRET.slice(0, 7)), r.stderr);
        assert.equal(api.requests[0]!.headers["x-api-key"], `${SECRET} v2`);
      },
    );

    it(
      "header-file in the config file and per domain, replacing inherited credentials",
      T,
      async () => {
        api.reset();
        const otherFile = join(dir, "other-key");
        writeFileSync(otherFile, "other-domain-key\n", { mode: 0o600 });
        const config = join(dir, "config.json");
        writeFileSync(
          config,
          JSON.stringify({
            url: api.url,
            "header-file": { "X-Api-Key": keyFile },
            domains: { "other.example": { "header-file": { "X-Other-Key": otherFile } } },
          }),
        );
        await withExtauth(runner, ["--config", config], {}, async (p) => {
          assertReply(await p.request("isuser:alice:example.com"), TRUE, "top level");
          assertReply(await p.request("isuser:alice:other.example"), FALSE, "domain");
          assert.equal(await p.finish(), 0);
        });
        assert.equal(api.requests[0]!.headers["x-api-key"], `${SECRET} v2`);
        assert.equal(api.requests[1]!.headers["x-other-key"], "other-domain-key");
        assert.equal(api.requests[1]!.headers["x-api-key"], undefined, "not inherited");
      },
    );

    it(
      "a bad header file is named, never shown; one open to all users is warned about",
      T,
      async () => {
        const twoLines = join(dir, "two-lines");
        writeFileSync(twoLines, `${SECRET}\nsecond-${SECRET}\n`, { mode: 0o600 });
        const r = await runExtauth(runner, [
          "--url",
          api.url,
          "--header-file",
          `X-Api-Key=${twoLines}`,
        ]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, new RegExp(`--header-file ${twoLines}: the file holds 2 lines`));
        assert.ok(!r.stderr.includes(SECRET.slice(0, 7)), r.stderr);

        const open = join(dir, "open-key");
        writeFileSync(open, `${SECRET}\n`);
        chmodSync(open, 0o644);
        await withExtauth(
          runner,
          ["--url", api.url, "--header-file", `X-Api-Key=${open}`],
          {},
          async (p) => {
            assertReply(await p.request("isuser:alice:example.com"), TRUE, "serves");
            assert.equal(await p.finish(), 0);
            assert.match(p.stderr, new RegExp(`WARN  --header-file ${open} is open to all users`));
            assert.ok(!p.stderr.includes(SECRET.slice(0, 7)), p.stderr);
          },
        );
      },
    );

    it("warns at start about a credential given with --header, without its value", T, async () => {
      api.reset();
      const args = [
        "--url",
        api.url,
        "--header",
        `X-Api-Key: ${SECRET}`,
        "--header",
        "X-Site: chat",
      ];
      await withExtauth(runner, args, {}, async (p) => {
        assertReply(await p.request("isuser:alice:example.com"), TRUE, "serves");
        assert.equal(await p.finish(), 0);
        assert.match(
          p.stderr,
          /WARN {2}--header X-Api-Key holds a credential on the command line, which every local user can read \(ps\); put the value in a file and use --header-file 'X-Api-Key=FILE'/,
        );
        assert.doesNotMatch(p.stderr, /X-Site/);
        assert.ok(!p.stderr.includes(SECRET.slice(0, 7)), p.stderr);
      });
      assert.equal(api.requests[0]!.headers["x-api-key"], SECRET, "still sent");
    });
  });
}

for (const runner of runners()) suite(runner);
