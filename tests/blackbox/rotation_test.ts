/**
 * Secret rotation through the real program (docs/rotation.md): a token file replaced by a
 * rename and by a Kubernetes `..data` swap is used by the next request after the change,
 * SIGHUP makes it immediate, an unusable new file keeps the old token (one error naming the
 * file and the reason) and its fix takes effect, no token ever reaches the log; the HMAC
 * procedure of docs/rotation.md run as written against an API that accepts both secrets;
 * a new CA file trusted by the next connection.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Api, type RecordedRequest, startApi } from "../helpers/api_server.ts";
import { createVerifier } from "../fixtures/verify_extauth.ts";
import {
  assertReply,
  ERROR,
  type Extauth,
  REPO_ROOT,
  runners,
  startExtauth,
  TRUE,
} from "../helpers/spawn.ts";
import { makeCa, makeLeaf } from "../helpers/tls.ts";

const T = { timeout: 90_000 };
const PASSWORD = "Rot-Pw-5521-leakcheck";
const LOGIN = `auth:alice:example.com:${PASSWORD}`;

/** Polls `done` every 50 ms until it holds; fails after 15 s (never reached when it works). */
async function until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await done()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Writes a file readable by its owner only. */
function writePrivate(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Replaces `path` by a rename of a new private file. */
function renameInto(path: string, text: string): void {
  writePrivate(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** The shell block of docs/rotation.md that starts with `# NAME`. */
function docBlock(name: string): string {
  const doc = readFileSync(join(REPO_ROOT, "docs/rotation.md"), "utf8");
  const blocks = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    m[1]!.replace(/^ {3}/gm, "")
  );
  const block = blocks.find((b) => b.startsWith(`# ${name}\n`));
  assert.ok(block, `docs/rotation.md has a block # ${name}`);
  return block;
}

function bearerOf(request: RecordedRequest): string {
  return String(request.headers.authorization ?? "");
}

/** Sends logins until the API sees `token` (polling the recorded requests). */
async function untilToken(p: Extauth, api: Api, token: string): Promise<void> {
  await until(`Bearer ${token}`, async () => {
    const from = api.requests.length;
    assertReply(await p.request(LOGIN), TRUE, "login during rotation");
    return api.since(from).every((r) => bearerOf(r) === `Bearer ${token}`);
  });
}

for (const runner of runners()) {
  describe(`secret rotation through the program (${runner.name})`, () => {
    let api: Api;
    let dir: string;
    before(async () => {
      api = await startApi({ users: { "alice@example.com": PASSWORD } });
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-rotation-"));
    });
    after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it(
      "uses a renamed token file on the next request; SIGHUP at once; bad files keep the old",
      T,
      async () => {
        api.reset();
        const tokenFile = join(dir, "token");
        const log = join(dir, "rename.log");
        const tokens = ["tokA-1111-leak", "tokB-2222-leak", "tokC-3333-leak", "tokD-4444-leak"];
        writePrivate(tokenFile, `${tokens[0]}\n`);
        const p = startExtauth(runner, [
          "--url",
          api.url,
          "--token-file",
          tokenFile,
          "--log-file",
          log,
          "--debug",
        ]);
        try {
          assertReply(await p.request(LOGIN), TRUE, "first login");
          assert.equal(bearerOf(api.requests.at(-1)!), `Bearer ${tokens[0]}`);

          // A rename: picked up by the timer, within about a second.
          renameInto(tokenFile, `${tokens[1]}\n`);
          await untilToken(p, api, tokens[1]!);

          // SIGHUP: read at once; the log says so before the next request.
          renameInto(tokenFile, `${tokens[2]}\n`);
          process.kill(p.pid, "SIGHUP");
          await until("the re-read line", () => {
            return readFileSync(log, "utf8").split("\n").filter((l) =>
              l.includes(`--token-file ${tokenFile} was read again`)
            ).length === 2;
          });
          const from = api.requests.length;
          assertReply(await p.request(LOGIN), TRUE, "login after SIGHUP");
          assert.equal(bearerOf(api.since(from)[0]!), `Bearer ${tokens[2]}`);

          // Unusable new files: each keeps tokens[2] and logs one error with the file and reason.
          const bad: [string, () => void, string][] = [
            ["blank", () => renameInto(tokenFile, "  \n\n"), "the file holds only whitespace"],
            ["two lines", () => renameInto(tokenFile, "x1\nx2\n"), "the file holds 2 lines"],
            ["mode 0644", () => {
              writeFileSync(`${tokenFile}.tmp`, "world-readable-5555\n");
              chmodSync(`${tokenFile}.tmp`, 0o644);
              renameSync(`${tokenFile}.tmp`, tokenFile);
            }, "it is open to all users (mode 644)"],
            ["a dangling link", () => {
              rmSync(tokenFile, { force: true });
              symlinkSync(join(dir, "nowhere"), tokenFile);
            }, "cannot read it"],
          ];
          for (const [name, make, reason] of bad) {
            const errorsBefore = readFileSync(log, "utf8").split("\n").filter((l) =>
              l.includes("ERROR")
            ).length;
            make();
            process.kill(p.pid, "SIGHUP");
            await until(`the error for ${name}`, () =>
              readFileSync(log, "utf8").split("\n").filter((l) =>
                l.includes("ERROR")
              ).length >
                errorsBefore);
            const errors = readFileSync(log, "utf8").split("\n").filter((l) => l.includes("ERROR"))
              .slice(errorsBefore);
            assert.equal(errors.length, 1, `${name}: ${errors.join("\n")}`);
            assert.ok(
              errors[0]!.includes(
                `--token-file ${tokenFile} changed but cannot be used: ${reason}`,
              ),
              `${name}: ${errors[0]}`,
            );
            assert.ok(errors[0]!.includes("still using the previous secret"), errors[0]);
            const at = api.requests.length;
            assertReply(await p.request(LOGIN), TRUE, `login after ${name}`);
            assert.equal(bearerOf(api.since(at)[0]!), `Bearer ${tokens[2]}`, name);
            rmSync(tokenFile, { force: true });
          }

          // Fixed: taken by the timer, no restart.
          renameInto(tokenFile, `${tokens[3]}\n`);
          await untilToken(p, api, tokens[3]!);
          assert.equal(await p.finish(), 0);
          const text = readFileSync(log, "utf8") + p.stderr;
          for (const secret of [...tokens, "world-readable-5555", PASSWORD]) {
            assert.ok(!text.includes(secret), `${secret} in the log`);
          }
          // One error per bad file, none repeated by the timer while it stayed bad.
          assert.equal(
            text.split("\n").filter((l) => l.includes("ERROR")).length,
            bad.length,
          );
        } finally {
          p.kill();
        }
      },
    );

    it("follows a Kubernetes ..data symlink swap", T, async () => {
      api.reset();
      const mount = join(dir, "k8s");
      mkdirSync(join(mount, "..2026_01_01_a"), { recursive: true });
      writePrivate(join(mount, "..2026_01_01_a", "token"), "k8sA-6666-leak\n");
      symlinkSync("..2026_01_01_a", join(mount, "..data"));
      symlinkSync("..data/token", join(mount, "token"));
      const p = startExtauth(runner, ["--url", api.url, "--token-file", join(mount, "token")]);
      try {
        assertReply(await p.request(LOGIN), TRUE, "first login");
        assert.equal(bearerOf(api.requests.at(-1)!), "Bearer k8sA-6666-leak");
        // What the kubelet does: a new timestamped folder, a new link, renamed over ..data.
        mkdirSync(join(mount, "..2026_01_01_b"));
        writePrivate(join(mount, "..2026_01_01_b", "token"), "k8sB-7777-leak\n");
        symlinkSync("..2026_01_01_b", join(mount, "..data_tmp"));
        renameSync(join(mount, "..data_tmp"), join(mount, "..data"));
        rmSync(join(mount, "..2026_01_01_a"), { recursive: true });
        await untilToken(p, api, "k8sB-7777-leak");
        assert.equal(await p.finish(), 0);
        assert.ok(!p.stderr.includes("k8sA-6666") && !p.stderr.includes("k8sB-7777"), p.stderr);
      } finally {
        p.kill();
      }
    });

    it(
      "rotates an HMAC secret by docs/rotation.md's procedure, the API accepting both",
      T,
      async () => {
        api.reset();
        const hmacFile = join(dir, "hmac");
        const oldSecret = "Hmac-Old-8888-leakcheck";
        const newSecret = "Hmac-New-9999-leakcheck";
        writePrivate(hmacFile, `${oldSecret}\n`);
        const withOld = createVerifier(Buffer.from(oldSecret));
        const withNew = createVerifier(Buffer.from(newSecret));
        const signedWith = (r: RecordedRequest) => {
          const received = {
            method: r.method,
            host: String(r.headers.host),
            path: r.path,
            body: Buffer.from(r.rawBody),
            signature: r.headers["x-extauth-signature"] as string | undefined,
          };
          return withOld(received) ? "old" : withNew(received) ? "new" : "none";
        };
        const p = startExtauth(runner, ["--url", api.url, "--hmac-secret-file", hmacFile]);
        try {
          assertReply(await p.request(LOGIN), TRUE, "first login");
          assert.equal(signedWith(api.requests.at(-1)!), "old");
          // Step 1 is the verifier above accepting both; step 2 is the doc's block, as written.
          execFileSync("bash", ["-euc", docBlock("rotate-hmac")], {
            env: {
              PATH: process.env.PATH ?? "/usr/bin:/bin",
              HMAC_FILE: hmacFile,
              NEW_SECRET: newSecret,
            },
          });
          await until("a request signed with the new secret", async () => {
            const from = api.requests.length;
            assertReply(await p.request(LOGIN), TRUE, "login during the switch");
            const seen = api.since(from).map(signedWith);
            assert.ok(!seen.includes("none"), "every request verifies with one of the two");
            return seen.every((s) => s === "new");
          });
          // Step 4: the API drops the old secret; every later request verifies with the new one.
          for (let i = 0; i < 3; i++) {
            const from = api.requests.length;
            assertReply(await p.request(LOGIN), TRUE, "login after the switch");
            assert.deepEqual(api.since(from).map(signedWith), ["new"]);
          }
          assert.equal(await p.finish(), 0);
          assert.ok(!p.stderr.includes(oldSecret) && !p.stderr.includes(newSecret), p.stderr);
        } finally {
          p.kill();
        }
      },
    );

    it("rotates a token by docs/rotation.md's procedure", T, async () => {
      api.reset();
      const tokenFile = join(dir, "doc-token");
      writePrivate(tokenFile, "docOld-1212-leak\n");
      const p = startExtauth(runner, ["--url", api.url, "--token-file", tokenFile]);
      try {
        assertReply(await p.request(LOGIN), TRUE, "first login");
        execFileSync("bash", ["-euc", docBlock("rotate-token")], {
          env: {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            TOKEN_FILE: tokenFile,
            NEW_TOKEN: "docNew-3434-leak",
          },
        });
        await untilToken(p, api, "docNew-3434-leak");
        assert.equal(await p.finish(), 0);
      } finally {
        p.kill();
      }
    });

    it("trusts a rotated CA file from the next connection on", T, async () => {
      const tls = join(dir, "tls");
      mkdirSync(tls);
      const oldCa = makeCa(tls, "old");
      makeCa(tls, "new");
      const leaf = makeLeaf(tls, "new");
      const server: Server = createServer(leaf, (req, res) => {
        req.resume();
        req.on("end", () => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end('{"success":true}');
        });
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const caFile = join(tls, "ca.pem");
      writeFileSync(caFile, oldCa);
      const p = startExtauth(runner, [
        "--url",
        url,
        "--ca-file",
        caFile,
        "--retries",
        "0",
        "--breaker-failures",
        "0",
      ]);
      try {
        // The server's certificate is signed by the new CA: refused while the file holds the old.
        assertReply(await p.request(LOGIN), ERROR, "untrusted");
        writeFileSync(`${caFile}.tmp`, readFileSync(join(tls, "new.pem")));
        renameSync(`${caFile}.tmp`, caFile);
        await until("the new CA trusted", async () => {
          const reply = await p.request(LOGIN);
          return reply[3] === TRUE[3];
        });
        assert.match(p.stderr, /--ca-file .* was read again/);
        assert.equal(await p.finish(), 0);
      } finally {
        p.kill();
        server.closeAllConnections?.();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  });
}
