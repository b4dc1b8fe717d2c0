import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseFlags } from "../lib/cli/flags.ts";

describe("parseFlags", () => {
  it("reads options by the table, lists repeated, positionals kept", () => {
    const { flags, positionals } = parseFlags([
      "check",
      "auth",
      "--endpoint",
      "auth=a",
      "--endpoint=isuser=b",
      "-d",
      "alice",
    ]);
    assert.deepEqual(positionals, ["check", "auth", "alice"]);
    assert.deepEqual(flags.endpoint, ["auth=a", "isuser=b"]);
    assert.equal(flags.debug, true);
  });

  it("gives a value that starts with a dash to the option before it", () => {
    assert.equal(parseFlags(["--retries", "-1"]).flags.retries, "-1");
  });

  it("refuses secrets before parsing, and says what to use", () => {
    assert.throws(() => parseFlags(["--token=abc"]), {
      name: "ConfigError",
      message: "--token is not accepted on the command line (visible in ps): use --token-file",
    });
    assert.throws(() => parseFlags(["--password", "x"]), {
      message: "--password is not accepted on the command line (visible in ps): use check's " +
        "prompt or stdin",
    });
  });

  it("suggests the option a typo meant, and names a missing value", () => {
    assert.throws(() => parseFlags(["--timout", "1s"]), {
      message: "Unknown option '--timout'; did you mean '--timeout'? (see --help)",
    });
    assert.throws(() => parseFlags(["--url", "--debug"]), {
      message: "Option '--url' needs a value, but the next argument is another option",
    });
  });
});
