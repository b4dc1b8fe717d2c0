import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { askApi, type Policy } from "../lib/api/backend.ts";
import { ANSWER_LIMIT } from "../lib/api/attempt.ts";
import { FORM_STATUS_CONTRACT, JSON_CONTRACT } from "../lib/api/contracts.ts";
import type { AuthRequest } from "../lib/core/request.ts";
import type { Target } from "../lib/api/router.ts";
import { instantClock } from "./helpers/clock.ts";
import { listen, type ProgrammableServer, reply } from "./helpers/api_server.ts";

const AUTH: AuthRequest = {
  op: "auth",
  user: "alice",
  server: "example.com",
  password: "pa:ss wörd",
};
const POLICY: Policy = {
  timeoutMs: 2000,
  deadlineMs: 5000,
  retries: 2,
  backoffBaseMs: 5,
  backoffCapMs: 20,
};

describe("askApi", () => {
  let api: ProgrammableServer;
  const target = (path = "login", extra: Partial<Target> = {}): Target => ({
    url: `${api.url}/${path}`,
    contract: JSON_CONTRACT,
    headers: { "User-Agent": "xmpp-extauth/test" },
    ...extra,
  });
  before(async () => {
    api = await listen();
  });
  after(async () => {
    await api.close();
  });

  it("posts the JSON body and reads a true answer", async () => {
    api.on((_req, _body, res) => reply(res, 200, { success: true }));
    const outcome = await askApi(fetch, target(), POLICY, AUTH);
    assert.deepEqual(outcome, { kind: "answer", value: true, status: 200, attempts: 1 });
    assert.equal(api.seen.length, 1);
    const seen = api.seen[0]!;
    assert.equal(seen.path, "/login");
    assert.equal(
      seen.body,
      '{"username":"alice@example.com","user":"alice","server":"example.com","password":"pa:ss wörd"}',
    );
    assert.equal(seen.headers["content-type"], "application/json");
    assert.equal(seen.headers["accept"], "application/json");
    assert.equal(seen.headers["user-agent"], "xmpp-extauth/test");
  });

  it("passes a false answer's message on, with an echoed password masked", async () => {
    api.on((_req, _body, res) =>
      reply(res, 200, { success: false, message: "bad password pa:ss wörd" })
    );
    const outcome = await askApi(fetch, target(), POLICY, AUTH);
    assert.deepEqual(outcome, {
      kind: "answer",
      value: false,
      status: 200,
      message: "bad password ***",
      attempts: 1,
    });
  });

  it("parses the answer as sent: a password that is part of it changes nothing", async () => {
    for (const password of ["true", "success", '"', ":", "{", "e"]) {
      api.on((_req, _body, res) => reply(res, 200, { success: true }));
      const outcome = await askApi(fetch, target(), POLICY, { ...AUTH, password });
      assert.deepEqual(
        outcome,
        { kind: "answer", value: true, status: 200, attempts: 1 },
        password,
      );
    }
  });

  it("masks an echoed password before the cause is cut short", async () => {
    const password = "p".repeat(60) + " naïve/€";
    api.on((_req, body, res) =>
      reply(res, 500, `echo ${new URLSearchParams({ p: JSON.parse(body).password })}`)
    );
    const outcome = await askApi(fetch, target(), { ...POLICY, retries: 0 }, {
      ...AUTH,
      password,
    });
    assert.equal(outcome.kind, "error");
    assert.equal(outcome.kind === "error" && outcome.cause, "HTTP 500: echo p=***");
  });

  it("asks for no compression, reads an answer up to the limit and refuses one past it", async () => {
    for (const size of [ANSWER_LIMIT, ANSWER_LIMIT + 1]) {
      api.on((_req, _body, res) => {
        const json = '{"success": true}';
        reply(res, 200, json + " ".repeat(size - json.length));
      });
      const outcome = await askApi(fetch, target(), POLICY, AUTH);
      assert.equal(api.seen[0]!.headers["accept-encoding"], "identity");
      assert.deepEqual(
        outcome,
        size === ANSWER_LIMIT ? { kind: "answer", value: true, status: 200, attempts: 1 } : {
          kind: "error",
          failure: "contract",
          cause: "HTTP 200, answer larger than 65536 bytes",
          status: 200,
          attempts: 1,
        },
      );
    }
  });

  it("retries auth after a 500 and a 429, then answers", async () => {
    let n = 0;
    api.on((_req, _body, res) => {
      n++;
      if (n === 1) reply(res, 500, "oops");
      else if (n === 2) reply(res, 429, "slow down");
      else reply(res, 200, { success: true });
    });
    const outcome = await askApi(fetch, target(), POLICY, AUTH);
    assert.equal(outcome.kind, "answer");
    assert.equal(outcome.attempts, 3);
    assert.equal(api.seen.length, 3);
  });

  it("gives up after the configured retries with the last cause", async () => {
    api.on((_req, _body, res) => reply(res, 503, "<html>down</html>"));
    const outcome = await askApi(fetch, target(), POLICY, AUTH);
    assert.equal(outcome.kind, "error");
    assert.equal(api.seen.length, 3);
    if (outcome.kind === "error") {
      assert.equal(outcome.failure, "status");
      assert.equal(outcome.status, 503);
      assert.equal(outcome.cause, "HTTP 503: <html>down</html> (after 3 attempts)");
    }
  });

  for (const op of ["tryregister", "removeuser", "removeuser3"] as const) {
    it(`does not retry ${op} once the request may have reached the API`, async () => {
      api.on((_req, _body, res) => reply(res, 500, "oops"));
      const request: AuthRequest = op === "removeuser"
        ? { op, user: "bob", server: "example.com" }
        : { op, user: "bob", server: "example.com", password: "x" };
      const outcome = await askApi(fetch, target(op), POLICY, request);
      assert.equal(outcome.kind, "error");
      assert.equal(api.seen.length, 1);
    });
  }

  it("does not retry a body that breaks the contract", async () => {
    api.on((_req, _body, res) => reply(res, 200, "<html>login page</html>"));
    const outcome = await askApi(fetch, target(), POLICY, AUTH);
    assert.equal(outcome.kind, "error");
    if (outcome.kind === "error") assert.equal(outcome.failure, "contract");
    assert.equal(api.seen.length, 1);
  });

  it("times out each attempt and stops at the deadline", async () => {
    // The API holds every request; the clock fires each timeout at once instead of waiting.
    const held: (() => void)[] = [];
    api.on((_req, _body, res) => held.push(() => reply(res, 200, { success: true })));
    const outcome = await askApi(
      fetch,
      target(),
      {
        timeoutMs: 100,
        deadlineMs: 450,
        retries: 10,
        backoffBaseMs: 1,
        backoffCapMs: 1,
      },
      AUTH,
      instantClock(),
    );
    for (const release of held) release();
    assert.equal(outcome.kind, "error");
    if (outcome.kind === "error") {
      assert.equal(outcome.failure, "timeout");
      // Four attempts of 100 ms and backoffs under 1 ms leave the fifth what is left of the
      // deadline; the 11 allowed by --retries never happen.
      assert.match(outcome.cause, /^no answer within (4[6-9]|50) ms \(after 5 attempts\)$/);
    }
    assert.equal(outcome.attempts, 5);
  });

  it("does not follow a redirect: a 3xx is an error naming the status", async () => {
    api.on((_req, _body, res) => {
      res.writeHead(302, { Location: "/elsewhere" });
      res.end();
    });
    const outcome = await askApi(fetch, target(), POLICY, AUTH);
    assert.equal(outcome.kind, "error");
    if (outcome.kind === "error") assert.equal(outcome.cause, "HTTP 302");
    assert.equal(api.seen.length, 1);
    assert.equal(api.seen[0]!.path, "/login");
  });

  it("signs with the exact body it sends", async () => {
    api.on((_req, _body, res) => reply(res, 200, { success: true }));
    let signed = "";
    let signedFor = "";
    await askApi(
      fetch,
      target("login", {
        sign: (method, url, body) => {
          signed = body;
          signedFor = `${method} ${url}`;
          return Promise.resolve({ "X-Test-Signature": `len=${body.length}` });
        },
      }),
      POLICY,
      AUTH,
    );
    assert.equal(signed, api.seen[0]!.body);
    assert.equal(signedFor, `POST ${api.url}/login`);
    assert.equal(api.seen[0]!.headers["x-test-signature"], `len=${signed.length}`);
  });

  it("speaks the form-status contract", async () => {
    api.on((_req, _body, res) => {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end("true\n");
    });
    const outcome = await askApi(
      fetch,
      target("check_password", { contract: FORM_STATUS_CONTRACT }),
      POLICY,
      AUTH,
    );
    assert.equal(outcome.kind, "answer");
    assert.equal(api.seen[0]!.headers["content-type"], "application/x-www-form-urlencoded");
    assert.equal(
      new URLSearchParams(api.seen[0]!.body).get("pass"),
      "pa:ss wörd",
    );
    assert.equal(api.seen[0]!.path, "/check_password");
  });
});

describe("askApi without an API", () => {
  it("reports a refused connection, and retries it even for tryregister", async () => {
    const api = await listen();
    const url = `${api.url}/tryregister`;
    await api.close();
    const outcome = await askApi(fetch, { url, contract: JSON_CONTRACT, headers: {} }, POLICY, {
      op: "tryregister",
      user: "bob",
      server: "example.com",
      password: "x",
    });
    assert.equal(outcome.kind, "error");
    if (outcome.kind === "error") {
      assert.equal(outcome.failure, "refused");
      assert.equal(outcome.attempts, 3);
      assert.match(outcome.cause, /^connection refused/);
    }
  });

  it("reports a name that does not resolve as DNS", async () => {
    const outcome = await askApi(
      fetch,
      {
        url: "http://no-such-host.invalid/login",
        contract: JSON_CONTRACT,
        headers: {},
      },
      { ...POLICY, retries: 0 },
      AUTH,
    );
    assert.equal(outcome.kind, "error");
    if (outcome.kind === "error") assert.equal(outcome.failure, "dns", outcome.cause);
  });
});
