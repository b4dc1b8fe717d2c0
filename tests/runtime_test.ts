import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { classifyFetchError } from "../lib/api/failures.ts";
import { writeAll } from "../lib/runtime/common.ts";
import { detectRuntime } from "../lib/runtime/mod.ts";
import { type Api, reply, startApi } from "./helpers/api_server.ts";
import { makeCa, makeLeaf } from "./helpers/tls.ts";

const runtime = detectRuntime();
const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-runtime-"));

describe("detectRuntime", () => {
  it("names the runtime it runs on", () => {
    const g = globalThis as { Bun?: unknown };
    assert.equal(runtime.name, g.Bun === undefined ? "deno" : "bun");
    assert.match(runtime.version, /^(deno|bun) \d+\.\d+\.\d+/);
    assert.equal(typeof runtime.pid, "number");
  });

  it("reads files and the environment", () => {
    const path = join(dir, "token");
    writeFileSync(path, "tok\n");
    assert.deepEqual([...runtime.readFile(path)], [...new TextEncoder().encode("tok\n")]);
    assert.throws(() => runtime.readFile(join(dir, "missing")));
    assert.ok(runtime.envNames().includes("PATH"));
    assert.equal(runtime.env("PATH"), process.env.PATH);
  });

  it("appends to a log file and reopens it after logrotate moved it", () => {
    const path = join(dir, "extauth.log");
    const log = runtime.openAppend(path);
    log.write("one\n");
    renameSync(path, `${path}.1`);
    log.write("two\n");
    log.reopen();
    log.write("three\n");
    log.close();
    assert.equal(readFileSync(`${path}.1`, "utf8"), "one\ntwo\n");
    assert.equal(readFileSync(path, "utf8"), "three\n");
  });
});

describe("createFetch with a private CA", () => {
  let server: Api;
  let url = "";
  let caPem = "";
  before(async () => {
    caPem = makeCa(dir, "ca");
    server = await startApi({
      tls: makeLeaf(dir, "ca"),
      mode: { handle: (_req, _body, res) => reply(res, 200, '{"success":true}') },
    });
    url = `${server.origin}/login`;
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses the untrusted certificate by default, as a TLS failure", async () => {
    const error = await runtime.createFetch([])(url, { method: "POST" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error !== undefined, "an untrusted certificate must not be accepted");
    assert.equal(classifyFetchError(error).failure, "tls", String(error));
  });

  it("trusts the certificate when given the CA", async () => {
    const response = await runtime.createFetch([caPem])(url, { method: "POST" });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { success: true });
  });
});

describe("writeAll", () => {
  it("writes every byte through a sink that takes a few at a time", () => {
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    const taken: number[] = [];
    let calls = 0;
    writeAll((rest) => {
      calls++;
      const part = rest.subarray(0, 7);
      taken.push(...part);
      return part.length;
    }, bytes);
    assert.deepEqual(taken, [...bytes]);
    assert.equal(calls, Math.ceil(1000 / 7));
  });

  it("writes nothing for no bytes", () => {
    writeAll(() => assert.fail("called"), new Uint8Array());
  });
});
