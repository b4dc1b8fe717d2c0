/**
 * `xmpp-extauth doctor`, black box: real deployments on this machine (an ejabberd.yml in a
 * folder, the program, a token file, a log folder, a test API on 127.0.0.1), each broken one
 * way, checked through the real `ejabberd.yml` as the real user `ejabberd`. doctor must name
 * each problem with its fix and exit 1 on a ✗, pass the good one with exit 0, and never show
 * the token. Needs root (to make files for, and run as, user ejabberd): skipped otherwise.
 *
 * Run: `deno test --allow-all tests/blackbox/doctor_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { type Api, startApi } from "../helpers/api_server.ts";
import { REPO_ROOT, runExtauth, type Runner, runners, type RunResult } from "../helpers/spawn.ts";

const T = { timeout: 120_000 };
const TOKEN = "Doc-Tok-5531-leakcheck";

function ejabberdUser(): { uid: number; gid: number } | undefined {
  const run = spawnSync("getent", ["passwd", "ejabberd"], { encoding: "utf8" });
  const f = run.status === 0 ? run.stdout.split(":") : [];
  return f.length >= 7 ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
}

const user = ejabberdUser();
const skip = process.getuid?.() !== 0
  ? "needs root (files for, and commands as, user ejabberd)"
  : user === undefined
  ? "no user ejabberd: apt-get install -y ejabberd"
  : false;

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** How a deployment differs from the good one. */
interface Breakage {
  readonly url?: string;
  readonly tokenMode?: number;
  readonly logFolderToRoot?: boolean;
  readonly base?: string;
  /** Replaces the extauth part of ejabberd.yml. */
  readonly yml?: (program: string) => string;
  /** Extra files beside ejabberd.yml: name → text. */
  readonly files?: Readonly<Record<string, string>>;
}

interface Deployment {
  readonly dir: string;
  readonly yml: string;
  readonly program: string;
  readonly token: string;
  readonly log: string;
}

const goodYml = (program: string) =>
  [
    "hosts:",
    "  - example.com",
    "auth_method: external",
    `extauth_program: ${JSON.stringify(program)}`,
    "extauth_pool_size: 2",
    "auth_use_cache: false",
    "",
  ].join("\n");

/** The command that runs the program under test, as a wrapper script ejabberd can run. */
function wrapper(runner: Runner): string {
  const command = [runner.command, ...runner.prefix].map((a) => `'${a}'`).join(" ");
  return `#!/bin/sh\nexec ${command} "$@"\n`;
}

function deploy(runner: Runner, api: Api, b: Breakage = {}): Deployment {
  const dir = mkdtempSync(join(b.base ?? "/srv", "xmpp-extauth-doctor-"));
  chmodSync(dir, 0o755);
  for (const sub of ["bin", "etc", "log"]) mkdirSync(join(dir, sub), { mode: 0o755 });
  const program = join(dir, "bin", "xmpp-extauth");
  writeFileSync(program, wrapper(runner), { mode: 0o755 });
  const token = join(dir, "etc", "token");
  writeFileSync(token, `${TOKEN}\n`);
  if (b.tokenMode !== undefined) chmodSync(token, b.tokenMode);
  else {
    chownSync(token, 0, user!.gid);
    chmodSync(token, 0o640);
  }
  const logDir = join(dir, "log");
  if (!b.logFolderToRoot) {
    chownSync(logDir, user!.uid, user!.gid);
    chmodSync(logDir, 0o750);
  }
  const log = join(logDir, "extauth.log");
  const command = `${program} --url ${b.url ?? api.url} --token-file ${token} --log-file ${log}`;
  const yml = join(dir, "ejabberd.yml");
  writeFileSync(yml, (b.yml ?? goodYml)(command));
  for (const [name, text] of Object.entries(b.files ?? {})) {
    writeFileSync(join(dir, name), text.replaceAll("@PROGRAM@", JSON.stringify(command)));
  }
  return { dir, yml, program, token, log };
}

function assertNoSecret(r: RunResult) {
  for (const text of [r.stdoutText, r.stderr]) {
    assert.equal(text.includes("leakcheck"), false, `a secret in the output: ${text}`);
    assert.equal(text.includes(TOKEN.slice(0, 8)), false, `the token in the output: ${text}`);
  }
}

/** The line that starts with `prefix`, and the fix lines under it. */
function entry(r: RunResult, prefix: string): string[] {
  const lines = r.stdoutText.split("\n");
  const at = lines.findIndex((l) => l.startsWith(prefix));
  assert.ok(at >= 0, `no line starting ${JSON.stringify(prefix)} in:\n${r.stdoutText}${r.stderr}`);
  const out = [lines[at]!];
  for (let i = at + 1; i < lines.length && lines[i]!.startsWith("    "); i++) out.push(lines[i]!);
  return out;
}

/** The `mark check [host]` of each line: the shape of a report. */
export function shape(text: string): string[] {
  return text.split("\n").filter((l) => /^[✓!✗] /.test(l)).map((l) => l.split(":")[0]!);
}

function suite(runner: Runner) {
  describe(`xmpp-extauth doctor (${runner.name})`, { skip }, () => {
    let api: Api;
    const made: string[] = [];
    const doctor = async (d: Deployment, extra: readonly string[] = []) => {
      made.push(d.dir);
      const r = await runExtauth(runner, ["doctor", "--ejabberd-config", d.yml, ...extra]);
      assertNoSecret(r);
      return r;
    };
    before(async () => {
      api = await startApi({ users: { "alice@example.com": "pw" } });
    });
    after(async () => {
      await api.close();
      for (const dir of made) rmSync(dir, { recursive: true, force: true });
    });

    it(
      "passes a good deployment: every check ✓, exit 0, the doc's sample has its shape",
      T,
      async () => {
        const d = deploy(runner, api);
        const r = await doctor(d);
        assert.equal(r.code, 0, r.stdoutText + r.stderr);
        const lines = r.stdoutText.trimEnd().split("\n");
        assert.match(
          lines[0]!,
          new RegExp(
            `^xmpp-extauth doctor: ${d.yml} as user ejabberd \\(uid ${user!.uid}, gid ${
              user!.gid
            }\\), `,
          ),
        );
        for (const line of lines.slice(1, -1)) assert.match(line, /^✓ /, r.stdoutText);
        assert.deepEqual(shape(r.stdoutText), [
          "✓ config",
          "✓ hosts",
          "✓ command",
          "✓ program",
          "✓ identity",
          "✓ options",
          "✓ token file",
          "✓ log file",
          "✓ api [example.com]",
          "✓ pool",
          "✓ auth_use_cache [example.com]",
        ]);
        assert.match(
          r.stdoutText,
          /^✓ api \[example\.com\]: isuser doctor-probe-[0-9a-f]{8}@example\.com: a definite false \(HTTP 200 in [\d.]+ ms; no password sent\)$/m,
        );
        assert.match(lines.at(-1)!, /^11 checks: 11 ✓, 0 !, 0 ✗$/);
        // No password was sent: the API saw one isuser, for the made-up name, and nothing else.
        const asked = api.requests.filter((q) => JSON.stringify(q.json).includes("doctor-probe-"));
        assert.equal(asked.length, 1);
        assert.equal(asked[0]!.endpoint, "exists");
        assert.equal(JSON.stringify(asked[0]!.json).includes("password"), false);
        // docs/doctor.md's sample is a run of this deployment.
        const doc = readFileSync(join(REPO_ROOT, "docs", "doctor.md"), "utf8");
        const sample = /## Sample output[\s\S]*?```text\n([\s\S]*?)```/.exec(doc)?.[1] ?? "";
        assert.deepEqual(shape(sample), shape(r.stdoutText));
      },
    );

    it("names a token file ejabberd cannot read, with the chown/chmod", T, async () => {
      const d = deploy(runner, api, { tokenMode: 0o600 });
      const r = await doctor(d);
      assert.equal(r.code, 1, r.stdoutText);
      assert.deepEqual(entry(r, "✗ token file"), [
        `✗ token file: ejabberd cannot read ${d.token} (mode 0600, owner uid 0, group gid 0)`,
        "    fix: let ejabberd (and nobody else) read it",
        `    run: chown root:ejabberd ${d.token} && chmod 0640 ${d.token}`,
      ]);
    });

    it("names a token file every user can read", T, async () => {
      const d = deploy(runner, api, { tokenMode: 0o644 });
      const r = await doctor(d);
      assert.equal(r.code, 1, r.stdoutText);
      assert.deepEqual(entry(r, "✗ token file"), [
        `✗ token file: ${d.token} can be read by every user (mode 0644)`,
        "    fix: let ejabberd and nobody else read it",
        `    run: chown root:ejabberd ${d.token} && chmod 0640 ${d.token}`,
      ]);
    });

    it("names a log folder ejabberd cannot write, with the install -d", T, async () => {
      const d = deploy(runner, api, { logFolderToRoot: true });
      const r = await doctor(d);
      assert.equal(r.code, 1, r.stdoutText);
      assert.deepEqual(entry(r, "✗ log file"), [
        `✗ log file: ejabberd cannot create ${d.log}: the folder ${d.dir}/log is not writable by it`,
        `    fix: give ${d.dir}/log to ejabberd`,
        `    run: install -d -o ejabberd -g ejabberd -m 0750 ${d.dir}/log`,
      ]);
    });

    it("names a program under /root (0700), with where to install it", T, async () => {
      const d = deploy(runner, api, { base: "/root" });
      const r = await doctor(d);
      assert.equal(r.code, 1, r.stdoutText);
      assert.deepEqual(entry(r, "✗ program"), [
        `✗ program: ejabberd cannot reach ${d.program}: the folder /root is not searchable by ` +
        "ejabberd (mode 0700, owner uid 0)",
        "    fix: move the program out of /root (systemd's ProtectHome hides it from ejabberd " +
        "anyway) and point extauth_program at the new path",
        `    run: install -m 0755 ${d.program} /usr/local/bin/xmpp-extauth`,
      ]);
    });

    it("names a wrong URL (404) with the URL it tried", T, async () => {
      const d = deploy(runner, api, { url: `${api.url}/nothing` });
      const r = await doctor(d);
      assert.equal(r.code, 1, r.stdoutText);
      const [line, fix] = entry(r, "✗ api [example.com]");
      assert.match(
        line!,
        /^✗ api \[example\.com\]: isuser doctor-probe-[0-9a-f]{8}@example\.com as ejabberd: error \(status\)/,
      );
      assert.equal(
        fix,
        `    fix: nothing at ${api.url}/nothing/exists (HTTP 404); check --url and --endpoint`,
      );
    });

    it("names an API that is down; with mod_fail2ban that is a ✗ too", T, async () => {
      const url = `http://127.0.0.1:${await closedPort()}`;
      const d = deploy(runner, api, {
        url,
        yml: (p) => goodYml(p) + "modules:\n  mod_fail2ban: {}\n",
      });
      const r = await doctor(d);
      assert.equal(r.code, 1, r.stdoutText);
      const [line, fix] = entry(r, "✗ api [example.com]");
      assert.match(line!, /as ejabberd: error \(refused\)/);
      assert.equal(
        fix,
        "    fix: nothing listens at that host and port; is the API running, is --url right?",
      );
      assert.match(
        entry(r, "✗ mod_fail2ban [example.com]")[0]!,
        /users' addresses get banned .*, and it is down now$/,
      );
    });

    it("warns of auth_use_cache, on by default when absent (exit 0: a warning)", T, async () => {
      const d = deploy(runner, api, {
        yml: (p) => goodYml(p).replace("auth_use_cache: false\n", ""),
      });
      const r = await doctor(d);
      assert.equal(r.code, 0, r.stdoutText);
      assert.deepEqual(entry(r, "! auth_use_cache [example.com]"), [
        "! auth_use_cache [example.com]: on (ejabberd's default when absent): after a password " +
        "change on the site, ejabberd keeps accepting the old password and refusing the new one " +
        "for up to auth_cache_life_time (1 hour)",
        `    fix: set auth_use_cache: false in ${d.yml} (or under host_config: example.com: for ` +
        "this host only), then reload",
        "    run: ejabberdctl reload_config && ejabberdctl clear_cache",
      ]);
    });

    it("warns of extauth_instances, the old name", T, async () => {
      const d = deploy(runner, api, {
        yml: (p) => goodYml(p).replace("extauth_pool_size: 2", "extauth_instances: 3"),
      });
      const r = await doctor(d);
      assert.equal(r.code, 0, r.stdoutText);
      assert.deepEqual(entry(r, "! extauth_instances [example.com]"), [
        "! extauth_instances [example.com]: the old name of extauth_pool_size",
        `    fix: rename it to extauth_pool_size in ${d.yml} (or under host_config: example.com: ` +
        "for this host only)",
      ]);
      assert.match(entry(r, "✓ pool")[0]!, /^✓ pool: 3 processes \(example\.com: 3;/);
    });

    it("finds a host_config host, and its own settings", T, async () => {
      const d = deploy(runner, api, {
        yml: (p) =>
          [
            "hosts:",
            "  - plain.example",
            "  - example.com",
            "auth_method: mnesia",
            "host_config:",
            "  example.com:",
            "    auth_method: [external]",
            `    extauth_program: ${JSON.stringify(p)}`,
            "    auth_use_cache: true",
            "",
          ].join("\n"),
      });
      const r = await doctor(d);
      assert.equal(r.code, 0, r.stdoutText);
      assert.equal(
        entry(r, "✓ hosts")[0],
        "✓ hosts: auth_method external: example.com (host_config)",
      );
      assert.match(r.stdoutText, /^✓ api \[example\.com\]: /m);
      assert.equal(
        entry(r, "! auth_use_cache [example.com]")[1],
        `    fix: set auth_use_cache: false under host_config: example.com: in ${d.yml}, then reload`,
      );
      assert.equal(r.stdoutText.includes("plain.example"), false);
    });

    it("reads an included file (include_config_file)", T, async () => {
      const d = deploy(runner, api, {
        yml: () =>
          "hosts: [example.com]\ninclude_config_file: extauth.yml\nauth_use_cache: false\n",
        files: {
          "extauth.yml":
            "auth_method: external\nextauth_program: @PROGRAM@\nextauth_pool_size: 1\n",
        },
      });
      const r = await doctor(d);
      assert.equal(r.code, 0, r.stdoutText);
      assert.equal(
        entry(r, "✓ config")[0],
        `✓ config: read ${d.yml}, ${d.dir}/extauth.yml (1 host)`,
      );
      assert.match(r.stdoutText, /^✓ api \[example\.com\]: /m);
    });

    it("--json: one document with ok, the user and every check", T, async () => {
      const d = deploy(runner, api, { tokenMode: 0o600 });
      const r = await doctor(d, ["--json"]);
      assert.equal(r.code, 1);
      const json = JSON.parse(r.stdoutText);
      assert.equal(json.ok, false);
      assert.equal(json.server, "ejabberd");
      assert.equal(json.config, d.yml);
      assert.deepEqual(json.user, { name: "ejabberd", uid: user!.uid, gid: user!.gid });
      assert.deepEqual(json.files, [d.yml]);
      const token = json.checks.find((c: { check: string }) => c.check === "token file");
      assert.deepEqual(token, {
        status: "fail",
        check: "token file",
        message: `ejabberd cannot read ${d.token} (mode 0600, owner uid 0, group gid 0)`,
        fix: "let ejabberd (and nobody else) read it",
        command: `chown root:ejabberd ${d.token} && chmod 0640 ${d.token}`,
      });
      for (const c of json.checks) assert.ok(["ok", "warn", "fail"].includes(c.status));
      assert.equal(json.counts.fail > 0, true);
    });
  });
}

for (const runner of runners()) suite(runner);
