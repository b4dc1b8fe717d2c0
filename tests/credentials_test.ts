/**
 * The credential files of a route (credentials.ts), read through createRouter as the
 * program reads them: what stops the program, what it warns about, and that no message
 * shows a file's content.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseCommand } from "../lib/cli/config.ts";
import { createRouter } from "../lib/api/router.ts";

const encoder = new TextEncoder();

function configOf(
  args: string[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
) {
  const readFile = (path: string) => {
    if (!(path in files)) throw new Error(`ENOENT: no such file, open '${path}'`);
    return encoder.encode(files[path]!);
  };
  const command = parseCommand({
    args,
    env: (name) => env[name],
    envNames: () => Object.keys(env),
    readFile,
  });
  if (command.kind !== "serve") throw new Error(`expected serve, got ${command.kind}`);
  return { config: command.config, readFile };
}

describe("route credentials (through createRouter)", () => {
  it("stops with a ConfigError naming the file, never its content", async () => {
    const missing = configOf(["--url", "http://h", "--token-file", "/nope"]);
    await assert.rejects(createRouter(missing.config, missing.readFile), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^Cannot read --token-file \/nope: /);
      return true;
    });
    const empty = configOf(["--url", "http://h", "--hmac-secret-file", "/e"], {}, { "/e": "\n" });
    await assert.rejects(
      createRouter(empty.config, empty.readFile),
      /Cannot use --hmac-secret-file \/e: the file is empty/,
    );
    const both = configOf(
      ["--url", "http://h", "--token-file", "/t", "--basic-auth-file", "/b"],
      {},
      {
        "/t": "secret-token",
        "/b": "u:secret-pw",
      },
    );
    await assert.rejects(createRouter(both.config, both.readFile), (error: Error) => {
      assert.match(error.message, /both a Bearer token and Basic credentials/);
      assert.ok(!error.message.includes("secret"));
      return true;
    });
    const noColon = configOf(["--url", "http://h", "--basic-auth-file", "/b"], {}, {
      "/b": "justuser",
    });
    await assert.rejects(createRouter(noColon.config, noColon.readFile), /must be USER:PASSWORD/);
  });

  it("refuses blank, multi-line and unheaderable credentials, naming the file only", async () => {
    const cases: [string, string, RegExp][] = [
      ["--token-file", " \t \n", /^Cannot use --token-file \/f: the file holds only whitespace$/],
      ["--token-file", "zqx-1\nzqx-2\n", /the file holds 2 lines; a token is one line$/],
      ["--token-file", "zqx\u00e9\n", /outside ASCII/],
      ["--token-file", "\ufeffzqx\n", /byte order mark/],
      ["--token-file", "zqx\x01b\n", /control character/],
      ["--basic-auth-file", "u:p\r\nu:q\r\n", /2 lines; a USER:PASSWORD is one line$/],
      ["--hmac-secret-file", "   ", /the file holds only whitespace$/],
    ];
    for (const [option, content, says] of cases) {
      const c = configOf(["--url", "http://h", option, "/f"], {}, { "/f": content });
      await assert.rejects(createRouter(c.config, c.readFile), (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, says, JSON.stringify(content));
        assert.ok(!error.message.includes("zqx"), error.message);
        return true;
      });
    }
    for (
      const [variable, value, says] of [
        [
          "XMPP_EXTAUTH_TOKEN",
          "zqx\nzqx",
          /^Cannot use XMPP_EXTAUTH_TOKEN: the token holds a control/,
        ],
        [
          "XMPP_EXTAUTH_TOKEN",
          "Bearer zqx",
          /^Cannot use XMPP_EXTAUTH_TOKEN: the token holds a space/,
        ],
        [
          "XMPP_EXTAUTH_BASIC_AUTH",
          "u:zqx\r\n",
          /^Cannot use XMPP_EXTAUTH_BASIC_AUTH: the USER:PASS/,
        ],
      ] as const
    ) {
      const c = configOf(["--url", "http://h"], { [variable]: value });
      await assert.rejects(createRouter(c.config, c.readFile), (error: Error) => {
        assert.match(error.message, says);
        assert.ok(!error.message.includes("zqx"), error.message);
        return true;
      });
    }
    // A final newline, surrounding blank lines and spaces are fine; a Basic password may hold spaces.
    const ok = configOf(["--url", "http://h", "--basic-auth-file", "/f"], {}, {
      "/f": "\n  u:p w  \r\n\n",
    });
    const router = await createRouter(ok.config, ok.readFile);
    assert.equal(router.resolve("x")!.headers.Authorization, `Basic ${btoa("u:p w")}`);
  });

  it("warns about secret files open to all users or writable by the group", async () => {
    const c = configOf(
      ["--url", "http://h", "--token-file", "/t", "--hmac-secret-file", "/k"],
      {},
      { "/t": "tok", "/k": "key" },
    );
    const modes: Record<string, number> = { "/t": 0o100644, "/k": 0o100660 };
    const router = await createRouter(c.config, c.readFile, (path) => modes[path]);
    assert.deepEqual(router.warnings, [
      "--token-file /t is open to all users (mode 644): let only the server's user read it, " +
      "e.g. chmod 600 /t (or 640 with the server's group)",
      "--hmac-secret-file /k is open to its group (mode 660): let only the server's user read " +
      "it, e.g. chmod 600 /k (or 640 with the server's group)",
    ]);
    for (const mode of [0o100600, 0o100640, 0o100400]) {
      const quiet = await createRouter(c.config, c.readFile, () => mode);
      assert.deepEqual(quiet.warnings, [], mode.toString(8));
    }
  });
});
