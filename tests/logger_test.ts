import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLogger, LOG_LEVELS, type LogLevel, silentLogger } from "../lib/log/logger.ts";
import { sanitize } from "../lib/log/sanitize.ts";

const FIXED = new Date("2026-11-28T14:50:00.123Z");

function recorder(level: LogLevel, extra: { secrets?: string[]; tag?: string } = {}) {
  const lines: string[] = [];
  const log = createLogger({ level, sink: (line) => lines.push(line), now: () => FIXED, ...extra });
  return { log, lines };
}

function logAll(log: ReturnType<typeof createLogger>): void {
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
}

describe("createLogger: levels", () => {
  it("lists the levels from most to least verbose", () => {
    assert.deepEqual([...LOG_LEVELS], ["debug", "info", "warn", "error", "silent"]);
  });

  it("writes the chosen level and everything more severe", () => {
    const expected: Record<LogLevel, string[]> = {
      debug: ["d", "i", "w", "e"],
      info: ["i", "w", "e"],
      warn: ["w", "e"],
      error: ["e"],
      silent: [],
    };
    for (const level of LOG_LEVELS) {
      const { log, lines } = recorder(level);
      logAll(log);
      assert.deepEqual(lines.map((l) => l.trimEnd().split(" ").at(-1)), expected[level], level);
    }
  });

  it("tells which levels are enabled", () => {
    const { log } = recorder("warn");
    assert.equal(log.enabled("debug"), false);
    assert.equal(log.enabled("info"), false);
    assert.equal(log.enabled("warn"), true);
    assert.equal(log.enabled("error"), true);
    const debug = recorder("debug").log;
    for (const level of ["debug", "info", "warn", "error"] as const) {
      assert.equal(debug.enabled(level), true, level);
    }
    const silent = recorder("silent").log;
    for (const level of ["debug", "info", "warn", "error"] as const) {
      assert.equal(silent.enabled(level), false, level);
    }
  });

  it("has a silent logger that writes nothing and enables nothing", () => {
    silentLogger.error("dropped");
    assert.equal(silentLogger.enabled("error"), false);
    assert.equal(silentLogger.enabled("debug"), false);
  });
});

describe("createLogger: line format", () => {
  it("writes ISO time, padded level and message, ending in a newline", () => {
    const { log, lines } = recorder("debug");
    logAll(log);
    assert.deepEqual(lines, [
      "2026-11-28T14:50:00.123Z DEBUG d\n",
      "2026-11-28T14:50:00.123Z INFO  i\n",
      "2026-11-28T14:50:00.123Z WARN  w\n",
      "2026-11-28T14:50:00.123Z ERROR e\n",
    ]);
  });

  it("puts the tag after the time", () => {
    const { log, lines } = recorder("info", { tag: "xmpp-extauth[1234]" });
    log.warn("auth alice@example.com: backend error");
    assert.deepEqual(lines, [
      "2026-11-28T14:50:00.123Z xmpp-extauth[1234] WARN  auth alice@example.com: backend error\n",
    ]);
  });

  it("uses the real clock by default", () => {
    const lines: string[] = [];
    const before = Date.now();
    createLogger({ level: "info", sink: (l) => lines.push(l) }).info("x");
    const after = Date.now();
    assert.equal(lines.length, 1);
    const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) INFO {2}x\n$/.exec(lines[0]!);
    assert.ok(match, lines[0]);
    const time = Date.parse(match[1]!);
    assert.ok(time >= before - 1 && time <= after + 1);
  });

  it("writes one line per call", () => {
    const { log, lines } = recorder("info");
    log.info("a");
    log.info("b");
    assert.equal(lines.length, 2);
    for (const line of lines) assert.equal(line.indexOf("\n"), line.length - 1);
  });
});

describe("createLogger: secrets", () => {
  it("masks every occurrence of every secret", () => {
    const { log, lines } = recorder("debug", { secrets: ["t0k3n", "hm4c-k3y"] });
    log.info("token t0k3n and again t0k3n, key hm4c-k3y");
    log.error("t0k3nt0k3n");
    assert.deepEqual(lines.map((l) => l.slice(25)), [
      "INFO  token *** and again ***, key ***\n",
      "ERROR ******\n",
    ]);
    for (const line of lines) {
      assert.equal(line.includes("t0k3n"), false);
      assert.equal(line.includes("hm4c-k3y"), false);
    }
  });

  it("masks at every level", () => {
    const { log, lines } = recorder("debug", { secrets: ["s3cr3t"] });
    log.debug("s3cr3t");
    log.info("s3cr3t");
    log.warn("s3cr3t");
    log.error("s3cr3t");
    assert.equal(lines.length, 4);
    for (const line of lines) assert.equal(line.includes("s3cr3t"), false, line);
  });

  it("ignores empty secrets instead of masking between every character", () => {
    const { log, lines } = recorder("info", { secrets: ["", "k"] });
    log.info("abc k");
    assert.deepEqual(lines.map((l) => l.slice(25)), ["INFO  abc ***\n"]);
  });

  it("treats secrets as text, not as patterns", () => {
    const { log, lines } = recorder("info", { secrets: ["a.b$", "(x)"] });
    log.info("a.b$ aXb (x) x");
    assert.deepEqual(lines.map((l) => l.slice(25)), ["INFO  *** aXb *** x\n"]);
  });

  it("masks a secret that contains a shorter one completely", () => {
    const { log, lines } = recorder("info", { secrets: ["abc", "abcdef"] });
    log.info("key abcdef");
    assert.equal(lines[0]!.includes("def"), false, lines[0]);
  });
});

describe("createLogger: control characters", () => {
  it("escapes every C0 and C1 control, DEL, U+2028/2029 and bidi overrides", () => {
    for (let code = 0; code < 0xa0; code++) {
      if (code >= 0x20 && code < 0x7f) continue;
      const escaped = sanitize(`a${String.fromCharCode(code)}b`);
      assert.match(escaped, /^a\\(n|r|t|x[0-9a-f]{2})b$/, `U+${code.toString(16)}`);
    }
    assert.equal(sanitize("\n\r\t\x1b\x00\x7f\x9b"), "\\n\\r\\t\\x1b\\x00\\x7f\\x9b");
    assert.equal(sanitize("\u2028\u2029\u202e\u2066"), "\\u2028\\u2029\\u202e\\u2066");
    assert.equal(sanitize("naïve \\3a 😀"), "naïve \\3a 😀", "printable text is kept");
  });

  it("writes each message as exactly one line, whatever it holds", () => {
    const { log, lines } = recorder("info", { secrets: ["s\nx"] });
    log.warn("isuser evil\n2026-11-28T14:50:00.123Z ERROR forged\x1b[1A s\nx");
    assert.deepEqual(lines.map((l) => l.slice(25)), [
      "WARN  isuser evil\\n2026-11-28T14:50:00.123Z ERROR forged\\x1b[1A ***\n",
    ]);
  });
});

describe("createLogger: a failing sink", () => {
  it("never throws out of a log call", () => {
    let calls = 0;
    const log = createLogger({
      level: "debug",
      sink: () => {
        calls++;
        throw new Error("EPIPE: stderr closed");
      },
    });
    log.debug("a");
    log.info("b");
    log.warn("c");
    log.error("d");
    assert.equal(calls, 4);
  });

  it("survives a sink that throws a non-Error", () => {
    const log = createLogger({
      level: "info",
      sink: () => {
        throw undefined;
      },
    });
    log.error("x");
    assert.equal(log.enabled("error"), true);
  });
});
