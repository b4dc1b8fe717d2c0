/**
 * Black-box tests: xmpp-extauth started as ejabberd starts it (a child process
 * with pipes), talking to a real HTTP API on 127.0.0.1. Every byte of stdout
 * is checked, and so is every request the API receives. The same cases run
 * for `deno run -A main.ts`, `bun main.ts` and, when `EXTAUTH_TEST_BINARY`
 * names it, the compiled binary.
 *
 * Run: `deno test --allow-all tests/blackbox/blackbox_test.ts`, `bun test tests/blackbox/blackbox_test.ts`,
 * `EXTAUTH_TEST_BINARY=dist/xmpp-extauth deno test --allow-all tests/blackbox/blackbox_test.ts`.
 */
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VERSION } from "../../lib/core/version.ts";
import {
  type Api,
  type Endpoint,
  type RecordedRequest,
  slow,
  startApi,
  startApiWithToken,
} from "../helpers/api_server.ts";
import {
  assertReply,
  concat,
  ERROR,
  type Extauth,
  FALSE,
  frame,
  hex,
  type Runner,
  runners,
  type SpawnOptions,
  TRUE,
  withExtauth,
} from "../helpers/spawn.ts";

const T = { timeout: 60_000 };
const SERVER = "example.com";
const USERS = {
  "alice@example.com": "wonderland",
  "carol@example.com": "carol-pw",
  "dave@example.com": "dave-pw",
};
const TOKEN = "tok-Bearer-7731-FILE";
const ENV_TOKEN = "tok-Bearer-5582-ENV";
/** A password and a token distinctive enough that any leak is found by a substring search. */
const SECRET_PASSWORD = "Zeta-Pw-9137-leakcheck";
const SECRET_TOKEN = "Tok-Secret-55821-leakcheck";

/** The JSON body xmpp-extauth must send. */
function body(user: string, server: string, password?: string): Record<string, string> {
  const b: Record<string, string> = { username: `${user}@${server}`, user, server };
  if (password !== undefined) b.password = password;
  return b;
}

/** Asserts the headers every request carries. */
function assertHeaders(r: RecordedRequest, authorization: string | undefined) {
  assert.equal(r.method, "POST");
  assert.equal(r.headers["content-type"], "application/json");
  assert.equal(r.headers["accept"], "application/json");
  assert.equal(r.headers["user-agent"], `xmpp-extauth/${VERSION}`);
  assert.equal(r.headers["authorization"], authorization);
  assert.equal(Number(r.headers["content-length"]), r.rawBody.length);
}

/** The only request the API received since `from`. */
function onlyRequest(api: Api, from: number, label: string): RecordedRequest {
  const got = api.since(from);
  assert.equal(
    got.length,
    1,
    `${label}: the API received ${got.length} requests: ${got.map((r) => r.path).join(", ")}`,
  );
  return got[0]!;
}

function suite(runner: Runner) {
  describe(`xmpp-extauth black box (${runner.name})`, () => {
    let api: Api;
    let dir: string;
    let tokenFile: string;

    /** Runs `fn` with xmpp-extauth serving `api` (plus `args`), then checks a clean exit. */
    const serving = (
      args: readonly string[],
      fn: (p: Extauth) => Promise<void>,
      options: SpawnOptions = {},
    ) =>
      withExtauth(runner, ["--url", api.url, ...args], options, async (p) => {
        await fn(p);
        assert.equal(await p.finish(), 0, `exit code; stderr: ${p.stderr}`);
      });

    let close: () => Promise<void>;
    before(async () => {
      ({ api, dir, tokenFile, close } = await startApiWithToken(
        { users: USERS },
        TOKEN,
        "extauth-blackbox-",
      ));
    });
    after(() => close());
    afterEach(() => api.reset());

    it(
      "answers every operation true and false and sends exactly the contract's request",
      T,
      async () => {
        const steps: [string, Uint8Array, Endpoint, Record<string, string>][] = [
          ["auth:alice:example.com:wonderland", TRUE, "login", body("alice", SERVER, "wonderland")],
          [
            "auth:alice:example.com:wonderlanD",
            FALSE,
            "login",
            body("alice", SERVER, "wonderlanD"),
          ],
          [
            "auth:nobody:example.com:wonderland",
            FALSE,
            "login",
            body("nobody", SERVER, "wonderland"),
          ],
          ["isuser:alice:example.com", TRUE, "exists", body("alice", SERVER)],
          ["isuser:nobody:example.com", FALSE, "exists", body("nobody", SERVER)],
          ["isuser:alice:example.org", FALSE, "exists", body("alice", "example.org")],
          ["setpass:alice:example.com:new-pw", TRUE, "setpass", body("alice", SERVER, "new-pw")],
          // Refused: error, as ejabberd would take false for a successful change.
          ["setpass:nobody:example.com:new-pw", ERROR, "setpass", body("nobody", SERVER, "new-pw")],
          ["auth:alice:example.com:new-pw", TRUE, "login", body("alice", SERVER, "new-pw")],
          [
            "auth:alice:example.com:wonderland",
            FALSE,
            "login",
            body("alice", SERVER, "wonderland"),
          ],
          [
            "tryregister:bob:example.com:bob-pw",
            TRUE,
            "tryregister",
            body("bob", SERVER, "bob-pw"),
          ],
          ["tryregister:bob:example.com:other", FALSE, "tryregister", body("bob", SERVER, "other")],
          ["auth:bob:example.com:bob-pw", TRUE, "login", body("bob", SERVER, "bob-pw")],
          ["removeuser3:bob:example.com:wrong", FALSE, "removeuser3", body("bob", SERVER, "wrong")],
          [
            "removeuser3:bob:example.com:bob-pw",
            TRUE,
            "removeuser3",
            body("bob", SERVER, "bob-pw"),
          ],
          [
            "removeuser3:bob:example.com:bob-pw",
            FALSE,
            "removeuser3",
            body("bob", SERVER, "bob-pw"),
          ],
          ["isuser:bob:example.com", FALSE, "exists", body("bob", SERVER)],
          ["removeuser:carol:example.com", TRUE, "removeuser", body("carol", SERVER)],
          ["removeuser:carol:example.com", FALSE, "removeuser", body("carol", SERVER)],
          ["isuser:carol:example.com", FALSE, "exists", body("carol", SERVER)],
        ];
        await serving(["--token-file", tokenFile], async (p) => {
          for (const [payload, expected, endpoint, json] of steps) {
            const from = api.requests.length;
            assertReply(await p.request(payload), expected, payload);
            const r = onlyRequest(api, from, payload);
            assert.equal(r.path, `/${endpoint}`, payload);
            assert.equal(r.endpoint, endpoint);
            assert.deepEqual(r.json, json, payload);
            assertHeaders(r, `Bearer ${TOKEN}`);
          }
        });
        assert.equal(api.users.has("bob@example.com"), false);
        assert.equal(api.users.get("alice@example.com"), "new-pw");
      },
    );

    it(
      "takes the Bearer token from XMPP_EXTAUTH_TOKEN, and sends none without a token",
      T,
      async () => {
        await serving([], async (p) => {
          assertReply(await p.request("isuser:alice:example.com"), TRUE, "env token");
          assertHeaders(onlyRequest(api, 0, "env token"), `Bearer ${ENV_TOKEN}`);
        }, { env: { XMPP_EXTAUTH_TOKEN: ENV_TOKEN } });
        const from = api.requests.length;
        await serving([], async (p) => {
          assertReply(await p.request("auth:alice:example.com:wonderland"), TRUE, "no token");
          assertHeaders(onlyRequest(api, from, "no token"), undefined);
        });
      },
    );

    it("passes passwords byte-exact: colons, non-ASCII, newlines, quotes, empty", T, async () => {
      const passwords = [
        "a:b:c",
        ":leading",
        "trailing:",
        "::",
        "pässwörd ✓ 密码 🔑",
        "line1\nline2\r\nline3\n",
        " spaces \t tab ",
        '"quotes" \\ back\\slash {"json":1}',
        "",
      ];
      await serving([], async (p) => {
        for (const [i, password] of passwords.entries()) {
          const user = i === 4 ? "jürgen" : `user${i}`;
          const label = JSON.stringify(password);
          let from = api.requests.length;
          assertReply(await p.request(`tryregister:${user}:${SERVER}:${password}`), TRUE, label);
          assert.deepEqual(onlyRequest(api, from, label).json, body(user, SERVER, password), label);
          assert.equal(api.users.get(`${user}@${SERVER}`), password, label);
          from = api.requests.length;
          assertReply(await p.request(`auth:${user}:${SERVER}:${password}`), TRUE, label);
          assert.deepEqual(onlyRequest(api, from, label).json, body(user, SERVER, password), label);
          assertReply(await p.request(`auth:${user}:${SERVER}:${password}x`), FALSE, label);
          assertReply(await p.request(`auth:${user}:${SERVER}:x${password}`), FALSE, label);
        }
      });
    });

    it("replies error (00 02 00 02) when the API does not answer the contract", T, async () => {
      const modes = [
        "status500",
        "echo500",
        "html",
        "emptyObject",
        "successString",
        "hangUp",
      ] as const;
      await serving(["--retries", "0", "--breaker-failures", "0"], async (p) => {
        for (const mode of modes) {
          api.setMode(mode);
          for (const payload of ["auth:alice:example.com:wonderland", "isuser:alice:example.com"]) {
            const from = api.requests.length;
            assertReply(await p.request(payload), ERROR, `${mode}: ${payload}`);
            assert.ok(api.since(from).length >= 1, `${mode}: the API was asked`);
          }
          api.setMode("normal");
          assertReply(await p.request("isuser:alice:example.com"), TRUE, `after ${mode}`);
        }
      });
    });

    it("replies error for an endpoint the API does not have (404)", T, async () => {
      await serving(["--endpoint", "auth=no/such/path"], async (p) => {
        assertReply(await p.request("auth:alice:example.com:wonderland"), ERROR, "404");
        assert.equal(onlyRequest(api, 0, "404").path, "/no/such/path");
        assertReply(await p.request("isuser:alice:example.com"), TRUE, "other endpoint");
      });
    });

    it("replies false (00 02 00 00) for every failure with --on-error=false", T, async () => {
      const modes = ["status500", "html", "emptyObject", "successString", "hangUp"] as const;
      await serving(
        ["--on-error=false", "--retries", "0", "--breaker-failures", "0"],
        async (p) => {
          for (const mode of modes) {
            api.setMode(mode);
            const from = api.requests.length;
            assertReply(await p.request("auth:alice:example.com:wonderland"), FALSE, mode);
            assert.ok(api.since(from).length >= 1, `${mode}: the API was asked`);
          }
          api.setMode("normal");
          assertReply(await p.request("auth:alice:example.com:wonderland"), TRUE, "normal");
        },
      );
    });

    it("replies error when the API refuses connections, and keeps serving", T, async () => {
      const gone = await startApi();
      await gone.close();
      await withExtauth(runner, ["--url", gone.url], {}, async (p) => {
        assertReply(await p.request("auth:alice:example.com:wonderland"), ERROR, "auth");
        assertReply(await p.request("tryregister:zed:example.com:pw"), ERROR, "tryregister");
        assertReply(await p.request("isuser:alice:example.com"), ERROR, "isuser");
        assert.equal(await p.finish(), 0);
      });
      await withExtauth(runner, ["--url", gone.url, "--on-error", "false"], {}, async (p) => {
        assertReply(await p.request("auth:alice:example.com:wonderland"), FALSE, "on-error false");
        assert.equal(await p.finish(), 0);
      });
    });

    it(
      "replies error when the API is slower than --timeout, and answers the next request",
      T,
      async () => {
        // The API holds the answer for 30 s; the wait below fails the test long before that.
        const args = ["--timeout", "200ms", "--deadline", "1s", "--breaker-failures", "0"];
        await serving(args, async (p) => {
          api.setMode(slow(30_000), "login");
          assertReply(await p.request("auth:alice:example.com:wonderland"), ERROR, "slow auth");
          assert.ok(api.since(0, "login").length >= 1, "the API was asked");
          api.setMode(slow(30_000), "tryregister");
          assertReply(await p.request("tryregister:slowpoke:example.com:pw"), ERROR, "slow write");
          assert.equal(api.since(0, "tryregister").length, 1, "a timed-out write is not repeated");
          assertReply(await p.request("isuser:alice:example.com"), TRUE, "next request");
          api.setMode("normal");
          assertReply(await p.request("auth:alice:example.com:wonderland"), TRUE, "API fast again");
        }, { waitMs: 10_000 });
      },
    );

    it("retries a failed auth and isuser, but never a write after a 500", T, async () => {
      await serving([], async (p) => {
        api.queueModes("login", "status500");
        assertReply(await p.request("auth:alice:example.com:wonderland"), TRUE, "auth after 500");
        const logins = api.since(0, "login");
        assert.equal(logins.length, 2, "the API sees the auth twice");
        assert.deepEqual(logins[1]!.json, logins[0]!.json);

        api.queueModes("exists", "status500", "status500");
        assertReply(await p.request("isuser:alice:example.com"), TRUE, "isuser after two 500s");
        assert.equal(api.since(0, "exists").length, 3, "the API sees the isuser three times");

        api.queueModes("tryregister", "status500");
        assertReply(await p.request("tryregister:erin:example.com:pw"), ERROR, "tryregister");
        assert.equal(api.since(0, "tryregister").length, 1, "tryregister is sent once");
        assert.equal(api.users.has("erin@example.com"), false);

        api.queueModes("removeuser", "status500");
        assertReply(await p.request("removeuser:dave:example.com"), ERROR, "removeuser");
        assert.equal(api.since(0, "removeuser").length, 1, "removeuser is sent once");

        api.queueModes("removeuser3", "status500");
        assertReply(await p.request("removeuser3:dave:example.com:dave-pw"), ERROR, "removeuser3");
        assert.equal(api.since(0, "removeuser3").length, 1, "removeuser3 is sent once");
        assert.equal(api.users.get("dave@example.com"), "dave-pw");
      });
    });

    it("retries an auth whose connection was dropped", T, async () => {
      await serving([], async (p) => {
        assertReply(await p.request("isuser:alice:example.com"), TRUE, "warm-up");
        api.queueModes("login", "hangUp");
        assertReply(await p.request("auth:alice:example.com:wonderland"), TRUE, "auth after drop");
        assert.ok(api.since(0, "login").length >= 2, "the API sees the auth again");
      });
    });

    it(
      "never re-sends a write whose connection was dropped after the API received it",
      // Deno's fetch re-sends a request once when a pooled keep-alive connection closes
      // without an answer, so writes go through a fetch that does not reuse connections.
      T,
      async () => {
        await serving([], async (p) => {
          // A first request leaves a keep-alive connection in the pool, as in production.
          assertReply(await p.request("isuser:alice:example.com"), TRUE, "warm-up");
          for (
            const [payload, endpoint] of [
              ["tryregister:erin:example.com:pw", "tryregister"],
              ["removeuser:dave:example.com", "removeuser"],
              ["removeuser3:carol:example.com:carol-pw", "removeuser3"],
              ["setpass:alice:example.com:changed", "setpass"],
            ] as const
          ) {
            api.queueModes(endpoint, "hangUp");
            const want = endpoint === "setpass" ? TRUE : ERROR;
            assertReply(await p.request(payload), want, `${endpoint} after a drop`);
            const sent = api.since(0, endpoint).length;
            if (endpoint === "setpass") assert.equal(sent, 2, "setpass is idempotent: retried");
            else assert.equal(sent, 1, `${endpoint} is sent once`);
          }
        });
      },
    );

    it("answers 2,000 pipelined requests in one process, all correct and in order", T, async () => {
      const n = 2000;
      for (let k = 0; k < 101; k += 3) api.users.set(`u${k}@${SERVER}`, `pw${k}`);
      const payloads: string[] = [];
      const expected: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        const k = i % 101;
        const exists = k % 3 === 0;
        if (i % 2 === 0) {
          payloads.push(`isuser:u${k}:${SERVER}`);
          expected.push(exists ? TRUE : FALSE);
        } else {
          const right = i % 4 === 1;
          payloads.push(`auth:u${k}:${SERVER}:pw${k}${right ? "" : ":x"}`);
          expected.push(exists && right ? TRUE : FALSE);
        }
      }
      await serving([], async (p) => {
        const frames = payloads.map((payload) => frame(payload));
        for (let i = 0; i < n; i += 250) await p.write(concat(...frames.slice(i, i + 250)));
        const replies = await p.readReplies(n);
        for (let i = 0; i < n; i++) assertReply(replies[i]!, expected[i]!, `#${i} ${payloads[i]}`);
      }, { waitMs: 90_000 });
      assert.equal(api.requests.length, n);
      for (let i = 0; i < n; i++) {
        const r = api.requests[i]!;
        assert.equal(r.path, i % 2 === 0 ? "/exists" : "/login", `request #${i}`);
        assert.equal((r.json as { user: string }).user, `u${i % 101}`, `request #${i}`);
      }
    });

    it("exits 0 at end of input mid-frame, with only whole replies on stdout", T, async () => {
      const whole = frame("isuser:alice:example.com");
      const cases: [string, Uint8Array, Uint8Array][] = [
        [
          "whole frame, then half a frame",
          concat(whole, frame("isuser:carol:example.com").slice(0, 9)),
          TRUE,
        ],
        ["one byte of a header", Uint8Array.of(0), new Uint8Array(0)],
        [
          "a header announcing 100 bytes, then 10",
          concat(Uint8Array.of(0, 100), new Uint8Array(10)),
          new Uint8Array(0),
        ],
        [
          "a header announcing 65535 bytes, nothing more",
          Uint8Array.of(0xff, 0xff),
          new Uint8Array(0),
        ],
        ["nothing at all", new Uint8Array(0), new Uint8Array(0)],
      ];
      await Promise.all(
        cases.map(([label, input, replies]) =>
          withExtauth(runner, ["--url", api.url], {}, async (p) => {
            await p.write(input);
            if (replies.length > 0) assertReply(await p.readReply(), replies, label);
            assert.equal(await p.finish(), 0, `${label}: exit code; stderr: ${p.stderr}`);
            assert.equal(hex(p.stdout), hex(replies), label);
          })
        ),
      );
      assert.equal(api.requests.length, 1, "only the whole frame reached the API");
    });

    it("reads frames glued in one write and frames split byte by byte", T, async () => {
      await serving([], async (p) => {
        const glued = concat(
          frame("isuser:alice:example.com"),
          frame("auth:alice:example.com:nope"),
          frame("auth:alice:example.com:wonderland"),
          frame("isuser:nobody:example.com"),
        );
        await p.write(glued);
        const replies = await p.readReplies(4);
        [TRUE, FALSE, TRUE, FALSE].forEach((e, i) => assertReply(replies[i]!, e, `glued #${i}`));

        const split = frame("auth:alice:example.com:wonder:land ✓");
        for (const byte of split) {
          await p.write(Uint8Array.of(byte));
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        assertReply(await p.readReply(), FALSE, "split byte by byte");
        const last = onlyRequest(api, 4, "split");
        assert.deepEqual(last.json, body("alice", SERVER, "wonder:land ✓"));

        // A frame whose header ends one write and whose body spans the next two.
        const a = frame("isuser:alice:example.com");
        const b = frame("auth:alice:example.com:wonderland");
        await p.write(concat(a, b.slice(0, 2)));
        await p.write(b.slice(2, 10));
        await p.write(b.slice(10));
        const [ra, rb] = await p.readReplies(2);
        assertReply(ra!, TRUE, "first of the straddling pair");
        assertReply(rb!, TRUE, "second of the straddling pair");
      });
    });

    it(
      "replies false to unknown operations and malformed requests without asking the API",
      T,
      async () => {
        const bad: [string, Uint8Array][] = [
          ["certauth", frame("certauth:alice:example.com:x")],
          ["unknown op", frame("login:alice:example.com:wonderland")],
          ["empty frame", frame("")],
          ["no server", frame("auth:alice")],
          ["no password field", frame("auth:alice:example.com")],
          ["isuser with a password", frame("isuser:alice:example.com:wonderland")],
          ["empty user", frame("isuser::example.com")],
          ["invalid UTF-8 op", frame(Uint8Array.of(0xff, 0xfe, 0x3a, 0x61, 0x3a, 0x62))],
          ["upper-case op", frame("AUTH:alice:example.com:wonderland")],
        ];
        await serving([], async (p) => {
          for (const [label, bytes] of bad) {
            await p.write(bytes);
            assertReply(await p.readReply(), FALSE, label);
          }
          assert.equal(api.requests.length, 0, "the API was not asked");
          // The process still serves normally afterwards, and takes the longest possible frame.
          assertReply(await p.request("isuser:alice:example.com"), TRUE, "after the bad ones");
          const long = `auth:alice:example.com:${"p".repeat(65535 - 23)}`;
          assert.equal(frame(long).length, 65537);
          assertReply(await p.request(long), FALSE, "65535-byte frame");
          assert.equal((api.requests.at(-1)!.json as { password: string }).password.length, 65512);
        });
      },
    );

    it(
      "never writes the password or the token to stderr or --log-file, even at --debug",
      T,
      async () => {
        const logFile = join(dir, "debug.log");
        const session = async (p: Extauth) => {
          api.reset();
          api.users.set(`secret@${SERVER}`, SECRET_PASSWORD);
          assertReply(await p.request(`auth:secret:${SERVER}:${SECRET_PASSWORD}`), TRUE, "auth");
          assertReply(await p.request(`auth:secret:${SERVER}:${SECRET_PASSWORD}x`), FALSE, "wrong");
          assertReply(
            await p.request(`setpass:secret:${SERVER}:${SECRET_PASSWORD}2`),
            TRUE,
            "setpass",
          );
          assertReply(await p.request(`tryregister:new:${SERVER}:${SECRET_PASSWORD}`), TRUE, "reg");
          assertReply(await p.request(`removeuser3:new:${SERVER}:${SECRET_PASSWORD}`), TRUE, "rm3");
          for (const mode of ["echo500", "echoFalse", "status500", "html", "hangUp"] as const) {
            api.setMode(mode);
            const want = mode === "echoFalse" ? FALSE : ERROR;
            assertReply(await p.request(`auth:secret:${SERVER}:${SECRET_PASSWORD}`), want, mode);
            assertReply(await p.request(`tryregister:x:${SERVER}:${SECRET_PASSWORD}`), want, mode);
          }
          api.setMode("normal");
          await p.write(frame(`certauth:secret:${SERVER}:${SECRET_PASSWORD}`));
          assertReply(await p.readReply(), FALSE, "unknown op");
          await p.write(frame(`auth:secret::${SECRET_PASSWORD}`));
          assertReply(await p.readReply(), FALSE, "empty server");
          await p.write(frame(`isuser:secret:${SERVER}:${SECRET_PASSWORD}`));
          assertReply(await p.readReply(), FALSE, "isuser with a password");
          // The API did get the password and the token: the absence below is not an accident.
          assert.ok(api.requests.some((r) => r.body.includes(SECRET_PASSWORD)));
          assert.ok(
            api.requests.some((r) => r.headers["authorization"] === `Bearer ${SECRET_TOKEN}`),
          );
        };
        const secretFile = join(dir, "secret-token");
        writeFileSync(secretFile, SECRET_TOKEN);
        const toStderr = await withExtauth(
          runner,
          ["--url", api.url, "--debug", "--breaker-failures", "0"],
          { env: { XMPP_EXTAUTH_TOKEN: SECRET_TOKEN } },
          async (p) => {
            await session(p);
            assert.equal(await p.finish(), 0);
            return p.stderr;
          },
        );
        const [toFile, fileStderr] = await withExtauth(
          runner,
          [
            "--url",
            api.url,
            "--log-level",
            "debug",
            "--log-file",
            logFile,
            "--token-file",
            secretFile,
            "--breaker-failures",
            "0",
          ],
          {},
          async (p) => {
            await session(p);
            assert.equal(await p.finish(), 0);
            return [readFileSync(logFile, "utf8"), p.stderr];
          },
        );
        for (const [where, text] of [["stderr", toStderr], ["--log-file", toFile]] as const) {
          // Debug logging did happen, request by request.
          assert.match(text, /DEBUG .*auth secret@example\.com/, `${where} has debug lines`);
          assert.match(text, /tryregister x@example\.com/, `${where} logs the failures`);
          assert.equal(text.includes(SECRET_PASSWORD), false, `${where} contains the password`);
          assert.equal(text.includes(SECRET_TOKEN), false, `${where} contains the token`);
          assert.equal(text.includes("leakcheck"), false, `${where} contains part of a secret`);
        }
        assert.equal(fileStderr.includes("leakcheck"), false, "stderr with --log-file");
      },
    );

    it(
      "never logs part of a password that the API echoes where the cause is cut short",
      // The password is masked in the whole body before the 80-character snippet is cut.
      T,
      async () => {
        api.users.set(`secret@${SERVER}`, SECRET_PASSWORD);
        api.setMode("echoLate500");
        await serving(["--retries", "0"], async (p) => {
          assertReply(await p.request(`auth:secret:${SERVER}:${SECRET_PASSWORD}`), ERROR, "auth");
          assert.match(p.stderr, /HTTP 500/);
          assert.equal(p.stderr.includes(SECRET_PASSWORD.slice(0, 6)), false, "stderr");
        });
      },
    );

    it(
      "renames endpoints with --endpoint and joins a URL with a trailing slash without //",
      T,
      async () => {
        const renamed = await startApi({
          prefix: "/api",
          paths: { login: "v1/login" },
          users: USERS,
        });
        try {
          for (const url of [`${renamed.url}/`, `${renamed.url}//`]) {
            renamed.reset();
            const args = [
              "--url",
              url,
              "--endpoint",
              "auth=v1/login",
              "--endpoint",
              "isuser=/v2/exists",
            ];
            await withExtauth(runner, args, {}, async (p) => {
              assertReply(
                await p.request("auth:alice:example.com:wonderland"),
                TRUE,
                `auth ${url}`,
              );
              assert.equal(renamed.requests[0]!.path, "/api/v1/login");
              assertReply(await p.request("isuser:alice:example.com"), ERROR, `isuser ${url}`);
              assert.equal(renamed.requests.at(-1)!.path, "/api/v2/exists");
              assertReply(await p.request("setpass:alice:example.com:x"), TRUE, `setpass ${url}`);
              assert.equal(renamed.requests.at(-1)!.path, "/api/setpass");
              assert.equal(await p.finish(), 0);
            });
            for (const r of renamed.requests) assert.equal(r.path.includes("//"), false, r.path);
          }
        } finally {
          await renamed.close();
        }
      },
    );

    it("replaces {server} in --url with the request's domain", T, async () => {
      const tenants = await startApi({ prefix: "/tenants/example.com/xmpp", users: USERS });
      try {
        const args = ["--url", `${tenants.origin}/tenants/{server}/xmpp`, "--retries", "0"];
        await withExtauth(runner, args, {}, async (p) => {
          assertReply(await p.request("isuser:alice:example.com"), TRUE, "example.com");
          assert.equal(tenants.requests[0]!.path, "/tenants/example.com/xmpp/exists");
          assertReply(await p.request("auth:alice:example.com:wonderland"), TRUE, "auth");
          assert.equal(tenants.requests[1]!.path, "/tenants/example.com/xmpp/login");
          assertReply(await p.request("isuser:alice:other.org"), ERROR, "other.org (404)");
          assert.equal(tenants.requests[2]!.path, "/tenants/other.org/xmpp/exists");
          assert.deepEqual(tenants.requests[2]!.json, body("alice", "other.org"));
          assert.equal(await p.finish(), 0);
        });
      } finally {
        await tenants.close();
      }
    });
  });
}

for (const runner of runners()) suite(runner);
