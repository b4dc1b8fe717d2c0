import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Command,
  type Config,
  ConfigError,
  envName,
  helpText,
  parseCommand,
} from "../lib/cli/config.ts";
import { sources } from "./helpers/config.ts";

const URL_A = "http://127.0.0.1:8080/xmpp";

function parse(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  files: Readonly<Record<string, string>> = {},
): Command {
  return parseCommand(sources(args, env, files));
}

function config(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  files: Readonly<Record<string, string>> = {},
): Config {
  const command = parse(args, env, files);
  assert.ok(command.kind === "serve" || command.kind === "check", `got ${command.kind}`);
  return command.config;
}

/** Asserts a ConfigError whose message matches, and returns the message. */
function refused(
  args: readonly string[],
  pattern: RegExp,
  env: Readonly<Record<string, string>> = {},
  files: Readonly<Record<string, string>> = {},
): string {
  let message = "";
  assert.throws(() => parse(args, env, files), (error: unknown) => {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${String(error)}`);
    assert.equal(error.name, "ConfigError");
    message = error.message;
    assert.match(message, pattern);
    return true;
  });
  assert.equal(message.includes("\n"), false, "one-line message");
  return message;
}

const file = (data: unknown) => ({ "/etc/x.json": JSON.stringify(data) });
const withFile = ["--config", "/etc/x.json"];

describe("parseCommand: defaults", () => {
  it("serves with documented defaults given only --url", () => {
    const command = parse(["--url", URL_A]);
    assert.equal(command.kind, "serve");
    const c = config(["--url", URL_A]);
    assert.deepEqual(c, {
      route: { contract: "json", endpoints: {}, headers: [], headerFiles: [], url: URL_A },
      domains: {},
      protocol: "ejabberd",
      server: "ejabberd",
      timeoutMs: 5000,
      deadlineMs: 20_000,
      retries: 2,
      onError: "error",
      logLevel: "info",
      cacheTtlMs: 0,
      staleTtlMs: 0,
      cacheSize: 10_000,
      breakerFailures: 5,
      breakerCooldownMs: 5000,
      statsIntervalMs: 3_600_000,
      envSecrets: {},
      warnings: [],
    });
  });

  it("takes an explicit serve word", () => {
    assert.equal(parse(["serve", "--url", URL_A]).kind, "serve");
  });

  it("defaults the deadline to 20s for ejabberd and 4s for prosody", () => {
    assert.equal(config(["--url", URL_A]).deadlineMs, 20_000);
    assert.equal(config(["--url", URL_A, "--protocol", "ejabberd"]).deadlineMs, 20_000);
    assert.equal(config(["--url", URL_A, "--protocol", "prosody"]).deadlineMs, 4000);
    assert.equal(config(["--url", URL_A], { XMPP_EXTAUTH_PROTOCOL: "prosody" }).deadlineMs, 4000);
  });

  it("refuses a missing URL, saying how to give one", () => {
    refused([], /^Missing --url .*XMPP_EXTAUTH_URL/);
    refused(["--timeout", "2s"], /Missing --url/);
  });
});

describe("parseCommand: precedence flag > env > file > default", () => {
  const cases: {
    option: string;
    flag: string;
    env: string;
    fileValue: unknown;
    read: (c: Config) => unknown;
    expect: { flag: unknown; env: unknown; file: unknown; fallback: unknown };
  }[] = [
    {
      option: "timeout",
      flag: "1s",
      env: "2s",
      fileValue: "3s",
      read: (c) => c.timeoutMs,
      expect: { flag: 1000, env: 2000, file: 3000, fallback: 5000 },
    },
    {
      option: "on-error",
      flag: "false",
      env: "error",
      fileValue: "false",
      read: (c) => c.onError,
      expect: { flag: "false", env: "error", file: "false", fallback: "error" },
    },
    {
      option: "log-level",
      flag: "debug",
      env: "warn",
      fileValue: "error",
      read: (c) => c.logLevel,
      expect: { flag: "debug", env: "warn", file: "error", fallback: "info" },
    },
    {
      option: "retries",
      flag: "7",
      env: "8",
      fileValue: 9,
      read: (c) => c.retries,
      expect: { flag: 7, env: 8, file: 9, fallback: 2 },
    },
    {
      option: "endpoint",
      flag: "auth=flag/login",
      env: "auth=env/login",
      fileValue: { auth: "file/login" },
      read: (c) => c.route?.endpoints.auth,
      expect: { flag: "flag/login", env: "env/login", file: "file/login", fallback: undefined },
    },
    {
      option: "cache-ttl",
      flag: "1m",
      env: "2m",
      fileValue: "3m",
      read: (c) => c.cacheTtlMs,
      expect: { flag: 60_000, env: 120_000, file: 180_000, fallback: 0 },
    },
  ];

  for (const c of cases) {
    it(`resolves --${c.option} in order`, () => {
      const env = { [envName(c.option)]: c.env };
      const files = file({ [c.option]: c.fileValue });
      const base = ["--url", URL_A];
      const flag = [`--${c.option}`, c.flag];
      assert.deepEqual(c.read(config([...base, ...flag, ...withFile], env, files)), c.expect.flag);
      assert.deepEqual(c.read(config([...base, ...withFile], env, files)), c.expect.env);
      assert.deepEqual(c.read(config([...base, ...withFile], {}, files)), c.expect.file);
      assert.deepEqual(c.read(config(base)), c.expect.fallback);
    });
  }

  it("resolves the URL in order", () => {
    const files = file({ url: "http://file.example/x" });
    const env = { XMPP_EXTAUTH_URL: "http://env.example/x" };
    assert.equal(
      config(["--url", "http://flag.example/x", ...withFile], env, files).route?.url,
      "http://flag.example/x",
    );
    assert.equal(config(withFile, env, files).route?.url, "http://env.example/x");
    assert.equal(config(withFile, {}, files).route?.url, "http://file.example/x");
  });

  it("reads the config path from XMPP_EXTAUTH_CONFIG, the flag winning", () => {
    const files = {
      "/a.json": JSON.stringify({ url: "http://a.example" }),
      "/b.json": JSON.stringify({ url: "http://b.example" }),
    };
    assert.equal(
      config([], { XMPP_EXTAUTH_CONFIG: "/a.json" }, files).route?.url,
      "http://a.example",
    );
    assert.equal(
      config(["--config", "/b.json"], { XMPP_EXTAUTH_CONFIG: "/a.json" }, files).route?.url,
      "http://b.example",
    );
  });

  it("lets a flag list replace the environment's list, not merge with it", () => {
    const c = config(["--url", URL_A, "--endpoint", "isuser=flag/exists"], {
      XMPP_EXTAUTH_ENDPOINT: "auth=env/login",
    });
    assert.deepEqual(c.route?.endpoints, { isuser: "flag/exists" });
  });

  it("lets a --log-level flag win over XMPP_EXTAUTH_DEBUG in the environment", () => {
    const c = config(["--url", URL_A, "--log-level", "warn"], { XMPP_EXTAUTH_DEBUG: "1" });
    assert.equal(c.logLevel, "warn");
  });
});

describe("parseCommand: every option through XMPP_EXTAUTH_*", () => {
  const ENV_CASES: Record<string, [string, (c: Config) => unknown, unknown]> = {
    url: ["http://env.example/api/", (c) => c.route?.url, "http://env.example/api"],
    endpoint: [
      "auth=v1/login, isuser=/v1/exists",
      (c) => c.route?.endpoints,
      { auth: "v1/login", isuser: "v1/exists" },
    ],
    contract: ["form-status", (c) => c.route?.contract, "form-status"],
    protocol: ["prosody", (c) => c.protocol, "prosody"],
    server: ["mongooseim", (c) => c.server, "mongooseim"],
    timeout: ["250ms", (c) => c.timeoutMs, 250],
    deadline: ["10s", (c) => c.deadlineMs, 10_000],
    retries: ["0", (c) => c.retries, 0],
    "on-error": ["false", (c) => c.onError, "false"],
    "token-file": ["/run/secrets/token", (c) => c.route?.tokenFile, "/run/secrets/token"],
    header: [
      "X-Site: one\nX-Other:two",
      (c) => c.route?.headers,
      [["X-Site", "one"], ["X-Other", "two"]],
    ],
    "header-file": [
      "X-Api-Key=/run/api-key\nX-Other = /run/other",
      (c) => c.route?.headerFiles,
      [["X-Api-Key", "/run/api-key"], ["X-Other", "/run/other"]],
    ],
    "hmac-secret-file": ["/run/hmac", (c) => c.route?.hmacSecretFile, "/run/hmac"],
    "basic-auth-file": ["/run/basic", (c) => c.route?.basicAuthFile, "/run/basic"],
    "signature-scheme": ["v1", (c) => c.signatureScheme, "v1"],
    "ca-file": ["/etc/ca.pem", (c) => c.caFile, "/etc/ca.pem"],
    "cache-ttl": ["1h", (c) => c.cacheTtlMs, 3_600_000],
    "stale-ttl": ["2h", (c) => c.staleTtlMs, 7_200_000],
    "cache-size": ["50", (c) => c.cacheSize, 50],
    "cache-file": [
      "/var/lib/ejabberd/extauth.db",
      (c) => c.cacheFile,
      "/var/lib/ejabberd/extauth.db",
    ],
    "cache-url": [
      "redis://cache@10.0.0.5:6379/2",
      (c) => c.cacheUrl,
      { url: "redis://10.0.0.5:6379/2", username: "cache", prefix: "xmpp-extauth", timeoutMs: 50 },
    ],
    "cache-password-file": ["/run/redis", (c) => c.cacheUrl?.passwordFile, undefined],
    "cache-prefix": ["site-a", (c) => c.cacheUrl?.prefix, undefined],
    "cache-timeout": ["20ms", (c) => c.cacheUrl?.timeoutMs, undefined],
    "breaker-failures": ["0", (c) => c.breakerFailures, 0],
    "breaker-cooldown": ["30s", (c) => c.breakerCooldownMs, 30_000],
    "stats-interval": ["10m", (c) => c.statsIntervalMs, 600_000],
    "metrics-file": ["/srv/x.prom", (c) => c.metricsFile, "/srv/x.prom"],
    "log-level": ["error", (c) => c.logLevel, "error"],
    debug: ["true", (c) => c.logLevel, "debug"],
    "log-file": [
      "/var/log/ejabberd/extauth.log",
      (c) => c.logFile,
      "/var/log/ejabberd/extauth.log",
    ],
    config: ["/etc/x.json", (c) => c.retries, 9],
  };
  // Options that are not settings: they are actions of one invocation.
  const NOT_SETTINGS = new Set(["help", "version", "self-test"]);

  it("covers every option the help lists", () => {
    const listed = [...helpText().matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]!);
    const options = new Set(listed.filter((o) => !NOT_SETTINGS.has(o)));
    for (const option of options) {
      assert.ok(option in ENV_CASES, `no environment test for --${option}`);
    }
    assert.ok(options.size >= 22, `only ${options.size} options found in the help`);
  });

  for (const [option, [value, read, expected]] of Object.entries(ENV_CASES)) {
    it(`reads ${envName(option)}`, () => {
      const env: Record<string, string> = { [envName(option)]: value };
      if (option !== "url") env.XMPP_EXTAUTH_URL = URL_A;
      assert.deepEqual(read(config([], env, file({ retries: 9 }))), expected);
    });
  }

  it("reads the secrets from XMPP_EXTAUTH_TOKEN, _HMAC_SECRET and _BASIC_AUTH", () => {
    const c = config(["--url", URL_A], {
      XMPP_EXTAUTH_TOKEN: "tok",
      XMPP_EXTAUTH_HMAC_SECRET: "key",
      XMPP_EXTAUTH_BASIC_AUTH: "u:p",
    });
    assert.deepEqual(c.envSecrets, { token: "tok", hmacSecret: "key", basicAuth: "u:p" });
    assert.deepEqual(config(["--url", URL_A], { XMPP_EXTAUTH_TOKEN: "" }).envSecrets, {});
  });

  it("reads boolean variables", () => {
    for (const yes of ["1", "true", "TRUE", "yes", "on"]) {
      assert.equal(config(["--url", URL_A], { XMPP_EXTAUTH_DEBUG: yes }).logLevel, "debug", yes);
    }
    for (const no of ["0", "false", "no", "off", ""]) {
      assert.equal(config(["--url", URL_A], { XMPP_EXTAUTH_DEBUG: no }).logLevel, "info", no);
    }
  });

  it("refuses an unknown XMPP_EXTAUTH_ variable, naming it", () => {
    const message = refused(["--url", URL_A], /XMPP_EXTAUTH_TIMEOUTS/, {
      XMPP_EXTAUTH_TIMEOUTS: "5s",
    });
    assert.match(message, /^Unknown environment variable XMPP_EXTAUTH_TIMEOUTS/);
    refused(["--url", URL_A], /XMPP_EXTAUTH_PASSWORD/, { XMPP_EXTAUTH_PASSWORD: "pw" });
    refused(["--url", URL_A], /XMPP_EXTAUTH_HELP/, { XMPP_EXTAUTH_HELP: "1" });
    refused(["--url", URL_A], /XMPP_EXTAUTH_TOKEN_VALUE/, { XMPP_EXTAUTH_TOKEN_VALUE: "1" });
  });

  it("does not put the unknown variable's value in the message", () => {
    const message = refused(["--url", URL_A], /XMPP_EXTAUTH_SECRET/, {
      XMPP_EXTAUTH_SECRET: "V4lu3-0f-s3cr3t",
    });
    assert.equal(message.includes("V4lu3-0f-s3cr3t"), false);
  });

  it("ignores variables of other programs", () => {
    const c = config(["--url", URL_A], { HOME: "/root", XMPP_EXTAUTHX: "1", PATH: "/bin" });
    assert.equal(c.timeoutMs, 5000);
  });

  it("refuses a variable in the wrong case instead of ignoring it", () => {
    refused(["--url", URL_A], /XMPP_EXTAUTH_log_level/, { XMPP_EXTAUTH_log_level: "warn" });
  });

  it("names the variable in a bad value's message", () => {
    refused(["--url", URL_A], /^XMPP_EXTAUTH_TIMEOUT: Cannot parse duration "soon"/, {
      XMPP_EXTAUTH_TIMEOUT: "soon",
    });
    refused(["--url", URL_A], /^XMPP_EXTAUTH_ON_ERROR: "maybe" is not one of error, false/, {
      XMPP_EXTAUTH_ON_ERROR: "maybe",
    });
    refused(["--url", URL_A], /^XMPP_EXTAUTH_RETRIES: "two" must be a whole number ≥ 0$/, {
      XMPP_EXTAUTH_RETRIES: "two",
    });
  });
});

describe("parseCommand: secrets never on the command line", () => {
  const SECRET = "S3cr3tV4lue";
  const cases = [
    ["--token", SECRET],
    [`--token=${SECRET}`],
    ["--password", SECRET],
    [`--password=${SECRET}`],
    ["--hmac-secret", SECRET],
    [`--hmac-secret=${SECRET}`],
    ["--basic-auth", `user:${SECRET}`],
    [`--basic-auth=user:${SECRET}`],
  ];

  for (const args of cases) {
    it(`refuses ${args[0]!.replace(SECRET, "…")} without repeating the value`, () => {
      const name = /^--([a-z-]+)/.exec(args[0]!)![1]!;
      const message = refused(
        ["--url", URL_A, ...args],
        new RegExp(`^--${name} is not accepted on the command line`),
      );
      assert.equal(message.includes(SECRET), false, message);
    });
  }

  it("points to the safe alternative", () => {
    refused(["--token", "x", "--url", URL_A], /use --token-file/);
    refused(["--hmac-secret", "x", "--url", URL_A], /use --hmac-secret-file/);
    refused(["--basic-auth", "x", "--url", URL_A], /use --basic-auth-file/);
    refused(["check", "auth", "a", "b", "--password", "x", "--url", URL_A], /stdin/);
  });

  it("refuses a secret flag before any other problem is reported", () => {
    const message = refused(["--bogus", "--token", SECRET], /^--token is not accepted/);
    assert.equal(message.includes(SECRET), false);
  });

  it("accepts the file variants", () => {
    const c = config(["--url", URL_A, "--token-file", "/t", "--hmac-secret-file=/h"]);
    assert.equal(c.route?.tokenFile, "/t");
    assert.equal(c.route?.hmacSecretFile, "/h");
  });

  it("refuses unknown options", () => {
    refused(["--url", URL_A, "--bogus"], /bogus/);
    refused(["--url", URL_A, "-x"], /-x/);
  });

  it("refuses an option without its value", () => {
    refused(["--url"], /url/);
  });
});

describe("parseCommand: deadline against ejabberd's 30 s", () => {
  it("refuses 30s and more for ejabberd", () => {
    refused(["--url", URL_A, "--deadline", "30s"], /^--deadline: 30s must be below ejabberd's 30s/);
    refused(["--url", URL_A, "--deadline", "1m"], /below ejabberd's 30s limit/);
    refused(["--url", URL_A], /^XMPP_EXTAUTH_DEADLINE: 30s must be below/, {
      XMPP_EXTAUTH_DEADLINE: "30",
    });
    refused([...withFile, "--url", URL_A], /^config "deadline": 45s/, {}, file({ deadline: 45 }));
  });

  it("accepts just below 30s for ejabberd", () => {
    assert.equal(config(["--url", URL_A, "--deadline", "29s"]).deadlineMs, 29_000);
    assert.equal(config(["--url", URL_A, "--deadline", "29999ms"]).deadlineMs, 29_999);
  });

  it("allows 30s and more for prosody", () => {
    const c = config(["--url", URL_A, "--protocol", "prosody", "--deadline", "30s"]);
    assert.equal(c.deadlineMs, 30_000);
    assert.equal(c.protocol, "prosody");
  });

  it("refuses a zero timeout or deadline", () => {
    refused(["--url", URL_A, "--timeout", "0"], /^--timeout: must be more than 0/);
    refused(["--url", URL_A, "--deadline", "0ms"], /^--deadline: must be more than 0/);
  });

  it("refuses a timeout too long for a timer", () => {
    refused(["--url", URL_A, "--timeout", "1000h"], /timeout/);
    refused(["--url", URL_A, "--timeout", "1" + "0".repeat(400)], /timeout/);
  });
});

describe("parseCommand: URL", () => {
  it("removes trailing slashes", () => {
    assert.equal(config(["--url", "http://h.example/api/"]).route?.url, "http://h.example/api");
    assert.equal(config(["--url", "http://h.example/api///"]).route?.url, "http://h.example/api");
    assert.equal(config(["--url", "https://h.example/"]).route?.url, "https://h.example");
  });

  it("keeps {server} for the router", () => {
    assert.equal(
      config(["--url", "https://{server}/xmpp/"]).route?.url,
      "https://{server}/xmpp",
    );
    assert.equal(
      config(["--url", "https://api.example/{server}/auth"]).route?.url,
      "https://api.example/{server}/auth",
    );
  });

  it("refuses credentials in the URL without repeating them", () => {
    const message = refused(
      ["--url", "https://user:Pa55w0rd@h.example/api"],
      /^--url: credentials in the URL .* use --basic-auth-file/,
    );
    assert.equal(message.includes("Pa55w0rd"), false);
    refused(["--url", "https://user@h.example/api"], /credentials in the URL/);
  });

  it("refuses what is not http or https", () => {
    refused(["--url", "ftp://h.example/x"], /must start with http:\/\/ or https:\/\//);
    refused(["--url", "file:///etc/passwd"], /must start with http/);
    refused(["--url", "ws://h.example"], /must start with http/);
  });

  it("refuses what is not a URL", () => {
    refused(["--url", "h.example/api"], /^--url: "h.example\/api" is not a URL/);
    refused(["--url", ""], /is not a URL/);
    refused(["--url", "http://"], /is not a URL/);
  });

  it("refuses a query or fragment", () => {
    refused(["--url", "http://h.example/api?key=1"], /must not have a query or fragment/);
    refused(["--url", "http://h.example/api#x"], /must not have a query or fragment/);
  });
});

describe("parseCommand: endpoints", () => {
  it("reads OP=PATH, repeated, without leading slashes", () => {
    const c = config([
      "--url",
      URL_A,
      "--endpoint",
      "auth=v1/login",
      "--endpoint",
      "isuser=/v1/users/exists",
      "--endpoint=removeuser3=//x",
    ]);
    assert.deepEqual(c.route?.endpoints, {
      auth: "v1/login",
      isuser: "v1/users/exists",
      removeuser3: "x",
    });
  });

  it("lets the last of a repeated operation win", () => {
    const c = config(["--url", URL_A, "--endpoint", "auth=a", "--endpoint", "auth=b"]);
    assert.deepEqual(c.route?.endpoints, { auth: "b" });
  });

  it("refuses unknown operations", () => {
    refused(
      ["--url", URL_A, "--endpoint", "certauth=x"],
      /^--endpoint: unknown operation "certauth"/,
    );
    refused(["--url", URL_A, "--endpoint", "=x"], /unknown operation ""/);
    refused(["--url", URL_A, "--endpoint", "login"], /unknown operation "login"/);
  });

  it("refuses a missing or bad path", () => {
    refused(["--url", URL_A, "--endpoint", "auth"], /"auth" needs a path like auth=v1\/auth/);
    refused(["--url", URL_A, "--endpoint", "auth="], /needs a path/);
    refused(["--url", URL_A, "--endpoint", "auth=/"], /needs a path/);
    refused(["--url", URL_A, "--endpoint", "auth=a b"], /needs a path/);
    refused(["--url", URL_A, "--endpoint", "auth=a?x=1"], /needs a path/);
    refused(["--url", URL_A, "--endpoint", "auth=a#b"], /needs a path/);
  });
});

describe("parseCommand: headers", () => {
  it("reads Name: value, repeated", () => {
    const c = config([
      "--url",
      URL_A,
      "--header",
      "X-Api-Key: abc",
      "--header",
      "X-Site:  b: c ",
    ]);
    assert.deepEqual(c.route?.headers, [["X-Api-Key", "abc"], ["X-Site", "b: c"]]);
  });

  it("accepts an empty value", () => {
    assert.deepEqual(config(["--url", URL_A, "--header", "X-Empty:"]).route?.headers, [
      ["X-Empty", ""],
    ]);
  });

  it("refuses what is not a header", () => {
    refused(
      ["--url", URL_A, "--header", "no colon"],
      /^--header: a value of 8 characters is not a header: it has no ":"/,
    );
    refused(["--url", URL_A, "--header", "Bad Name: x"], /a header name cannot contain a space/);
    refused(["--url", URL_A, "--header", "Bad(Name): x"], /a header name cannot contain "\("/);
    refused(["--url", URL_A, "--header", ": x"], /the header name before ":" is empty/);
  });

  it("refuses a header value with a line break in a one-line message", () => {
    refused(
      withFile,
      /header X-A contains a line break/,
      {},
      file({ url: URL_A, header: ["X-A: b\r\nX: y"] }),
    );
  });

  it("refuses headers that xmpp-extauth sets itself, without repeating the value", () => {
    for (
      const name of ["Authorization", "authorization", "Content-Type", "Content-Length", "Host"]
    ) {
      const message = refused(
        ["--url", URL_A, "--header", `${name}: Bearer T0k3nV4lue`],
        new RegExp(`^--header: ${name} is set by xmpp-extauth`),
      );
      assert.equal(message.includes("T0k3nV4lue"), false, message);
    }
  });

  it("does not repeat a malformed header that carries a credential", () => {
    const message = refused(
      ["--url", URL_A, "--header", "Authorization Bearer T0k3nV4lue"],
      /is not a header/,
    );
    assert.equal(message.includes("T0k3nV4lue"), false, message);
    const spaced = refused(
      ["--url", URL_A, "--header", "X-Key T0k3nV4lue: x"],
      /a header name cannot contain a space/,
    );
    assert.equal(spaced.includes("T0k3nV4lue"), false, spaced);
  });
});

describe("parseCommand: enums and counts", () => {
  it("refuses values outside the choices", () => {
    refused(
      ["--url", URL_A, "--protocol", "xmpp"],
      /^--protocol: "xmpp" is not one of ejabberd, prosody/,
    );
    refused(
      ["--url", URL_A, "--contract", "xml"],
      /^--contract: "xml" is not one of json, form-status/,
    );
    refused(["--url", URL_A, "--on-error", "true"], /"true" is not one of error, false/);
    refused(["--url", URL_A, "--log-level", "trace"], /"trace" is not one of debug, info/);
  });

  it("refuses counts that are not whole numbers", () => {
    refused(["--url", URL_A, "--retries=-1"], /^--retries: "-1" must be a whole number ≥ 0$/);
    refused(["--url", URL_A, "--retries", "-1"], /^--retries: "-1" must be a whole number ≥ 0$/);
    refused(["--url", URL_A, "--retries", "1.5"], /must be a whole number ≥ 0/);
    refused(["--url", URL_A, "--cache-size", "many"], /^--cache-size: "many"/);
  });

  it("takes --debug and -d as --log-level debug", () => {
    assert.equal(config(["--url", URL_A, "--debug"]).logLevel, "debug");
    assert.equal(config(["--url", URL_A, "-d"]).logLevel, "debug");
  });

  it("reads durations with every unit", () => {
    const c = config([
      "--url",
      URL_A,
      "--timeout",
      "1500ms",
      "--cache-ttl",
      "2",
      "--stale-ttl",
      "1h",
      "--breaker-cooldown",
      "1.5s",
    ]);
    assert.deepEqual(
      [c.timeoutMs, c.cacheTtlMs, c.staleTtlMs, c.breakerCooldownMs],
      [1500, 2000, 3_600_000, 1500],
    );
  });

  it("refuses a bad duration, naming the option", () => {
    refused(["--url", URL_A, "--timeout", "5x"], /^--timeout: Cannot parse duration "5x"/);
  });
});

describe("parseCommand: config file", () => {
  it("reads settings of every kind", () => {
    const c = config(
      withFile,
      {},
      file({
        url: "https://api.example/xmpp/",
        contract: "form-status",
        protocol: "prosody",
        timeout: 2,
        deadline: "10s",
        retries: 0,
        "on-error": "false",
        endpoint: ["auth=v1/login"],
        header: { "X-Site": "one" },
        "token-file": "/run/token",
        "log-level": "warn",
        "log-file": "/var/log/x.log",
        "cache-ttl": 60,
        "cache-size": 5,
        "cache-file": "/var/lib/ejabberd/extauth.db",
        debug: false,
      }),
    );
    assert.equal(c.route?.url, "https://api.example/xmpp");
    assert.equal(c.route?.contract, "form-status");
    assert.equal(c.protocol, "prosody");
    assert.equal(c.timeoutMs, 2000);
    assert.equal(c.deadlineMs, 10_000);
    assert.equal(c.retries, 0);
    assert.equal(c.onError, "false");
    assert.deepEqual(c.route?.endpoints, { auth: "v1/login" });
    assert.deepEqual(c.route?.headers, [["X-Site", "one"]]);
    assert.equal(c.route?.tokenFile, "/run/token");
    assert.equal(c.logLevel, "warn");
    assert.equal(c.logFile, "/var/log/x.log");
    assert.equal(c.cacheTtlMs, 60_000);
    assert.equal(c.cacheSize, 5);
    assert.equal(c.cacheFile, "/var/lib/ejabberd/extauth.db");
  });

  it("refuses an unknown key", () => {
    refused(
      withFile,
      /^Config file \/etc\/x.json: unknown key "timout"/,
      {},
      file({ url: URL_A, timout: 5 }),
    );
    refused(withFile, /unknown key "config"/, {}, file({ url: URL_A, config: "/x" }));
    refused(withFile, /unknown key "help"/, {}, file({ url: URL_A, help: true }));
    refused(withFile, /unknown key "self-test"/, {}, file({ url: URL_A, "self-test": true }));
  });

  it("refuses a --header-file without NAME=FILE, never echoing it", () => {
    const message = refused(
      ["--url", URL_A, "--header-file", "X-Api-Key: Hdr-S3cr3t-value"],
      /^--header-file: a value of 27 characters has no "="; expected NAME=FILE/,
    );
    assert.equal(message.includes("S3cr3t"), false);
    refused(["--url", URL_A, "--header-file", "Host=/k"], /Host is set by xmpp-extauth/);
    refused(["--url", URL_A, "--header-file", "X-K="], /header X-K has no file after "="/);
  });

  it("refuses a value of the wrong type, naming the key", () => {
    const wrong: [string, unknown, RegExp][] = [
      ["timeout", true, /"timeout" must be a number or a duration string, got true/],
      ["retries", -1, /"retries" must be a number or a duration string, got -1/],
      ["url", 5, /"url" must be a string, got a number$/],
      ["debug", "yes", /"debug" must be true or false, got a string$/],
      ["endpoint", 5, /"endpoint" must be an object or an array of strings/],
      ["endpoint", [1], /"endpoint" must be an object or an array of strings/],
      ["header", { "X-A": 1 }, /"header.X-A" must be a string, got a number$/],
      ["header-file", { "X-A": ["/k"] }, /"header-file.X-A" must be a string, got an array$/],
      ["on-error", false, /"on-error" must be a string, got false/],
    ];
    for (const [key, value, pattern] of wrong) {
      const data: Record<string, unknown> = { url: URL_A, [key]: value };
      refused(withFile, pattern, {}, file(data));
    }
  });

  it("refuses a file that cannot be read, naming it", () => {
    refused(["--config", "/nowhere.json"], /^Cannot read config file \/nowhere.json: No such file/);
  });

  it("refuses a file that is not JSON or not an object", () => {
    const bad: [string, RegExp][] = [
      ["url: x", /^Config file \/etc\/x.json: not valid JSON \(line 1, column 1\)$/],
      [
        '{"url": "x",\n "timeout": 3,}',
        /^Config file \/etc\/x.json: not valid JSON \(line 2, column 15\)$/,
      ],
      ['{"a": "b\u0001"}', /: not valid JSON \(line 1, column 9\)$/],
      ['{"a": [1, 2] "b"}', /: not valid JSON \(line 1, column 14\)$/],
      ['{"a": 01}', /: not valid JSON \(line 1, column 8\)$/],
      ['{"a": "\\x"}', /: not valid JSON \(line 1, column 8\)$/],
      ['{"a": tru}', /: not valid JSON \(line 1, column 7\)$/],
      ["{} {}", /: not valid JSON \(line 1, column 4\)$/],
      ["", /^Config file \/etc\/x.json: the file is empty; expected a JSON object$/],
      [" \n", /the file is empty/],
      ["[]", /^Config file \/etc\/x.json: expected a JSON object, got an array$/],
      ["null", /expected a JSON object, got null$/],
      ['"x"', /expected a JSON object, got a string$/],
    ];
    for (const [text, pattern] of bad) refused(withFile, pattern, {}, { "/etc/x.json": text });
  });

  it("refuses secrets in the file, without repeating them", () => {
    for (const key of ["token", "password", "hmac-secret", "basic-auth"]) {
      const message = refused(
        withFile,
        new RegExp(`^Config file /etc/x.json: "${key}" is not allowed: secrets come from files`),
        {},
        file({ url: URL_A, [key]: "F1l3S3cr3t" }),
      );
      assert.equal(message.includes("F1l3S3cr3t"), false);
    }
    refused(
      withFile,
      /"domains.a.example.token" is not allowed/,
      {},
      file({
        url: URL_A,
        domains: { "a.example": { token: "F1l3S3cr3t" } },
      }),
    );
  });

  it("names the file key in a bad value's message", () => {
    refused(
      withFile,
      /^config "timeout": Cannot parse duration "soon"/,
      {},
      file({
        url: URL_A,
        timeout: "soon",
      }),
    );
    refused(
      withFile,
      /^config "url": "ftp:\/\/x" must start with http/,
      {},
      file({ url: "ftp://x" }),
    );
  });
});

describe("parseCommand: domains in the config file", () => {
  it("routes domains, inheriting url, endpoints, headers and credential files", () => {
    const c = config(
      withFile,
      {},
      file({
        url: "https://main.example/xmpp",
        endpoint: { auth: "v1/login", isuser: "v1/exists" },
        header: ["X-Site: main"],
        "token-file": "/run/main-token",
        domains: {
          "Chat.Example.ORG": {},
          "other.example": {
            url: "https://other.example/api/",
            contract: "form-status",
            endpoint: { isuser: "v2/exists" },
            header: { "X-Tenant": "other" },
            "token-file": "/run/other-token",
            "basic-auth-file": "/run/other-basic",
          },
        },
      }),
    );
    assert.deepEqual(Object.keys(c.domains).sort(), ["chat.example.org", "other.example"]);
    assert.deepEqual(c.domains["chat.example.org"], {
      url: "https://main.example/xmpp",
      contract: "json",
      endpoints: { auth: "v1/login", isuser: "v1/exists" },
      headers: [["X-Site", "main"]],
      headerFiles: [],
      tokenFile: "/run/main-token",
    });
    assert.deepEqual(c.domains["other.example"], {
      url: "https://other.example/api",
      contract: "form-status",
      endpoints: { auth: "v1/login", isuser: "v2/exists" },
      headers: [["X-Site", "main"], ["X-Tenant", "other"]],
      headerFiles: [],
      tokenFile: "/run/other-token",
      basicAuthFile: "/run/other-basic",
      ownCredentials: true,
    });
  });

  it("inherits a URL given on the command line", () => {
    const c = config(["--url", URL_A, ...withFile], {}, file({ domains: { "a.example": {} } }));
    assert.equal(c.domains["a.example"]?.url, URL_A);
    assert.equal(c.route?.url, URL_A);
  });

  it("serves with domains only, without a default route", () => {
    const c = config(withFile, {}, file({ domains: { "a.example": { url: "http://a.example" } } }));
    assert.equal(c.route, undefined);
    assert.equal(c.domains["a.example"]?.url, "http://a.example");
  });

  it("refuses a domain without url when there is no --url", () => {
    refused(
      withFile,
      /^Config file \/etc\/x.json: "domains.a.example.url" is missing and there is no --url/,
      {},
      file({ domains: { "a.example": { contract: "json" } } }),
    );
  });

  it("refuses bad domain settings, naming the domain", () => {
    const bad: [unknown, RegExp][] = [
      [[], /"domains" must be an object/],
      ["a.example", /"domains" must be an object/],
      [{ "a.example": "http://x" }, /"domains.a.example" must be an object/],
      [{ "a.example": { url: URL_A, timeout: 5 } }, /unknown key "domains.a.example.timeout"/],
      [{ "a.example": { url: URL_A, contract: "xml" } }, /"domains.a.example.contract" must be/],
      [{ "a.example": { url: "https://u:p@x.example" } }, /credentials in the URL/],
      [{ "a.example": { url: "ftp://x.example" } }, /must start with http/],
      [{ "a.example": { url: URL_A, endpoint: ["nope=x"] } }, /unknown operation "nope"/],
      [{ "a.example": { url: URL_A, header: ["Host: x"] } }, /Host is set by xmpp-extauth/],
      [{ "a.example": { url: 5 } }, /"domains.a.example.url" must be a string/],
    ];
    for (const [domains, pattern] of bad) {
      refused(withFile, pattern, {}, file({ url: URL_A, domains }));
    }
  });
});

describe("parseCommand: check", () => {
  it("reads OP USER SERVER", () => {
    const command = parse(["check", "auth", "alice", "example.com", "--url", URL_A]);
    assert.equal(command.kind, "check");
    if (command.kind !== "check") return;
    assert.equal(command.op, "auth");
    assert.equal(command.user, "alice");
    assert.equal(command.server, "example.com");
    assert.equal(command.config.route?.url, URL_A);
  });

  it("takes options before and after the positionals", () => {
    const command = parse(["--url", URL_A, "check", "isuser", "--timeout", "1s", "bob", "x.org"]);
    assert.equal(command.kind, "check");
    if (command.kind !== "check") return;
    assert.deepEqual([command.op, command.user, command.server], ["isuser", "bob", "x.org"]);
    assert.equal(command.config.timeoutMs, 1000);
  });

  it("accepts every operation", () => {
    for (const op of ["auth", "isuser", "setpass", "tryregister", "removeuser", "removeuser3"]) {
      const command = parse(["check", op, "a", "b", "--url", URL_A]);
      assert.ok(command.kind === "check" && command.op === op, op);
    }
  });

  it("refuses missing or extra arguments", () => {
    refused(["check", "--url", URL_A], /^Usage: xmpp-extauth check OP USER SERVER/);
    refused(["check", "auth", "--url", URL_A], /^Usage: xmpp-extauth check/);
    refused(["check", "auth", "alice", "--url", URL_A], /^Usage: xmpp-extauth check/);
    refused(["check", "auth", "a", "b", "c", "--url", URL_A], /^Usage: xmpp-extauth check/);
  });

  it("refuses an unknown operation", () => {
    refused(
      ["check", "certauth", "a", "b", "--url", URL_A],
      /^check: unknown operation "certauth"/,
    );
    refused(["check", "login", "a", "b", "--url", URL_A], /unknown operation "login"/);
  });

  it("refuses positionals when serving", () => {
    refused(["--url", URL_A, "auth"], /^Unexpected argument "auth": serve takes options only/);
    refused(["serve", "extra", "--url", URL_A], /^Unexpected argument "extra"/);
  });
});

describe("parseCommand: self-test, help, version", () => {
  it("runs the self-test under check only", () => {
    assert.deepEqual(parse(["check", "--self-test"]), { kind: "self-test" });
    refused(["--self-test"], /^--self-test belongs to the check command/);
    refused(["--self-test", "--url", URL_A], /belongs to the check command/);
  });

  it("needs no URL or environment for the self-test", () => {
    assert.deepEqual(parse(["check", "--self-test"], { XMPP_EXTAUTH_URL: "bad" }), {
      kind: "self-test",
    });
  });

  it("answers help and version first", () => {
    assert.deepEqual(parse(["--help"]), { kind: "help" });
    assert.deepEqual(parse(["-h"]), { kind: "help" });
    assert.deepEqual(parse(["--version"]), { kind: "version" });
    assert.deepEqual(parse(["-V"]), { kind: "version" });
    assert.deepEqual(parse(["check", "--help"]), { kind: "help" });
    assert.deepEqual(parse(["--url", "ftp://bad", "--help"]), { kind: "help" });
  });

  it("documents usage, variables and secrets in the help", () => {
    const text = helpText();
    assert.match(text, /xmpp-extauth --url URL \[options\]/);
    assert.match(text, /xmpp-extauth check OP USER SERVER/);
    assert.match(text, /check --self-test/);
    assert.match(text, /XMPP_EXTAUTH_ON_ERROR=false/);
    assert.match(text, /XMPP_EXTAUTH_TOKEN, XMPP_EXTAUTH_HMAC_SECRET, XMPP_EXTAUTH_BASIC_AUTH/);
    assert.match(text, /--deadline DUR/);
    assert.match(text, /250ms, 5s, 2m, 1h/);
  });

  it("turns option names into variable names", () => {
    assert.equal(envName("on-error"), "XMPP_EXTAUTH_ON_ERROR");
    assert.equal(envName("url"), "XMPP_EXTAUTH_URL");
    assert.equal(envName("hmac-secret-file"), "XMPP_EXTAUTH_HMAC_SECRET_FILE");
  });
});

describe("parseCommand: what a typo or a wrong value gets told", () => {
  it("suggests the closest option, variable or config key", () => {
    refused(
      ["--url", URL_A, "--tiemout", "5s"],
      /^Unknown option '--tiemout'; did you mean '--timeout'\?/,
    );
    refused(["--url", URL_A, "--retires=1"], /did you mean '--retries'\?/);
    refused(["--url", URL_A, "--log-levle", "debug"], /did you mean '--log-level'\?/);
    refused(["--url", URL_A, "--stale"], /did you mean '--stale-ttl'\?/);
    refused(["--url", URL_A, "--frobnicate"], /^Unknown option '--frobnicate' \(see --help\)$/);
    refused(["--url", URL_A], /did you mean XMPP_EXTAUTH_ON_ERROR\?$/, {
      XMPP_EXTAUTH_ONERROR: "x",
    });
    refused(
      withFile,
      /unknown key "timout"; did you mean "timeout"\?$/,
      {},
      file({ url: URL_A, timout: 5 }),
    );
  });

  it("takes a value that starts with a dash as the value, and an option as a missing value", () => {
    refused(["--url", URL_A, "--timeout", "-5s"], /^--timeout: /);
    refused(
      ["--url", "--timeout", "5s"],
      /^Option '--url' needs a value, but the next argument is another option$/,
    );
    assert.equal(config(["--url", URL_A, "--retries", "3", "-d"]).retries, 3);
  });

  it("refuses a deadline shorter than a --timeout that was chosen", () => {
    refused(
      ["--url", URL_A, "--timeout", "10s", "--deadline", "5s"],
      /^Cannot use --timeout 10s with --deadline 5s: one attempt could outlast the whole request; make --deadline at least 10s or lower --timeout$/,
    );
    refused(["--url", URL_A, "--timeout", "25s"], /with the default --deadline 20s/);
    refused(
      ["--url", URL_A],
      /^Cannot use XMPP_EXTAUTH_TIMEOUT 6s with XMPP_EXTAUTH_DEADLINE 5s:/,
      {
        XMPP_EXTAUTH_TIMEOUT: "6s",
        XMPP_EXTAUTH_DEADLINE: "5s",
      },
    );
    // Equal is one attempt without retries: allowed. The default timeout under prosody's
    // shorter default deadline is not the admin's choice: allowed.
    assert.equal(config(["--url", URL_A, "--timeout", "5s", "--deadline", "5s"]).deadlineMs, 5000);
    assert.equal(config(["--url", URL_A, "--protocol", "prosody"]).timeoutMs, 5000);
    assert.equal(
      config(["--url", URL_A, "--protocol", "prosody", "--deadline", "2s"]).deadlineMs,
      2000,
    );
  });
});
