import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createRouter, targetFor } from "../lib/api/router.ts";
import { verifySignature } from "../lib/api/signing.ts";
import { VERSION } from "../lib/core/version.ts";
import { manualClock } from "./helpers/clock.ts";
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

  it("stamps signatures with the wall clock it is given", async () => {
    const { config, readFile } = configOf(["--url", "http://h", "--hmac-secret-file", "/k"], {}, {
      "/k": "k3y\n",
    });
    const clock = manualClock();
    clock.advance(90_500);
    const route = (await createRouter(config, readFile, undefined, clock)).resolve("x")!;
    const headers = await route.sign!("POST", "http://h/login", "{}");
    const t = /^v2 t=(\d+),/.exec(headers["X-Extauth-Signature"]!)![1];
    assert.equal(Number(t), Math.floor(clock.wall() / 1000));
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
