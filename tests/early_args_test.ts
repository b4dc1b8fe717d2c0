/**
 * The lenient read of a command line (lib/cli/early_args.ts) against the
 * strict one (lib/cli/flags.ts): on every command line the strict parse
 * accepts, both see the same mode and the same option values.
 *
 * Run: `deno test --allow-all tests/early_args_test.ts`, `bun test tests/early_args_test.ts`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { asksForProsody, modeOf, readEarlyArgs, readEarlyCommand } from "../lib/cli/early_args.ts";
import { parseFlags } from "../lib/cli/flags.ts";
import { SPEC_BY_NAME } from "../lib/cli/options.ts";

const encoder = new TextEncoder();

function sources(
  args: string[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
) {
  return {
    args,
    env: (name: string) => env[name],
    readFile: (path: string) => {
      if (!(path in files)) throw new Error(`ENOENT: ${path}`);
      return encoder.encode(files[path]);
    },
  };
}

describe("readEarlyArgs", () => {
  it("agrees with the strict parse on every command line that parse accepts", () => {
    const lines: string[][] = [
      ["--protocol", "ejabberd", "--protocol", "prosody"],
      ["--protocol=prosody", "--protocol", "ejabberd"],
      ["--log-file", "check"],
      ["--log-file=check", "check", "isuser", "a", "b"],
      ["--url", "check", "serve"],
      ["check", "auth", "a", "b", "--timeout", "2s", "-d"],
      ["--", "check", "isuser", "a", "b"],
      ["--timeout", "2s", "--", "--help"],
      ["check", "--self-test"],
      ["--self-test", "check"],
      ["-hV"],
      ["--version", "check"],
      ["--retries", "-1", "--url", "http://x/?a=b"],
      ["--url=http://x/?a=b", "--log-file", "-"],
      ["--endpoint", "auth=a", "--endpoint=isuser=b", "--config", "/etc/x.json"],
      [],
    ];
    for (const args of lines) {
      const { flags, positionals } = parseFlags(args);
      const early = readEarlyArgs(args);
      const label = JSON.stringify(args);
      assert.equal(early.mode, modeOf(flags, positionals), label);
      for (const [name, value] of Object.entries(flags)) {
        const spec = SPEC_BY_NAME.get(name)!;
        if (spec.kind === "boolean" || spec.kind === "list") continue;
        assert.equal(early.values.get(name), value, `${label} --${name}`);
      }
      for (const name of early.values.keys()) {
        if (SPEC_BY_NAME.get(name)!.kind !== "list") assert.ok(name in flags, `${label} ${name}`);
      }
    }
  });

  it("takes the last value, in both spellings, and stops at --", () => {
    assert.equal(readEarlyArgs(["--log-file", "/a", "--log-file=/c"]).values.get("log-file"), "/c");
    assert.equal(readEarlyArgs(["--log-file=/c", "--log-file", "/a"]).values.get("log-file"), "/a");
    assert.equal(readEarlyArgs(["--", "--log-file", "/a"]).values.get("log-file"), undefined);
    assert.equal(readEarlyArgs(["--log-file"]).values.get("log-file"), undefined);
  });

  it("never takes an option's value for the subcommand or a flag", () => {
    assert.equal(readEarlyArgs(["--log-file", "check"]).mode, "serve");
    assert.equal(readEarlyArgs(["--token-file", "check", "--tiemout", "3s"]).mode, "serve");
    assert.equal(readEarlyArgs(["--config", "--help"]).mode, "help");
    assert.equal(readEarlyArgs(["--config", "--help"]).values.get("config"), undefined);
    assert.equal(readEarlyArgs(["--log-file", "--version"]).mode, "version");
  });

  it("reads a command line the strict parse refuses", () => {
    const early = readEarlyArgs(["--tiemout", "3s", "--log-file", "/x.log", "--url=x", "-z"]);
    assert.equal(early.mode, "serve");
    assert.equal(early.values.get("log-file"), "/x.log");
    assert.equal(early.values.get("url"), "x");
    assert.equal(readEarlyArgs(["check", "auth", "--tiemout", "3s"]).mode, "check");
    assert.equal(readEarlyArgs(["--self-test"]).mode, "serve");
  });
});

describe("readEarlyCommand: a setting from the flag, the environment or the config file", () => {
  it("takes the first non-empty source, flag first", () => {
    const env = { XMPP_EXTAUTH_LOG_FILE: "/env.log", XMPP_EXTAUTH_CONFIG: "/etc/x.json" };
    const files = { "/etc/x.json": '{"log-file": "/file.log", "protocol": "prosody"}' };
    const setting = (args: string[], e: Record<string, string>) =>
      readEarlyCommand(sources(args, e, files)).setting("log-file");
    assert.equal(setting(["--log-file", "/flag.log"], env), "/flag.log");
    assert.equal(setting(["--log-file="], env), "/env.log");
    assert.equal(setting([], env), "/env.log");
    assert.equal(setting([], { XMPP_EXTAUTH_CONFIG: "/etc/x.json" }), "/file.log");
    assert.equal(setting(["--config=/etc/x.json"], {}), "/file.log");
    assert.equal(setting([], {}), undefined);
  });

  it("reads nothing from a config file that is missing, not JSON or not an object", () => {
    const files = { "/a": "not json", "/b": "null", "/c": '["log-file"]', "/d": '{"log-file": 5}' };
    for (const path of ["/missing", ...Object.keys(files)]) {
      assert.equal(
        readEarlyCommand(sources(["--config", path], {}, files)).setting("log-file"),
        undefined,
        path,
      );
    }
  });

  it("asks for Prosody only when it serves with protocol prosody", () => {
    const cases: [string[], boolean][] = [
      [["--protocol", "ejabberd", "--protocol", "prosody"], true],
      [["--protocol", "prosody", "--protocol", "ejabberd"], false],
      [["--log-file", "check", "--protocol", "prosody"], true],
      [["check", "auth", "a", "b", "--protocol", "prosody"], false],
      [["--help", "--protocol", "prosody"], false],
    ];
    for (const [args, expected] of cases) {
      assert.equal(asksForProsody(readEarlyCommand(sources(args))), expected, args.join(" "));
    }
  });
});
