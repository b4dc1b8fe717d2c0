/**
 * Tests of scripts/example_api.ts over real HTTP on 127.0.0.1.
 * Runs under `deno test --allow-all` and `bun test`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ExampleApi, startExampleApi } from "../scripts/example_api.ts";
import { scriptCommand } from "./helpers/spawn.ts";

interface Reply {
  status: number;
  body: unknown;
}

/** POSTs `body` (an object, or raw text) to `url/path` and reads the JSON answer. */
async function post(
  url: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** The body xmpp-extauth sends for `user@server` (with `password` when given). */
function creds(jid: string, password?: string): Record<string, string> {
  const [user = "", server = ""] = jid.split("@");
  const body: Record<string, string> = { username: jid, user, server };
  if (password !== undefined) body.password = password;
  return body;
}

const OK = { status: 200, body: { success: true } };

describe("example API endpoints", () => {
  let api: ExampleApi;
  before(async () => {
    api = await startExampleApi({ port: 0, users: { "alice@localhost": "wonderland" } });
  });
  after(async () => {
    await api.close();
  });

  it("listens on a loopback URL without a trailing slash", () => {
    assert.match(api.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("login is true for the right password and false otherwise", async () => {
    assert.deepEqual(await post(api.url, "/login", creds("alice@localhost", "wonderland")), OK);
    const wrong = await post(api.url, "/login", creds("alice@localhost", "wonderland "));
    assert.equal(wrong.status, 200);
    assert.deepEqual(wrong.body, { success: false, message: "wrong user name or password" });
    const unknown = await post(api.url, "/login", creds("nobody@localhost", "wonderland"));
    assert.deepEqual(unknown.body, { success: false, message: "wrong user name or password" });
  });

  it("exists tells known from unknown users, per server", async () => {
    assert.deepEqual(await post(api.url, "/exists", creds("alice@localhost")), OK);
    const other = await post(api.url, "/exists", creds("alice@example.org"));
    assert.deepEqual(other, { status: 200, body: { success: false, message: "no such user" } });
  });

  it("tryregister creates a user once, with a password containing ':' and non-ASCII", async () => {
    const password = "pa:ss wörd ✓:";
    assert.deepEqual(await post(api.url, "/tryregister", creds("carol@localhost", password)), OK);
    assert.equal(api.users.get("carol@localhost"), password);
    const again = await post(api.url, "/tryregister", creds("carol@localhost", "other"));
    assert.deepEqual(again.body, { success: false, message: "user already exists" });
    assert.deepEqual(await post(api.url, "/login", creds("carol@localhost", password)), OK);
  });

  it("setpass changes the password of a known user and refuses an unknown one", async () => {
    api.users.set("dave@localhost", "old");
    assert.deepEqual(await post(api.url, "/setpass", creds("dave@localhost", "new")), OK);
    assert.deepEqual(await post(api.url, "/login", creds("dave@localhost", "new")), OK);
    const old = await post(api.url, "/login", creds("dave@localhost", "old"));
    assert.deepEqual(old.body, { success: false, message: "wrong user name or password" });
    const unknown = await post(api.url, "/setpass", creds("ghost@localhost", "x"));
    assert.deepEqual(unknown.body, { success: false, message: "no such user" });
    assert.equal(api.users.has("ghost@localhost"), false);
  });

  it("removeuser deletes a user, then answers false", async () => {
    api.users.set("erin@localhost", "pw");
    assert.deepEqual(await post(api.url, "/removeuser", creds("erin@localhost")), OK);
    assert.equal(api.users.has("erin@localhost"), false);
    const again = await post(api.url, "/removeuser", creds("erin@localhost"));
    assert.deepEqual(again.body, { success: false, message: "no such user" });
  });

  it("removeuser3 deletes only with the right password", async () => {
    api.users.set("frank@localhost", "right");
    const wrong = await post(api.url, "/removeuser3", creds("frank@localhost", "wrong"));
    assert.deepEqual(wrong.body, { success: false, message: "wrong user name or password" });
    assert.equal(api.users.has("frank@localhost"), true);
    assert.deepEqual(await post(api.url, "/removeuser3", creds("frank@localhost", "right")), OK);
    assert.equal(api.users.has("frank@localhost"), false);
  });

  it("answers 400 for malformed JSON, non-objects and missing fields", async () => {
    const bad = await post(api.url, "/login", '{"username": "alice@localhost",');
    assert.deepEqual(bad, {
      status: 400,
      body: { success: false, message: "request body is not valid JSON" },
    });
    assert.equal((await post(api.url, "/exists", "[1]")).status, 400);
    assert.equal((await post(api.url, "/exists", { user: "alice" })).status, 400);
    const noPassword = await post(api.url, "/login", creds("alice@localhost"));
    assert.deepEqual(noPassword, {
      status: 400,
      body: { success: false, message: 'field "password" must be a string' },
    });
  });

  it("answers 404 for an unknown path and 405 for GET", async () => {
    const missing = await post(api.url, "/auth", creds("alice@localhost", "wonderland"));
    assert.deepEqual(missing, {
      status: 404,
      body: { success: false, message: "unknown endpoint /auth" },
    });
    const get = await fetch(`${api.url}/exists`);
    assert.equal(get.status, 405);
    assert.deepEqual(await get.json(), { success: false, message: "use POST" });
  });
});

describe("example API bearer token", () => {
  let api: ExampleApi;
  before(async () => {
    api = await startExampleApi({ port: 0, token: "t0ken-s3cret" });
  });
  after(async () => {
    await api.close();
  });

  it("seeds the default users", () => {
    assert.deepEqual([...api.users.keys()], ["alice@localhost", "bob@localhost"]);
  });

  it("refuses a missing or wrong token with 401", async () => {
    const body = creds("alice@localhost", "wonderland");
    const none = await post(api.url, "/login", body);
    assert.deepEqual(none, {
      status: 401,
      body: { success: false, message: "missing or wrong bearer token" },
    });
    const wrong = await post(api.url, "/login", body, { authorization: "Bearer t0ken-s3cre" });
    assert.equal(wrong.status, 401);
    const basic = await post(api.url, "/login", body, { authorization: "Basic t0ken-s3cret" });
    assert.equal(basic.status, 401);
  });

  it("accepts the right token", async () => {
    const body = creds("alice@localhost", "wonderland");
    const headers = { authorization: "Bearer t0ken-s3cret" };
    assert.deepEqual(await post(api.url, "/login", body, headers), OK);
  });
});

/** Starts scripts/example_api.ts as a program; resolves with its URL and a way to read its stderr. */
async function startProgram(extra: readonly string[]) {
  const script = fileURLToPath(new URL("../scripts/example_api.ts", import.meta.url));
  const [command, ...args] = scriptCommand(script);
  const child = spawn(command, [...args, "--port", "0", ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  // The start-up lines follow the URL; the last one ends with "/login".
  const started = new Promise<void>((resolve) => {
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
      if (/\/login\n$/.test(stderr)) resolve();
    });
  });
  const stop = async () => {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8");
        const line = out.split("\n");
        if (line.length > 1) resolve(line[0] ?? "");
      });
      child.once("exit", (code) => reject(new Error(`example API exited with code ${code}`)));
    });
    // Wait for the last start-up line (at most 10 s, then the assertions show what came).
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([started, new Promise((resolve) => timer = setTimeout(resolve, 10_000))]);
    clearTimeout(timer);
    return { url, stderr: () => stderr, stop };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}

describe("example API as a program", () => {
  it("prints its URL on stdout and reads --users FILE, naming the users but not their passwords", async () => {
    const dir = mkdtempSync(join(tmpdir(), "example-api-"));
    const usersFile = join(dir, "users.json");
    writeFileSync(usersFile, JSON.stringify({ "zoe@example.org": "zebra" }));
    const program = await startProgram(["--users", usersFile]);
    try {
      assert.match(program.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(await post(program.url, "/login", creds("zoe@example.org", "zebra")), OK);
      const alice = await post(program.url, "/exists", creds("alice@localhost"));
      assert.deepEqual(alice.body, { success: false, message: "no such user" });
      assert.match(
        program.stderr(),
        /with 1 user \(passwords from .*users\.json\):\n {2}zoe@example\.org\n/,
      );
      assert.equal(program.stderr().includes("zebra"), false, program.stderr());
    } finally {
      await program.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("prints its demo users and their passwords when it starts", async () => {
    const program = await startProgram([]);
    try {
      assert.equal(
        program.stderr(),
        `example API listening on ${program.url} with 2 users:\n` +
          "  alice@localhost  password: wonderland\n" +
          "  bob@localhost    password: builder\n" +
          `try: curl -d '{"username":"alice@localhost","user":"alice","server":"localhost",` +
          `"password":"wonderland"}' ${program.url}/login\n`,
      );
    } finally {
      await program.stop();
    }
  });
});
