/**
 * The environment ejabberd passes on must not weaken the program (issue 8,
 * item 6): the policy of lib/environment.ts, then each variable set on the
 * real program (`deno run`, `bun`, or the binary in `EXTAUTH_TEST_BINARY`).
 *
 * Run: `deno test --allow-all tests/blackbox/environment_test.ts`, `bun test tests/blackbox/environment_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeProxy, inspectEnvironment, proxyFor } from "../../lib/runtime/environment.ts";
import {
  type Api,
  listen,
  type ProgrammableServer,
  reply,
  startApi,
} from "../helpers/api_server.ts";
import {
  assertReply,
  ERROR,
  hex,
  REPO_ROOT,
  runExtauth,
  runners,
  TRUE,
  withExtauth,
} from "../helpers/spawn.ts";

const T = { timeout: 60_000 };
const PASSWORD = "Env-Pw-6631-leakcheck";
const TOKEN = "Env-Tok-2207-leakcheck";
const PROXY_PASSWORD = "Proxy-Pw-9154-leakcheck";
const FIXTURES = join(REPO_ROOT, "tests/fixtures");

describe("inspectEnvironment", () => {
  const inspect = (env: Record<string, string>) => inspectEnvironment((name) => env[name]);

  it("refuses variables the runtime reads before the program runs, naming them", () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { BUN_CONFIG_VERBOSE_FETCH: "curl" },
        /^Refusing to start: BUN_CONFIG_VERBOSE_FETCH is set, which makes the runtime print every request, token and password included; unset it in the server's environment$/,
      ],
      [{ BUN_CONFIG_VERBOSE_FETCH: "1" }, /BUN_CONFIG_VERBOSE_FETCH/],
      [{ BUN_INSPECT: "127.0.0.1:9229" }, /BUN_INSPECT is set, which opens a debugger/],
      [{ BUN_INSPECT_CONNECT_TO: "unix:///x" }, /BUN_INSPECT_CONNECT_TO is set/],
      [
        { NODE_OPTIONS: "--max-old-space-size=64 --inspect=0" },
        /NODE_OPTIONS \(--inspect\) is set/,
      ],
      [{ NODE_OPTIONS: "-r ./evil.js" }, /NODE_OPTIONS \(-r\) is set/],
      [{ NODE_OPTIONS: "--import=x" }, /NODE_OPTIONS \(--import\) is set/],
      [
        { SSLKEYLOGFILE: "/tmp/keys" },
        /SSLKEYLOGFILE is set, which makes the runtime write the TLS session keys/,
      ],
      [
        { HTTPS_PROXY: "socks5://p:1080" },
        /HTTPS_PROXY is set, but its socks5 proxy is not supported/,
      ],
      [{ http_proxy: "http://[bad" }, /http_proxy is set, but its value is not a URL/],
    ];
    for (const [env, says] of cases) {
      assert.match(inspect(env).refusal ?? "(none)", says, JSON.stringify(env));
    }
    for (
      const env of [
        { BUN_CONFIG_VERBOSE_FETCH: "0" },
        { BUN_CONFIG_VERBOSE_FETCH: "" },
        { NODE_OPTIONS: "--max-old-space-size=64" },
        { BUN_INSPECT: "" },
      ]
    ) {
      assert.equal(inspect(env).refusal, undefined, JSON.stringify(env));
    }
  });

  it("removes NODE_TLS_REJECT_UNAUTHORIZED and every proxy variable, warning about a 0", () => {
    const report = inspect({
      NODE_TLS_REJECT_UNAUTHORIZED: "0",
      HTTP_PROXY: "http://p:1",
      no_proxy: "x",
    });
    assert.deepEqual(report.remove, ["NODE_TLS_REJECT_UNAUTHORIZED", "HTTP_PROXY", "no_proxy"]);
    assert.deepEqual(report.warnings, [
      "ignoring NODE_TLS_REJECT_UNAUTHORIZED=0: certificates are always verified " +
      "(trust a private CA with --ca-file)",
    ]);
    assert.deepEqual(inspect({ NODE_TLS_REJECT_UNAUTHORIZED: "1" }).warnings, []);
  });

  it("routes by scheme, lower case first, ALL_PROXY as fallback; loopback and NO_PROXY direct", () => {
    const { proxy } = inspect({
      http_proxy: "http://lower:1",
      HTTP_PROXY: "http://upper:1",
      ALL_PROXY: "proxy.example:3128",
      NO_PROXY: " .corp.example, api.example:8443,[::2]",
    });
    const via = (url: string) => proxyFor(proxy, url)?.url;
    assert.equal(via("http://api.example/x"), "http://lower:1");
    assert.equal(via("https://api.example/x"), "http://proxy.example:3128");
    assert.equal(via("https://api.example:8443/x"), undefined);
    assert.equal(via("https://a.corp.example/x"), undefined);
    assert.equal(via("https://corp.example/x"), undefined);
    assert.equal(via("https://notcorp.example/x"), "http://proxy.example:3128");
    assert.equal(via("https://[::2]/x"), undefined);
    for (const loopback of ["127.0.0.1", "127.1.2.3", "localhost", "api.localhost", "[::1]"]) {
      assert.equal(via(`http://${loopback}:8080/x`), undefined, loopback);
    }
    assert.equal(
      proxyFor(inspect({ HTTPS_PROXY: "http://p:1", NO_PROXY: "*" }).proxy, "https://a/"),
      undefined,
    );
  });

  it("decides loopback on the parsed host, against the complete list (audit item 6a)", () => {
    const { proxy } = inspect({ HTTP_PROXY: "http://p:1", HTTPS_PROXY: "http://p:1" });
    const direct = [
      "localhost.",
      "LocalHost",
      "api.localhost.",
      "127.1",
      "0x7f000001",
      "2130706433",
      "127.255.255.254",
      "0.0.0.0",
      "0",
      "[::1]",
      "[0:0:0:0:0:0:0:1]",
      "[::]",
      "[::ffff:127.0.0.1]",
      "[::ffff:7f00:1]",
      "[::ffff:127.9.8.7]",
      "[::ffff:0.0.0.0]",
    ];
    for (const host of direct) {
      for (const scheme of ["http", "https"]) {
        assert.equal(proxyFor(proxy, `${scheme}://${host}:8080/x`), undefined, `${scheme} ${host}`);
      }
    }
    const proxied = [
      "localhost.example",
      "localhost.example.",
      "notlocalhost",
      "128.0.0.1",
      "0.0.0.1",
      "[::2]",
      "[::ffff:128.0.0.1]",
      "[::127.0.0.1]",
      "[fe80::1]",
    ];
    for (const host of proxied) {
      assert.equal(proxyFor(proxy, `http://${host}:8080/x`)?.url, "http://p:1", host);
    }
    // A final dot names the same host for NO_PROXY too.
    const named = inspect({ HTTP_PROXY: "http://p:1", NO_PROXY: "api.example" }).proxy;
    assert.equal(proxyFor(named, "http://api.example./x"), undefined);
  });

  it("masks the credentials of a proxy in what it logs", () => {
    const { proxy } = inspect({ HTTPS_PROXY: `http://me:${PROXY_PASSWORD}@proxy:3128` });
    const text = describeProxy(proxy.https!);
    assert.equal(text, "http://***:***@proxy:3128 (HTTPS_PROXY)");
    assert.equal(proxy.https!.password, PROXY_PASSWORD);
  });
});

for (const runner of runners()) {
  describe(`variables meant for other programs, set on the program (${runner.name})`, () => {
    let api: Api;
    let tls: Api;
    let tlsUrl: string;
    let tlsRequests: string[];
    let dir: string;
    before(async () => {
      api = await startApi({ users: { "alice@example.com": PASSWORD } });
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-env-"));
      tlsRequests = [];
      tls = await startApi({
        tls: {
          key: readFileSync(join(FIXTURES, "tls_leaf_key.pem")),
          cert: readFileSync(join(FIXTURES, "tls_leaf_cert.pem")),
        },
        mode: {
          handle: (_req, body, res) => {
            tlsRequests.push(body);
            reply(res, 200, '{"success":true}');
          },
        },
      });
      tlsUrl = `${tls.origin}/xmpp`;
    });
    after(async () => {
      await api.close();
      await tls.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it(
      "verifies certificates with NODE_TLS_REJECT_UNAUTHORIZED=0: the password is never sent",
      T,
      async () => {
        tlsRequests.length = 0;
        const env = { NODE_TLS_REJECT_UNAUTHORIZED: "0" };
        await withExtauth(runner, ["--url", tlsUrl, "--retries", "0"], { env }, async (p) => {
          assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), ERROR, "unknown CA");
          assert.equal(await p.finish(), 0);
          assert.match(
            p.stderr,
            /WARN {2}ignoring NODE_TLS_REJECT_UNAUTHORIZED=0: certificates are always verified/,
          );
        });
        assert.deepEqual(tlsRequests, [], "nothing reached the server");
        // The same server, trusted through --ca-file: it does answer, so the error above was the check.
        const trusted = ["--url", tlsUrl, "--ca-file", join(FIXTURES, "tls_untrusted_ca.pem")];
        await withExtauth(runner, trusted, { env }, async (p) => {
          assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "trusted CA");
          assert.equal(await p.finish(), 0);
        });
        assert.equal(tlsRequests.length, 1);
      },
    );

    const refused: [string, string, RegExp][] = [
      [
        "BUN_CONFIG_VERBOSE_FETCH",
        "curl",
        /BUN_CONFIG_VERBOSE_FETCH is set, which makes the runtime print every request/,
      ],
      ["BUN_INSPECT", "127.0.0.1:0", /BUN_INSPECT is set, which opens a debugger/],
      [
        "NODE_OPTIONS",
        "--inspect=127.0.0.1:0",
        /NODE_OPTIONS \(--inspect\) is set, which opens a debugger/,
      ],
    ];
    for (const [name, value, says] of refused) {
      it(`refuses to start with ${name}=${value}, in one line, before any request`, T, async () => {
        api.reset();
        const r = await runExtauth(runner, ["--url", api.url], {
          env: { [name]: value, XMPP_EXTAUTH_TOKEN: TOKEN },
          stdin: new Uint8Array([0, 24, ...new TextEncoder().encode("isuser:alice:example.com")]),
        });
        assert.equal(r.code, 2, r.stderr);
        assert.equal(hex(r.stdout), "", "nothing on stdout");
        // deno run prints its own "Debugger listening" lines first for NODE_OPTIONS.
        const last = r.stderr.trimEnd().split("\n").at(-1)!;
        assert.match(last, new RegExp(`^xmpp-extauth: Refusing to start: ${says.source}`));
        assert.ok(!r.stderr.includes(TOKEN) && !r.stderr.includes(PASSWORD), r.stderr);
        assert.equal(api.requests.length, 0);
      });
    }

    it("refuses SSLKEYLOGFILE before any TLS key is written", T, async () => {
      const keys = join(dir, "keys.txt");
      const r = await runExtauth(runner, ["--url", tlsUrl], {
        env: { SSLKEYLOGFILE: keys },
        stdin: new Uint8Array([0, 24, ...new TextEncoder().encode("isuser:alice:example.com")]),
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^xmpp-extauth: Refusing to start: SSLKEYLOGFILE is set/m);
      // deno run opens (creates) the file before any code runs; no key may be in it.
      assert.equal(existsSync(keys) ? readFileSync(keys, "utf8") : "", "");
    });

    it("keeps a harmless NODE_OPTIONS and serves", T, async () => {
      api.reset();
      const env = { NODE_OPTIONS: "--max-old-space-size=256" };
      await withExtauth(runner, ["--url", api.url], { env }, async (p) => {
        assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "serves");
        assert.equal(await p.finish(), 0);
      });
    });

    it(
      "reads no .env and no bunfig.toml from its working directory (ejabberd's, which others may write)",
      {
        ...T,
        // `bun main.ts` is Bun itself, which reads bunfig.toml by design; the shipped
        // executable is built not to (scripts/build_flags.ts).
        skip: runner.name === "bun" ? "bun main.ts reads bunfig.toml by design" : false,
      },
      async () => {
        api.reset();
        const cwd = mkdtempSync(join(tmpdir(), "xmpp-extauth-cwd-"));
        try {
          const marker = join(cwd, "preload-ran");
          // A .env would make the runtime print every request (password included); a bunfig
          // preload would run any code inside the program.
          writeFileSync(
            join(cwd, ".env"),
            "BUN_CONFIG_VERBOSE_FETCH=curl\nXMPP_EXTAUTH_ON_ERROR=false\n",
          );
          writeFileSync(
            join(cwd, "evil.js"),
            `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran");\n`,
          );
          writeFileSync(join(cwd, "bunfig.toml"), 'preload = ["./evil.js"]\n');
          await withExtauth(runner, ["--url", api.url], { cwd }, async (p) => {
            assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "serves");
            assert.equal(await p.finish(), 0);
            assert.doesNotMatch(p.stderr, /curl|Refusing/);
          });
          assert.equal(existsSync(marker), false, "bunfig.toml's preload ran inside the program");
        } finally {
          rmSync(cwd, { recursive: true, force: true });
        }
      },
    );

    describe("proxies", () => {
      let proxy: ProgrammableServer;
      before(async () => {
        proxy = await listen();
      });
      after(async () => await proxy.close());

      it("never sends loopback requests through HTTP_PROXY or http_proxy", T, async () => {
        for (const name of ["HTTP_PROXY", "http_proxy", "ALL_PROXY"]) {
          api.reset();
          proxy.on((_req, _body, res) => reply(res, 200, { success: false }));
          await withExtauth(
            runner,
            ["--url", api.url],
            { env: { [name]: proxy.url } },
            async (p) => {
              assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, name);
              assert.equal(await p.finish(), 0);
            },
          );
          assert.equal(proxy.seen.length, 0, `${name}: the proxy saw nothing`);
          assert.equal(api.requests.length, 1, `${name}: the API was asked directly`);
        }
      });

      it(
        "never sends a loopback spelling through the proxy, nor the password (audit item 6a)",
        T,
        async () => {
          // An API on every local address (`::` takes IPv4 too), so that each spelling
          // that connects here can answer.
          const seen: string[] = [];
          const local = await startApi({
            hostname: "::",
            mode: {
              handle: (req, _body, res) => {
                seen.push(req.url ?? "");
                reply(res, 200, '{"success":true}');
              },
            },
          });
          const port = local.port;
          try {
            // Deno's resolver does not resolve names ending in ".localhost" or "." (the request
            // fails: error, direct); Bun's does.
            const names = ["localhost.", "LOCALHOST.", "api.localhost."];
            const addresses = [
              "[::ffff:127.0.0.1]",
              "0.0.0.0",
              "[::]",
              "127.1",
              "0x7f000001",
              "[::1]",
            ];
            for (const host of [...names, ...addresses]) {
              seen.length = 0;
              proxy.on((_req, _body, res) => reply(res, 200, { success: false }));
              const url = `http://${host}:${port}/xmpp`;
              await withExtauth(
                runner,
                ["--url", url, "--retries", "0"],
                { env: { HTTP_PROXY: proxy.url } },
                async (p) => {
                  const answer = await p.request(`auth:alice:example.com:${PASSWORD}`);
                  if (addresses.includes(host) || runner.name !== "deno") {
                    assertReply(answer, TRUE, host);
                  } else assert.notEqual(hex(answer), "00 02 00 00", `${host}: not the proxy's`);
                  assert.equal(await p.finish(), 0);
                  assert.match(
                    p.stderr,
                    new RegExp(`requests to ${url.replace(/[.[\]]/g, "\\$&")} go direct`),
                  );
                },
              );
              assert.deepEqual(proxy.seen, [], `${host}: the proxy saw nothing`);
              if (addresses.includes(host) || runner.name !== "deno") {
                assert.deepEqual(seen, ["/xmpp/login"], `${host}: asked directly`);
              }
            }
            // A name that is not loopback does go through it: the proxy is in use at all.
            proxy.on((_req, _body, res) => reply(res, 200, { success: true }));
            await withExtauth(
              runner,
              ["--url", "http://api.example.test/xmpp"],
              { env: { HTTP_PROXY: proxy.url } },
              async (p) => {
                assertReply(await p.request("isuser:alice:example.com"), TRUE, "via the proxy");
                assert.equal(await p.finish(), 0);
              },
            );
            assert.deepEqual(proxy.seen.map((s) => s.path), [
              "http://api.example.test/xmpp/exists",
            ]);
          } finally {
            await local.close();
          }
        },
      );

      it(
        "sends other requests through the proxy, logs it masked, and honours NO_PROXY",
        T,
        async () => {
          proxy.on((_req, _body, res) => reply(res, 200, { success: true }));
          const url = "http://api.invalid/xmpp";
          const proxyUrl = proxy.url.replace("//", `//me:${PROXY_PASSWORD}@`);
          await withExtauth(
            runner,
            ["--url", url],
            { env: { HTTP_PROXY: proxyUrl } },
            async (p) => {
              assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "via proxy");
              assert.equal(await p.finish(), 0);
              assert.match(
                p.stderr,
                new RegExp(
                  `INFO {2}requests to ${url} go through the proxy http://\\*\\*\\*:\\*\\*\\*@127\\.0\\.0\\.1:\\d+ \\(HTTP_PROXY\\)`,
                ),
              );
              assert.ok(!p.stderr.includes(PROXY_PASSWORD), p.stderr);
            },
          );
          assert.deepEqual(proxy.seen.map((s) => s.path), [`${url}/login`]);
          assert.equal(
            proxy.seen[0]!.headers["proxy-authorization"],
            `Basic ${btoa(`me:${PROXY_PASSWORD}`)}`,
          );
          proxy.on((_req, _body, res) => reply(res, 200, { success: true }));
          const env = { HTTP_PROXY: proxy.url, NO_PROXY: "other.example,.invalid" };
          await withExtauth(runner, ["--url", url, "--retries", "0"], { env }, async (p) => {
            // Direct to a name that does not resolve: an error, and nothing through the proxy.
            assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), ERROR, "NO_PROXY");
            assert.equal(await p.finish(), 0);
            assert.match(p.stderr, /requests to http:\/\/api\.invalid\/xmpp go direct/);
          });
          assert.equal(proxy.seen.length, 0);
        },
      );
    });
  });
}
