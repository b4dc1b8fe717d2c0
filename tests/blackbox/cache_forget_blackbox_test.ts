/**
 * The outage cache's guarantee, through real processes sharing one
 * `--cache-file`: once the site may have applied a change (setpass,
 * tryregister, removeuser, removeuser3, a definite "no"), no copy anywhere
 * serves the old password, whatever the timing and whatever the file's faults.
 * Each case ends with the API down and asks every copy, and a copy started
 * afresh, for the old password: the reply must never be true.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { detectRuntime } from "../../lib/runtime/mod.ts";
import { type Api, slow, startApi } from "../helpers/api_server.ts";
import {
  assertReply,
  ERROR,
  type Extauth,
  FALSE,
  type Runner,
  runners,
  startExtauth,
  TRUE,
} from "../helpers/spawn.ts";

const T = { timeout: 120_000 };
const OLD = "Old-Pw-4711-leakcheck";
const NEW = "New-Pw-0815-leakcheck";
const sqlite = await detectRuntime().loadSqlite();
const root = process.getuid?.() === 0;

/** A copy of the program as ejabberd starts it, on the shared file. */
function copy(runner: Runner, api: Api, file: string, extra: readonly string[] = []): Extauth {
  return startExtauth(runner, [
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
  ], { waitMs: 60_000 });
}

/** Runs `fn` with `n` copies on `file`, then checks clean exits and no password in any log. */
async function withCopies(
  runner: Runner,
  api: Api,
  file: string,
  n: number,
  fn: (ps: Extauth[]) => Promise<void>,
  extra: readonly string[] = [],
): Promise<Extauth[]> {
  const ps = Array.from({ length: n }, () => copy(runner, api, file, extra));
  try {
    await fn(ps);
    for (const p of ps) assert.equal(await p.finish(), 0, `exit code; stderr: ${p.stderr}`);
  } finally {
    for (const p of ps) p.kill();
  }
  for (const p of ps) {
    assert.ok(!p.stderr.includes(OLD) && !p.stderr.includes(NEW), "a password is in a log line");
  }
  return ps;
}

/** With the API down: every copy given, and a new one, refuse `password` (never true). */
async function noCopyServes(
  runner: Runner,
  api: Api,
  file: string,
  ps: readonly Extauth[],
  password: string,
  label: string,
): Promise<void> {
  api.setMode("status500");
  for (const [i, p] of ps.entries()) {
    assertReply(
      await p.request(`auth:alice:example.com:${password}`),
      ERROR,
      `${label}: copy ${i}`,
    );
  }
  await withCopies(runner, api, file, 1, async ([fresh]) => {
    assertReply(
      await fresh!.request(`auth:alice:example.com:${password}`),
      ERROR,
      `${label}: a copy started now`,
    );
  });
}

/** A promise and the function that settles it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => open = resolve);
  return { promise, open };
}

for (const runner of runners()) {
  describe(`the outage cache never serves a replaced or removed password (${runner.name})`, () => {
    let api: Api;
    let dir: string;
    let files = 0;
    const newFile = () => join(dir, `cache-${++files}.db`);
    before(async () => {
      api = await startApi({ users: { "alice@example.com": OLD } });
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-forget-"));
    });
    after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const changes: [string, string, () => void][] = [
      ["setpass", `setpass:alice:example.com:${NEW}`, () => {}],
      // The account was removed on the site, then someone registered the name again.
      ["tryregister", `tryregister:alice:example.com:${NEW}`, () => {
        api.users.delete("alice@example.com");
      }],
      ["removeuser", "removeuser:alice:example.com", () => {}],
      ["removeuser3", `removeuser3:alice:example.com:${OLD}`, () => {}],
    ];
    for (const [op, request, before] of changes) {
      it(`a confirmation that crosses a ${op} through another copy`, T, async () => {
        api.reset();
        const file = newFile();
        await withCopies(runner, api, file, 2, async ([a, b]) => {
          // B's login is confirmed by the API, whose answer is held until A's change is answered:
          // B's remember comes after A's forget.
          const held = gate();
          const arrived = gate();
          api.queueModes("login", { hold: held.promise, arrived: arrived.open });
          const confirmation = b!.request(`auth:alice:example.com:${OLD}`);
          await arrived.promise;
          before();
          assertReply(await a!.request(request), TRUE, op);
          held.open();
          assertReply(await confirmation, TRUE, "B's login, confirmed before the change");
          await noCopyServes(runner, api, file, [a!, b!], OLD, `after ${op}`);
        });
      });
    }

    it("a definite no through one copy, crossing a confirmation through another", T, async () => {
      api.reset();
      const file = newFile();
      await withCopies(runner, api, file, 2, async ([a, b]) => {
        const held = gate();
        const arrived = gate();
        api.queueModes("login", { hold: held.promise, arrived: arrived.open });
        const confirmation = b!.request(`auth:alice:example.com:${OLD}`);
        await arrived.promise;
        api.users.set("alice@example.com", NEW); // changed on the site, not through XMPP
        assertReply(await a!.request(`auth:alice:example.com:${OLD}`), FALSE, "no");
        held.open();
        assertReply(await confirmation, TRUE, "B's login, confirmed before the change");
        await noCopyServes(runner, api, file, [a!, b!], OLD, "after the no");
      });
    });

    it("a forget while another process holds the file's lock for more than 2 s", T, async () => {
      api.reset();
      const file = newFile();
      await withCopies(runner, api, file, 2, async ([a, b]) => {
        assertReply(await b!.request(`auth:alice:example.com:${OLD}`), TRUE, "login");
        const holder = await sqlite.openSqlite(file);
        holder.exec("BEGIN IMMEDIATE");
        holder.exec("DELETE FROM meta WHERE name = 'nothing'");
        try {
          assertReply(await a!.request(`setpass:alice:example.com:${NEW}`), TRUE, "setpass");
        } finally {
          holder.exec("ROLLBACK");
          holder.close();
        }
        await noCopyServes(runner, api, file, [a!, b!], OLD, "after the setpass");
        assert.match(
          a!.stderr,
          /ERROR {1,2}could not record a forget in --cache-file .*: removed it/,
        );
      });
    });

    it("a forget on a full file system (removeuser)", T, async (t) => {
      if (!root) return t.skip("needs root to mount a small tmpfs");
      const mount = join(dir, `tmpfs-${++files}`);
      mkdirSync(mount);
      try {
        // mode=0700: a tmpfs root is 1777 by default, a folder the cache file refuses.
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mount]);
      } catch (error) {
        rmSync(mount, { recursive: true, force: true });
        return t.skip(`cannot mount a tmpfs here: ${(error as Error).message}`);
      }
      try {
        api.reset();
        const file = join(mount, "cache.db");
        await withCopies(runner, api, file, 2, async ([a, b]) => {
          assertReply(await b!.request(`auth:alice:example.com:${OLD}`), TRUE, "login");
          // An empty -wal, and no room left for it to grow: the next write fails.
          const db = await sqlite.openSqlite(file);
          db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
          db.close();
          const fill = openSync(join(mount, "filler"), "w");
          try {
            const block = new Uint8Array(4096);
            while (true) writeSync(fill, block);
          } catch (error) {
            assert.equal((error as { code?: string }).code, "ENOSPC");
          } finally {
            closeSync(fill);
          }
          assertReply(await a!.request("removeuser:alice:example.com"), TRUE, "removeuser");
          await noCopyServes(runner, api, file, [a!, b!], OLD, "after the removal");
          assert.match(a!.stderr, /\(database or disk is full\): removed it/, a!.stderr);
        });
      } finally {
        execFileSync("umount", [mount]);
        rmSync(mount, { recursive: true, force: true });
      }
    });

    it(
      "a forget on a file that can neither be written nor removed: no change is sent",
      T,
      async (t) => {
        if (!root) return t.skip("needs root for chattr +i (root writes whatever the mode says)");
        api.reset();
        const file = newFile();
        await withCopies(runner, api, file, 1, async ([b]) => {
          assertReply(await b!.request(`auth:alice:example.com:${OLD}`), TRUE, "login");
        });
        execFileSync("chattr", ["+i", file]);
        try {
          await withCopies(runner, api, file, 1, async ([a]) => {
            const from = api.requests.length;
            assertReply(await a!.request("removeuser:alice:example.com"), ERROR, "removeuser");
            assert.deepEqual(api.since(from, "removeuser"), [], "the removal reached the API");
            assert.ok(api.users.has("alice@example.com"));
            assert.match(
              a!.stderr,
              new RegExp(`ERROR {1,2}removeuser alice@example\\.com: not sent to the API`),
              a!.stderr,
            );
          });
        } finally {
          execFileSync("chattr", ["-i", file]);
        }
      },
    );

    it("a removeuser whose answer never came (the API slower than --timeout)", T, async () => {
      api.reset();
      const file = newFile();
      await withCopies(runner, api, file, 2, async ([a, b]) => {
        assertReply(await b!.request(`auth:alice:example.com:${OLD}`), TRUE, "login");
        api.queueModes("removeuser", slow(1_000));
        assertReply(await a!.request("removeuser:alice:example.com"), ERROR, "removeuser");
        await noCopyServes(runner, api, file, [a!, b!], OLD, "after the removal");
      }, ["--timeout", "200ms"]);
    });

    it("a row whose time is in the future (a copy whose clock ran ahead)", T, async () => {
      api.reset();
      const file = newFile();
      await withCopies(runner, api, file, 1, async ([b]) => {
        assertReply(await b!.request(`auth:alice:example.com:${OLD}`), TRUE, "login");
        const db = await sqlite.openSqlite(file);
        const day = 86_400_000;
        db.prepare("UPDATE users SET exists_at = exists_at + ?, password_at = password_at + ?")
          .run(day, day);
        db.close();
        api.setMode("status500");
        assertReply(await b!.request(`auth:alice:example.com:${OLD}`), ERROR, "stale");
        assertReply(await b!.request("isuser:alice:example.com"), ERROR, "stale isuser");
        const check = await sqlite.openSqlite(file);
        const rows = Number(check.prepare("SELECT count(*) AS n FROM users").get()?.n);
        check.close();
        assert.equal(rows, 0, "the row from the future is still in the file");
      });
    });

    it("the file deleted, then replaced, while copies run", T, async () => {
      api.reset();
      api.users.set("bob@example.com", NEW);
      const file = newFile();
      const other = newFile();
      await withCopies(runner, api, other, 1, async ([p]) => {
        assertReply(await p!.request(`auth:bob:example.com:${NEW}`), TRUE, "bob, other file");
      });
      await withCopies(runner, api, file, 2, async ([a, b]) => {
        for (const p of [a!, b!]) {
          assertReply(await p.request(`auth:alice:example.com:${OLD}`), TRUE, "login");
        }
        for (const suffix of ["", "-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true });
        await noCopyServes(runner, api, file, [a!, b!], OLD, "deleted");
        api.setMode("normal");
        for (const p of [a!, b!]) {
          assertReply(await p.request(`auth:alice:example.com:${OLD}`), TRUE, "login again");
        }
        // Replaced as SQLite allows: the new file whole (its -wal folded in), the old -wal gone.
        const db = await sqlite.openSqlite(other);
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        db.close();
        for (const suffix of ["-wal", "-shm"]) {
          rmSync(`${file}${suffix}`, { force: true });
          rmSync(`${other}${suffix}`, { force: true });
        }
        renameSync(other, file);
        api.setMode("status500");
        for (const p of [a!, b!]) {
          assertReply(await p.request(`auth:alice:example.com:${OLD}`), ERROR, "replaced: alice");
          assertReply(await p.request(`auth:bob:example.com:${NEW}`), TRUE, "replaced: bob");
        }
      });
      unlinkSync(file);
    });
  });
}
