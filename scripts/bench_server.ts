/**
 * Loopback JSON API for `scripts/bench.ts`: a minimal keep-alive HTTP server that answers the
 * `login` and `exists` endpoints for a fixed, deterministic set of accounts, so that every reply
 * of the program under test can be checked.
 *
 * Run it on its own (the benchmark starts it as a separate process so that it does not share the
 * event loop of the client being measured):
 *
 * ```sh
 * bun scripts/bench_server.ts                 # Bun.serve (default under Bun)
 * deno run -A scripts/bench_server.ts         # Deno.serve (default under Deno)
 * bun scripts/bench_server.ts --impl node     # node:http under either runtime
 * ```
 *
 * It prints `LISTENING <port>` on stdout once it accepts connections and exits when stdin closes.
 * A request whose body does not match the contract (wrong `username`, missing field, unknown
 * server) gets HTTP 400, which the program must turn into a backend error: the benchmark then sees
 * a wrong reply and fails.
 *
 * It is not the tests' fake API (`tests/helpers/api_server.ts`) on purpose: that one records every
 * request with its headers and body, keeps a user table and hashes passwords for a constant-time
 * compare (the example API's endpoint table), all work per request that would be measured as the
 * program's. This one answers from a fixed rule with precomputed bodies, on the runtime's own
 * server (`Bun.serve`/`Deno.serve`) in a process of its own.
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import process from "node:process";

/** The XMPP domain every benchmark request uses. */
export const BENCH_SERVER = "bench.example";

/** Number of accounts the loopback API knows: `user0` … `user999`. */
export const BENCH_USERS = 1000;

/**
 * The password of account number `i`: it carries a colon and non-ASCII text, as real passwords
 * may, so that the program's framing and UTF-8 handling are exercised on every request.
 *
 * @example Password of the first account
 * ```ts
 * benchPassword(0); // "pw:0:grüße"
 * ```
 */
export function benchPassword(i: number): string {
  return `pw:${i}:grüße`;
}

/** The outcome of one API call: the `success` field, or `null` for HTTP 400. */
type Verdict = boolean | null;

const USER_RE = /^user(\d{1,4})$/;

function accountIndex(user: string): number {
  const m = USER_RE.exec(user);
  if (m === null || m[1] === undefined) return -1;
  const i = Number(m[1]);
  return i < BENCH_USERS && String(i) === m[1] ? i : -1;
}

/**
 * Decides the answer of the loopback API for one endpoint and JSON body.
 *
 * @example A correct login
 * ```ts
 * decide("/login", { username: "user1@bench.example", user: "user1", server: "bench.example", password: "pw:1:grüße" }); // true
 * ```
 */
export function decide(path: string, body: unknown): Verdict {
  if (typeof body !== "object" || body === null) return null;
  const b = body as Record<string, unknown>;
  const { username, password } = b;
  let { user, server } = b;
  // The old Python script (scripts/old_extauth.py) sends only "username": the JID.
  if (user === undefined && server === undefined && typeof username === "string") {
    const at = username.lastIndexOf("@");
    user = username.slice(0, at);
    server = username.slice(at + 1);
  }
  if (typeof user !== "string" || typeof server !== "string") return null;
  if (server !== BENCH_SERVER || username !== `${user}@${server}`) return null;
  const i = accountIndex(user);
  switch (path) {
    case "/login":
      if (typeof password !== "string") return null;
      return i >= 0 && password === benchPassword(i);
    case "/exists":
      if ("password" in b) return null;
      return i >= 0;
    default:
      return null;
  }
}

const TRUE_BODY = '{"success":true}';
const FALSE_BODY = '{"success":false}';
const BAD_BODY = '{"success":false,"message":"bad request"}';

function answer(verdict: Verdict): { status: number; body: string } {
  if (verdict === null) return { status: 400, body: BAD_BODY };
  return { status: 200, body: verdict ? TRUE_BODY : FALSE_BODY };
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Which server implementation to run. */
export type ServerImpl = "bun" | "deno" | "node";

interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    fetch(req: Request): Promise<Response>;
  }): { port: number; stop(force?: boolean): void };
}

interface DenoServe {
  serve(
    options: { hostname: string; port: number; onListen?: (addr: { port: number }) => void },
    handler: (req: Request) => Promise<Response>,
  ): { finished: Promise<void>; shutdown(): Promise<void> };
}

const HEADERS = { "content-type": "application/json" };

async function handleFetch(req: Request): Promise<Response> {
  const path = new URL(req.url).pathname;
  const verdict = req.method === "POST" ? decide(path, parse(await req.text())) : null;
  const { status, body } = answer(verdict);
  return new Response(body, { status, headers: HEADERS });
}

function startNode(port: number): Promise<number> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      const text = Buffer.concat(chunks).toString("utf8");
      const verdict = req.method === "POST" ? decide(path, parse(text)) : null;
      const { status, body } = answer(verdict);
      res.writeHead(status, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 600_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const addr = server.address();
      resolve(typeof addr === "object" && addr !== null ? addr.port : port);
    });
  });
}

/**
 * Starts the loopback API on 127.0.0.1 and resolves to the port it listens on.
 *
 * @example Start on a free port with node:http
 * ```ts
 * const port = await startBenchServer("node", 0);
 * ```
 */
export function startBenchServer(impl: ServerImpl, port: number): Promise<number> {
  const g = globalThis as unknown as { Bun?: BunServe; Deno?: DenoServe };
  if (impl === "bun") {
    if (g.Bun === undefined) throw new Error("Cannot start Bun.serve: not running under Bun");
    const server = g.Bun.serve({ hostname: "127.0.0.1", port, fetch: handleFetch });
    return Promise.resolve(server.port);
  }
  if (impl === "deno") {
    const deno = g.Deno;
    if (deno === undefined) throw new Error("Cannot start Deno.serve: not running under Deno");
    return new Promise((resolve) => {
      deno.serve({ hostname: "127.0.0.1", port, onListen: (a) => resolve(a.port) }, handleFetch);
    });
  }
  return startNode(port);
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const implArg = args[args.indexOf("--impl") + 1];
  const portArg = args[args.indexOf("--port") + 1];
  const isBun = "Bun" in globalThis;
  const impl: ServerImpl = args.includes("--impl") && implArg !== undefined
    ? (implArg as ServerImpl)
    : isBun
    ? "bun"
    : "deno";
  if (!["bun", "deno", "node"].includes(impl)) {
    console.error(`Cannot start server: unknown --impl ${impl} (bun, deno, node)`);
    process.exit(2);
  }
  const port = await startBenchServer(impl, args.includes("--port") ? Number(portArg) : 0);
  process.stdout.write(`LISTENING ${port}\n`);
  // Exit when the parent closes our stdin (or dies).
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("close", () => process.exit(0));
  process.stdin.resume();
}
