/**
 * `--server mongooseim`: MongooseIM (6.x) speaks ejabberd's framing but decodes only
 * `00 02 00 00` and `00 02 00 01`; any other reply crashes its worker. Its call timeout is 10 s.
 * Proved on the option parser and through the real program driven by a peer that, like
 * MongooseIM, accepts nothing but those two replies: every failure the API can have must reach
 * it as a plain false.
 *
 * Run: `deno test --allow-all tests/blackbox/mongooseim_test.ts`, `bun test tests/blackbox/mongooseim_test.ts`,
 * `EXTAUTH_TEST_BINARY=dist/xmpp-extauth deno test --allow-all tests/blackbox/mongooseim_test.ts`.
 */
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, ConfigError, parseCommand } from "../../lib/cli/config.ts";
import { errorAnswer, replySettingsOf } from "../../lib/auth/reply_policy.ts";
import { type Api, closedPort, slow, startApi } from "../helpers/api_server.ts";
import {
  type Extauth,
  FALSE,
  frame,
  hex,
  runExtauth,
  type Runner,
  runners,
  TRUE,
  withExtauth,
} from "../helpers/spawn.ts";
import { sources } from "../helpers/config.ts";

const URL_A = "http://127.0.0.1:8080/xmpp";
const T = { timeout: 60_000 };

function parse(args: readonly string[], env: Record<string, string> = {}, file?: unknown) {
  const files: Record<string, string> = file === undefined
    ? {}
    : { "/etc/x.json": JSON.stringify(file) };
  return parseCommand(
    sources(file === undefined ? args : [...args, "--config", "/etc/x.json"], env, files),
  );
}

function config(args: readonly string[], env: Record<string, string> = {}, file?: unknown) {
  const command = parse(args, env, file);
  assert.ok(command.kind === "serve", `got ${command.kind}`);
  return command.config;
}

function refused(
  args: readonly string[],
  message: string,
  env: Record<string, string> = {},
  file?: unknown,
) {
  assert.throws(() => parse(args, env, file), (error: unknown) => {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${String(error)}`);
    assert.equal(error.message, message);
    return true;
  });
}

const MIM = ["--url", URL_A, "--server", "mongooseim"];
const ON_ERROR_REFUSED = `: "error" cannot be used with --server mongooseim: MongooseIM ` +
  "understands only true and false, and any other reply crashes its worker; an API that " +
  "cannot answer is answered false there (the default)";

describe("--server: parsing", () => {
  it("defaults to ejabberd: error replies, 20s deadline", () => {
    const c: Config = config(["--url", URL_A]);
    assert.equal(c.server, "ejabberd");
    assert.equal(c.onError, "error");
    assert.equal(c.deadlineMs, 20_000);
  });

  it("mongooseim answers false when the API cannot, with a deadline inside its 10s", () => {
    const c = config(MIM);
    assert.equal(c.server, "mongooseim");
    assert.equal(c.protocol, "ejabberd");
    assert.equal(errorAnswer(replySettingsOf(c)), "false");
    assert.equal(c.deadlineMs, 8000);
    assert.equal(config([...MIM, "--on-error", "false"]).onError, "false");
    assert.equal(config([...MIM, "--deadline", "9.5s"]).deadlineMs, 9500);
  });

  it("comes from the environment and the config file too", () => {
    const env = config(["--url", URL_A], { XMPP_EXTAUTH_SERVER: "mongooseim" });
    assert.equal(env.server, "mongooseim");
    assert.equal(errorAnswer(replySettingsOf(env)), "false");
    const file = config(["--url", URL_A], {}, { server: "mongooseim", deadline: "6s" });
    assert.equal(file.server, "mongooseim");
    assert.equal(file.deadlineMs, 6000);
    // A flag beats the environment, as for every option.
    const flag = config(["--url", URL_A, "--server", "ejabberd"], {
      XMPP_EXTAUTH_SERVER: "mongooseim",
    });
    assert.equal(flag.server, "ejabberd");
  });

  it("refuses an explicit --on-error error, from any source, saying why", () => {
    refused([...MIM, "--on-error", "error"], `--on-error${ON_ERROR_REFUSED}`);
    refused(MIM, `XMPP_EXTAUTH_ON_ERROR${ON_ERROR_REFUSED}`, { XMPP_EXTAUTH_ON_ERROR: "error" });
    refused(MIM, `config "on-error"${ON_ERROR_REFUSED}`, {}, { "on-error": "error" });
    refused(
      [...MIM, "--on-error", "maybe"],
      '--on-error: "maybe" is not one of error, false',
    );
  });

  it("refuses a deadline MongooseIM would not wait for", () => {
    refused(
      [...MIM, "--deadline", "10s"],
      "--deadline: 10s must be below MongooseIM's 10s limit, or MongooseIM gives up before " +
        "the answer comes",
    );
    refused(
      ["--url", URL_A, "--deadline", "12s"],
      "--deadline: 12s must be below MongooseIM's 10s limit, or MongooseIM gives up before " +
        "the answer comes",
      { XMPP_EXTAUTH_SERVER: "mongooseim" },
    );
    // ejabberd's limit is unchanged.
    assert.equal(config(["--url", URL_A, "--deadline", "12s"]).deadlineMs, 12_000);
    refused(
      ["--url", URL_A, "--deadline", "30s"],
      "--deadline: 30s must be below ejabberd's 30s limit, or ejabberd gives up before the " +
        "answer comes",
    );
  });

  it("refuses unknown servers and MongooseIM with Prosody's protocol", () => {
    refused(
      ["--url", URL_A, "--server", "prosody"],
      '--server: "prosody" is not one of ejabberd, mongooseim',
    );
    refused(
      [...MIM, "--protocol", "prosody"],
      "--server: mongooseim speaks ejabberd's framing, not --protocol prosody",
    );
  });
});

/**
 * Plays MongooseIM's side: sends one request, reads one reply, and fails the test on anything
 * but `00 02 00 00` or `00 02 00 01`, as MongooseIM's worker would crash on it.
 */
async function askAsMongooseIM(p: Extauth, request: string): Promise<boolean> {
  await p.write(frame(request));
  const reply = await p.readReply();
  const text = hex(reply);
  if (text === hex(TRUE)) return true;
  if (text === hex(FALSE)) return false;
  assert.fail(`${request.split(":")[0]}: reply ${text} would crash MongooseIM's worker`);
}

function suite(runner: Runner) {
  describe(`--server mongooseim through the real program (${runner.name})`, () => {
    let api: Api;
    let dir: string;
    before(async () => {
      api = await startApi({ users: { "alice@example.com": "wonderland" } });
      dir = mkdtempSync(join(tmpdir(), "extauth-mongooseim-"));
    });
    after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });
    afterEach(() => api.reset());

    it("answers only true or false, whatever the API does", T, async () => {
      const args = [
        "--url",
        api.url,
        "--server",
        "mongooseim",
        "--timeout",
        "300ms",
        "--retries",
        "0",
        "--breaker-failures",
        "3",
      ];
      await withExtauth(runner, args, {}, async (p) => {
        // The API answers: its answers pass unchanged.
        assert.equal(await askAsMongooseIM(p, "auth:alice:example.com:wonderland"), true);
        assert.equal(await askAsMongooseIM(p, "auth:alice:example.com:wrong"), false);
        assert.equal(await askAsMongooseIM(p, "isuser:alice:example.com"), true);
        assert.equal(await askAsMongooseIM(p, "isuser:nobody:example.com"), false);
        // removeuser3 never comes from MongooseIM; served all the same.
        assert.equal(await askAsMongooseIM(p, "removeuser3:nobody:example.com:x"), false);
        // Not a request: false, as ever.
        assert.equal(await askAsMongooseIM(p, "hello"), false);
        // Each way the API can fail: false, never the error reply.
        api.setMode("status500");
        assert.equal(await askAsMongooseIM(p, "auth:alice:example.com:wonderland"), false);
        api.setMode("html");
        assert.equal(await askAsMongooseIM(p, "isuser:alice:example.com"), false);
        api.setMode(slow(2000));
        assert.equal(await askAsMongooseIM(p, "setpass:alice:example.com:new"), false);
        // Three failures in a row opened the breaker: answered at once, still false.
        api.setMode("normal");
        assert.equal(await askAsMongooseIM(p, "auth:alice:example.com:wonderland"), false);
        p.closeStdin();
        assert.equal((await p.waitExit()).code, 0);
        assert.match(p.stderr, /backend error after [\d.]+ ms: HTTP 500/);
        assert.match(p.stderr, /circuit breaker open/);
        assert.match(p.stderr, /serving ejabberd \(mongooseim: true\/false only\)/);
      });
    });

    it("answers false with the API down and for a domain it has no route for", T, async () => {
      const configFile = join(dir, "domains.json");
      const down = `http://127.0.0.1:${await closedPort()}/api`;
      writeFileSync(configFile, JSON.stringify({ domains: { "example.com": { url: down } } }));
      const args = ["--config", configFile, "--server", "mongooseim", "--retries", "1"];
      await withExtauth(runner, args, {}, async (p) => {
        assert.equal(await askAsMongooseIM(p, "auth:alice:example.com:wonderland"), false);
        assert.equal(await askAsMongooseIM(p, "isuser:alice:example.com"), false);
        assert.equal(await askAsMongooseIM(p, "tryregister:bob:example.com:pw"), false);
        assert.equal(await askAsMongooseIM(p, "isuser:alice:elsewhere.org"), false);
        p.closeStdin();
        assert.equal((await p.waitExit()).code, 0);
        assert.match(p.stderr, /auth alice@example\.com: backend error after/);
        assert.match(p.stderr, /no route for domain "elsewhere\.org"/);
      });
    });

    it(
      "control: without --server mongooseim the same outage gives the error reply",
      T,
      async () => {
        const down = `http://127.0.0.1:${await closedPort()}/api`;
        await withExtauth(runner, ["--url", down, "--retries", "0"], {}, async (p) => {
          await assert.rejects(
            askAsMongooseIM(p, "isuser:alice:example.com"),
            /isuser: reply 00 02 00 02 would crash MongooseIM's worker/,
          );
        });
      },
    );

    it("exits 2 before reading a request when told --on-error error", T, async () => {
      const run = await runExtauth(
        runner,
        ["--url", api.url, "--server", "mongooseim", "--on-error", "error"],
        { stdin: frame("isuser:alice:example.com") },
      );
      assert.equal(run.code, 2);
      assert.equal(run.stdout.length, 0, `stdout: ${hex(run.stdout)}`);
      assert.equal(run.stderr, `xmpp-extauth: --on-error${ON_ERROR_REFUSED}\n`);
    });
  });
}

for (const runner of runners()) suite(runner);
