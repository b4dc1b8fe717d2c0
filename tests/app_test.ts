import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runServe } from "../lib/modes/serve.ts";
import { type Config, ConfigError } from "../lib/cli/config.ts";
import { encodeFrame } from "../lib/wire/ejabberd_frames.ts";
import { detectRuntime, type Runtime, type Stdio } from "../lib/runtime/mod.ts";
import { listen, type ProgrammableServer, reply } from "./helpers/api_server.ts";
import { serveConfig } from "./helpers/config.ts";

const encoder = new TextEncoder();
const real = detectRuntime();

/**
 * The real runtime with its {@linkcode Stdio} swapped for memory (and signals caught), so
 * that runServe's wiring can be checked in-process (the black-box tests run the same code
 * with the real streams).
 */
function harness(input: Uint8Array[]) {
  const stdout: number[] = [];
  let stderr = "";
  const signals = new Map<string, () => void>();
  const stdio: Stdio = {
    stdin: () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of input) controller.enqueue(chunk);
          controller.close();
        },
      }),
    stdinIsTerminal: () => false,
    writeStdout: (bytes) => stdout.push(...bytes),
    writeStderr: (text) => {
      stderr += text;
    },
    stderrGoesNowhere: () => false,
  };
  const runtime: Runtime = {
    ...real,
    ...stdio,
    onSignal: (signal, handler) => signals.set(signal, handler),
  };
  return { runtime, stdout, stderr: () => stderr, signals };
}

function config(args: string[]): Config {
  return serveConfig(args, {}, real.readFile);
}

describe("runServe", () => {
  let api: ProgrammableServer;
  const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-app-"));
  before(async () => {
    api = await listen();
    api.on((_req, body, res) =>
      reply(res, 200, { success: body.includes('"password":"right:pw"') })
    );
  });
  after(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers ejabberd frames on stdout and logs to stderr", async () => {
    const h = harness([
      encodeFrame(encoder.encode("auth:alice:example.com:right:pw")),
      encodeFrame(encoder.encode("auth:alice:example.com:wrong:pw")),
    ]);
    assert.equal(await runServe(config(["--url", api.url, "--debug"]), h.runtime), 0);
    assert.deepEqual(h.stdout, [0, 2, 0, 1, 0, 2, 0, 0]);
    const log = h.stderr();
    assert.match(
      log,
      /INFO {2}xmpp-extauth .* serving ejabberd → http:\/\/127\.0\.0\.1:\d+; timeout 5s, deadline 20s/,
    );
    assert.match(log, /DEBUG auth alice@example\.com → true/);
    assert.match(log, /INFO {2}stdin closed after 2 requests; exiting/);
    assert.ok(!log.includes("right:pw") && !log.includes("wrong:pw"));
  });

  it("masks a token from --token-file even where the API echoes it", async () => {
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "Tok-File-31337-leakcheck\n");
    const echo = await listen();
    try {
      echo.on((req, _body, res) =>
        reply(res, 401, `bad credentials: ${req.headers.authorization}`)
      );
      const h = harness([encodeFrame(encoder.encode("isuser:alice:example.com"))]);
      await runServe(
        config(["--url", echo.url, "--token-file", tokenFile, "--retries", "0"]),
        h.runtime,
      );
      assert.deepEqual(h.stdout, [0, 2, 0, 2]);
      assert.match(h.stderr(), /backend error .*HTTP 401: bad credentials: Bearer \*\*\*/);
      assert.ok(!h.stderr().includes("Tok-File-31337"));
    } finally {
      await echo.close();
    }
  });

  it("warns an admin who starts it at a terminal that it expects ejabberd's frames", async () => {
    const h = harness([]);
    await runServe(config(["--url", api.url]), { ...h.runtime, stdinIsTerminal: () => true });
    assert.match(h.stderr(), /WARN {2}stdin is a terminal: .* xmpp-extauth check auth USER SERVER/);
    const quiet = harness([]);
    await runServe(config(["--url", api.url]), quiet.runtime);
    assert.ok(!quiet.stderr().includes("terminal"));
    // Prosody always runs it under a terminal: no warning there (it would go to the log file).
    const prosody = harness([]);
    const log = join(dir, "prosody.log");
    await runServe(config(["--url", api.url, "--protocol", "prosody", "--log-file", log]), {
      ...prosody.runtime,
      stdinIsTerminal: () => true,
      discardQueuedInput: () => ({ ok: true }),
    });
    assert.ok(!readFileSync(log, "utf8").includes("terminal"));
  });

  it("writes nothing to stderr in Prosody mode, where stderr is the terminal", async () => {
    const h = harness([
      encoder.encode("auth:alice:example.com:right:pw\nauth:alice:example.com:x\n"),
    ]);
    assert.equal(
      await runServe(config(["--url", api.url, "--protocol", "prosody", "--debug"]), h.runtime),
      0,
    );
    assert.equal(new TextDecoder().decode(Uint8Array.from(h.stdout)), "1\n0\n");
    assert.equal(h.stderr(), "");
  });

  it("logs to --log-file and reopens it on SIGHUP", async () => {
    const path = join(dir, "extauth.log");
    const h = harness([encodeFrame(encoder.encode("isuser:alice:example.com"))]);
    await runServe(
      config(["--url", api.url, "--protocol", "prosody", "--log-file", path]),
      h.runtime,
    );
    assert.equal(h.stderr(), "");
    assert.match(
      readFileSync(path, "utf8"),
      /xmpp-extauth\[\d+\] INFO {2}xmpp-extauth .* serving prosody/,
    );
    renameSync(path, `${path}.1`);
    h.signals.get("SIGHUP")!();
    assert.equal(readFileSync(path, "utf8"), "", "SIGHUP opens a new file at the path");
  });

  it("refuses a log file it cannot open, before serving", async () => {
    const h = harness([]);
    await assert.rejects(
      runServe(config(["--url", api.url, "--log-file", join(dir, "no/such/dir/x.log")]), h.runtime),
      (error: Error) =>
        error instanceof ConfigError && /^Cannot open --log-file .*x\.log: /.test(error.message),
    );
    assert.deepEqual(h.stdout, []);
  });
});
