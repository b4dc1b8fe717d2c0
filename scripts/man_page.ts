/**
 * Writes the man page `xmpp-extauth(1)` (roff, man(7) macros) from the option table of
 * `lib/cli/options.ts`, the same table `--help` is built from, so the two never disagree.
 * `scripts/deb.ts` puts it into the Debian package as `usr/share/man/man1/xmpp-extauth.1.gz`.
 *
 * ```sh
 * deno run -A scripts/man_page.ts > xmpp-extauth.1       # print it
 * deno run -A scripts/man_page.ts --out xmpp-extauth.1   # write a file
 * man -l xmpp-extauth.1                                  # read it
 * ```
 *
 * The date in `.TH` is `SOURCE_DATE_EPOCH` when set (reproducible builds), else today.
 * Uses only `node:` modules and the option table: runs under `deno run -A` and `bun`.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { ENV_PREFIX, envName, OPTIONS, type OptionSpec, SECRET_ENV } from "../lib/cli/options.ts";
import { OPERATION_LIST } from "../lib/core/operations.ts";
import { FALLBACK_LOG_DIR, FALLBACK_LOG_NAME } from "../lib/log/log_target.ts";
import { VERSION } from "../lib/core/version.ts";

/**
 * Escapes text for a roff text line: backslashes as `\e`, every hyphen as `\-` (a minus, so
 * that options can be copied and searched), and a `.` or `'` that starts a line behind `\&`
 * (it would otherwise be read as a request).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(roffEscape("--on-error"), "\\-\\-on\\-error");
 * assert.equal(roffEscape(".hidden\n'quoted"), "\\&.hidden\n\\&'quoted");
 * assert.equal(roffEscape("a\\b"), "a\\eb");
 * ```
 */
export function roffEscape(text: string): string {
  return text
    .replaceAll("\\", "\\e")
    .replaceAll("-", "\\-")
    .split("\n")
    .map((line) => (line.startsWith(".") || line.startsWith("'") ? `\\&${line}` : line))
    .join("\n");
}

/** Bold text. */
const bold = (text: string) => `\\fB${roffEscape(text)}\\fR`;
/** Italic text (an argument to fill in). */
const italic = (text: string) => `\\fI${roffEscape(text)}\\fR`;

/**
 * The options the environment may set: all but the three that only make sense on a command
 * line (`--help`, `--version`, `--self-test`: the boolean options the config file may not set
 * either; the same three `checkEnvironmentNames` in lib/cli/resolve.ts leaves out).
 */
export function environmentOptions(): OptionSpec[] {
  return OPTIONS.filter((o) => !(o.kind === "boolean" && o.noFile === true));
}

/** What the man page says about each secret variable (`SECRET_ENV`'s names). */
const SECRET_HELP: Readonly<Record<string, string>> = {
  TOKEN: "the Bearer token, instead of --token-file",
  HMAC_SECRET: "the secret that signs requests, instead of --hmac-secret-file",
  BASIC_AUTH: "USER:PASSWORD for HTTP Basic auth, instead of --basic-auth-file",
};

/** The `.TP` paragraph of one option: its flag line, then its help, default and variable. */
function optionEntry(o: OptionSpec): string[] {
  const flag = `${o.short ? `${bold(`-${o.short}`)}, ` : ""}${bold(`--${o.name}`)}` +
    (o.arg ? ` ${italic(o.arg)}` : "");
  const notes: string[] = [];
  if (o.choices !== undefined && !o.help.includes(o.choices.join(", "))) {
    notes.push(`One of: ${o.choices.join(", ")}.`);
  }
  if (o.fallback !== undefined) notes.push(`Default: ${o.fallback}.`);
  if (environmentOptions().includes(o)) notes.push(`Environment: ${envName(o.name)}.`);
  if (o.noFile === true && o.kind !== "boolean") notes.push("Not read from the config file.");
  return [
    ".TP",
    flag,
    roffEscape(o.help),
    ...(notes.length > 0 ? [".br", roffEscape(notes.join(" "))] : []),
  ];
}

/** One man(7) paragraph of plain text. */
function para(text: string): string[] {
  return [".PP", roffEscape(text)];
}

/** A literal example block (no filling, no adjusting). */
function example(lines: string[]): string[] {
  return [".PP", ".RS 4", ".nf", ...lines.map(roffEscape), ".fi", ".RE"];
}

/** A `.TP` item with a bold tag and plain text. */
function item(tag: string, text: string): string[] {
  return [".TP", tag, roffEscape(text)];
}

/** The date for `.TH`: `SOURCE_DATE_EPOCH` (seconds) when set, else today, as YYYY-MM-DD. */
export function manDate(env: Record<string, string | undefined> = process.env): string {
  const epoch = env.SOURCE_DATE_EPOCH;
  const date = epoch !== undefined && /^\d+$/.test(epoch)
    ? new Date(Number(epoch) * 1000)
    : new Date();
  return date.toISOString().slice(0, 10);
}

/**
 * The man page `xmpp-extauth(1)`.
 *
 * @example Every option is in it
 * ```ts
 * import assert from "node:assert/strict";
 * const page = manPage({ version: "1.2.3", date: "2026-01-02" });
 * assert.ok(page.startsWith('.TH XMPP\\-EXTAUTH 1 "2026-01-02" "xmpp\\-extauth 1.2.3"'));
 * assert.ok(page.includes("\\fB\\-\\-timeout\\fR \\fIDUR\\fR\ntime per HTTP attempt\n"));
 * ```
 */
export function manPage(
  { version = VERSION, date = manDate() }: { version?: string; date?: string } = {},
): string {
  const secrets = SECRET_ENV.map(([name]) => name);
  const lines: string[] = [
    `.TH XMPP\\-EXTAUTH 1 "${date}" "xmpp\\-extauth ${roffEscape(version)}" "User Commands"`,
    ".SH NAME",
    "xmpp\\-extauth \\- external authentication for ejabberd, Prosody and MongooseIM against " +
    "an HTTP API",
    ".SH SYNOPSIS",
    ".nf",
    `${bold("xmpp-extauth")} [${bold("serve")}] ${bold("--url")} ${italic("URL")} [${
      italic("options")
    }]`,
    `${bold("xmpp-extauth check")} ${italic("OP USER SERVER")} [${italic("options")}]`,
    `${bold("xmpp-extauth check --self-test")}`,
    `${bold("xmpp-extauth --help")} | ${bold("--version")}`,
    ".fi",
    ".SH DESCRIPTION",
    ...para(
      "xmpp-extauth is the external authentication program of an XMPP server: the server " +
        "starts one or more copies of it and writes requests to its standard input (auth, " +
        "isuser, setpass, tryregister, removeuser, removeuser3); for each one the program asks " +
        "the site's HTTP API and writes the answer to its standard output: true or false, or, " +
        "when the API cannot answer, a reply the server counts as an error (see --on-error). " +
        "Nothing else is ever written to standard output; log lines go to standard error or " +
        "the --log-file.",
    ),
    ...para(
      "ejabberd names it in extauth_program (and starts extauth_pool_size copies per host); " +
        "Prosody's mod_auth_external_insecure names it in external_auth_command (use " +
        "--protocol prosody); MongooseIM names it in [auth.external] program (use " +
        "--server mongooseim). The package installs no service: the XMPP server starts the " +
        "program. It runs as the user the server runs as, which must be able to read every " +
        "file the options name.",
    ),
    ".SH COMMANDS",
    ...item(
      bold("serve"),
      "The default (the word itself may be left out): read requests from standard input, " +
        "answer them on standard output, exit when standard input ends. The server runs this.",
    ),
    ...item(
      `${bold("check")} ${italic("OP USER SERVER")}`,
      `Ask the API once, as the server would, and print the request (secrets masked), the ` +
        `HTTP answer and the result. OP is one of: ${OPERATION_LIST}. The password (for ` +
        "operations that take one) is read from standard input, one trailing newline removed, " +
        "or prompted for without echo at a terminal; it is never taken from the command line.",
    ),
    ...item(
      bold("check --self-test"),
      "Run the real framing, parsing and reply path in-process, with no API and no network, " +
        "and print one line: whether the executable works on this machine.",
    ),
    ".SH OPTIONS",
    ...para(
      "Each option may also be given in the environment (see ENVIRONMENT) or as a key of the " +
        "--config file; a flag wins over the environment, which wins over the file. DUR is a " +
        "duration: 250ms, 5s, 2m, 1h; a bare number means seconds.",
    ),
    ...OPTIONS.flatMap(optionEntry),
    ".SH ENVIRONMENT",
    ...para(
      `Every option but --help, --version and --self-test can be set as ${ENV_PREFIX}NAME, ` +
        "NAME in capitals with - as _. An unknown " + ENV_PREFIX +
        "* variable is refused (exit status 2), so a typo is not silently ignored. Secrets " +
        "may come from the environment or a *-file option, never from a flag or the config " +
        "file.",
    ),
    ...environmentOptions().flatMap((o) => item(bold(envName(o.name)), `As --${o.name}.`)),
    ...secrets.flatMap((name) =>
      item(bold(ENV_PREFIX + name), SECRET_HELP[name] ?? `the secret ${name}`)
    ),
    ".SH FILES",
    ...item(
      italic("/etc/xmpp-extauth/config.json"),
      "The conventional place of the --config file (JSON; keys are the long option names, " +
        "plus domains for per-domain settings). Nothing reads it unless --config or " +
        envName("config") + " names it.",
    ),
    ...item(
      italic("/usr/share/doc/xmpp-extauth/examples/config.json"),
      "An example config file (from the Debian package).",
    ),
    ...item(
      italic(`${FALLBACK_LOG_DIR}/${FALLBACK_LOG_NAME}`),
      "Where the program logs when no --log-file is given and standard error goes nowhere " +
        "(/dev/null or closed, as under ejabberdctl start); beside $EJABBERD_LOG_PATH when " +
        "ejabberd sets it. A configuration error is also appended there.",
    ),
    ".SH EXIT STATUS",
    ...item(bold("0"), "Success; for check, the answer is true."),
    ...item(bold("1"), "check: the answer is false."),
    ...item(
      bold("2"),
      "Bad usage, a configuration error (an unknown option or variable, an unreadable or " +
        "invalid file) or an error; for check, the API could not answer. Under Prosody's " +
        "terminal a configuration error is written as an error: reply and the program exits " +
        "0, so that Prosody starts it again once the cause is fixed.",
    ),
    ...item(bold("130"), "check: cancelled with Ctrl-C or Ctrl-D at the password prompt."),
    ".SH EXAMPLES",
    ...para("ejabberd (/etc/ejabberd/ejabberd.yml):"),
    ...example([
      "auth_method: [external]",
      'extauth_program: "/usr/bin/xmpp-extauth --url https://accounts.example.org/xmpp ' +
      '--token-file /etc/xmpp-extauth/token"',
      "extauth_pool_size: 4",
    ]),
    ...para("Ask the API once, as user ejabberd, with the same options:"),
    ...example([
      "printf %s 'the password' | runuser -u ejabberd -- xmpp-extauth check auth alice \\",
      "    example.org --url https://accounts.example.org/xmpp \\",
      "    --token-file /etc/xmpp-extauth/token",
    ]),
    ...para("Check that the executable works on this machine:"),
    ...example(["xmpp-extauth check --self-test"]),
    ".SH SEE ALSO",
    `${bold("ejabberdctl")}(8), ${bold("prosody")}(1), ${bold("runuser")}(1); ` +
    roffEscape("/usr/share/doc/xmpp-extauth/ and the project's README."),
  ];
  return `${lines.join("\n")}\n`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { out: { type: "string" }, version: { type: "string" } },
  });
  const page = manPage(values.version === undefined ? {} : { version: values.version });
  if (values.out === undefined) process.stdout.write(page);
  else writeFileSync(values.out, page);
}
