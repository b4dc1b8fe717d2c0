import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  contractByName,
  FORM_STATUS_CONTRACT,
  type Interpretation,
  JSON_CONTRACT,
} from "../lib/api/contracts.ts";
import { OPERATIONS } from "../lib/core/operations.ts";
import type { AuthRequest } from "../lib/core/request.ts";

const auth: AuthRequest = { op: "auth", user: "alice", server: "example.com", password: "s3cret" };
const isuser: AuthRequest = { op: "isuser", user: "alice", server: "example.com" };
const removeuser: AuthRequest = { op: "removeuser", user: "alice", server: "example.com" };

function expectError(result: Interpretation, pattern: RegExp): void {
  assert.equal(result.kind, "error", JSON.stringify(result));
  if (result.kind === "error") assert.match(result.cause, pattern);
}

describe("contractByName", () => {
  it("finds both contracts", () => {
    assert.equal(contractByName("json"), JSON_CONTRACT);
    assert.equal(contractByName("form-status"), FORM_STATUS_CONTRACT);
    assert.equal(JSON_CONTRACT.name, "json");
    assert.equal(FORM_STATUS_CONTRACT.name, "form-status");
  });
});

describe("JSON contract: requests", () => {
  it("has the documented endpoints and content types", () => {
    assert.deepEqual(JSON_CONTRACT.endpoints, {
      auth: "login",
      isuser: "exists",
      setpass: "setpass",
      tryregister: "tryregister",
      removeuser: "removeuser",
      removeuser3: "removeuser3",
    });
    assert.equal(JSON_CONTRACT.contentType, "application/json");
    assert.equal(JSON_CONTRACT.accept, "application/json");
  });

  it("writes username, user, server, password in that order", () => {
    assert.equal(
      JSON_CONTRACT.body(auth),
      '{"username":"alice@example.com","user":"alice","server":"example.com","password":"s3cret"}',
    );
    for (const op of ["setpass", "tryregister", "removeuser3"] as const) {
      assert.equal(
        JSON_CONTRACT.body({ ...auth, op }),
        '{"username":"alice@example.com","user":"alice","server":"example.com","password":"s3cret"}',
      );
    }
  });

  it("leaves the password out for isuser and removeuser", () => {
    const expected = '{"username":"alice@example.com","user":"alice","server":"example.com"}';
    assert.equal(JSON_CONTRACT.body(isuser), expected);
    assert.equal(JSON_CONTRACT.body(removeuser), expected);
    assert.equal(JSON_CONTRACT.maskedBody(isuser), expected);
  });

  it("keeps an empty password", () => {
    assert.deepEqual(JSON.parse(JSON_CONTRACT.body({ ...auth, password: "" })).password, "");
  });

  it("escapes quotes, backslashes, control characters and Unicode correctly", () => {
    const password = 'a"b\\c\nd:e\u0000f ✓ 🔑';
    const body = JSON_CONTRACT.body({ ...auth, user: "jürgen", password });
    const data = JSON.parse(body);
    assert.equal(data.password, password);
    assert.equal(data.user, "jürgen");
    assert.equal(data.username, "jürgen@example.com");
  });

  it("masks the password in maskedBody", () => {
    const masked = JSON_CONTRACT.maskedBody(auth);
    assert.equal(
      masked,
      '{"username":"alice@example.com","user":"alice","server":"example.com","password":"***"}',
    );
    assert.equal(masked.includes("s3cret"), false);
    assert.equal(JSON_CONTRACT.maskedBody({ ...auth, password: "" }).includes('"password"'), true);
  });
});

describe("JSON contract: answers", () => {
  const interpret = (status: number, body: string) =>
    JSON_CONTRACT.interpret("auth", { status, body });

  it("reads success true and false from any 2xx", () => {
    assert.deepEqual(interpret(200, '{"success":true}'), { kind: "answer", value: true });
    assert.deepEqual(interpret(200, '{"success":false}'), { kind: "answer", value: false });
    assert.deepEqual(interpret(201, '{"success":true}'), { kind: "answer", value: true });
    assert.deepEqual(interpret(299, '{"success":false}'), { kind: "answer", value: false });
    assert.deepEqual(interpret(200, ' \n{"success": true, "extra": [1]}\n'), {
      kind: "answer",
      value: true,
    });
  });

  it("keeps a message", () => {
    assert.deepEqual(interpret(200, '{"success":false,"message":"bad password"}'), {
      kind: "answer",
      value: false,
      message: "bad password",
    });
    assert.deepEqual(interpret(200, '{"success":true,"message":""}'), {
      kind: "answer",
      value: true,
    });
    assert.deepEqual(interpret(200, '{"success":true,"message":42}'), {
      kind: "answer",
      value: true,
    });
  });

  it("shortens a long message to one line", () => {
    const result = interpret(200, JSON.stringify({ success: false, message: "x\n".repeat(200) }));
    assert.equal(result.kind, "answer");
    if (result.kind === "answer") {
      assert.ok(result.message !== undefined && result.message.length <= 81, result.message);
      assert.equal(result.message?.includes("\n"), false);
    }
  });

  it("reads any non-2xx status as an error naming the status", () => {
    expectError(interpret(500, '{"success":true}'), /^HTTP 500/);
    expectError(interpret(404, "Not Found"), /^HTTP 404: Not Found$/);
    expectError(interpret(401, ""), /^HTTP 401$/);
    expectError(interpret(302, ""), /^HTTP 302/);
    expectError(interpret(199, '{"success":true}'), /^HTTP 199/);
    expectError(interpret(300, '{"success":true}'), /^HTTP 300/);
  });

  it("reads a body that is not JSON as an error", () => {
    expectError(interpret(200, "<html><body>Login</body></html>"), /HTTP 200.*not JSON.*<html>/);
    expectError(interpret(200, "true"), /not an object/);
    expectError(interpret(200, ""), /HTTP 200.*not JSON/);
    expectError(interpret(200, "{"), /not JSON/);
  });

  it("says that an empty body is empty", () => {
    expectError(interpret(200, ""), /empty/);
    expectError(interpret(200, " \n"), /empty/);
  });

  it("reads JSON without a boolean success as an error", () => {
    expectError(interpret(200, "{}"), /HTTP 200 without a boolean "success": \{\}/);
    expectError(interpret(200, '{"success":"true"}'), /without a boolean "success"/);
    expectError(interpret(200, '{"success":1}'), /without a boolean "success"/);
    expectError(interpret(200, '{"success":null}'), /without a boolean "success"/);
    expectError(interpret(200, '{"Success":true}'), /without a boolean "success"/);
    expectError(interpret(200, '{"result":true}'), /without a boolean "success"/);
  });

  it("reads JSON that is not an object as an error", () => {
    expectError(interpret(200, "[]"), /JSON that is not an object: \[\]/);
    expectError(interpret(200, "null"), /JSON that is not an object: null/);
    expectError(interpret(200, '"ok"'), /JSON that is not an object/);
    expectError(interpret(200, "[true]"), /JSON that is not an object/);
  });

  it("keeps an error cause short and on one line", () => {
    const result = interpret(502, `<html>\n${"<p>bad gateway</p>\n".repeat(100)}</html>`);
    expectError(result, /^HTTP 502: <html> <p>bad gateway/);
    if (result.kind === "error") {
      assert.ok(result.cause.length < 120, result.cause);
      assert.equal(result.cause.includes("\n"), false);
    }
  });

  it("reads answers the same way for every operation", () => {
    for (const op of OPERATIONS) {
      assert.deepEqual(JSON_CONTRACT.interpret(op, { status: 200, body: '{"success":true}' }), {
        kind: "answer",
        value: true,
      });
      assert.equal(JSON_CONTRACT.interpret(op, { status: 200, body: "{}" }).kind, "error");
    }
  });
});

describe("form-status contract: requests", () => {
  it("has the ejabberd_auth_http endpoints and content types", () => {
    assert.deepEqual(FORM_STATUS_CONTRACT.endpoints, {
      auth: "check_password",
      isuser: "user_exists",
      setpass: "set_password",
      tryregister: "register",
      removeuser: "remove_user",
      removeuser3: "remove_user_validate",
    });
    assert.equal(FORM_STATUS_CONTRACT.contentType, "application/x-www-form-urlencoded");
    assert.equal(FORM_STATUS_CONTRACT.accept, "text/plain");
  });

  it("writes user, server and pass as a form", () => {
    assert.equal(FORM_STATUS_CONTRACT.body(auth), "user=alice&server=example.com&pass=s3cret");
    assert.equal(FORM_STATUS_CONTRACT.body(isuser), "user=alice&server=example.com");
    assert.equal(FORM_STATUS_CONTRACT.body(removeuser), "user=alice&server=example.com");
    assert.equal(
      FORM_STATUS_CONTRACT.body({ ...auth, password: "" }),
      "user=alice&server=example.com&pass=",
    );
  });

  it("URL-encodes special characters so that they round-trip", () => {
    const password = "a&b=c+d e%f:g/h?i#j\n✓🔑\"'";
    const user = "jürgen+x&y";
    const body = FORM_STATUS_CONTRACT.body({ ...auth, user, password });
    assert.equal(body.includes("&b=c"), false);
    assert.equal(body.split("&").length, 3);
    const form = new URLSearchParams(body);
    assert.equal(form.get("user"), user);
    assert.equal(form.get("server"), "example.com");
    assert.equal(form.get("pass"), password);
    assert.deepEqual([...form.keys()], ["user", "server", "pass"]);
  });

  it("masks the password in maskedBody", () => {
    const masked = FORM_STATUS_CONTRACT.maskedBody(auth);
    assert.equal(masked, "user=alice&server=example.com&pass=***");
    assert.equal(masked.includes("s3cret"), false);
    assert.equal(FORM_STATUS_CONTRACT.maskedBody(isuser), "user=alice&server=example.com");
  });
});

describe("form-status contract: answers", () => {
  const interpret = (op: AuthRequest["op"], status: number, body = "") =>
    FORM_STATUS_CONTRACT.interpret(op, { status, body });

  it("reads 200 true/false for auth and isuser", () => {
    for (const op of ["auth", "isuser"] as const) {
      assert.deepEqual(interpret(op, 200, "true"), { kind: "answer", value: true });
      assert.deepEqual(interpret(op, 200, "false"), { kind: "answer", value: false });
      assert.deepEqual(interpret(op, 200, " true\n"), { kind: "answer", value: true });
      assert.deepEqual(interpret(op, 200, "\r\nfalse\r\n"), { kind: "answer", value: false });
    }
  });

  it("reads anything else for auth and isuser as an error", () => {
    for (const op of ["auth", "isuser"] as const) {
      expectError(interpret(op, 200, "yes"), /^HTTP 200 with a body other than true\/false: yes$/);
      expectError(interpret(op, 200, "TRUE"), /other than true\/false/);
      expectError(interpret(op, 200, "1"), /other than true\/false/);
      expectError(interpret(op, 200, ""), /other than true\/false/);
      expectError(interpret(op, 201, "true"), /^HTTP 201: true$/);
      expectError(interpret(op, 204, ""), /^HTTP 204/);
      expectError(interpret(op, 404, "not found"), /^HTTP 404: not found$/);
      expectError(interpret(op, 500, "boom"), /^HTTP 500: boom$/);
      expectError(interpret(op, 401, "true"), /^HTTP 401/);
    }
  });

  it("says that an empty body is empty for auth and isuser", () => {
    expectError(interpret("auth", 200, ""), /empty/);
    expectError(interpret("isuser", 500, ""), /^HTTP 500.*[^:\s]$/);
  });

  it("reads 200, 201 and 204 as true for writes", () => {
    for (const op of ["setpass", "tryregister", "removeuser", "removeuser3"] as const) {
      for (const status of [200, 201, 204]) {
        assert.deepEqual(interpret(op, status, ""), { kind: "answer", value: true }, `${op}`);
      }
    }
  });

  it("reads 403 and 404 as false for writes, with the reason", () => {
    for (const op of ["setpass", "tryregister", "removeuser", "removeuser3"] as const) {
      assert.deepEqual(interpret(op, 403), {
        kind: "answer",
        value: false,
        message: "HTTP 403 (not allowed)",
      });
      assert.deepEqual(interpret(op, 404), {
        kind: "answer",
        value: false,
        message: "HTTP 404 (not found)",
      });
    }
  });

  it("reads 409 as false for tryregister only", () => {
    assert.deepEqual(interpret("tryregister", 409), {
      kind: "answer",
      value: false,
      message: "HTTP 409 (exists)",
    });
    for (const op of ["setpass", "removeuser", "removeuser3"] as const) {
      expectError(interpret(op, 409, "conflict"), /^HTTP 409: conflict$/);
    }
  });

  it("reads 5xx and other statuses as errors for writes", () => {
    for (const op of ["setpass", "tryregister", "removeuser", "removeuser3"] as const) {
      expectError(interpret(op, 500, "boom"), /^HTTP 500: boom$/);
      expectError(interpret(op, 503), /^HTTP 503$/);
      expectError(interpret(op, 202), /^HTTP 202$/);
      expectError(interpret(op, 400, "bad"), /^HTTP 400: bad$/);
      expectError(interpret(op, 401), /^HTTP 401$/);
    }
  });
});

describe("form-status contract: causes", () => {
  it("keeps the API's own ' :' in a body it quotes", () => {
    const result = FORM_STATUS_CONTRACT.interpret("auth", { status: 200, body: "error : locked" });
    assert.deepEqual(result, {
      kind: "error",
      cause: "HTTP 200 with a body other than true/false: error : locked",
    });
    assert.deepEqual(FORM_STATUS_CONTRACT.interpret("isuser", { status: 500, body: "a : b" }), {
      kind: "error",
      cause: "HTTP 500: a : b",
    });
  });
});
