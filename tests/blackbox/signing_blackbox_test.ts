/**
 * Signed requests through the real program (audit item 3): an API that
 * verifies with the exact code docs/signed-requests.md shows
 * (tests/fixtures/verify_extauth.ts, quoted verbatim there) accepts every
 * request the program sends, and rejects every replay of a captured one: the
 * same request again, to another endpoint (isuser at /removeuser, auth at
 * /removeuser3), with another Host, with a changed body, or too late. The
 * deprecated v1 scheme still signs as before, and its replays verify, which
 * is why it is no longer the default.
 *
 * Run: `deno test --allow-all tests/blackbox/signing_blackbox_test.ts`, `bun test tests/blackbox/signing_blackbox_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Api, startApi } from "../helpers/api_server.ts";
import { verifySignature } from "../../lib/api/signing.ts";
import { createVerifier, type Received } from "../fixtures/verify_extauth.ts";
import {
  assertReply,
  ERROR,
  REPO_ROOT,
  runExtauth,
  runners,
  TRUE,
  withExtauth,
} from "../helpers/spawn.ts";

const T = { timeout: 120_000 };
const SECRET = "hmac-Key/for+signing-0f3e";
const QUIET = ["--retries", "0", "--breaker-failures", "0"];

/** A request as the API received it, with what the verifier said. */
interface Captured {
  readonly received: Received;
  /** Header name/value pairs as sent, in order. */
  readonly rawHeaders: readonly string[];
  readonly verified: boolean;
}

/** An API that verifies every request with the docs' code and answers 401 when it fails. */
class VerifyingApi {
  readonly captured: Captured[] = [];
  verify = createVerifier(Buffer.from(SECRET));
  /** v2: the docs' verifier; v1: the check the docs showed before v2 (`verifySignature`). */
  scheme: "v1" | "v2" = "v2";
  /** Seconds added to the API's clock. */
  /** The verifier's time in Unix seconds, when a test pins it. */
  fixedNow: number | undefined;
  /** Status codes to answer (verified or not) before verifying; for retries. */
  failFirst: number[] = [];
  #api: Api | undefined;
  /** Starts the fake API with a handler that verifies each request. */
  async listen(): Promise<void> {
    this.#api = await startApi({
      mode: {
        handle: (req, _body, res, recorded) => {
          const received: Received = {
            method: recorded.method,
            host: req.headers.host ?? "",
            path: recorded.path,
            body: Buffer.from(recorded.rawBody),
            signature: req.headers["x-extauth-signature"] as string | undefined,
          };
          const now = this.fixedNow ?? Date.now() / 1000;
          const check = this.scheme === "v2"
            ? Promise.resolve(this.verify(received, now))
            : verifySignature(
              new TextEncoder().encode(SECRET),
              received.body.toString("utf8"),
              String(req.headers["x-extauth-timestamp"] ?? ""),
              received.signature ?? "",
              Math.floor(now),
            );
          check.then((verified) => {
            this.captured.push({ received, rawHeaders: recorded.rawHeaders, verified });
            const fail = this.failFirst.shift();
            res.writeHead(fail ?? (verified ? 200 : 401), { "Content-Type": "application/json" });
            res.end(
              verified ? '{"success": true}' : '{"success": false, "message": "bad signature"}',
            );
          });
        },
      },
    });
  }
  get port(): number {
    return this.#api!.port;
  }
  get url(): string {
    return this.#api!.url;
  }
  /** Forgets what was captured and, with `fresh`, every nonce (as a second API server would). */
  reset(fresh = false): void {
    this.captured.length = 0;
    this.fixedNow = undefined;
    this.scheme = "v2";
    if (fresh) this.verify = createVerifier(Buffer.from(SECRET));
  }
  async close(): Promise<void> {
    await this.#api?.close();
  }
}

/**
 * Sends a captured request again, byte for byte but for what `change` says,
 * over a raw socket (so the Host header is what the test says), and returns
 * the status the API answered.
 */
async function replay(
  api: VerifyingApi,
  captured: Captured,
  change: { path?: string; host?: string; body?: Buffer } = {},
): Promise<number> {
  const body = change.body ?? captured.received.body;
  const lines = [`${captured.received.method} ${change.path ?? captured.received.path} HTTP/1.1`];
  for (let i = 0; i < captured.rawHeaders.length; i += 2) {
    const name = captured.rawHeaders[i]!;
    let value = captured.rawHeaders[i + 1]!;
    if (/^host$/i.test(name) && change.host !== undefined) value = change.host;
    if (/^content-length$/i.test(name)) value = String(body.length);
    if (/^connection$/i.test(name)) continue;
    lines.push(`${name}: ${value}`);
  }
  lines.push("Connection: close", "", "");
  const socket = connect(api.port, "127.0.0.1");
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    socket.on("end", () => resolve());
    socket.on("error", reject);
  });
  socket.write(Buffer.concat([Buffer.from(lines.join("\r\n"), "latin1"), body]));
  await done;
  socket.destroy();
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(Buffer.concat(chunks).toString("latin1"));
  return Number(status?.[1]);
}

const V2_HEADER = /^v2 t=([0-9]+),n=([0-9a-f]{32}),s=([0-9a-f]{64})$/;

for (const runner of runners()) {
  describe(`signed requests through the program (${runner.name})`, () => {
    const api = new VerifyingApi();
    let dir: string;
    let secretFile: string;
    before(async () => {
      await api.listen();
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-signing-"));
      secretFile = join(dir, "hmac");
      writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
    });
    after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("the docs' verifier is the file the test runs", () => {
      const docs = readFileSync(join(REPO_ROOT, "docs/signed-requests.md"), "utf8");
      const code = readFileSync(join(REPO_ROOT, "tests/fixtures/verify_extauth.ts"), "utf8");
      const block = /```ts\n([\s\S]*?)```/.exec(docs)?.[1];
      assert.equal(block, code, "the first ts block of docs/signed-requests.md");
    });

    it("every request verifies (v2), each attempt with its own nonce", T, async () => {
      api.reset(true);
      const args = ["--url", api.url, "--hmac-secret-file", secretFile, ...QUIET];
      await withExtauth(runner, args, {}, async (p) => {
        for (
          const request of [
            "auth:alice:example.com:pa:ss wörd",
            "isuser:alice:example.com",
            "setpass:alice:example.com:new",
            "tryregister:bob:example.com:pw",
            "removeuser:bob:example.com",
            "removeuser3:alice:example.com:new",
          ]
        ) {
          assertReply(await p.request(request), TRUE, request);
        }
        assert.equal(await p.finish(), 0);
        assert.doesNotMatch(p.stderr, /WARN|ERROR/);
        assert.ok(!p.stderr.includes(SECRET));
      });
      assert.deepEqual(
        api.captured.map((c) => [c.received.path, c.verified]),
        ["/login", "/exists", "/setpass", "/tryregister", "/removeuser", "/removeuser3"].map(
          (path) => [path, true],
        ),
      );
      for (const c of api.captured) {
        assert.match(c.received.signature ?? "", V2_HEADER);
        assert.equal(c.received.host, `127.0.0.1:${api.port}`);
      }
      const nonces = api.captured.map((c) => V2_HEADER.exec(c.received.signature!)![2]);
      assert.equal(new Set(nonces).size, nonces.length, "no nonce twice");

      // A retry is a new attempt: a new nonce, and it verifies.
      api.reset();
      api.failFirst = [503];
      const retrying = ["--url", api.url, "--hmac-secret-file", secretFile, "--retries", "1"];
      await withExtauth(runner, retrying, {}, async (p) => {
        assertReply(await p.request("auth:alice:example.com:pw"), TRUE, "after a retry");
        assert.equal(await p.finish(), 0);
      });
      assert.equal(api.captured.length, 2);
      assert.deepEqual(api.captured.map((c) => c.verified), [true, true]);
      const [first, second] = api.captured.map((c) => V2_HEADER.exec(c.received.signature!)![2]);
      assert.notEqual(first, second);
    });

    it("rejects every replay of a captured request", T, async () => {
      api.reset(true);
      const args = ["--url", api.url, "--hmac-secret-file", secretFile, ...QUIET];
      await withExtauth(runner, args, {}, async (p) => {
        assertReply(await p.request("isuser:alice:example.com"), TRUE, "isuser");
        assertReply(await p.request("auth:alice:example.com:pw"), TRUE, "auth");
        assert.equal(await p.finish(), 0);
      });
      const [isuser, auth] = api.captured as [Captured, Captured];
      assert.equal(isuser.received.path, "/exists");
      assert.equal(auth.received.path, "/login");
      assert.ok(isuser.verified && auth.verified);

      // The same request again, to the API that saw it: its nonce is known.
      assert.equal(await replay(api, isuser), 401, "isuser again");
      assert.equal(await replay(api, auth), 401, "auth again");
      // What follows goes to an API that never saw the nonces (another server of the
      // same API without a shared store), so only the signature can refuse them.
      api.reset(true);
      assert.equal(await replay(api, isuser, { path: "/removeuser" }), 401, "isuser → removeuser");
      assert.equal(await replay(api, auth, { path: "/removeuser3" }), 401, "auth → removeuser3");
      assert.equal(await replay(api, auth, { path: "/login?x=1" }), 401, "another query");
      assert.equal(
        await replay(api, isuser, { host: `localhost:${api.port}` }),
        401,
        "another Host",
      );
      assert.equal(
        await replay(api, auth, {
          body: Buffer.from(auth.received.body.toString().replace("alice", "bobby")),
        }),
        401,
        "a changed body",
      );
      // Times relative to the captured signature's own: a loaded machine takes seconds to get here.
      const signedAt = Number(/t=(\d+)/.exec(auth.received.signature ?? "")?.[1]);
      api.fixedNow = signedAt + 301;
      assert.equal(await replay(api, auth), 401, "301 s later");
      // Control: the unchanged request, in time, to an API that never saw it, verifies.
      api.reset(true);
      api.fixedNow = signedAt + 299;
      assert.equal(await replay(api, auth), 200, "the original, 299 s later, first time");
      assert.equal(await replay(api, auth), 401, "and never again");
      assert.deepEqual(api.captured.map((c) => c.verified), [true, false]);
    });

    it("check: says v2, and shows neither the key nor the signature", T, async () => {
      api.reset(true);
      const r = await runExtauth(runner, [
        "check",
        "isuser",
        "alice",
        "example.com",
        "--url",
        api.url,
        "--hmac-secret-file",
        secretFile,
      ]);
      assert.equal(r.code, 0, r.stdoutText + r.stderr);
      assert.match(r.stdoutText, /^X-Extauth-Signature: \(signed, v2\)$/m);
      assert.equal(api.captured[0]?.verified, true);
      const signature = api.captured[0]!.received.signature!;
      for (const text of [r.stdoutText, r.stderr]) {
        assert.ok(!text.includes(SECRET), "the key");
        assert.ok(!text.includes(Buffer.from(SECRET).toString("base64")), "the key in base64");
        assert.ok(!text.includes(Buffer.from(SECRET).toString("hex")), "the key in hex");
        assert.ok(!text.includes(V2_HEADER.exec(signature)![3]!), "the signature");
      }
    });

    it(
      "v1 (deprecated) signs as before, warns once, and its replays verify: why v2 exists",
      T,
      async () => {
        api.reset(true);
        const args = [
          "--url",
          api.url,
          "--hmac-secret-file",
          secretFile,
          "--signature-scheme",
          "v1",
          ...QUIET,
        ];
        await withExtauth(runner, args, {}, async (p) => {
          // The docs' v2 verifier refuses v1 signatures: the API answers 401.
          assertReply(await p.request("isuser:alice:example.com"), ERROR, "v1 to a v2 API");
          // An API that verifies v1, as the docs said before v2, accepts them.
          api.scheme = "v1";
          assertReply(await p.request("isuser:alice:example.com"), TRUE, "v1 to a v1 API");
          assert.equal(await p.finish(), 0);
          const warnings = p.stderr.split("\n").filter((l) => l.includes("signature-scheme v1"));
          assert.equal(warnings.length, 1, p.stderr);
          assert.match(warnings[0]!, /WARN {2}--signature-scheme v1 is deprecated: /);
        });
        const isuser = api.captured[1]!;
        assert.deepEqual(api.captured.map((c) => c.verified), [false, true]);
        // Exactly the old headers: a timestamp, and sha256= over TIMESTAMP.BODY.
        assert.match(isuser.received.signature ?? "", /^sha256=[0-9a-f]{64}$/);
        assert.ok(isuser.rawHeaders.some((h) => /^x-extauth-timestamp$/i.test(h)));
        // The replays v2 refuses all verify under v1: the captured isuser deletes the account.
        assert.equal(
          await replay(api, isuser, { path: "/removeuser" }),
          200,
          "isuser → removeuser",
        );
        assert.equal(await replay(api, isuser), 200, "isuser again");
        assert.equal(await replay(api, isuser, { host: `localhost:${api.port}` }), 200, "Host");
      },
    );
  });
}
