import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../lib/core/config_error.ts";
import { atLeastAsStrong, checkEnvironmentNames, createResolver } from "../lib/cli/resolve.ts";

const fromEnv = (vars: Record<string, string>) => (name: string) => vars[name];
const fromFile = (values: Record<string, string | boolean | string[]>) => (name: string) =>
  values[name];

describe("createResolver", () => {
  it("takes flag over environment over file over default, and says where", () => {
    const all = createResolver({
      flags: { timeout: "1s" },
      env: fromEnv({ XMPP_EXTAUTH_TIMEOUT: "2s" }),
      file: fromFile({ timeout: "3s" }),
    });
    assert.deepEqual(all.value("timeout"), { raw: "1s", where: "--timeout", source: "flag" });
    const noFlag = createResolver({
      flags: {},
      env: fromEnv({ XMPP_EXTAUTH_TIMEOUT: "2s" }),
      file: fromFile({ timeout: "3s" }),
    });
    assert.deepEqual(noFlag.value("timeout"), {
      raw: "2s",
      where: "XMPP_EXTAUTH_TIMEOUT",
      source: "environment",
    });
    const fileOnly = createResolver({
      flags: {},
      env: fromEnv({}),
      file: fromFile({ timeout: "3s" }),
    });
    assert.deepEqual(fileOnly.value("timeout"), {
      raw: "3s",
      where: 'config "timeout"',
      source: "file",
    });
    const none = createResolver({ flags: {}, env: fromEnv({}), file: fromFile({}) });
    assert.deepEqual(none.value("timeout"), { raw: "5s", where: "--timeout", source: "default" });
    assert.equal(none.duration("timeout"), 5000);
  });

  it("splits list variables (headers on newlines, others on commas) and reads booleans", () => {
    const r = createResolver({
      flags: {},
      env: fromEnv({
        XMPP_EXTAUTH_HEADER: "X-A: 1\n X-B: 2, 3 \n",
        XMPP_EXTAUTH_ENDPOINT: "auth=a, isuser=b",
        XMPP_EXTAUTH_DEBUG: "yes",
      }),
      file: fromFile({}),
    });
    assert.deepEqual(r.value("header").raw, ["X-A: 1", "X-B: 2, 3"]);
    assert.deepEqual(r.value("endpoint").raw, ["auth=a", "isuser=b"]);
    assert.equal(r.value("debug").raw, true);
  });

  it("checks each value as its kind, naming where it came from", () => {
    const r = createResolver({
      flags: { retries: "-1" },
      env: fromEnv({ XMPP_EXTAUTH_PROTOCOL: "xmpp" }),
      file: fromFile({ timeout: "soon" }),
    });
    assert.throws(() => r.count("retries"), {
      name: "ConfigError",
      message: '--retries: "-1" must be a whole number ≥ 0',
    });
    assert.throws(() => r.choice("protocol"), {
      name: "ConfigError",
      message: 'XMPP_EXTAUTH_PROTOCOL: "xmpp" is not one of ejabberd, prosody',
    });
    assert.throws(
      () => r.duration("timeout"),
      (error: Error) =>
        error instanceof ConfigError && error.message.startsWith('config "timeout": '),
    );
    assert.equal(r.choice("contract"), "json");
  });
});

describe("atLeastAsStrong", () => {
  it("orders flag, environment, file, default", () => {
    const order = ["flag", "environment", "file", "default"] as const;
    for (const [i, a] of order.entries()) {
      for (const [j, b] of order.entries()) {
        assert.equal(atLeastAsStrong(a, b), i <= j, `${a} ${b}`);
      }
    }
  });
});

describe("checkEnvironmentNames", () => {
  it("accepts every option's variable and the secrets, ignores other prefixes", () => {
    checkEnvironmentNames([
      "XMPP_EXTAUTH_URL",
      "XMPP_EXTAUTH_ON_ERROR",
      "XMPP_EXTAUTH_TOKEN",
      "PATH",
      "HOME",
    ]);
  });

  it("refuses a misspelt or mode variable", () => {
    assert.throws(() => checkEnvironmentNames(["XMPP_EXTAUTH_RETRIS"]), {
      message:
        "Unknown environment variable XMPP_EXTAUTH_RETRIS; did you mean XMPP_EXTAUTH_RETRIES?",
    });
    assert.throws(() => checkEnvironmentNames(["XMPP_EXTAUTH_HELP"]), {
      message: /^Unknown environment variable XMPP_EXTAUTH_HELP/,
    });
  });
});
