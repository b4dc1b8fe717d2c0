/**
 * Demo: plays ejabberd against the real xmpp-extauth program and the bundled example API.
 *
 * It starts scripts/example_api.ts on a free loopback port, starts xmpp-extauth with
 * `--url` pointing at it, writes a short scripted ejabberd session to its stdin (2-byte
 * big-endian length + `op:user:server[:password]`, one request at a time, waiting for each
 * 4-byte reply, as ejabberd does) and prints what was asked and answered. Passwords are masked.
 *
 * ```sh
 * deno task demo                              # program = deno run main.ts
 * bun scripts/demo.ts                         # program = bun main.ts
 * deno task demo --binary dist/xmpp-extauth   # program = a compiled binary
 * deno task demo --verbose                    # also show the program's log (stderr)
 * deno task demo -- --timeout 1s              # pass options after -- on to the program
 * ```
 *
 * Exits 0 when every reply is the expected one and the program exits cleanly on end of input,
 * 1 otherwise.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { relative } from "node:path";
import { performance } from "node:perf_hooks";
import process from "node:process";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startExampleApi } from "./example_api.ts";

/** One request of the scripted session and the answer it must get. */
interface Step {
  op: "auth" | "isuser" | "setpass" | "tryregister" | "removeuser" | "removeuser3";
  user: string;
  server: string;
  password?: string;
  expect: boolean;
  why: string;
}

/** The scripted session, run against the example API's seeded users (alice, bob). */
// deno-fmt-ignore
const SESSION: Step[] = [
  { op: "auth", user: "alice", server: "localhost", password: "wonderland", expect: true, why: "right password" },
  { op: "auth", user: "alice", server: "localhost", password: "Wonderland", expect: false, why: "wrong password" },
  { op: "isuser", user: "alice", server: "localhost", expect: true, why: "existing user" },
  { op: "isuser", user: "nobody", server: "localhost", expect: false, why: "unknown user" },
  { op: "tryregister", user: "carol", server: "localhost", password: "s3:cr:et wörd ✓", expect: true, why: "new user, password with ':' and non-ASCII" },
  { op: "auth", user: "carol", server: "localhost", password: "s3:cr:et wörd ✓", expect: true, why: "her password, colons and all" },
  { op: "tryregister", user: "alice", server: "localhost", password: "taken", expect: false, why: "user exists already" },
  { op: "setpass", user: "carol", server: "localhost", password: "n€w:pass", expect: true, why: "change password" },
  { op: "auth", user: "carol", server: "localhost", password: "s3:cr:et wörd ✓", expect: false, why: "old password no longer works" },
  { op: "auth", user: "carol", server: "localhost", password: "n€w:pass", expect: true, why: "new password works" },
  { op: "removeuser3", user: "bob", server: "localhost", password: "not-bobs", expect: false, why: "delete with wrong password" },
  { op: "removeuser", user: "carol", server: "localhost", expect: true, why: "delete account" },
  { op: "isuser", user: "carol", server: "localhost", expect: false, why: "gone" },
];

/** How long to wait for one reply: ejabberd gives up after 30 s. */
const REPLY_TIMEOUT_MS = 30_000;
/** How long the program may take to exit once its stdin is closed. */
const EXIT_TIMEOUT_MS = 5_000;

const REPLIES: Record<string, string> = {
  "00020001": "true",
  "00020000": "false",
  "00020002": "error",
};

/** Encodes one ejabberd request as a length-prefixed frame. */
function frame(step: Step): Buffer {
  const fields = [step.op, step.user, step.server];
  if (step.password !== undefined) fields.push(step.password);
  const payload = Buffer.from(fields.join(":"), "utf8");
  const header = Buffer.alloc(2);
  header.writeUInt16BE(payload.length);
  return Buffer.concat([header, payload]);
}

/** Reads exact byte counts from the program's stdout, failing if it exits or stalls first. */
class ReplyReader {
  #buffer = Buffer.alloc(0);
  #closed: string | undefined;
  #wake: (() => void) | undefined;

  constructor(stream: Readable, child: ChildProcessWithoutNullStreams) {
    stream.on("data", (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake?.();
    });
    child.on("exit", (code, signal) => {
      this.#closed = signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
      this.#wake?.();
    });
    child.on("error", (error) => {
      this.#closed = `could not be started: ${error.message}`;
      this.#wake?.();
    });
  }

  /** Bytes received that no read has taken. */
  get leftover(): Buffer {
    return this.#buffer;
  }

  /** Resolves with the next `n` bytes. */
  async read(n: number, timeoutMs: number): Promise<Buffer> {
    const deadline = performance.now() + timeoutMs;
    while (this.#buffer.length < n) {
      if (this.#closed !== undefined) throw new Error(`the program ${this.#closed}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs / 1000} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    const bytes = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return bytes;
  }
}

/** The command that runs xmpp-extauth: a binary, or main.ts under the running runtime. */
function programCommand(binary: string | undefined): string[] {
  if (binary !== undefined) return [binary];
  const main = fileURLToPath(new URL("../main.ts", import.meta.url));
  if (process.versions.bun !== undefined) return [process.execPath, main];
  if (process.versions.deno !== undefined) {
    // The same permissions as `deno task start` and the compiled binaries.
    return [
      process.execPath,
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      "--allow-write",
      main,
    ];
  }
  throw new Error("Cannot run main.ts under Node.js: use deno, bun or --binary PATH");
}

/** Shows a command for humans: paths relative to the working directory, runtime by name. */
function showCommand(argv: string[]): string {
  return argv.map((arg, i) => {
    if (i === 0 && arg === process.execPath) return process.versions.bun ? "bun" : "deno";
    if (!arg.startsWith("/")) return arg;
    const near = relative(process.cwd(), arg);
    return near.startsWith("..") ? arg : near;
  }).join(" ");
}

/** Waits for the child to exit, up to `ms`; resolves with a description or undefined. */
function waitForExit(
  child: ChildProcessWithoutNullStreams,
  ms: number,
): Promise<{ code: number | null; signal: string | null } | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

const USAGE = `Usage: demo.ts [--binary PATH] [--verbose] [-- PROGRAM OPTIONS...]

Starts the example API and xmpp-extauth, plays a short ejabberd session and prints it.
  --binary PATH  run this compiled xmpp-extauth instead of main.ts
  --verbose      run the program with --log-level debug and print its log afterwards`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: {
      binary: { type: "string" },
      verbose: { type: "boolean", short: "v" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }

  const api = await startExampleApi({ port: 0 });
  const argv = [
    ...programCommand(values.binary),
    "--url",
    api.url,
    ...(values.verbose ? ["--log-level", "debug"] : []),
    ...positionals,
  ];
  console.log("xmpp-extauth demo: ejabberd's side of the conversation, played by a script\n");
  console.log(`  example API  ${api.url}  (users: ${[...api.users.keys()].join(", ")})`);
  console.log(`  program      ${showCommand(argv)}\n`);

  const [command = "", ...args] = argv;
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  let startFailed = false;
  child.on("error", () => (startFailed = true));
  const reader = new ReplyReader(child.stdout, child);
  let log = "";
  child.stderr.on("data", (chunk: Buffer) => (log += chunk.toString("utf8")));
  // Writing to a program that died raises EPIPE; the reader reports the exit instead.
  child.stdin.on("error", () => {});

  let sent = 0;
  let expected = 0;
  let problem: string | undefined;
  const width = Math.max(...SESSION.map((s) => `${s.op} ${s.user}@${s.server}`.length));
  const started = performance.now();
  let firstReply: number | undefined;
  for (const step of SESSION) {
    const what = `${step.op} ${step.user}@${step.server}`.padEnd(width);
    const secret = step.password === undefined ? "" : "(password ********)";
    const asked = `  ${what}  ${secret.padEnd(19)}`;
    child.stdin.write(frame(step));
    sent++;
    let reply: Buffer;
    try {
      reply = await reader.read(4, REPLY_TIMEOUT_MS);
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
      console.log(`${asked}  → no reply: ${problem}`);
      break;
    }
    firstReply ??= performance.now() - started;
    const hex = reply.toString("hex");
    const answer = REPLIES[hex] ?? `malformed reply ${hex}`;
    const ok = answer === String(step.expect);
    if (ok) expected++;
    const verdict = ok ? `  ${step.why}` : `  UNEXPECTED: wanted ${step.expect} (${step.why})`;
    console.log(`${asked}  → ${answer.padEnd(5)}${verdict}`);
  }
  const elapsed = Math.round(performance.now() - started);

  // ejabberd closes the port to stop the program: it must exit by itself, having written
  // nothing but replies.
  child.stdin.end();
  const exit = startFailed ? undefined : await waitForExit(child, EXIT_TIMEOUT_MS);
  if (exit === undefined) child.kill("SIGKILL");
  await api.close();

  const problems: string[] = [];
  if (problem !== undefined) problems.push(problem);
  if (startFailed) {
    // Already reported as the reason for the missing reply.
  } else if (exit === undefined) {
    problems.push(`the program did not exit within ${EXIT_TIMEOUT_MS / 1000} s of end of input`);
  } else if (problem === undefined && exit.code !== 0) {
    problems.push(`the program exited with ${exit.code ?? exit.signal} on end of input`);
  }
  if (reader.leftover.length > 0) {
    problems.push(`the program wrote ${reader.leftover.length} stray bytes to stdout`);
  }

  const total = SESSION.length;
  const stopped = sent < total
    ? ` (stopped after ${sent} of ${total})`
    : ` (${Math.round(firstReply ?? 0)} ms of it until the first reply: start-up)`;
  console.log(
    `\n${sent} request${
      sent === 1 ? "" : "s"
    }, ${expected} answered as expected in ${elapsed} ms${stopped}`,
  );
  for (const p of problems) console.log(`problem: ${p}`);
  const failed = expected !== total || problems.length > 0;
  if ((failed || values.verbose) && log.trim() !== "") {
    console.log("\nprogram log (stderr):");
    for (const line of log.trimEnd().split("\n")) console.log(`  ${line}`);
  }
  return failed ? 1 : 0;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(2);
    },
  );
}
