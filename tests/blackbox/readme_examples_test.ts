/**
 * Every config file example in README.md and docs/**\/*.md starts the real
 * program (audit item 6b: README's own example exited 2). An example is the
 * ```json fence right after a line `<!-- config-example -->`. Each path it
 * names under a `*-file` key (and each file of `header-file`) is moved into a
 * temporary folder, the secret files written there with test values; then the
 * program is started with `--config` on it and stdin closed: it must serve
 * and exit 0 at end of input, as ejabberd would see it, not 2.
 *
 * Run: `deno test --allow-all tests/blackbox/readme_examples_test.ts`, `bun test tests/blackbox/readme_examples_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { REPO_ROOT, runExtauth, runners } from "../helpers/spawn.ts";

const T = { timeout: 60_000 };
const MARKER = "<!-- config-example -->";

/** The config examples of one Markdown file: its name, the line of the fence, the JSON text. */
function examplesIn(file: string): { where: string; text: string }[] {
  const lines = readFileSync(join(REPO_ROOT, file), "utf8").split("\n");
  const found: { where: string; text: string }[] = [];
  lines.forEach((line, i) => {
    if (line.trim() !== MARKER) return;
    let fence = i + 1;
    while (lines[fence]?.trim() === "") fence++; // deno fmt puts a blank line after the comment
    assert.equal(lines[fence], "```json", `${file}:${i + 1}: the marker must precede a json fence`);
    const end = lines.indexOf("```", fence + 1);
    assert.ok(end > 0, `${file}:${fence + 1}: the fence never closes`);
    found.push({ where: `${file}:${fence + 1}`, text: lines.slice(fence + 1, end).join("\n") });
  });
  return found;
}

const EXAMPLES = [
  ...examplesIn("README.md"),
  ...readdirSync(join(REPO_ROOT, "docs"), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".md")).sort().flatMap((f) => examplesIn(join("docs", f))),
];

/** Test content for the file a key names. */
function contentFor(key: string): string | undefined {
  switch (key) {
    case "token-file":
      return "readme-example-token\n";
    case "basic-auth-file":
      return "readme:example-password\n";
    case "hmac-secret-file":
      return "readme-example-hmac-key\n";
    case "header-file":
      return "readme-example-header-value\n";
    case "ca-file":
      return readFileSync(join(REPO_ROOT, "tests/fixtures/tls_untrusted_ca.pem"), "utf8");
    default:
      return undefined; // log-file, cache-file: created by the program
  }
}

/** The example with every file moved into `dir`, the secret files written. */
function localise(value: unknown, dir: string, key = ""): unknown {
  if (typeof value === "string" && key.endsWith("-file")) {
    const path = join(dir, `${key}-${basename(value)}`);
    const content = contentFor(key);
    if (content !== undefined) writeFileSync(path, content, { mode: 0o600 });
    return path;
  }
  if (Array.isArray(value)) return value.map((v) => localise(v, dir, key));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        // The values of header-file's object are files too.
        localise(v, dir, key === "header-file" ? key : k),
      ]),
    );
  }
  return value;
}

describe("README's config examples", () => {
  it("are found (the marker is in place)", () => {
    assert.ok(EXAMPLES.length >= 1, "no <!-- config-example --> in README.md or docs/");
  });
});

for (const runner of runners()) {
  describe(`every config example starts the program (${runner.name})`, () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-readme-"));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    for (const [n, { where, text }] of EXAMPLES.entries()) {
      it(`${where} is accepted and serves`, T, async () => {
        const own = join(dir, String(n));
        mkdirSync(own);
        const data = localise(JSON.parse(text), own) as Record<string, unknown>;
        const config = join(own, "config.json");
        writeFileSync(config, JSON.stringify(data, null, 2));
        const r = await runExtauth(runner, ["--config", config]);
        const log = typeof data["log-file"] === "string"
          ? readFileSync(data["log-file"], "utf8")
          : r.stderr;
        assert.equal(r.code, 0, `${where}: exit ${r.code}: ${r.stderr}${log}`);
        assert.doesNotMatch(log, /configuration error|ERROR/);
        assert.match(log, /INFO {2}xmpp-extauth .* serving ejabberd/);
      });
    }
  });
}
