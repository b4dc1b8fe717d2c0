/**
 * Tests of scripts/man_page.ts: the man page holds every option of the table with its help text
 * (the same options `--help` lists), groff renders it without a warning, `man -l` shows it, and
 * roff's special characters in a text come out as written.
 * Runs under `deno test --allow-all` and `bun test`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { envName, helpText, OPTIONS } from "../lib/cli/options.ts";
import { environmentOptions, manPage, roffEscape } from "../scripts/man_page.ts";

/** Whether a command is on PATH. */
function have(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

const GROFF = have("groff");
const NO_GROFF = "groff is not installed (apt-get install groff-base)";

/**
 * Renders roff with groff's man macros as plain ASCII on very long lines, without hyphenation
 * or bold/underline, so that each paragraph of the page is one line of text.
 */
function render(roff: string, extra: string[] = []) {
  return spawnSync(
    "groff",
    ["-man", "-Tascii", "-rLL=400n", "-rHY=0", "-P", "-cbou", ...extra],
    { input: roff, encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } },
  );
}

const PAGE = manPage({ version: "1.2.3", date: "2026-01-02" });

describe("man page source", () => {
  it("has the man(7) sections in order", () => {
    const sections = [...PAGE.matchAll(/^\.SH (.+)$/gm)].map((m) => m[1]);
    assert.deepEqual(sections, [
      "NAME",
      "SYNOPSIS",
      "DESCRIPTION",
      "COMMANDS",
      "OPTIONS",
      "ENVIRONMENT",
      "FILES",
      "EXIT STATUS",
      "EXAMPLES",
      "SEE ALSO",
    ]);
    assert.ok(PAGE.startsWith('.TH XMPP\\-EXTAUTH 1 "2026-01-02" "xmpp\\-extauth 1.2.3"'));
  });

  it("holds every option of the table, escaped, with its help text", () => {
    for (const o of OPTIONS) {
      const flag =
        `${o.short ? `\\fB\\-${o.short}\\fR, ` : ""}\\fB\\-\\-${roffEscape(o.name)}\\fR` +
        (o.arg ? ` \\fI${roffEscape(o.arg)}\\fR` : "");
      assert.ok(PAGE.includes(`.TP\n${flag}\n${roffEscape(o.help)}\n`), `--${o.name}`);
    }
  });

  it("has no line that roff would take for a request by accident", () => {
    const requests = new Set(["TH", "SH", "PP", "TP", "RS", "RE", "nf", "fi", "br"]);
    for (const line of PAGE.split("\n")) {
      if (line.startsWith(".") || line.startsWith("'")) {
        assert.ok(requests.has(line.slice(1).split(" ")[0] ?? ""), `stray request: ${line}`);
      }
      // Every hyphen is a minus (\-), but for the date of .TH.
      const text = line.replaceAll("\\-", "").replace(/^(\.TH .*)"\d{4}-\d\d-\d\d"/, "$1");
      assert.doesNotMatch(text, /-/, line);
    }
  });
});

describe("man page rendered", () => {
  it("renders without a single groff warning", { skip: GROFF ? false : NO_GROFF }, () => {
    const run = spawnSync("groff", ["-man", "-ww", "-z"], { input: PAGE, encoding: "utf8" });
    assert.equal(run.stderr, "");
    assert.equal(run.status, 0);
  });

  it("shows every option with its help, default and variable, as --help has them", {
    skip: GROFF ? false : NO_GROFF,
  }, () => {
    const run = render(PAGE);
    assert.equal(run.stderr, "");
    const lines = run.stdout.split("\n").map((l) => l.trim());
    const options = lines.slice(lines.indexOf("OPTIONS"), lines.indexOf("ENVIRONMENT"));
    for (const o of OPTIONS) {
      const flag = `${o.short ? `-${o.short}, ` : ""}--${o.name}${o.arg ? ` ${o.arg}` : ""}`;
      const at = options.indexOf(flag);
      assert.ok(at > 0, `no line ${flag}`);
      assert.equal(options[at + 1], o.help);
      const notes = options[at + 2] ?? "";
      if (o.fallback !== undefined) assert.match(notes, new RegExp(`Default: ${o.fallback}\\.`));
      if (environmentOptions().includes(o)) {
        assert.ok(notes.includes(`Environment: ${envName(o.name)}.`), notes);
      }
    }
    // The same options, in the same order, as --help.
    const fromHelp = [...helpText().matchAll(/^ {2}(?:-\w, | {4})--([a-z-]+)/gm)].map((m) => m[1]);
    const fromMan = options.flatMap((l) => /^(?:-\w, )?--([a-z-]+)/.exec(l)?.[1] ?? []);
    assert.deepEqual(fromMan, fromHelp);
    assert.equal(fromMan.length, OPTIONS.length);
  });

  it(
    "prints roff's special characters in a text as written",
    { skip: GROFF ? false : NO_GROFF },
    () => {
      const text = ".SH not a heading\n'br not a break\n\\fBnot bold\\fR --flag";
      const run = render(`.TH T 1\n.SH X\n.nf\n${roffEscape(text)}\n.fi\n`);
      assert.equal(run.stderr, "");
      const body = run.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "");
      assert.deepEqual(body.slice(2, 5), text.split("\n"));
    },
  );

  it("opens with man -l", { skip: have("man") ? false : "man is not installed (man-db)" }, () => {
    const dir = mkdtempSync(join(tmpdir(), "man-page-"));
    try {
      const file = join(dir, "xmpp-extauth.1");
      writeFileSync(file, PAGE);
      const run = spawnSync("man", ["-l", file], {
        encoding: "utf8",
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          MANWIDTH: "100",
          MAN_KEEP_FORMATTING: "",
        },
      });
      assert.equal(run.stderr, "");
      assert.equal(run.status, 0);
      assert.match(run.stdout, /^XMPP-EXTAUTH\(1\) +User Commands +XMPP-EXTAUTH\(1\)$/m);
      assert.match(run.stdout, /^ +--self-test$/m);
      assert.match(run.stdout, /^xmpp-extauth 1\.2\.3 +2026-01-02 +XMPP-EXTAUTH\(1\)$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
