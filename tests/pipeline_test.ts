import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { AuthCache } from "../lib/cache/memory_cache.ts";
import { createAuthenticator, type Handler } from "../lib/auth/pipeline.ts";
import {
  createReplyPolicy,
  type ReplySettings,
  replySettingsOf,
} from "../lib/auth/reply_policy.ts";
import { type Clock, SYSTEM_CLOCK } from "../lib/core/clock.ts";
import { createLogger } from "../lib/log/logger.ts";
import { createRouter } from "../lib/api/router.ts";
import { manualClock } from "./helpers/clock.ts";
import { listen, type ProgrammableServer, reply } from "./helpers/api_server.ts";
import { memoryFiles, serveConfig } from "./helpers/config.ts";

const encode = (text: string) => new TextEncoder().encode(text);

/** A pipeline as `app.ts` builds it, from a command line, logging into `lines`. */
async function pipeline(
  args: string[],
  options: {
    cacheTtlMs?: number;
    staleTtlMs?: number;
    files?: Record<string, string>;
    server?: ReplySettings["server"];
    clock?: Clock;
  } = {},
) {
  const readFile = memoryFiles(options.files);
  const config = serveConfig(args, {}, readFile);
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", sink: (line) => lines.push(line) });
  const cache = await AuthCache.create({
    ttlMs: options.cacheTtlMs ?? 0,
    staleTtlMs: options.staleTtlMs ?? 0,
    maxEntries: 100,
  });
  const handle: Handler = createAuthenticator({
    router: await createRouter(config, readFile),
    fetch,
    logger,
    cache,
    policy: { timeoutMs: config.timeoutMs, deadlineMs: config.deadlineMs, retries: config.retries },
    breakerFailures: config.breakerFailures,
    breakerCooldownMs: config.breakerCooldownMs,
    replies: createReplyPolicy({
      ...replySettingsOf(config),
      ...(options.server ? { server: options.server } : {}),
    }),
    clock: options.clock ?? SYSTEM_CLOCK,
  });
  return { handle: (text: string) => handle(encode(text)), lines };
}

describe("createAuthenticator", () => {
  let api: ProgrammableServer;
  let up = true;
  const answers = new Map<string, boolean>();
  before(async () => {
    api = await listen();
  });
  after(async () => {
    await api.close();
  });
  const serveUsers = () =>
    api.on((req, body, res) => {
      if (!up) return reply(res, 503, "down for maintenance");
      const { user, password } = JSON.parse(body) as { user: string; password?: string };
      const key = `${req.url}:${user}:${password ?? ""}`;
      reply(res, 200, { success: answers.get(key) ?? false, message: "looked up" });
    });

  it("answers true and false from the API and logs one debug line each", async () => {
    serveUsers();
    answers.set("/login:alice:pa:ss", true);
    const { handle, lines } = await pipeline(["--url", api.url]);
    assert.equal(await handle("auth:alice:example.com:pa:ss"), "true");
    assert.equal(await handle("auth:alice:example.com:wrong"), "false");
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /DEBUG auth alice@example\.com → true \(HTTP 200, [\d.]+ ms\)/);
    assert.match(lines[1]!, /DEBUG auth alice@example\.com → false .*: looked up/);
    assert.ok(lines.every((line) => !line.includes("pa:ss") && !line.includes("wrong")));
  });

  it("replies false to what is not a request, and error when the API fails", async () => {
    api.on((_req, _body, res) => reply(res, 500, "<html>boom</html>"));
    const { handle, lines } = await pipeline(["--url", api.url, "--retries", "0"]);
    assert.equal(await handle("certauth:alice:example.com:x"), "false");
    assert.equal(await handle("auth:alice"), "false");
    assert.equal(await handle("auth:alice:example.com:secret-pw"), "error");
    assert.match(
      lines.at(-1)!,
      /WARN {2}auth alice@example\.com: backend error after .*HTTP 500: <html>boom<\/html>/,
    );
    assert.ok(lines.every((line) => !line.includes("secret-pw")));
  });

  it("opens the breaker after N errors in a row, answering error without asking", async () => {
    api.on((_req, _body, res) => reply(res, 500, "down"));
    const { handle, lines } = await pipeline([
      "--url",
      api.url,
      "--retries",
      "0",
      "--breaker-failures",
      "3",
      "--breaker-cooldown",
      "1h",
    ]);
    for (let i = 0; i < 3; i++) assert.equal(await handle("isuser:alice:example.com"), "error");
    assert.equal(api.seen.length, 3);
    assert.equal(await handle("isuser:alice:example.com"), "error");
    assert.equal(api.seen.length, 3, "the open breaker must not ask the API");
    assert.ok(lines.some((l) => /ERROR circuit breaker open: 3 backend errors in a row/.test(l)));
    assert.match(lines.at(-1)!, /circuit breaker open, next try in \d+ ms/);
  });

  it("closes the breaker when the probe after the cooldown gets an answer", async () => {
    api.on((_req, _body, res) => reply(res, 500, "down"));
    const clock = manualClock();
    const { handle, lines } = await pipeline([
      "--url",
      api.url,
      "--retries",
      "0",
      "--breaker-failures",
      "1",
      "--breaker-cooldown",
      "50ms",
    ], { clock });
    assert.equal(await handle("isuser:alice:example.com"), "error");
    assert.equal(await handle("isuser:alice:example.com"), "error");
    assert.equal(api.seen.length, 1);
    clock.advance(49);
    assert.equal(await handle("isuser:alice:example.com"), "error");
    assert.equal(api.seen.length, 1, "the cooldown is not over");
    assert.match(lines.at(-1)!, /circuit breaker open, next try in 1 ms\n$/);
    clock.advance(1);
    api.on((_req, _body, res) => reply(res, 200, { success: true }));
    assert.equal(await handle("isuser:alice:example.com"), "true");
    assert.ok(lines.some((l) => /INFO {2}circuit breaker closed/.test(l)));
  });

  it("serves a remembered success while the API is down, and only the right password", async () => {
    up = true;
    serveUsers();
    answers.set("/login:carol:right", true);
    answers.set("/exists:carol:", true);
    const { handle, lines } = await pipeline(["--url", api.url, "--retries", "0"], {
      staleTtlMs: 60_000,
    });
    assert.equal(await handle("auth:carol:example.com:right"), "true");
    up = false;
    try {
      assert.equal(await handle("auth:carol:example.com:right"), "true");
      assert.equal(await handle("auth:carol:example.com:wrong"), "error");
      assert.equal(
        await handle("isuser:carol:example.com"),
        "true",
        "a good login proves existence",
      );
      assert.equal(await handle("isuser:dave:example.com"), "error");
    } finally {
      up = true;
    }
    assert.ok(
      lines.some((l) =>
        /WARN {2}auth carol@example\.com: backend error .*serving the success remembered/.test(l)
      ),
    );
  });

  it("forgets a user after a definite no and after setpass", async () => {
    serveUsers();
    answers.set("/login:erin:old", true);
    answers.set("/setpass:erin:new", true);
    const { handle } = await pipeline(["--url", api.url, "--retries", "0"], { staleTtlMs: 60_000 });
    assert.equal(await handle("auth:erin:example.com:old"), "true");
    assert.equal(await handle("setpass:erin:example.com:new"), "true");
    up = false;
    try {
      assert.equal(
        await handle("auth:erin:example.com:old"),
        "error",
        "the old password is forgotten",
      );
    } finally {
      up = true;
    }
    answers.set("/login:erin:new", true);
    assert.equal(await handle("auth:erin:example.com:new"), "true");
    answers.delete("/login:erin:new");
    assert.equal(await handle("auth:erin:example.com:new"), "false", "a definite no wins");
    up = false;
    try {
      assert.equal(await handle("auth:erin:example.com:new"), "error");
    } finally {
      up = true;
    }
  });

  it("answers from the cache without asking within --cache-ttl", async () => {
    serveUsers();
    answers.set("/login:fay:pw", true);
    const { handle } = await pipeline(["--url", api.url], { cacheTtlMs: 60_000 });
    assert.equal(await handle("auth:fay:example.com:pw"), "true");
    assert.equal(await handle("auth:fay:example.com:pw"), "true");
    assert.equal(api.seen.length, 1);
    assert.equal(await handle("auth:fay:example.com:other"), "false");
    assert.equal(api.seen.length, 2);
  });

  it("routes domains to their own API and answers error for a domain without a route", async () => {
    const other = await listen();
    try {
      other.on((_req, _body, res) => reply(res, 200, { success: true }));
      api.on((_req, _body, res) => reply(res, 200, { success: false }));
      const config = JSON.stringify({
        domains: {
          "Example.ORG": { url: other.url, endpoint: { isuser: "v2/users/exists" } },
          "example.net": { url: `${api.url}/{server}` },
        },
      });
      const { handle, lines } = await pipeline(["--config", "/conf.json"], {
        files: { "/conf.json": config },
      });
      assert.equal(await handle("isuser:alice:example.org"), "true");
      assert.equal(other.seen[0]!.path, "/v2/users/exists");
      assert.equal(await handle("isuser:alice:example.net"), "false");
      assert.equal(api.seen[0]!.path, "/example.net/exists");
      assert.equal(await handle("isuser:alice:example.com"), "error");
      assert.match(
        lines.at(-1)!,
        /WARN {2}isuser alice@example\.com: no route for domain "example\.com"/,
      );
    } finally {
      await other.close();
    }
  });

  it("sends the Bearer token, Basic credentials and signature from their files", async () => {
    api.on((_req, _body, res) => reply(res, 200, { success: true }));
    const { handle } = await pipeline([
      "--url",
      api.url,
      "--token-file",
      "/token",
      "--hmac-secret-file",
      "/hmac",
      "--header",
      "X-Site: chat",
    ], { files: { "/token": "tok-123\n", "/hmac": "key\n" } });
    assert.equal(await handle("isuser:alice:example.com"), "true");
    const seen = api.seen[0]!;
    assert.equal(seen.headers.authorization, "Bearer tok-123");
    assert.equal(seen.headers["x-site"], "chat");
    assert.equal(seen.headers["x-extauth-timestamp"], undefined, "v2 carries it in the signature");
    assert.match(
      String(seen.headers["x-extauth-signature"]),
      /^v2 t=\d+,n=[0-9a-f]{32},s=[0-9a-f]{64}$/,
    );

    const basic = await pipeline(["--url", api.url, "--basic-auth-file", "/basic"], {
      files: { "/basic": "site:pä:ss\n" },
    });
    assert.equal(await basic.handle("isuser:alice:example.com"), "true");
    assert.equal(
      api.seen[1]!.headers.authorization,
      `Basic ${Buffer.from("site:pä:ss", "utf8").toString("base64")}`,
    );
  });
});

describe("createAuthenticator: a setpass that did not succeed", () => {
  let api: ProgrammableServer;
  before(async () => {
    api = await listen();
    api.on((_req, body, res) => {
      const { password } = JSON.parse(body) as { password: string };
      if (password === "pw-down") return reply(res, 503, "down");
      reply(res, 200, { success: password === "pw-ok", message: "too short" });
    });
  });
  after(async () => {
    await api.close();
  });
  const args = () => ["--url", api.url, "--retries", "0", "--breaker-failures", "0"];

  it("answers a refusal error by default (ejabberd), and says so in the log", async () => {
    const { handle, lines } = await pipeline(args());
    assert.equal(await handle("setpass:alice:example.com:pw-ok"), "true");
    assert.equal(await handle("setpass:alice:example.com:pw-refused"), "error");
    assert.equal(await handle("setpass:alice:example.com:pw-down"), "error");
    assert.equal(await handle("auth:alice:example.com:pw-refused"), "false", "only setpass");
    assert.ok(
      lines.some((l) =>
        l.includes(
          "WARN  setpass alice@example.com: the API refused the password change (too short); " +
            "replying error, as a false reply would be taken for success",
        )
      ),
      lines.join(""),
    );
  });

  it("answers a refusal false where false means failure (Prosody, MongooseIM)", async () => {
    const { handle, lines } = await pipeline(args(), { server: "prosody" });
    assert.equal(await handle("setpass:alice:example.com:pw-refused"), "false");
    assert.equal(await handle("setpass:alice:example.com:pw-down"), "error", "--on-error decides");
    assert.ok(
      lines.some((l) =>
        l.includes(
          "WARN  setpass alice@example.com: the API refused the password change (too short); " +
            "replying false\n",
        )
      ),
      lines.join(""),
    );
  });

  it("never answers false to a setpass it cannot read, in ejabberd mode", async () => {
    const bad = new Uint8Array([...encode("setpass:alice:example.com:"), 0xff]);
    const { lines } = await pipeline(args());
    const handle = createAuthenticator({
      router: {
        resolve: () => undefined,
        routes: [],
        secrets: [],
        warnings: [],
        isSecretHeader: () => false,
      },
      fetch,
      logger: createLogger({ level: "debug", sink: (line) => lines.push(line) }),
      policy: { timeoutMs: 1000, deadlineMs: 1000, retries: 0 },
      breakerFailures: 0,
      breakerCooldownMs: 0,
      replies: createReplyPolicy({ server: "ejabberd", onError: "error" }),
      clock: SYSTEM_CLOCK,
    });
    assert.equal(await handle(bad), "error");
    assert.equal(await handle(encode("auth:alice:example.com:\xff")), "error", "no route");
  });
});
