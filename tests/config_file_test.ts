import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readConfigFile, readDomains } from "../lib/cli/config_file.ts";

const bytes = (text: string) => () => new TextEncoder().encode(text);
const base = {
  contract: "json",
  endpoints: { auth: "v1/login" },
  headers: [["X-Site", "chat"]],
  headerFiles: [],
  tokenFile: "/etc/token",
} as const;

describe("readConfigFile", () => {
  it("gives each option's value in its raw form", () => {
    const file = readConfigFile(
      "/c.json",
      bytes('{"timeout": 2, "header": {"X-A": "1"}, "debug": true, "domains": {}}'),
    );
    assert.equal(file.value("timeout"), "2");
    assert.deepEqual(file.value("header"), ["X-A: 1"]);
    assert.equal(file.value("debug"), true);
    assert.equal(file.value("url"), undefined);
    assert.deepEqual(file.domains, {});
  });

  it("is empty without a path", () => {
    const file = readConfigFile(undefined, () => assert.fail("read"));
    assert.equal(file.value("timeout"), undefined);
    assert.equal(file.domains, undefined);
  });

  it("refuses secrets, unknown keys and what is not a JSON object", () => {
    assert.throws(() => readConfigFile("/c.json", bytes('{"token": "x"}')), {
      message:
        'Config file /c.json: "token" is not allowed: secrets come from files or the environment, ' +
        'use "token-file"',
    });
    assert.throws(() => readConfigFile("/c.json", bytes('{"timeot": 1}')), {
      message: 'Config file /c.json: unknown key "timeot"; did you mean "timeout"?',
    });
    assert.throws(() => readConfigFile("/c.json", bytes("[]")), {
      message: "Config file /c.json: expected a JSON object, got an array",
    });
    assert.throws(() => readConfigFile("/c.json", bytes('{"retries": "x", "config": "y"}')), {
      message: /^Config file \/c.json: unknown key "config"/,
    });
  });
});

describe("readDomains", () => {
  it("lets a domain override what it names and inherit the rest", () => {
    const domains = readDomains(
      {
        "Chat.Example": {
          url: "https://chat.example/api/",
          contract: "form-status",
          header: ["X-B: 2"],
        },
        "other.example": {},
      },
      base,
      "https://default.example",
    );
    assert.deepEqual(domains, {
      "chat.example": {
        url: "https://chat.example/api",
        contract: "form-status",
        endpoints: { auth: "v1/login" },
        headers: [["X-Site", "chat"], ["X-B", "2"]],
        headerFiles: [],
        tokenFile: "/etc/token",
      },
      "other.example": {
        url: "https://default.example",
        contract: "json",
        endpoints: { auth: "v1/login" },
        headers: [["X-Site", "chat"]],
        headerFiles: [],
        tokenFile: "/etc/token",
      },
    });
  });

  it("gives a domain that names any credential none of the inherited ones (audit item 6b)", () => {
    const top = {
      ...base,
      hmacSecretFile: "/etc/hmac",
      headerFiles: [["X-Api-Key", "/etc/api-key"]],
    } as const;
    const domains = readDomains(
      {
        "basic.example": { url: "https://legacy.example/auth", "basic-auth-file": "/etc/basic" },
        "signed.example": { "hmac-secret-file": "/etc/other-hmac" },
        "keyed.example": { "header-file": { "X-Key": "/etc/key" } },
        "plain.example": { contract: "form-status" },
      },
      top,
      "https://default.example",
    );
    const credentials = (domain: string) => {
      const d = domains[domain]!;
      return [d.tokenFile, d.basicAuthFile, d.hmacSecretFile, d.headerFiles, d.ownCredentials];
    };
    assert.deepEqual(credentials("basic.example"), [undefined, "/etc/basic", undefined, [], true]);
    assert.deepEqual(credentials("signed.example"), [
      undefined,
      undefined,
      "/etc/other-hmac",
      [],
      true,
    ]);
    assert.deepEqual(credentials("keyed.example"), [
      undefined,
      undefined,
      undefined,
      [["X-Key", "/etc/key"]],
      true,
    ]);
    assert.deepEqual(credentials("plain.example"), [
      "/etc/token",
      undefined,
      "/etc/hmac",
      [["X-Api-Key", "/etc/api-key"]],
      undefined,
    ]);
    // Headers are not credentials: inherited either way.
    assert.deepEqual(domains["basic.example"]!.headers, [["X-Site", "chat"]]);
  });

  it("names the domain and key that are wrong", () => {
    assert.throws(() => readDomains({ "a.example": {} }, base, undefined), {
      message: 'Config file: "domains.a.example.url" is missing and there is no --url',
    });
    assert.throws(() => readDomains({ "a.example": { contract: "xml" } }, base, "https://x"), {
      message: 'Config file: "domains.a.example.contract" must be json or form-status',
    });
    assert.throws(() => readDomains({ A: {}, a: {} }, base, "https://x"), {
      message: 'Config file: "domains.a" appears twice (domains are compared in lower case)',
    });
    assert.throws(() => readDomains([], base, "https://x"), {
      message: 'Config file: "domains" must be an object of domain → settings',
    });
  });
});
