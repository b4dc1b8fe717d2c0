/**
 * A real `redis-server` (Debian's package) for the tests of `--cache-url`:
 * started on a free port of 127.0.0.1 as a child of the test, without
 * persistence (`--save '' --appendonly no`), optionally with a password
 * (`requirepass`) and TLS (a CA made with openssl here); stopped with
 * {@linkcode RedisServer.stop}, and started again on the same port with
 * {@linkcode RedisServer.restart}. Also `redis-cli`, for looking at what the
 * program stored.
 *
 * @module
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Why the Redis tests cannot run here, or undefined when `redis-server` is installed. */
export function redisMissing(): string | undefined {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
    execFileSync("redis-cli", ["--version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "redis-server is not installed (apt-get install -y redis-server)";
  }
}

/** Options of {@linkcode startRedis}. */
export interface RedisServerOptions {
  /** `requirepass`: the password. */
  readonly password?: string;
  /** Serve TLS (only TLS) with a certificate for 127.0.0.1 signed by a CA made here. */
  readonly tls?: boolean;
}

/** A running (or stopped) redis-server. */
export interface RedisServer {
  readonly port: number;
  /** The server's process id (for SIGSTOP), while it runs. */
  readonly pid: number;
  /** `redis://127.0.0.1:PORT` or `rediss://127.0.0.1:PORT`. */
  readonly url: string;
  /** The CA's PEM file (TLS only). */
  readonly caFile: string | undefined;
  /** A folder for the test's files, removed by {@linkcode close}. */
  readonly dir: string;
  /** Runs a command with redis-cli; its output. */
  cli(...args: string[]): string;
  /** Kills the server (SIGKILL) and waits until it is gone; its data is lost. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  /** Stops it and removes its files. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function makeCa(dir: string): { ca: string; cert: string; key: string } {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=test CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
  );
  run(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    "leaf.key",
    "-out",
    "leaf.csr",
  );
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  run(
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
    "-out",
    "leaf.pem",
  );
  return { ca: join(dir, "ca.pem"), cert: join(dir, "leaf.pem"), key: join(dir, "leaf.key") };
}

/** Starts a redis-server on a free port of 127.0.0.1. */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-redis-"));
  const port = await freePort();
  const tls = options.tls === true ? makeCa(dir) : undefined;
  const args = [
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    ...(tls === undefined ? ["--port", String(port)] : [
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--tls-cert-file",
      tls.cert,
      "--tls-key-file",
      tls.key,
      "--tls-ca-cert-file",
      tls.ca,
      "--tls-auth-clients",
      "no",
    ]),
    ...(options.password === undefined ? [] : ["--requirepass", options.password]),
  ];
  let child: ChildProcess | undefined;
  const cliArgs = [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    ...(tls === undefined ? [] : ["--tls", "--cacert", tls.ca]),
  ];
  const cli = (...command: string[]): string =>
    execFileSync("redis-cli", [...cliArgs, ...command], {
      encoding: "utf8",
      env: {
        ...process.env,
        ...(options.password === undefined ? {} : { REDISCLI_AUTH: options.password }),
      },
    });
  const start = async () => {
    child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    await new Promise<void>((resolve, reject) => {
      const seen = (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes("Ready to accept connections")) resolve();
      };
      child!.stdout!.on("data", seen);
      child!.stderr!.on("data", seen);
      child!.once("exit", (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
    });
    child.stdout!.resume();
    child.stderr!.resume();
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((resolve) => c.once("exit", resolve));
    c.kill("SIGKILL");
    await gone;
  };
  await start();
  return {
    port,
    get pid() {
      return child?.pid ?? -1;
    },
    url: `${tls === undefined ? "redis" : "rediss"}://127.0.0.1:${port}`,
    caFile: tls?.ca,
    dir,
    cli,
    stop,
    restart: start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
