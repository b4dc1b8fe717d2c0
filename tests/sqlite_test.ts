/**
 * lib/runtime/sqlite.ts: the runtime's own SQLite driver behind one interface
 * (`node:sqlite` under `deno test`, `bun:sqlite` under `bun test`), its errors
 * classified the same way under both, and the cache file's creation mode and
 * permission check.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectRuntime } from "../lib/runtime/mod.ts";

const { classify, openSqlite, prepareCacheFile, SqliteError } = await detectRuntime().loadSqlite();
const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-sqlite-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("openSqlite", () => {
  it("stores and reads numbers, text and bytes, and counts changes", async () => {
    const db = await openSqlite(join(dir, "a.db"));
    db.exec("CREATE TABLE t (id BLOB PRIMARY KEY, n INTEGER, s TEXT)");
    const insert = db.prepare("INSERT INTO t VALUES (?, ?, ?)");
    assert.equal(insert.run(Uint8Array.of(1, 2), 1_700_000_000_000, "x"), 1);
    const row = db.prepare("SELECT * FROM t WHERE id = ?").get(Uint8Array.of(1, 2));
    assert.deepEqual([...(row!.id as Uint8Array)], [1, 2]);
    assert.equal(Number(row!.n), 1_700_000_000_000);
    assert.equal(row!.s, "x");
    assert.equal(db.prepare("SELECT * FROM t WHERE id = ?").get(Uint8Array.of(3)), undefined);
    assert.equal(db.prepare("DELETE FROM t WHERE n > ?").run(0), 1);
    db.close();
  });

  it("classifies the driver's errors alike under both runtimes", async () => {
    const path = join(dir, "locked.db");
    const a = await openSqlite(path);
    const b = await openSqlite(path);
    a.exec("PRAGMA journal_mode = WAL");
    a.exec("CREATE TABLE t (n INTEGER)");
    b.exec("PRAGMA busy_timeout = 1");
    a.exec("BEGIN IMMEDIATE");
    a.exec("INSERT INTO t VALUES (1)");
    assert.throws(() => b.exec("INSERT INTO t VALUES (2)"), (error: unknown) => {
      assert.ok(error instanceof SqliteError);
      assert.equal(error.kind, "busy");
      assert.equal(error.message, "database is locked");
      return true;
    });
    a.exec("COMMIT");
    a.close();
    b.close();
    const garbage = join(dir, "garbage.db");
    writeFileSync(garbage, "x".repeat(4096));
    await assert.rejects(async () => {
      const db = await openSqlite(garbage);
      db.exec("PRAGMA journal_mode = WAL");
    }, (error: unknown) => error instanceof SqliteError && error.kind === "corrupt");
    await assert.rejects(
      openSqlite(join(dir, "missing", "x.db")),
      (error: unknown) =>
        error instanceof SqliteError && error.kind === "cantopen" &&
        error.message === "unable to open database file",
    );
    assert.equal(classify(new Error("attempt to write a readonly database")).kind, "readonly");
    assert.equal(classify(new Error("something else")).kind, "other");
  });
});

describe("prepareCacheFile", () => {
  it("creates the file 0600 whatever the umask, and accepts it", () => {
    const path = join(dir, "new.db");
    assert.equal(prepareCacheFile(path), undefined);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(prepareCacheFile(path), undefined, "an existing 0600 file is fine");
  });

  it("refuses a file group or others may read or write, a directory, a missing directory", () => {
    for (const mode of [0o640, 0o604, 0o620, 0o666]) {
      const path = join(dir, `mode-${mode.toString(8)}.db`);
      writeFileSync(path, "");
      chmodSync(path, mode);
      assert.equal(
        prepareCacheFile(path),
        `its mode is 0${mode.toString(8)}: group or others may read or write it (chmod 600 it)`,
      );
    }
    const readOnly = join(dir, "mode-400.db");
    writeFileSync(readOnly, "");
    chmodSync(readOnly, 0o400);
    assert.equal(prepareCacheFile(readOnly), undefined, "0400 is private: SQLite reports it");
    assert.equal(prepareCacheFile(dir), "it is not a regular file");
    assert.equal(prepareCacheFile(join(dir, "missing", "x.db")), "no such directory");
  });
});
