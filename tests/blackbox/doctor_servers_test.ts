/**
 * `xmpp-extauth doctor` for Prosody (`--prosody-config`), MongooseIM (`--mongooseim-config`)
 * and a `--cache-url` deployment, black box: real files on this machine, a test API on
 * 127.0.0.1, a real redis-server, checked as the real users `prosody` and `ejabberd` (the
 * MongooseIM tests check as `--user ejabberd`: no MongooseIM here). The Lua: the lpty-missing
 * test runs this machine's real `lua5.4` (Debian's lua-lpty has no 5.4 build); the good one
 * puts on PATH a stub `prosody` whose `#!` names a stub Lua, a script that runs the real
 * `lua5.4` with a stub `lpty.lua` on LUA_PATH. Needs root: skipped otherwise.
 *
 * Run: `deno test --allow-all tests/blackbox/doctor_servers_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { type Api, startApi } from "../helpers/api_server.ts";
import { redisMissing, type RedisServer, startRedis } from "../helpers/redis_server.ts";
import { REPO_ROOT, runExtauth, type Runner, runners, type RunResult } from "../helpers/spawn.ts";

const T = { timeout: 120_000 };
const TOKEN = "Doc-Srv-7719-leakcheck";

function account(name: string): { uid: number; gid: number } | undefined {
  const run = spawnSync("getent", ["passwd", name], { encoding: "utf8" });
  const f = run.status === 0 ? run.stdout.split(":") : [];
  return f.length >= 7 ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
}
const lua54 = spawnSync("lua5.4", ["-v"]).status === 0;
const prosody = account("prosody");
const ejabberd = account("ejabberd");
const skip = process.getuid?.() !== 0
  ? "needs root (files for, and commands as, users prosody and ejabberd)"
  : prosody === undefined || ejabberd === undefined
  ? "needs users prosody and ejabberd (apt-get install -y prosody ejabberd)"
  : !lua54
  ? "needs lua5.4 (apt-get install -y lua5.4)"
  : false;

/**
 * The runner's command line, its program by absolute path (as a wrapper should name it). The
 * compiled binary is installed in the deployment (under /srv) first, as an admin would: the clone may live under
 * /tmp, which doctor rightly reports as hidden by systemd's PrivateTmp.
 */
function runnerCommand(runner: Runner, dir: string): string {
  const which = spawnSync("sh", ["-c", 'command -v "$1"', "sh", runner.command], {
    encoding: "utf8",
  });
  let program = runner.command.includes("/") ? runner.command : which.stdout.trim();
  if (runner.name === "binary") program = installedBinary(program, dir);
  return [program, ...runner.prefix].map((a) => `'${a}'`).join(" ");
}

/** The compiled binary copied into the deployment's own `bin/`, 0755, as an admin installs it. */
function installedBinary(binary: string, dir: string): string {
  const path = join(dir, "bin", "xmpp-extauth-binary");
  mkdirSync(join(dir, "bin"), { recursive: true, mode: 0o755 });
  copyFileSync(binary, path);
  chmodSync(path, 0o755);
  return path;
}

/** A folder with the program's files, owned for `user`. */
function base(user: { uid: number; gid: number }) {
  const dir = mkdtempSync(join("/srv", "xmpp-extauth-doctor2-"));
  chmodSync(dir, 0o755);
  for (const sub of ["bin", "etc", "log", "plugins", "stub"]) {
    mkdirSync(join(dir, sub), { mode: 0o755 });
  }
  const token = join(dir, "etc", "token");
  writeFileSync(token, `${TOKEN}\n`);
  chownSync(token, 0, user.gid);
  chmodSync(token, 0o640);
  chownSync(join(dir, "log"), user.uid, user.gid);
  chmodSync(join(dir, "log"), 0o750);
  return { dir, token, log: join(dir, "log", "extauth.log") };
}

/** The `mark check [host]` of each line. */
function shape(text: string): string[] {
  return text.split("\n").filter((l) => /^[✓!✗] /.test(l)).map((l) => l.split(":")[0]!);
}

/** The shape of docs/doctor.md's sample under `## SECTION`. */
function docSample(section: string): string[] {
  const doc = readFileSync(join(REPO_ROOT, "docs", "doctor.md"), "utf8");
  const text = new RegExp(`\n## ${section}\n[\\s\\S]*?\`\`\`text\n([\\s\\S]*?)\`\`\``).exec(doc)
    ?.[1];
  assert.ok(text !== undefined, `no sample under ## ${section}`);
  return shape(text);
}

function line(r: RunResult, prefix: string): string {
  const found = r.stdoutText.split("\n").find((l) => l.startsWith(prefix));
  assert.ok(
    found !== undefined,
    `no line ${JSON.stringify(prefix)} in:\n${r.stdoutText}${r.stderr}`,
  );
  return found;
}

function assertNoSecret(r: RunResult) {
  for (const text of [r.stdoutText, r.stderr]) {
    assert.equal(text.includes("leakcheck"), false, `a secret in the output: ${text}`);
  }
}

interface ProsodyCase {
  /** The wrapper's options after the URL (default: --protocol prosody, token, log). */
  readonly options?: (d: { token: string; log: string }) => string;
  readonly command?: (wrapper: string) => string;
  readonly timeout?: number;
  /** The real lua5.4 (no lpty for 5.4) instead of the stub. */
  readonly realLua?: boolean;
}

function prosodySuite(runner: Runner) {
  describe(`xmpp-extauth doctor --prosody-config (${runner.name})`, { skip }, () => {
    let api: Api;
    const made: string[] = [];
    before(async () => {
      api = await startApi({ users: { "alice@example.com": "pw" } });
    });
    after(async () => {
      await api.close();
      for (const dir of made) rmSync(dir, { recursive: true, force: true });
    });
    const run = async (c: ProsodyCase = {}) => {
      const d = base(prosody!);
      made.push(d.dir);
      const opts = c.options?.(d) ??
        `--protocol prosody --token-file ${d.token} --log-file ${d.log}`;
      const wrapper = join(d.dir, "bin", "xmpp-extauth-prosody");
      writeFileSync(
        wrapper,
        `#!/bin/sh\n# the wrapper\nexec ${
          runnerCommand(runner, d.dir)
        } --url ${api.url} \\\n  ${opts}\n`,
        { mode: 0o755 },
      );
      writeFileSync(join(d.dir, "plugins", "mod_auth_external_insecure.lua"), "-- stub\n");
      const cfg = join(d.dir, "prosody.cfg.lua");
      writeFileSync(
        cfg,
        [
          "-- a test configuration",
          'plugin_paths = { "plugins" }',
          'authentication = "internal_hashed"',
          'VirtualHost "example.com"',
          '  authentication = "external_insecure"',
          `  external_auth_command = "${c.command?.(wrapper) ?? wrapper}"`,
          '  external_auth_protocol = "generic"',
          ...(c.timeout === undefined ? [] : [`  external_auth_timeout = ${c.timeout}`]),
          'VirtualHost "other.example"',
          "",
        ].join("\n"),
      );
      // prosody's Lua: the stub names a stub lua5.4 that finds a stub lpty.lua.
      const stub = join(d.dir, "stub");
      writeFileSync(join(stub, "lpty.lua"), "return {}\n");
      writeFileSync(join(stub, "prosody"), "#!/usr/bin/env lua5.4\n-- stub\n", { mode: 0o755 });
      if (!c.realLua) {
        writeFileSync(
          join(stub, "lua5.4"),
          `#!/bin/sh\nLUA_PATH='${stub}/?.lua;;' exec /usr/bin/lua5.4 "$@"\n`,
          { mode: 0o755 },
        );
      }
      const r = await runExtauth(runner, ["doctor", "--prosody-config", cfg], {
        env: { PATH: `${stub}:${process.env.PATH}` },
        waitMs: 60_000,
      });
      assertNoSecret(r);
      return { r, d, wrapper, stub };
    };

    it("passes a good deployment: every check ✓, exit 0", T, async () => {
      const { r, d, stub } = await run();
      assert.equal(r.code, 0, r.stdoutText + r.stderr);
      assert.match(
        r.stdoutText.split("\n")[0]!,
        new RegExp(
          `^xmpp-extauth doctor: ${d.dir}/prosody.cfg.lua as user prosody \\(uid ${prosody!.uid}, `,
        ),
      );
      assert.deepEqual(shape(r.stdoutText), [
        "✓ config",
        "✓ authentication",
        "✓ external_auth_command",
        "✓ wrapper",
        "✓ program",
        "✓ identity",
        "✓ options",
        "✓ protocol",
        "✓ external_auth_protocol",
        "✓ external_auth_timeout",
        "✓ token file",
        "✓ log file",
        "✓ api [example.com]",
        "✓ lpty",
        "✓ module",
      ]);
      assert.equal(
        line(r, "✓ authentication"),
        "✓ authentication: example.com: external_insecure (VirtualHost)",
      );
      assert.equal(
        line(r, "✓ external_auth_timeout"),
        "✓ external_auth_timeout: external_auth_timeout 5 s (default): the program answers within its --deadline 4s",
      );
      assert.match(
        line(r, "✓ lpty"),
        new RegExp(
          `^✓ lpty: Lua 5\\.4 \\(${stub}/lua5\\.4, from ${stub}/prosody's #!/usr/bin/env lua5\\.4\\) loads ${stub}/lpty\\.lua$`,
        ),
      );
      assert.equal(
        line(r, "✓ module"),
        `✓ module: ${d.dir}/plugins/mod_auth_external_insecure.lua (plugin_paths)`,
      );
      assert.match(r.stdoutText, /^15 checks: 15 ✓, 0 !, 0 ✗$/m);
      assert.deepEqual(docSample("Prosody"), shape(r.stdoutText));
    });

    it("refuses an external_auth_command with arguments (no shell)", T, async () => {
      const { r, wrapper } = await run({ command: (w) => `${w} --debug` });
      assert.equal(r.code, 1, r.stdoutText);
      assert.equal(
        line(r, "✗ external_auth_command"),
        `✗ external_auth_command: "${wrapper} --debug": Prosody runs it as one file name, without a shell, so it cannot carry arguments`,
      );
    });

    it("fails a wrapper without --protocol prosody", T, async () => {
      const { r } = await run({ options: (d) => `--token-file ${d.token} --log-file ${d.log}` });
      assert.equal(r.code, 1, r.stdoutText);
      assert.match(line(r, "✗ protocol"), /^✗ protocol: no --protocol prosody: /);
    });

    it("warns of --protocol ejabberd (Prosody's ejabberd mode is broken)", T, async () => {
      const { r } = await run({
        options: (d) => `--protocol ejabberd --token-file ${d.token} --log-file ${d.log}`,
      });
      assert.match(
        line(r, "! protocol"),
        /^! protocol: --protocol ejabberd: Prosody's ejabberd mode is broken/,
      );
    });

    it("fails an external_auth_timeout shorter than the deadline", T, async () => {
      const { r, d } = await run({ timeout: 3 });
      assert.equal(r.code, 1, r.stdoutText);
      const lines = r.stdoutText.split("\n");
      const at = lines.findIndex((l) => l.startsWith("✗ external_auth_timeout"));
      assert.deepEqual(lines.slice(at, at + 2), [
        "✗ external_auth_timeout: external_auth_timeout 3 s, --deadline 4s: Prosody gives up " +
        "before the program answers, and then reads that late answer as the answer to the next " +
        "query (a wrong password can be accepted)",
        `    fix: make external_auth_timeout at least 5 in ${d.dir}/prosody.cfg.lua, or lower --deadline in the wrapper`,
      ]);
    });

    it("fails when prosody's Lua (the real lua5.4 here) cannot load lpty", T, async () => {
      const { r } = await run({ realLua: true });
      assert.equal(r.code, 1, r.stdoutText);
      const lines = r.stdoutText.split("\n");
      const at = lines.findIndex((l) => l.startsWith("✗ lpty"));
      assert.ok(at >= 0, r.stdoutText);
      assert.match(
        lines[at]!,
        /^✗ lpty: Lua 5\.4 \(\/usr\/bin\/lua5\.4, from .*\/prosody's #!\/usr\/bin\/env lua5\.4\) cannot load lpty as prosody: module 'lpty' not found/,
      );
      assert.equal(
        lines[at + 2],
        "    run: apt-get install -y luarocks liblua5.4-dev && luarocks --lua-version 5.4 install lpty",
      );
    });
  });
}

function mongooseimSuite(runner: Runner) {
  describe(`xmpp-extauth doctor --mongooseim-config (${runner.name})`, { skip }, () => {
    let api: Api;
    let redis: RedisServer | undefined;
    const made: string[] = [];
    before(async () => {
      api = await startApi({ users: { "alice@example.com": "pw" } });
      if (redisMissing() === undefined) {
        redis = await startRedis({ password: "Redis-Pw-leakcheck" });
      }
    });
    after(async () => {
      await api.close();
      await redis?.close();
      for (const dir of made) rmSync(dir, { recursive: true, force: true });
    });
    const run = async (options: (d: ReturnType<typeof base>) => string) => {
      const d = base(ejabberd!);
      made.push(d.dir);
      const wrapper = join(d.dir, "bin", "xmpp-extauth");
      writeFileSync(wrapper, `#!/bin/sh\nexec ${runnerCommand(runner, d.dir)} "$@"\n`, {
        mode: 0o755,
      });
      const program = `${wrapper} --url ${api.url} --token-file ${d.token} ${options(d)}`;
      const toml = join(d.dir, "mongooseim.toml");
      writeFileSync(
        toml,
        [
          "[general]",
          '  hosts = ["example.com"]',
          "",
          "[auth]",
          '  methods = ["external"]',
          "",
          "[auth.external]",
          `  program = ${JSON.stringify(program)}`,
          "  instances = 3",
          "",
        ].join("\n"),
      );
      const r = await runExtauth(
        runner,
        ["doctor", "--mongooseim-config", toml, "--user", "ejabberd"],
        { waitMs: 60_000 },
      );
      assertNoSecret(r);
      return { r, d };
    };

    it("passes a good deployment: every check ✓, exit 0", T, async () => {
      const { r } = await run((d) => `--server mongooseim --log-file ${d.log}`);
      assert.equal(r.code, 0, r.stdoutText + r.stderr);
      assert.deepEqual(shape(r.stdoutText), [
        "✓ config",
        "✓ auth.external",
        "✓ command",
        "✓ program",
        "✓ identity",
        "✓ options",
        "✓ server",
        "✓ deadline",
        "✓ token file",
        "✓ log file",
        "✓ api [example.com]",
        "✓ pool",
      ]);
      assert.equal(line(r, "✓ deadline"), "✓ deadline: 8s, inside MongooseIM's 10 s call timeout");
      assert.deepEqual(docSample("MongooseIM"), shape(r.stdoutText));
      assert.match(
        line(r, "✓ pool"),
        /^✓ pool: 3 processes \(\[auth\.external\]: 3; instances, default 1\)/,
      );
    });

    it("fails a program without --server mongooseim (and its 20 s deadline)", T, async () => {
      const { r } = await run((d) => `--log-file ${d.log}`);
      assert.equal(r.code, 1, r.stdoutText);
      assert.match(
        line(r, "✗ server"),
        /^✗ server: no --server mongooseim: an API failure is answered with an error reply/,
      );
      assert.equal(
        line(r, "✗ deadline"),
        "✗ deadline: 20s: MongooseIM gives up on a call after 10 s, before this answer",
      );
    });

    it("fails a deadline over MongooseIM's 10 s, with the program's own message", T, async () => {
      const { r } = await run((d) => `--server mongooseim --deadline 12s --log-file ${d.log}`);
      assert.equal(r.code, 1, r.stdoutText);
      assert.match(
        line(r, "✗ options"),
        /^✗ options: --deadline: 12s must be below MongooseIM's 10s limit/,
      );
    });

    it(
      "checks --cache-url: Redis reached as the user, the password file private",
      T,
      async (tc) => {
        if (redis === undefined) return tc.skip(redisMissing());
        const { r, d } = await run((d) => {
          const pw = join(d.dir, "etc", "redis-password");
          writeFileSync(pw, "Redis-Pw-leakcheck\n");
          chownSync(pw, 0, ejabberd!.gid);
          chmodSync(pw, 0o640);
          return `--server mongooseim --stale-ttl 1h --cache-url ${
            redis!.url
          } --cache-password-file ${pw}`;
        });
        assert.equal(r.code, 0, r.stdoutText + r.stderr);
        assert.equal(
          line(r, "✓ cache password file"),
          `✓ cache password file: ${d.dir}/etc/redis-password: readable by ejabberd only`,
        );
        assert.equal(
          line(r, "✓ cache url"),
          `✓ cache url: ${redis.url}: reached by ejabberd (connected and read the cache's key)`,
        );
      },
    );

    it(
      "fails --cache-url with a wrong password and a password file all can read",
      T,
      async (tc) => {
        if (redis === undefined) return tc.skip(redisMissing());
        const { r, d } = await run((d) => {
          const pw = join(d.dir, "etc", "redis-password");
          writeFileSync(pw, "Wrong-leakcheck\n", { mode: 0o644 });
          chmodSync(pw, 0o644);
          return `--server mongooseim --stale-ttl 1h --cache-url ${
            redis!.url
          } --cache-password-file ${pw}`;
        });
        assert.equal(r.code, 1, r.stdoutText);
        assert.equal(
          line(r, "✗ cache password file"),
          `✗ cache password file: ${d.dir}/etc/redis-password can be read by every user (mode 0644)`,
        );
        assert.match(
          line(r, "✗ cache url"),
          new RegExp(`^✗ cache url: ${redis.url}: ejabberd cannot use it: cannot use --cache-url `),
        );
      },
    );
  });
}

for (const runner of runners()) {
  prosodySuite(runner);
  mongooseimSuite(runner);
}
