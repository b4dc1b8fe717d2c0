/**
 * Input holes found by attacking the released program (issue 8, item 7),
 * closed and proven through the real program: a byte-order mark kept in the
 * password, `{server}` that cannot leave its path segment, names ejabberd
 * never sends, token files that are blank or two lines, secret files open to
 * others, and a log file that is the reply channel.
 *
 * Run: `deno test --allow-all tests/blackbox/input_holes_test.ts`, `bun test tests/blackbox/input_holes_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Api, startApi } from "../helpers/api_server.ts";
import {
  assertReply,
  ERROR,
  FALSE,
  frame,
  hex,
  runExtauth,
  runners,
  TRUE,
  withExtauth,
} from "../helpers/spawn.ts";

const T = { timeout: 60_000 };
const BOM_PASSWORD = "\ufeffsecret";
const TOKEN = "Tok-8812-leakcheck";

for (const runner of runners()) {
  describe(`input holes, through the program (${runner.name})`, () => {
    let api: Api;
    let dir: string;
    before(async () => {
      api = await startApi({ prefix: "/xmpp", users: { "alice@example.com": BOM_PASSWORD } });
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-holes-"));
    });
    after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("passes a password's leading U+FEFF to the API", T, async () => {
      api.reset();
      await withExtauth(runner, ["--url", api.url], {}, async (p) => {
        assertReply(await p.request(`auth:alice:example.com:${BOM_PASSWORD}`), TRUE, "with BOM");
        assertReply(await p.request("auth:alice:example.com:secret"), FALSE, "without BOM");
        assert.equal(await p.finish(), 0);
      });
      const sent = api.requests.map((r) => (r.json as { password: string }).password);
      assert.deepEqual(sent, [BOM_PASSWORD, "secret"]);
    });

    it("keeps {server} one path segment: . and .. and / ? # % never reach a URL", T, async () => {
      api.reset();
      const url = `${api.origin}/t/{server}/xmpp`;
      await withExtauth(runner, ["--url", url], {}, async (p) => {
        for (const server of ["..", ".", "a/..", "a?b", "a#b", "..%2f", "a\\b", "ex ample"]) {
          assertReply(await p.request(`isuser:alice:${server}`), FALSE, server);
          assertReply(await p.request(`auth:alice:${server}:${BOM_PASSWORD}`), FALSE, server);
        }
        assert.deepEqual(api.requests.map((r) => r.path), [], "no request for those");
        // A real domain: one segment, where the template puts it (404 here: an error reply).
        assertReply(await p.request("isuser:alice:example.com"), ERROR, "example.com");
        assert.equal(await p.finish(), 0);
      });
      assert.deepEqual(api.requests.map((r) => r.path), ["/t/example.com/xmpp/exists"]);
    });

    it(
      "refuses names ejabberd never sends: control characters, @, over 1023 bytes",
      T,
      async () => {
        api.reset();
        await withExtauth(runner, ["--url", api.url], {}, async (p) => {
          const cases = [
            "isuser:al\0ice:example.com",
            "isuser:alice\n:example.com",
            "isuser:alice@evil.example:example.com",
            "isuser:al ice:example.com",
            `isuser:${"a".repeat(1024)}:example.com`,
            `isuser:alice:${"e".repeat(1024)}`,
            "isuser:alice:exa\x1bmple.com",
          ];
          for (const request of cases) {
            assertReply(await p.request(request), FALSE, JSON.stringify(request.slice(0, 40)));
          }
          assertReply(await p.request(`isuser:${"a".repeat(1023)}:example.com`), FALSE, "1023");
          assert.equal(await p.finish(), 0);
        });
        assert.equal(api.requests.length, 1, "only the 1023-byte user was asked about");
      },
    );

    const badFiles: [string, string, string, RegExp][] = [
      ["--token-file", "blank", "   \n \t\n", /the file holds only whitespace/],
      [
        "--token-file",
        "two lines",
        `${TOKEN}\nsecond\n`,
        /the file holds 2 lines; a token is one line/,
      ],
      ["--token-file", "a space", `${TOKEN} x\n`, /the token holds a space/],
      [
        "--basic-auth-file",
        "two lines",
        "u:pw\nu2:pw2\n",
        /holds 2 lines; a USER:PASSWORD is one line/,
      ],
      ["--hmac-secret-file", "blank", "  \n", /the file holds only whitespace/],
    ];
    for (const [option, name, content, says] of badFiles) {
      it(
        `exits 2 at start for ${option} with ${name}, naming the file, not its content`,
        T,
        async () => {
          const path = join(dir, `bad-${option.slice(2)}-${name.replace(" ", "-")}`);
          writeFileSync(path, content, { mode: 0o600 });
          const r = await runExtauth(runner, ["--url", api.url, option, path], { stdin: "" });
          assert.equal(r.code, 2, r.stderr);
          assert.equal(hex(r.stdout), "");
          const lines = r.stderr.trimEnd().split("\n");
          assert.equal(lines.length, 1, r.stderr);
          assert.match(lines[0]!, new RegExp(`^xmpp-extauth: Cannot use ${option} ${path}: `));
          assert.match(lines[0]!, says);
          assert.ok(!r.stderr.includes(TOKEN) && !r.stderr.includes("pw2"), r.stderr);
        },
      );
    }

    it(
      "warns at start when a secret file is open to all users, not when it is 0600/0640",
      T,
      async () => {
        api.reset();
        const path = join(dir, "token-open");
        writeFileSync(path, `${TOKEN}\n`);
        const run = async (mode: number) => {
          chmodSync(path, mode);
          return await withExtauth(
            runner,
            ["--url", api.url, "--token-file", path],
            {},
            async (p) => {
              assertReply(await p.request("isuser:alice:example.com"), TRUE, "serves");
              assert.equal(await p.finish(), 0);
              return p.stderr;
            },
          );
        };
        const open = await run(0o644);
        assert.match(
          open,
          new RegExp(
            `WARN {2}--token-file ${path} is open to all users \\(mode 644\\): let only the server's user read it`,
          ),
        );
        assert.ok(!open.includes(TOKEN));
        assert.ok(!(await run(0o600)).includes("WARN"));
        assert.ok(!(await run(0o640)).includes("WARN"));
      },
    );

    for (const path of ["/dev/stdout", "/proc/self/fd/1", "/dev/fd/1"]) {
      it(`refuses --log-file ${path}: stdout is for replies only`, T, async () => {
        const r = await runExtauth(runner, ["--url", api.url, "--log-file", path], {
          stdin: frame("isuser:alice:example.com"),
        });
        assert.equal(r.code, 2, r.stderr);
        assert.equal(hex(r.stdout), "", "nothing on stdout");
        assert.match(
          r.stderr,
          new RegExp(
            `^xmpp-extauth: Cannot use --log-file ${path}: it is stdout, where only replies may go`,
          ),
        );
      });
    }
  });
}
