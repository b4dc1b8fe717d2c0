/**
 * `--cache-file` through the real program, started as ejabberd starts its
 * pool: several copies share one SQLite file, the API goes down, every copy
 * answers from what one of them learnt; a restart keeps it; a file that
 * cannot be used gives one error and no outage cache (never a private one).
 * The guarantee about replaced and removed passwords, with the file's faults,
 * is in cache_forget_blackbox_test.ts.
 * Same runners as blackbox_test.ts.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { detectRuntime } from "../../lib/runtime/mod.ts";
import { type Api, startApi } from "../helpers/api_server.ts";
import {
  assertReply,
  ERROR,
  type Extauth,
  FALSE,
  frame,
  type Runner,
  runners,
  startExtauth,
  TRUE,
  withExtauth,
} from "../helpers/spawn.ts";

const T = { timeout: 120_000 };
const PASSWORD = "Omega-Pw-6620-leakcheck";
const USERS = { "alice@example.com": PASSWORD, "bob@example.com": "bob-pw" };
const sqlite = await detectRuntime().loadSqlite();
const WARNING = /(WARN|ERROR) +cannot use --cache-file /g;

/** Starts `n` copies sharing `file`, runs `fn`, then closes them all and checks a clean exit. */
async function pool(
  runner: Runner,
  api: Api,
  file: string,
  n: number,
  fn: (ps: Extauth[]) => Promise<void>,
  extra: readonly string[] = [],
): Promise<Extauth[]> {
  const args = [
    "--url",
    api.url,
    "--stale-ttl",
    "1h",
    "--cache-file",
    file,
    "--retries",
    "0",
    "--breaker-failures",
    "0",
    ...extra,
  ];
  // Generous: every new password costs a KDF, and the test machine may be busy.
  const ps = Array.from({ length: n }, () => startExtauth(runner, args, { waitMs: 60_000 }));
  try {
    await fn(ps);
    for (const p of ps) assert.equal(await p.finish(), 0, `exit code; stderr: ${p.stderr}`);
  } finally {
    for (const p of ps) p.kill();
  }
  for (const p of ps) assert.ok(!p.stderr.includes(PASSWORD), "the password is in a log line");
  return ps;
}

/** Without a usable file: right password true, then, with the API down, no cached answer. */
async function loginThenOutageUncached(p: Extauth, api: Api, label: string): Promise<void> {
  api.setMode("normal");
  assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, `${label}: API up`);
  api.setMode("status500");
  assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), ERROR, `${label}: API down`);
  assertReply(await p.request("auth:alice:example.com:wrong"), ERROR, `${label}: wrong password`);
  api.setMode("normal");
}

/** Right password true, then, with the API down, true again; a wrong one never true. */
async function loginThenOutage(p: Extauth, api: Api, label: string): Promise<void> {
  api.setMode("normal");
  assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, `${label}: API up`);
  api.setMode("status500");
  assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, `${label}: API down`);
  assertReply(await p.request("auth:alice:example.com:wrong"), ERROR, `${label}: wrong password`);
  api.setMode("normal");
}

for (const runner of runners()) {
  describe(`--cache-file through the program (${runner.name})`, () => {
    let api: Api;
    let dir: string;
    let files = 0;
    const newFile = () => join(dir, `cache-${++files}.db`);
    before(async () => {
      api = await startApi({ users: USERS });
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-shared-"));
    });
    after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("says so when --cache-file is given but the outage cache is off", T, async () => {
      const file = newFile();
      const args = ["--url", api.url, "--cache-file", file];
      await withExtauth(runner, args, {}, async (p) => {
        assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "API up");
        assert.equal(await p.finish(), 0);
        const warnings = p.stderr.split("\n").filter((l) => l.includes(" WARN "));
        assert.deepEqual(warnings.map((l) => l.replace(/^.* WARN {2}/, "")), [
          `--cache-file ${file} is not used: the outage cache is off (give --stale-ttl, e.g. 1h, ` +
          "or --cache-ttl)",
        ]);
      });
    });

    it(
      "serves the whole pool of 4 from one login while the API is down, and after a restart",
      T,
      async () => {
        api.reset();
        const file = newFile();
        await pool(runner, api, file, 4, async (ps) => {
          // One login, through the first copy only (ejabberd's round-robin sends the next elsewhere).
          assertReply(await ps[0]!.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "login");
          assertReply(await ps[1]!.request("isuser:bob:example.com"), TRUE, "bob exists");
          api.setMode("status500");
          for (let round = 0; round < 2; round++) {
            for (const [i, p] of ps.entries()) {
              const label = `copy ${i + 1}, round ${round + 1}`;
              assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, label);
              assertReply(
                await p.request("auth:alice:example.com:wrong"),
                ERROR,
                `${label}: wrong`,
              );
              assertReply(
                await p.request(`auth:bob:example.com:${PASSWORD}`),
                ERROR,
                `${label}: bob`,
              );
              assertReply(await p.request("isuser:bob:example.com"), TRUE, `${label}: isuser bob`);
              assertReply(await p.request("isuser:carol:example.com"), ERROR, `${label}: carol`);
            }
          }
          for (const p of ps) assert.equal(p.stderr.match(WARNING), null, p.stderr);
        });
        assert.equal(statSync(file).mode & 0o777, 0o600);
        // ejabberd restarted: new processes, API still down.
        await pool(runner, api, file, 2, async (ps) => {
          for (const p of ps) {
            assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "restarted");
            assertReply(await p.request("auth:alice:example.com:wrong"), ERROR, "restarted, wrong");
          }
        });
      },
    );

    it(
      "forgets, for the whole pool, a user the API said no to or whose password changed",
      T,
      async () => {
        api.reset();
        const file = newFile();
        await pool(runner, api, file, 2, async ([first, second]) => {
          assertReply(await first!.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "login");
          assertReply(
            await second!.request(`setpass:alice:example.com:${PASSWORD}-2`),
            TRUE,
            "setpass",
          );
          api.setMode("status500");
          assertReply(await first!.request(`auth:alice:example.com:${PASSWORD}`), ERROR, "old pw");
          api.setMode("normal");
          assertReply(await first!.request(`auth:alice:example.com:${PASSWORD}-2`), TRUE, "new pw");
          api.users.delete("alice@example.com");
          assertReply(await second!.request("isuser:alice:example.com"), FALSE, "removed");
          api.setMode("status500");
          assertReply(await first!.request(`auth:alice:example.com:${PASSWORD}-2`), ERROR, "gone");
          assertReply(await first!.request("isuser:alice:example.com"), ERROR, "gone: isuser");
        });
      },
    );

    it(
      "shares one new file among copies started at the same moment (ejabberd starts its pool so)",
      { timeout: 120_000 },
      async () => {
        api.reset();
        // Copies racing to create the file got SQLITE_BUSY from SQLite at once (no busy wait
        // applies to some lock upgrades) and fell back to an unshared cache: about one round
        // in ten. Such a copy would go on accepting a password another copy was told is gone.
        for (let round = 0; round < 12; round++) {
          const ps = await pool(runner, api, newFile(), 3, async (ps) => {
            for (const p of ps) {
              assertReply(await p.request("isuser:alice:example.com"), TRUE, "up");
            }
          });
          for (const p of ps) {
            assert.doesNotMatch(p.stderr, /cannot use --cache-file/, `round ${round}: ${p.stderr}`);
          }
        }
      },
    );

    it("forgets even while another process holds the write lock for a moment", T, async () => {
      // Other writes are skipped after 5 ms of contention; a forget must not be: the old
      // password would stay good through every other copy of the pool.
      api.reset();
      const file = newFile();
      await pool(runner, api, file, 2, async ([first, second]) => {
        assertReply(await first!.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "login");
        const holder = await sqlite.openSqlite(file);
        holder.exec("BEGIN IMMEDIATE");
        holder.exec("DELETE FROM meta WHERE name = 'nothing'");
        const released = new Promise<void>((resolve) =>
          setTimeout(() => {
            holder.exec("COMMIT");
            holder.close();
            resolve();
          }, 300)
        );
        try {
          assertReply(
            await second!.request(`setpass:alice:example.com:${PASSWORD}-2`),
            TRUE,
            "setpass while the file is locked",
          );
        } finally {
          await released;
        }
        api.setMode("status500");
        assertReply(await first!.request(`auth:alice:example.com:${PASSWORD}`), ERROR, "old pw");
        api.setMode("normal");
      });
    });

    it(
      "does not corrupt the file, nor lose an entry but for a write it logged as skipped, when 4 copies write at once",
      T,
      async () => {
        api.reset();
        const file = newFile();
        // Per copy: 10 logins (a KDF each) and 40 isuser (a write each, no KDF).
        const logins = 10;
        const lookups = 40;
        const total = 4 * (logins + lookups);
        for (let i = 0; i < 4; i++) {
          for (let n = 0; n < logins + lookups; n++) {
            api.users.set(`u${i}-${n}@example.com`, `pw${i}-${n}`);
          }
        }
        const request = (i: number, n: number) =>
          n < logins ? `auth:u${i}-${n}:example.com:pw${i}-${n}` : `isuser:u${i}-${n}:example.com`;
        const writers = await pool(runner, api, file, 4, async (ps) => {
          // Every copy gets its requests all at once: they write the file concurrently.
          await Promise.all(ps.map(async (p, i) => {
            for (let n = 0; n < logins + lookups; n++) await p.write(frame(request(i, n)));
            const replies = await p.readReplies(logins + lookups);
            for (const [n, reply] of replies.entries()) assertReply(reply, TRUE, request(i, n));
          }));
        }, ["--log-level", "debug"]);
        // A write that waited more than 5 ms for another copy's lock is skipped, by design, with a
        // debug line; on a busy machine that happens. Nothing else may go missing.
        const skipped = writers.map((p) => p.stderr.match(/ is busy: skipped one /g)?.length ?? 0)
          .reduce((a, b) => a + b, 0);
        const db = await sqlite.openSqlite(file);
        let rows: number;
        try {
          assert.deepEqual({ ...db.prepare("PRAGMA integrity_check").get() }, {
            integrity_check: "ok",
          });
          rows = Number(db.prepare("SELECT count(*) AS n FROM users").get()?.n);
        } finally {
          db.close();
        }
        assert.ok(
          rows <= total && rows >= total - skipped,
          `${rows} of ${total} users in the file, ${skipped} operations skipped as busy`,
        );
        api.setMode("status500");
        let served = 0;
        await pool(runner, api, file, 1, async ([p]) => {
          for (let i = 0; i < 4; i++) {
            for (let n = 0; n < logins + lookups; n++) {
              const reply = await p!.request(request(i, n));
              if (reply[3] === 1) served++;
              else assertReply(reply, ERROR, `stale ${request(i, n)}`);
            }
          }
        });
        assert.equal(served, rows, "every user in the file, and only those, is served stale");
      },
    );

    describe("faults: one error, no outage cache (not a private one), the API's replies", () => {
      const faults: [string, () => string, RegExp][] = [
        ["a missing directory", () => join(dir, "no-such-dir", "cache.db"), /: no such directory;/],
        ["a file group or others can read", () => {
          const file = newFile();
          writeFileSync(file, "");
          chmodSync(file, 0o640);
          return file;
        }, /: its mode is 0640: group or others may read or write it \(chmod 600 it\);/],
        ["a corrupt file", () => {
          const file = newFile();
          writeFileSync(file, "this is not a database ".repeat(500), { mode: 0o600 });
          return file;
        }, /: file is not a database;/],
      ];
      for (const [what, make, reason] of faults) {
        it(what, T, async () => {
          api.reset();
          const file = make();
          const [p] = await pool(
            runner,
            api,
            file,
            1,
            ([p]) => loginThenOutageUncached(p!, api, what),
          );
          const warnings = p!.stderr.match(WARNING) ?? [];
          assert.equal(warnings.length, 1, p!.stderr);
          assert.match(
            p!.stderr,
            new RegExp(
              `ERROR cannot use --cache-file ${
                escape(file)
              }${reason.source} no outage cache until it can be used \\(tried again every 30s;`,
            ),
          );
        });
      }

      it("a read-only file", T, async () => {
        api.reset();
        const file = newFile();
        await pool(runner, api, file, 1, ([p]) => loginThenOutage(p!, api, "writable"));
        const root = process.getuid?.() === 0;
        // Root writes whatever the mode says: make the file immutable instead.
        if (root) execFileSync("chattr", ["+i", file]);
        else chmodSync(file, 0o400);
        try {
          const [p] = await pool(
            runner,
            api,
            file,
            1,
            ([p]) => loginThenOutageUncached(p!, api, "read-only"),
          );
          assert.equal((p!.stderr.match(WARNING) ?? []).length, 1, p!.stderr);
          assert.match(
            p!.stderr,
            /: attempt to write a readonly database; no outage cache until it can be used/,
          );
        } finally {
          if (root) execFileSync("chattr", ["-i", file]);
        }
      });

      it("a database another process keeps locked", T, async () => {
        api.reset();
        const file = newFile();
        await pool(runner, api, file, 1, ([p]) => loginThenOutage(p!, api, "unlocked"));
        const holder = await sqlite.openSqlite(file);
        holder.exec("BEGIN IMMEDIATE");
        holder.exec("DELETE FROM meta WHERE name = 'nothing'");
        try {
          const [p] = await pool(
            runner,
            api,
            file,
            1,
            ([p]) => loginThenOutageUncached(p!, api, "locked"),
          );
          assert.equal((p!.stderr.match(WARNING) ?? []).length, 1, p!.stderr);
          assert.match(
            p!.stderr,
            /: database is locked \(another process held it for more than 2s\);/,
          );
        } finally {
          holder.exec("ROLLBACK");
          holder.close();
        }
      });
    });
  });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
