/**
 * The command-line surface, black box: `--help` and `--version`, and every
 * kind of bad usage ending in exit 2 with exactly one line on stderr, nothing
 * on stdout, and without waiting for stdin (stdin is left open: ejabberd
 * keeps the pipe open, so a program that read it first would hang). Runs for
 * `deno run -A main.ts`, `bun main.ts` and the binary in `EXTAUTH_TEST_BINARY`.
 *
 * Run: `deno test --allow-all tests/blackbox/main_test.ts`, `bun test tests/blackbox/main_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { VERSION } from "../../lib/core/version.ts";
import { type Api, startApi } from "../helpers/api_server.ts";
import {
  ERROR,
  FALSE,
  hex,
  runExtauth,
  type Runner,
  runners,
  TRUE,
  withExtauth,
} from "../helpers/spawn.ts";

const T = { timeout: 60_000 };
/** Values that must never be echoed back when refused. */
const LEAKY = "Leak-7c1e-never-echo";
const URL_ARGS = ["--url", "http://127.0.0.1:9/xmpp"];

interface BadCase {
  readonly name: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** What the one line must say (the option or variable at fault). */
  readonly says: RegExp;
}

function suite(runner: Runner) {
  describe(`xmpp-extauth command line (${runner.name})`, () => {
    let dir: string;
    let emptyFile: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "extauth-main-"));
      emptyFile = join(dir, "empty-token");
      writeFileSync(emptyFile, "\n");
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    for (const flag of ["--help", "-h"]) {
      it(`${flag} prints the usage on stdout and exits 0`, T, async () => {
        const r = await runExtauth(runner, [flag], { stdin: "open" });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, "");
        assert.match(r.stdoutText, /^Usage:$/m);
        assert.match(r.stdoutText, /--url URL/);
        assert.match(r.stdoutText, /xmpp-extauth check OP USER SERVER/);
        assert.match(r.stdoutText, /XMPP_EXTAUTH_/);
      });
    }

    for (const flag of ["--version", "-V"]) {
      it(`${flag} prints the version on stdout and exits 0`, T, async () => {
        const r = await runExtauth(runner, [flag], { stdin: "open" });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, "");
        const runtime = runner.name === "deno" ? "deno" : "bun";
        assert.match(
          r.stdoutText,
          new RegExp(`^xmpp-extauth ${VERSION.replaceAll(".", "\\.")} \\(${runtime} \\d+\\.\\d+`),
        );
        assert.equal(r.stdoutText.split("\n").length, 2, "one line");
      });
    }

    const bad = (): BadCase[] => [
      { name: "no --url", args: [], says: /--url/ },
      { name: "an unknown flag", args: [...URL_ARGS, "--frobnicate"], says: /--frobnicate/ },
      { name: "a flag without its value", args: [...URL_ARGS, "--timeout"], says: /--timeout/ },
      { name: "--timeout 5x", args: [...URL_ARGS, "--timeout", "5x"], says: /--timeout.*5x/ },
      { name: "--timeout 0", args: [...URL_ARGS, "--timeout", "0"], says: /--timeout/ },
      { name: "--deadline 40s", args: [...URL_ARGS, "--deadline", "40s"], says: /--deadline.*30s/ },
      { name: "--retries many", args: [...URL_ARGS, "--retries", "many"], says: /--retries/ },
      { name: "--on-error maybe", args: [...URL_ARGS, "--on-error", "maybe"], says: /--on-error/ },
      { name: "--log-level loud", args: [...URL_ARGS, "--log-level", "loud"], says: /--log-level/ },
      { name: "a URL that is not one", args: ["--url", "not a url"], says: /--url/ },
      { name: "an ftp URL", args: ["--url", "ftp://127.0.0.1/x"], says: /--url.*http/ },
      {
        name: "a URL with credentials",
        args: ["--url", `http://admin:${LEAKY}@127.0.0.1/x`],
        says: /--url.*credentials/,
      },
      {
        name: "--endpoint for an unknown operation",
        args: [...URL_ARGS, "--endpoint", "login=v1/login"],
        says: /--endpoint.*login/,
      },
      { name: "--token SECRET", args: [...URL_ARGS, "--token", LEAKY], says: /--token-file/ },
      { name: "--token=SECRET", args: [...URL_ARGS, `--token=${LEAKY}`], says: /--token-file/ },
      { name: "--password=SECRET", args: [...URL_ARGS, `--password=${LEAKY}`], says: /--password/ },
      {
        name: "--hmac-secret SECRET",
        args: [...URL_ARGS, "--hmac-secret", LEAKY],
        says: /--hmac-secret-file/,
      },
      {
        name: "--basic-auth SECRET",
        args: [...URL_ARGS, "--basic-auth", `user:${LEAKY}`],
        says: /--basic-auth-file/,
      },
      {
        name: "an Authorization --header",
        args: [...URL_ARGS, "--header", `Authorization: Bearer ${LEAKY}`],
        says: /Authorization/,
      },
      {
        name: "an unknown XMPP_EXTAUTH_FOO variable",
        args: URL_ARGS,
        env: { XMPP_EXTAUTH_FOO: "1" },
        says: /XMPP_EXTAUTH_FOO/,
      },
      {
        name: "a misspelt XMPP_EXTAUTH_TOKENS holding a secret",
        args: URL_ARGS,
        env: { XMPP_EXTAUTH_TOKENS: LEAKY },
        says: /XMPP_EXTAUTH_TOKENS/,
      },
      {
        name: "a bad XMPP_EXTAUTH_TIMEOUT",
        args: URL_ARGS,
        env: { XMPP_EXTAUTH_TIMEOUT: "5x" },
        says: /XMPP_EXTAUTH_TIMEOUT/,
      },
      {
        name: "a positional argument",
        args: [...URL_ARGS, "extra"],
        says: /extra/,
      },
      {
        name: "a missing --token-file",
        args: [...URL_ARGS, "--token-file", "/nonexistent/extauth-token"],
        says: /--token-file.*\/nonexistent\/extauth-token/,
      },
      {
        name: "an empty --token-file",
        args: [...URL_ARGS, "--token-file", "@EMPTY@"],
        says: /--token-file.*empty/,
      },
      {
        name: "a --log-file in a missing directory",
        args: [...URL_ARGS, "--log-file", "/nonexistent/dir/extauth.log"],
        says: /--log-file/,
      },
      {
        name: "a misspelt option, with the closest one suggested",
        args: [...URL_ARGS, "--tiemout", "5s"],
        says: /^xmpp-extauth: Unknown option '--tiemout'; did you mean '--timeout'\?/,
      },
      {
        name: "a misspelt XMPP_EXTAUTH_TIEMOUT, with the closest variable suggested",
        args: URL_ARGS,
        env: { XMPP_EXTAUTH_TIEMOUT: "5s" },
        says:
          /Unknown environment variable XMPP_EXTAUTH_TIEMOUT; did you mean XMPP_EXTAUTH_TIMEOUT\?/,
      },
      {
        name: "--retries -1 (a value, not an option)",
        args: [...URL_ARGS, "--retries", "-1"],
        says: /^xmpp-extauth: --retries: "-1" must be a whole number ≥ 0$/m,
      },
      {
        name: "a header name with a space",
        args: [...URL_ARGS, "--header", "X Site: chat"],
        says: /^xmpp-extauth: --header: a header name cannot contain a space;/,
      },
      {
        name: "a header without a colon, its value not echoed",
        args: [...URL_ARGS, "--header", `X-Api-Key ${LEAKY}`],
        says: /--header: .* has no ":"/,
      },
      {
        name: "a header name with a space, the rest not echoed",
        args: [...URL_ARGS, "--header", `X-Api-Key ${LEAKY}: x`],
        says: /--header: a header name cannot contain a space/,
      },
      {
        name: "a deadline shorter than one attempt",
        args: [...URL_ARGS, "--timeout", "10s", "--deadline", "5s"],
        says:
          /^xmpp-extauth: Cannot use --timeout 10s with --deadline 5s: .* make --deadline at least 10s or lower --timeout$/m,
      },
      {
        name: "a --timeout longer than Prosody's default deadline",
        args: [...URL_ARGS, "--protocol", "prosody", "--timeout", "5s"],
        says: /Cannot use --timeout 5s with the default --deadline 4s/,
      },
      {
        name: "a missing --config file",
        args: ["--config", "/nonexistent/c.json"],
        says: /config/,
      },
    ];

    for (const c of bad()) {
      it(`exits 2 with one line on stderr, without reading stdin: ${c.name}`, T, async () => {
        const args = c.args.map((a) => a === "@EMPTY@" ? emptyFile : a);
        // stdin stays open and unwritten: the program must exit on its own.
        const r = await runExtauth(runner, args, { stdin: "open", env: c.env ?? {} });
        assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
        assert.equal(hex(r.stdout), "", "nothing on stdout");
        assert.match(r.stderr, /^xmpp-extauth: [^\n]+\n$/, "exactly one line on stderr");
        assert.match(r.stderr, c.says);
        assert.doesNotMatch(r.stderr, /internal error|\bat .*\.ts:\d+/, "no stack trace");
        assert.equal(r.stderr.includes(LEAKY), false, "the refused secret is not echoed");
      });
    }

    describe("options from the environment", () => {
      let api: Api;
      before(async () => {
        api = await startApi({ users: { "alice@example.com": "wonderland" } });
      });
      after(() => api.close());

      it("serves with XMPP_EXTAUTH_URL, and a flag beats its variable", T, async () => {
        const env = { XMPP_EXTAUTH_URL: api.url, XMPP_EXTAUTH_ON_ERROR: "false" };
        await withExtauth(runner, [], { env }, async (p) => {
          assertEq(await p.request("auth:alice:example.com:wonderland"), TRUE);
          api.setMode("status500");
          assertEq(await p.request("auth:alice:example.com:wonderland"), FALSE);
          assert.equal(await p.finish(), 0, p.stderr);
        });
        await withExtauth(runner, ["--on-error", "error"], { env }, async (p) => {
          assertEq(await p.request("auth:alice:example.com:wonderland"), ERROR);
          assert.equal(await p.finish(), 0, p.stderr);
        });
        api.setMode("normal");
      });

      it('logs "after 1 request" (one) and "after 0 requests" at the end', T, async () => {
        await withExtauth(runner, ["--url", api.url], {}, async (p) => {
          assertEq(await p.request("isuser:alice:example.com"), TRUE);
          assert.equal(await p.finish(), 0, p.stderr);
          assert.match(p.stderr, /INFO {2}stdin closed after 1 request; exiting\n$/);
        });
        await withExtauth(runner, ["--url", api.url], {}, async (p) => {
          assert.equal(await p.finish(), 0, p.stderr);
          assert.match(p.stderr, /INFO {2}stdin closed after 0 requests; exiting\n$/);
        });
      });

      it("logs nothing to stderr with XMPP_EXTAUTH_LOG_LEVEL=silent", T, async () => {
        const env = { XMPP_EXTAUTH_LOG_LEVEL: "silent" };
        const closed = await startApi();
        await closed.close();
        await withExtauth(runner, ["--url", closed.url], { env }, async (p) => {
          assertEq(await p.request("isuser:alice:example.com"), ERROR);
          assert.equal(await p.finish(), 0);
          assert.equal(p.stderr, "");
        });
      });
    });
  });
}

/** The environment of a running process, from /proc/PID/environ. */
function environOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
}

function jitSuite(runner: Runner) {
  // Under Bun the program restarts itself in place with the JIT off: the memory of
  // ejabberd's pool of copies (lib/runtime/jit.ts, restartWithoutJit). Linux only (/proc).
  const skip = runner.name === "deno" || process.platform !== "linux";
  describe(`JavaScriptCore's JIT (${runner.name})`, { skip }, () => {
    let api: Api;
    before(async () => {
      api = await startApi({ users: { "alice@example.com": "wonderland" } });
    });
    after(() => api.close());

    it("serves in the same process restarted with BUN_JSC_useJIT=0", T, async () => {
      await withExtauth(runner, ["--url", api.url], {}, async (p) => {
        assertEq(await p.request("auth:alice:example.com:wonderland"), TRUE);
        const environ = environOf(p.pid);
        assert.ok(environ.includes("BUN_JSC_useJIT=0"), "BUN_JSC_useJIT=0 not set");
        assert.ok(environ.includes("BUN_JSC_smallHeapSize=2097152"), "heap size not set");
        assertEq(await p.request("auth:alice:example.com:wrong"), FALSE);
        assert.equal(await p.finish(), 0, p.stderr);
      });
    });

    it("keeps an admin's BUN_JSC_useJIT=1 and does not restart", T, async () => {
      const env = { BUN_JSC_useJIT: "1" };
      await withExtauth(runner, ["--url", api.url], { env }, async (p) => {
        assertEq(await p.request("isuser:alice:example.com"), TRUE);
        const environ = environOf(p.pid);
        assert.ok(environ.includes("BUN_JSC_useJIT=1"));
        assert.ok(!environ.includes("BUN_JSC_useJIT=0"));
        assert.equal(await p.finish(), 0, p.stderr);
      });
    });

    it("keeps an admin's own BUN_JSC_smallHeapSize through the restart", T, async () => {
      const env = { BUN_JSC_smallHeapSize: "8388608" };
      await withExtauth(runner, ["--url", api.url], { env }, async (p) => {
        assertEq(await p.request("isuser:alice:example.com"), TRUE);
        const environ = environOf(p.pid);
        assert.ok(environ.includes("BUN_JSC_useJIT=0"), "no restart happened");
        assert.ok(environ.includes("BUN_JSC_smallHeapSize=8388608"));
        assert.equal(await p.finish(), 0, p.stderr);
      });
    });

    it("collects its garbage once after requests stop (the heap goes back to idle size)", {
      timeout: 60_000,
      skip: runner.name !== "binary",
    }, async () => {
      // BUN_JSC_logGC=1 makes JavaScriptCore log every collection to stderr. With Bun's
      // once-a-second GC timer off (RESTART_ENV), an idle process runs one collection of the
      // runtime's own about 5 s after the start, and then none but the idle collection
      // (10–20 s after the last request, lib/modes/idle_gc.ts). So: wait for the runtime's
      // collection, then for the next one (each wait fails after 40 s).
      const env = { BUN_JSC_logGC: "1", BUN_GC_TIMER_DISABLE: "1" };
      await withExtauth(runner, ["--url", api.url], { env, waitMs: 40_000 }, async (p) => {
        for (let i = 0; i < 20; i++) {
          assertEq(await p.request("auth:alice:example.com:wonderland"), TRUE);
        }
        const seen = await p.waitForStderr(/FullCollection/, p.stderr.length);
        await p.waitForStderr(/FullCollection/, seen);
        assert.match(p.stderr.slice(seen), /FullCollection/, "no collection while idle");
        assertEq(await p.request("isuser:alice:example.com"), TRUE);
        assert.equal(await p.finish(), 0);
      });
    });

    it("keeps the name it was started by through the restart (ps, pool counts)", {
      ...T,
      skip: runner.name !== "binary",
    }, async () => {
      // ejabberd starts it by the name in extauth_program; a symlink must not turn into
      // the file it points at when the program restarts itself.
      const dir = mkdtempSync(join(tmpdir(), "extauth-argv0-"));
      try {
        const link = join(dir, "xmpp-extauth-site");
        symlinkSync(resolve(runner.command), link);
        const named: Runner = { ...runner, command: link };
        await withExtauth(named, ["--url", api.url], {}, async (p) => {
          assertEq(await p.request("isuser:alice:example.com"), TRUE);
          assert.ok(environOf(p.pid).includes("BUN_JSC_useJIT=0"), "no restart happened");
          const argv0 = readFileSync(`/proc/${p.pid}/cmdline`, "utf8").split("\0")[0];
          assert.equal(argv0, link);
          assert.equal(await p.finish(), 0, p.stderr);
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("passes every argument through the restart unchanged", T, async () => {
      const r = await runExtauth(runner, ["check", "--help"], { stdin: "open" });
      const direct = await runExtauth(runner, ["check", "--help"], {
        stdin: "open",
        env: { BUN_JSC_useJIT: "0" },
      });
      assert.equal(r.code, direct.code);
      assert.equal(r.stdoutText, direct.stdoutText);
      assert.equal(r.stderr, direct.stderr);
    });
  });
}

function assertEq(actual: Uint8Array, expected: Uint8Array) {
  assert.equal(hex(actual), hex(expected));
}

for (const runner of runners()) {
  suite(runner);
  jitSuite(runner);
}
