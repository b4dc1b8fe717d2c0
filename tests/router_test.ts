import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../lib/cli/config.ts";
import { createRouter, targetFor } from "../lib/api/router.ts";
import { verifySignature } from "../lib/api/signing.ts";
import { VERSION } from "../lib/core/version.ts";
import { memoryFiles, serveConfig } from "./helpers/config.ts";

const encoder = new TextEncoder();

function configOf(
  args: string[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
) {
  const readFile = memoryFiles(files);
  return { config: serveConfig(args, env, readFile), readFile };
}

describe("createRouter", () => {
  it("joins URL and endpoint with one slash, and URL-encodes {server}", async () => {
    const { config, readFile } = configOf(["--url", "https://api.example/{server}/xmpp///"]);
    const router = await createRouter(config, readFile);
    const route = router.resolve("example.com")!;
    assert.equal(
      targetFor(route, "auth", "example.com").url,
      "https://api.example/example.com/xmpp/login",
    );
    assert.equal(
      targetFor(route, "isuser", "a/b?c").url,
      "https://api.example/a%2Fb%3Fc/xmpp/exists",
    );
  });

  it("uses the contract's endpoints unless renamed", async () => {
    const { config, readFile } = configOf([
      "--url",
      "http://h",
      "--contract",
      "form-status",
      "--endpoint",
      "auth=/v2/check",
    ]);
    const route = (await createRouter(config, readFile)).resolve("x")!;
    assert.equal(targetFor(route, "auth", "x").url, "http://h/v2/check");
    assert.equal(targetFor(route, "isuser", "x").url, "http://h/user_exists");
    assert.equal(targetFor(route, "removeuser3", "x").url, "http://h/remove_user_validate");
  });

  it("sets User-Agent, the Bearer token from a file or the environment, and extra headers", async () => {
    const fromFile = configOf(
      ["--url", "http://h", "--token-file", "/t", "--header", "X-A: 1"],
      {},
      {
        "/t": "  tok-file \n",
      },
    );
    const route = (await createRouter(fromFile.config, fromFile.readFile)).resolve("x")!;
    assert.deepEqual(route.headers, {
      "User-Agent": `xmpp-extauth/${VERSION}`,
      "X-A": "1",
      Authorization: "Bearer tok-file",
    });
    const fromEnv = configOf(["--url", "http://h"], { XMPP_EXTAUTH_TOKEN: "tok-env" });
    const envRoute = (await createRouter(fromEnv.config, fromEnv.readFile)).resolve("x")!;
    assert.equal(envRoute.headers.Authorization, "Bearer tok-env");
    const both = configOf(["--url", "http://h", "--hmac-secret-file", "/k"], {
      XMPP_EXTAUTH_BASIC_AUTH: "u:p",
    }, { "/k": "k3y\n" });
    const router = await createRouter(both.config, both.readFile);
    assert.deepEqual([...router.secrets].sort(), ["k3y", "u:p"], "secrets to mask in logs");
  });

  it("signs v2 by default: method, host, path, timestamp, a fresh nonce and body", async () => {
    const { config, readFile } = configOf(["--url", "http://h", "--hmac-secret-file", "/k"], {}, {
      "/k": "k3y\n",
    });
    const router = await createRouter(config, readFile);
    assert.deepEqual(router.warnings, []);
    const route = router.resolve("x")!;
    const url = "http://H:8080/xmpp/login?x=1";
    const first = (await route.sign!("POST", url, '{"a":1}'))["X-Extauth-Signature"]!;
    const again = (await route.sign!("POST", url, '{"a":1}'))["X-Extauth-Signature"]!;
    const [, t, n, s] = /^v2 t=(\d+),n=([0-9a-f]{32}),s=([0-9a-f]{64})$/.exec(first)!;
    assert.notEqual(n, /n=([0-9a-f]{32})/.exec(again)![1], "a fresh nonce each time");
    const canonical = `xmpp-extauth-v2\nPOST\nh:8080\n/xmpp/login?x=1\n${t}\n${n}\n{"a":1}`;
    assert.equal(s, createHmac("sha256", "k3y").update(canonical).digest("hex"));
  });

  it("signs v1 only when asked, with a warning that it is deprecated", async () => {
    const { config, readFile } = configOf(
      [
        "--url",
        "http://h",
        "--hmac-secret-file",
        "/k",
        "--signature-scheme",
        "v1",
      ],
      {},
      { "/k": "k3y\n" },
    );
    const router = await createRouter(config, readFile);
    assert.deepEqual(router.warnings, [
      "--signature-scheme v1 is deprecated: a captured request verifies again, and at " +
      "another endpoint with the same body (isuser at removeuser), within the API's " +
      "window; move the API to v2 (docs/signed-requests.md) and drop the option",
    ]);
    const route = router.resolve("x")!;
    const headers = await route.sign!("POST", "http://h/login", '{"a":1}');
    const now = Math.floor(Date.now() / 1000);
    assert.ok(
      await verifySignature(
        encoder.encode("k3y"),
        '{"a":1}',
        headers["X-Extauth-Timestamp"]!,
        headers["X-Extauth-Signature"]!,
        now,
      ),
    );
  });

  it("stops with a ConfigError naming the file, never its content", async () => {
    const missing = configOf(["--url", "http://h", "--token-file", "/nope"]);
    await assert.rejects(createRouter(missing.config, missing.readFile), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^Cannot read --token-file \/nope: /);
      return true;
    });
    const empty = configOf(["--url", "http://h", "--hmac-secret-file", "/e"], {}, { "/e": "\n" });
    await assert.rejects(
      createRouter(empty.config, empty.readFile),
      /Cannot use --hmac-secret-file \/e: the file is empty/,
    );
    const both = configOf(
      ["--url", "http://h", "--token-file", "/t", "--basic-auth-file", "/b"],
      {},
      {
        "/t": "secret-token",
        "/b": "u:secret-pw",
      },
    );
    await assert.rejects(createRouter(both.config, both.readFile), (error: Error) => {
      assert.match(error.message, /both a Bearer token and Basic credentials/);
      assert.ok(!error.message.includes("secret"));
      return true;
    });
    const noColon = configOf(["--url", "http://h", "--basic-auth-file", "/b"], {}, {
      "/b": "justuser",
    });
    await assert.rejects(createRouter(noColon.config, noColon.readFile), /must be USER:PASSWORD/);
  });

  it("refuses blank, multi-line and unheaderable credentials, naming the file only", async () => {
    const cases: [string, string, RegExp][] = [
      ["--token-file", " \t \n", /^Cannot use --token-file \/f: the file holds only whitespace$/],
      ["--token-file", "zqx-1\nzqx-2\n", /the file holds 2 lines; a token is one line$/],
      ["--token-file", "zqx\u00e9\n", /outside ASCII/],
      ["--token-file", "\ufeffzqx\n", /byte order mark/],
      ["--token-file", "zqx\x01b\n", /control character/],
      ["--basic-auth-file", "u:p\r\nu:q\r\n", /2 lines; a USER:PASSWORD is one line$/],
      ["--hmac-secret-file", "   ", /the file holds only whitespace$/],
    ];
    for (const [option, content, says] of cases) {
      const c = configOf(["--url", "http://h", option, "/f"], {}, { "/f": content });
      await assert.rejects(createRouter(c.config, c.readFile), (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, says, JSON.stringify(content));
        assert.ok(!error.message.includes("zqx"), error.message);
        return true;
      });
    }
    for (
      const [variable, value, says] of [
        [
          "XMPP_EXTAUTH_TOKEN",
          "zqx\nzqx",
          /^Cannot use XMPP_EXTAUTH_TOKEN: the token holds a control/,
        ],
        [
          "XMPP_EXTAUTH_TOKEN",
          "Bearer zqx",
          /^Cannot use XMPP_EXTAUTH_TOKEN: the token holds a space/,
        ],
        [
          "XMPP_EXTAUTH_BASIC_AUTH",
          "u:zqx\r\n",
          /^Cannot use XMPP_EXTAUTH_BASIC_AUTH: the USER:PASS/,
        ],
      ] as const
    ) {
      const c = configOf(["--url", "http://h"], { [variable]: value });
      await assert.rejects(createRouter(c.config, c.readFile), (error: Error) => {
        assert.match(error.message, says);
        assert.ok(!error.message.includes("zqx"), error.message);
        return true;
      });
    }
    // A final newline, surrounding blank lines and spaces are fine; a Basic password may hold spaces.
    const ok = configOf(["--url", "http://h", "--basic-auth-file", "/f"], {}, {
      "/f": "\n  u:p w  \r\n\n",
    });
    const router = await createRouter(ok.config, ok.readFile);
    assert.equal(router.resolve("x")!.headers.Authorization, `Basic ${btoa("u:p w")}`);
  });

  it("warns about secret files open to all users or writable by the group", async () => {
    const c = configOf(
      ["--url", "http://h", "--token-file", "/t", "--hmac-secret-file", "/k"],
      {},
      { "/t": "tok", "/k": "key" },
    );
    const modes: Record<string, number> = { "/t": 0o100644, "/k": 0o100660 };
    const router = await createRouter(c.config, c.readFile, (path) => modes[path]);
    assert.deepEqual(router.warnings, [
      "--token-file /t is open to all users (mode 644): let only the server's user read it, " +
      "e.g. chmod 600 /t (or 640 with the server's group)",
      "--hmac-secret-file /k is open to its group (mode 660): let only the server's user read " +
      "it, e.g. chmod 600 /k (or 640 with the server's group)",
    ]);
    for (const mode of [0o100600, 0o100640, 0o100400]) {
      const quiet = await createRouter(c.config, c.readFile, () => mode);
      assert.deepEqual(quiet.warnings, [], mode.toString(8));
    }
  });

  it("never lets . or .. stand for {server}", async () => {
    const { config, readFile } = configOf(["--url", "http://h/t/{server}/x"]);
    const route = (await createRouter(config, readFile)).resolve("a")!;
    for (const server of ["", ".", ".."]) {
      assert.throws(() => targetFor(route, "auth", server), RangeError);
    }
    assert.equal(targetFor(route, "auth", "a/..").url, "http://h/t/a%2F../x/login");
  });

  it("routes domains case-insensitively and falls back to --url", async () => {
    const { config, readFile } = configOf(["--url", "http://default", "--config", "/c.json"], {}, {
      "/c.json": JSON.stringify({ domains: { "Example.ORG": { url: "http://org" } } }),
    });
    const router = await createRouter(config, readFile);
    assert.equal(router.resolve("example.org")!.urlTemplate, "http://org");
    assert.equal(router.resolve("EXAMPLE.org")!.urlTemplate, "http://org");
    assert.equal(router.resolve("example.com")!.urlTemplate, "http://default");
    assert.equal(router.routes.length, 2);
  });
});
