/**
 * `deno task test` (scripts/test.ts) through the real task: on a machine
 * without Bun it says so in one line, with how to install it, and runs
 * nothing else.
 *
 * Run: `deno test --allow-all tests/test_runner_test.ts`, `bun test tests/test_runner_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, REPO_ROOT } from "./helpers/spawn.ts";

/** The real file behind a command on this PATH (not a wrapper such as a pyenv shim). */
function realCommand(command: string, printPath: readonly string[]): string {
  const r = spawnSync(command, printPath, { encoding: "utf8" });
  const path = r.stdout?.trim();
  if (r.status !== 0 || !path || !existsSync(path)) throw new Error(`${command} is not on PATH`);
  return realpathSync(path);
}

describe("deno task test: preflight", () => {
  let bin: string;
  before(() => {
    // A PATH with deno and python3 and nothing else: no bun.
    bin = mkdtempSync(join(tmpdir(), "extauth-nobun-"));
    symlinkSync(realCommand("deno", ["eval", "console.log(Deno.execPath())"]), join(bin, "deno"));
    symlinkSync(
      realCommand("python3", ["-c", "import sys; print(sys.executable)"]),
      join(bin, "python3"),
    );
  });
  after(() => rmSync(bin, { recursive: true, force: true }));

  it("names the missing bun and how to install it, in one line, before running anything", () => {
    const r = spawnSync(join(bin, "deno"), ["task", "test"], {
      cwd: REPO_ROOT,
      env: cleanEnv({ PATH: bin }),
      encoding: "utf8",
      timeout: 60_000,
    });
    const out = r.stdout;
    assert.equal(r.status, 1, out + r.stderr);
    assert.equal(
      out,
      "bun: not found — install it with: npm install -g bun@1.4.4  " +
        "(or: curl -fsSL https://bun.sh/install | bash -s bun-v1.4.4)\n",
    );
    // Nothing but deno task's own "Task test ..." line on stderr: no fmt, no test ran.
    assert.match(r.stderr, /^Task test deno run --allow-all scripts\/test\.ts\n$/);
  });
});
