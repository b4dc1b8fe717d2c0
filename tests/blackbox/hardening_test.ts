/**
 * Black-box tests of the production features (issue 4) through the real
 * program: the outage cache, the circuit breaker, signed requests, per-domain
 * routing from a config file, the form-status contract, and Prosody's line
 * protocol under a real pseudo-terminal. Same runners as blackbox_test.ts.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifySignature } from "../../lib/api/signing.ts";
import { type Api, listen, type ProgrammableServer, startApi } from "../helpers/api_server.ts";
import {
  assertReply,
  ERROR,
  FALSE,
  REPO_ROOT,
  type Runner,
  runners,
  TRUE,
  withExtauth,
} from "../helpers/spawn.ts";

const T = { timeout: 60_000 };
const PASSWORD = "Kappa-Pw-4411-leakcheck";
const HMAC_SECRET = "Hmac-Secret-8812-leakcheck";

/**
 * Runs queries through the program under a pseudo-terminal, as Prosody does, once `logFile`
 * says it serves (it discards what was queued before: see prosody_test.ts).
 */
function underPty(
  runner: Runner,
  args: string[],
  queries: string[],
  logFile: string,
): Promise<string> {
  const encoded = queries.map((q) => Buffer.from(q, "utf8").toString("hex")).join(",");
  return new Promise((resolve, reject) => {
    execFile(
      "python3",
      [
        join(REPO_ROOT, "tests/helpers/pty_session.py"),
        logFile,
        "serving prosody",
        encoded,
        runner.command,
        ...runner.prefix,
        ...args,
      ],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeout: 45_000 },
      (error, stdout) =>
        error ? reject(error) : resolve(Buffer.from(stdout.trim(), "hex").toString("utf8")),
    );
  });
}

for (const runner of runners()) {
  describe(`production features through the program (${runner.name})`, () => {
    let api: Api;
    let dir: string;
    before(async () => {
      api = await startApi({ users: { "alice@example.com": PASSWORD } });
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-hardening-"));
    });
    after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("serves a remembered login while the API fails, never a wrong password", T, async () => {
      api.reset();
      const log = join(dir, "stale.log");
      const args = [
        "--url",
        api.url,
        "--stale-ttl",
        "10m",
        "--retries",
        "0",
        "--debug",
        "--log-file",
        log,
      ];
      await withExtauth(runner, args, {}, async (p) => {
        assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "API up");
        api.setMode("status500");
        assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "remembered");
        assertReply(await p.request("auth:alice:example.com:guess"), ERROR, "not remembered");
        assertReply(await p.request("isuser:alice:example.com"), TRUE, "a login proves existence");
        api.setMode("normal");
        assertReply(await p.request("auth:alice:example.com:guess"), FALSE, "a definite no");
        api.setMode("status500");
        assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), ERROR, "forgotten");
        p.closeStdin();
        assert.equal((await p.waitExit()).code, 0);
        assert.equal(p.stderr, "");
      });
      const text = readFileSync(log, "utf8");
      assert.match(
        text,
        /WARN {2}auth alice@example\.com: backend error \(HTTP 500.*\); serving the success remembered \d+s ago/,
      );
      assert.ok(!text.includes(PASSWORD), "the password must not reach the log");
    });

    it("opens the breaker: no request reaches a failing API during the cooldown", T, async () => {
      api.reset();
      api.setMode("status500");
      const args = [
        "--url",
        api.url,
        "--retries",
        "0",
        "--breaker-failures",
        "2",
        "--breaker-cooldown",
        "1h",
      ];
      await withExtauth(runner, args, {}, async (p) => {
        for (let i = 0; i < 5; i++) {
          assertReply(await p.request("isuser:alice:example.com"), ERROR, `#${i}`);
        }
        assert.equal(api.requests.length, 2, "only the two failures before the breaker opened");
        assert.match(
          p.stderr,
          /ERROR circuit breaker open: 2 backend errors in a row from the API/,
        );
      });
    });

    // v2, the default, is tested against the docs' verifier in signing_blackbox_test.ts.
    it("signs every request as before with --signature-scheme v1 (deprecated)", T, async () => {
      api.reset();
      const secretFile = join(dir, "hmac");
      writeFileSync(secretFile, `${HMAC_SECRET}\n`);
      await withExtauth(
        runner,
        ["--url", api.url, "--hmac-secret-file", secretFile, "--signature-scheme", "v1", "--debug"],
        {},
        async (p) => {
          assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "auth");
          assertReply(await p.request("isuser:alice:example.com"), TRUE, "isuser");
          assert.ok(!p.stderr.includes(HMAC_SECRET) && !p.stderr.includes(PASSWORD));
        },
      );
      assert.equal(api.requests.length, 2);
      const now = Math.floor(Date.now() / 1000);
      for (const request of api.requests) {
        const timestamp = String(request.headers["x-extauth-timestamp"]);
        const signature = String(request.headers["x-extauth-signature"]);
        const secret = new TextEncoder().encode(HMAC_SECRET);
        assert.ok(
          await verifySignature(secret, request.body, timestamp, signature, now),
          request.path,
        );
        assert.equal(
          await verifySignature(secret, `${request.body} `, timestamp, signature, now),
          false,
        );
      }
    });

    it("routes domains from a config file, with flag > environment > file", T, async () => {
      api.reset();
      const other = await startApi({ prefix: "/org", users: { "bob@example.org": "bob-pw" } });
      try {
        const config = join(dir, "config.json");
        writeFileSync(
          config,
          JSON.stringify({
            url: "http://127.0.0.1:9/unused",
            timeout: "1s",
            domains: { "example.org": { url: other.url } },
          }),
        );
        const env = { XMPP_EXTAUTH_URL: api.url };
        await withExtauth(runner, ["--config", config, "--debug"], { env }, async (p) => {
          assertReply(
            await p.request("isuser:alice:example.com"),
            TRUE,
            "env --url beats the file",
          );
          assertReply(
            await p.request("isuser:bob:example.org"),
            TRUE,
            "example.org has its own API",
          );
          assertReply(await p.request("isuser:alice:example.org"), FALSE, "and asks only there");
          assert.match(p.stderr, /timeout 1s/);
        });
        assert.deepEqual(api.requests.map((r) => r.path), ["/exists"]);
        assert.deepEqual(other.requests.map((r) => r.path), ["/org/exists", "/org/exists"]);
      } finally {
        await other.close();
      }
    });

    it("answers error and names the domain when no route serves it", T, async () => {
      const config = join(dir, "only-org.json");
      writeFileSync(config, JSON.stringify({ domains: { "example.org": { url: api.url } } }));
      await withExtauth(runner, ["--config", config], {}, async (p) => {
        assertReply(await p.request("isuser:alice:example.net"), ERROR, "no route");
        assert.match(
          p.stderr,
          /WARN {2}isuser alice@example\.net: no route for domain "example\.net"/,
        );
      });
    });

    describe("form-status contract", () => {
      let form: ProgrammableServer;
      before(async () => {
        form = await listen();
      });
      after(async () => {
        await form.close();
      });

      it("speaks ejabberd_auth_http's endpoints, form bodies and statuses", T, async () => {
        form.on((req, body, res) => {
          const fields = new URLSearchParams(body);
          const known = fields.get("user") === "alice";
          const status: Record<string, [number, string]> = {
            "/check_password": [200, known && fields.get("pass") === "p:w ü&=" ? "true" : "false"],
            "/user_exists": [200, known ? "true\n" : "false\n"],
            "/set_password": [known ? 204 : 404, ""],
            "/register": [known ? 409 : 201, ""],
            "/remove_user": [known ? 204 : 404, ""],
            "/remove_user_validate": [known ? 204 : 403, ""],
          };
          const [code, text] = status[req.url ?? ""] ?? [500, "unknown path"];
          res.writeHead(code, { "Content-Type": "text/plain" });
          res.end(text);
        });
        const args = ["--url", form.url, "--contract", "form-status", "--retries", "0"];
        await withExtauth(runner, args, {}, async (p) => {
          const cases: [string, Uint8Array][] = [
            ["auth:alice:example.com:p:w ü&=", TRUE],
            ["auth:alice:example.com:wrong", FALSE],
            ["isuser:alice:example.com", TRUE],
            ["isuser:bob:example.com", FALSE],
            ["setpass:alice:example.com:new", TRUE],
            ["setpass:bob:example.com:new", ERROR], // refused: never false to ejabberd
            ["tryregister:alice:example.com:x", FALSE],
            ["tryregister:bob:example.com:x", TRUE],
            ["removeuser:alice:example.com", TRUE],
            ["removeuser3:bob:example.com:x", FALSE],
          ];
          for (const [query, expected] of cases) {
            assertReply(await p.request(query), expected, query);
          }
        });
        const first = form.seen[0]!;
        assert.equal(first.path, "/check_password", "never in the query string");
        assert.equal(first.headers["content-type"], "application/x-www-form-urlencoded");
        assert.deepEqual(Object.fromEntries(new URLSearchParams(first.body)), {
          user: "alice",
          server: "example.com",
          pass: "p:w ü&=",
        });
        assert.equal(new URLSearchParams(form.seen[2]!.body).has("pass"), false);
      });
    });

    it("speaks Prosody's line protocol under a pseudo-terminal, silent on stderr", T, async () => {
      api.reset();
      api.users.set("carol@example.com", "c:rol pw");
      const log = join(dir, "prosody.log");
      const args = ["--url", api.url, "--protocol", "prosody", "--debug", "--log-file", log];
      const screen = await underPty(runner, args, [
        `auth:alice:example.com:${PASSWORD}\n`,
        "auth:alice:example.com:wrong\n",
        "isuser:carol:example.com\r\n", // the terminal makes this "...\n\n": one reply only
        "auth:carol:example.com:c:rol pw\n",
        "isuser:nobody:example.com\n",
      ], log);
      // The terminal turns each "\n" the program writes into "\r\n"; nothing else may appear,
      // not even at --debug (the log goes to its file: stderr is the same terminal).
      assert.equal(screen, "1\r\n0\r\n1\r\n1\r\n0\r\n");
      assert.equal(api.requests.length, 5);
    });
  });
}
