import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isTerminal } from "../lib/runtime/terminal.ts";

describe("isTerminal", () => {
  it("answers false for a file without asking isatty (ejabberd's pipe is no character device)", () => {
    const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-terminal-"));
    const path = join(dir, "input");
    writeFileSync(path, "x");
    const fd = openSync(path, "r");
    try {
      let asked = 0;
      assert.equal(isTerminal(fd, () => (asked++, true)), false);
      assert.equal(asked, 0);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true });
    }
  });

  it("asks isatty for a character device, and follows its answer", () => {
    const fd = openSync("/dev/null", "r");
    try {
      const asked: number[] = [];
      assert.equal(isTerminal(fd, (n) => (asked.push(n), false)), false);
      assert.equal(isTerminal(fd, (n) => (asked.push(n), true)), true);
      assert.deepEqual(asked, [fd, fd]);
    } finally {
      closeSync(fd);
    }
  });

  it("answers false for a closed descriptor", () => {
    const fd = openSync("/dev/null", "r");
    closeSync(fd);
    assert.equal(isTerminal(fd, () => true), false);
  });
});
