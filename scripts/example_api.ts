/**
 * Example HTTP JSON API for xmpp-extauth: the file a site copies to start its own.
 *
 * xmpp-extauth turns every request from ejabberd (or Prosody) into one HTTP call:
 *
 * ```text
 * POST {URL}/{endpoint}
 * Content-Type: application/json
 * Authorization: Bearer TOKEN            (only when xmpp-extauth has --token-file)
 *
 * {"username": "alice@example.org", "user": "alice", "server": "example.org", "password": "..."}
 * ```
 *
 * | ejabberd request          | endpoint       | body carries `password` |
 * | ------------------------- | -------------- | ----------------------- |
 * | `auth:U:S:P`              | `/login`       | yes                     |
 * | `isuser:U:S`              | `/exists`      | no                      |
 * | `setpass:U:S:P`           | `/setpass`     | yes                     |
 * | `tryregister:U:S:P`       | `/tryregister` | yes                     |
 * | `removeuser:U:S`          | `/removeuser`  | no                      |
 * | `removeuser3:U:S:P`       | `/removeuser3` | yes                     |
 *
 * The API answers with HTTP 2xx and a JSON object whose boolean `success` is the answer
 * ejabberd gets: `{"success": true}` or `{"success": false, "message": "why"}` (`message` is
 * optional and only logged). Anything else (another status code, a body that is not such an
 * object, a timeout) is a *backend error*: xmpp-extauth retries, then tells ejabberd the call
 * failed, and ejabberd does not cache the result. So answer `false` only when the answer really is
 * "no", and fail loudly (5xx) when your database is down.
 *
 * This example keeps its users in memory (they are lost when it stops). Replace the `Map` with
 * your database; keep the HTTP side as it is.
 *
 * Run it (port 0 picks a free port; the URL it listens on is printed on stdout, its users and
 * a request to try on stderr):
 *
 * ```sh
 * deno run -A scripts/example_api.ts --port 8080
 * bun scripts/example_api.ts --port 8080
 * EXAMPLE_API_TOKEN=s3cret deno run -A scripts/example_api.ts   # require "Authorization: Bearer s3cret"
 * deno run -A scripts/example_api.ts --users users.json         # {"alice@localhost": "wonderland", ...}
 * ```
 *
 * Try it by hand:
 *
 * ```sh
 * curl -s -d '{"username":"alice@localhost","user":"alice","server":"localhost","password":"wonderland"}' \
 *   http://127.0.0.1:8080/login
 * # {"success":true}
 * ```
 *
 * It uses only `node:` modules, so the same file runs under Deno, Bun and Node.js.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { parseArgs } from "node:util";

/** The users this example starts with when no `users` (or `--users FILE`) are given. */
export const DEFAULT_USERS: Readonly<Record<string, string>> = {
  "alice@localhost": "wonderland",
  "bob@localhost": "builder",
};

/** Options for {@linkcode startExampleApi}. */
export interface ExampleApiOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Address to listen on; default `127.0.0.1` (loopback only). */
  hostname?: string;
  /** Initial users, keyed by `user@server`, value = password. Default: {@linkcode DEFAULT_USERS}. */
  users?: Record<string, string>;
  /** When set, every request must carry `Authorization: Bearer <token>` (else HTTP 401). */
  token?: string;
  /** Called with one line per request (never with a password or the token). Default: silent. */
  log?: (line: string) => void;
}

/** A running example API, as returned by {@linkcode startExampleApi}. */
export interface ExampleApi {
  /** Base URL to give xmpp-extauth as `--url`, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  url: string;
  /** The live user table (`user@server` → password); tests may look at it or change it. */
  users: Map<string, string>;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/** The answer an endpoint gives: becomes the JSON body of a 200 response. */
export interface Answer {
  success: boolean;
  message?: string;
}

/** A request body after checking: what every endpoint handler receives. */
export interface Credentials {
  /** `user@server`, the key of the user table. */
  username: string;
  /** Present for login, setpass, tryregister and removeuser3. */
  password?: string;
}

/** An HTTP error answer (4xx) for a request the API cannot take. */
class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Largest request body accepted. ejabberd cannot send requests over 65535 bytes anyway. */
const MAX_BODY_BYTES = 256 * 1024;

/** Compares two secrets in constant time (hashing first makes the lengths equal). */
function sameSecret(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a, "utf8").digest();
  const hb = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(ha, hb);
}

/** One endpoint: whether its body must carry a password, and its answer. */
export interface ExampleEndpoint {
  readonly needsPassword: boolean;
  handle(c: Credentials, users: Map<string, string>): Answer;
}

/**
 * The six endpoints, keyed by path. Each gets the checked request body and the user table and
 * returns the answer. This is the part a site replaces with its own database calls. (The tests'
 * fake API, `tests/helpers/api_server.ts`, answers with this same table.)
 *
 * @example Ask the table directly
 * ```ts
 * import assert from "node:assert/strict";
 * const users = new Map([["alice@localhost", "wonderland"]]);
 * const answer = ENDPOINTS["/login"]!.handle({ username: "alice@localhost", password: "x" }, users);
 * assert.deepEqual(answer, { success: false, message: "wrong user name or password" });
 * ```
 */
export const ENDPOINTS: Readonly<Record<string, ExampleEndpoint>> = {
  // auth: is this the user's password?
  "/login": {
    needsPassword: true,
    handle({ username, password = "" }, users) {
      const stored = users.get(username);
      // Compare even for unknown users, so the timing does not tell which users exist.
      const ok = sameSecret(stored ?? "", password) && stored !== undefined;
      return ok ? { success: true } : { success: false, message: "wrong user name or password" };
    },
  },
  // isuser: does the account exist? ejabberd asks this very often: keep it cheap.
  "/exists": {
    needsPassword: false,
    handle({ username }, users) {
      return users.has(username) ? { success: true } : { success: false, message: "no such user" };
    },
  },
  // setpass: change the password of an existing account (ejabberdctl change_password, XEP-0077).
  "/setpass": {
    needsPassword: true,
    handle({ username, password = "" }, users) {
      if (!users.has(username)) return { success: false, message: "no such user" };
      users.set(username, password);
      return { success: true };
    },
  },
  // tryregister: create an account; "false" when it already exists (or registration is closed).
  "/tryregister": {
    needsPassword: true,
    handle({ username, password = "" }, users) {
      if (users.has(username)) return { success: false, message: "user already exists" };
      users.set(username, password);
      return { success: true };
    },
  },
  // removeuser: delete an account (ejabberdctl unregister, admin action).
  "/removeuser": {
    needsPassword: false,
    handle({ username }, users) {
      if (!users.delete(username)) return { success: false, message: "no such user" };
      return { success: true };
    },
  },
  // removeuser3: delete an account, but only with its password (a user deleting themselves).
  "/removeuser3": {
    needsPassword: true,
    handle({ username, password = "" }, users) {
      const stored = users.get(username);
      if (stored === undefined || !sameSecret(stored, password)) {
        return { success: false, message: "wrong user name or password" };
      }
      users.delete(username);
      return { success: true };
    },
  },
};

/** Reads the whole request body, refusing more than {@linkcode MAX_BODY_BYTES}. */
function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `request body exceeds ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** Checks the JSON body: `username` is required; `password` where the endpoint needs it. */
function parseCredentials(text: string, needsPassword: boolean): Credentials {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, "request body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "request body must be a JSON object");
  }
  const { username, password } = body as Record<string, unknown>;
  // `user` and `server` are also sent (username = user@server); this example only needs username.
  if (typeof username !== "string" || username === "") {
    throw new HttpError(400, 'field "username" must be a non-empty string');
  }
  if (!needsPassword) return { username };
  if (typeof password !== "string") {
    throw new HttpError(400, 'field "password" must be a string');
  }
  return { username, password };
}

/** Sends a JSON answer. */
function send(res: http.ServerResponse, status: number, answer: Answer): void {
  const body = JSON.stringify(answer);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * Starts the example API on `hostname:port` and resolves once it is listening.
 *
 * @example Start on a free port, ask it, stop it
 * ```ts
 * const api = await startExampleApi({ port: 0 });
 * const res = await fetch(`${api.url}/exists`, {
 *   method: "POST",
 *   body: JSON.stringify({ username: "alice@localhost", user: "alice", server: "localhost" }),
 * });
 * console.log(await res.json()); // { success: true }
 * await api.close();
 * ```
 */
export function startExampleApi(options: ExampleApiOptions = {}): Promise<ExampleApi> {
  const users = new Map(Object.entries(options.users ?? DEFAULT_USERS));
  const { token, log } = options;
  const hostname = options.hostname ?? "127.0.0.1";

  const server = http.createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    try {
      const endpoint = ENDPOINTS[path];
      if (endpoint === undefined) throw new HttpError(404, `unknown endpoint ${path}`);
      if (req.method !== "POST") throw new HttpError(405, "use POST");
      // Optional shared secret: xmpp-extauth sends it with --token-file / XMPP_EXTAUTH_TOKEN.
      // A wrong token is a 401, not {"success": false}: a misconfiguration must show up as an
      // error in ejabberd's log, not as every user being refused.
      if (token !== undefined) {
        const given = req.headers.authorization ?? "";
        if (!given.startsWith("Bearer ") || !sameSecret(given.slice(7), token)) {
          throw new HttpError(401, "missing or wrong bearer token");
        }
      }
      const credentials = parseCredentials(await readBody(req), endpoint.needsPassword);
      const answer = endpoint.handle(credentials, users);
      log?.(`POST ${path} ${credentials.username} -> ${answer.success}`);
      send(res, 200, answer);
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      const message = error instanceof Error ? error.message : String(error);
      log?.(`${req.method} ${path} -> HTTP ${status} ${message}`);
      if (!res.headersSent) send(res, status, { success: false, message });
    }
  });

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, hostname, () => {
      server.off("error", reject);
      const { port } = server.address() as AddressInfo;
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      resolve({
        url: `http://${host}:${port}`,
        users,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // Keep-alive connections would hold close() open; end them (Node >= 18.2, Deno, Bun).
            server.closeAllConnections?.();
          }),
      });
    });
  });
}

/** Reads `--users FILE`: a JSON object `{"user@server": "password", ...}`. */
function readUsersFile(path: string): Record<string, string> {
  const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`Cannot read users file ${path}: expected a JSON object`);
  }
  const users: Record<string, string> = {};
  for (const [jid, password] of Object.entries(parsed)) {
    if (typeof password !== "string") {
      throw new Error(`Cannot read users file ${path}: password of ${jid} is not a string`);
    }
    users[jid] = password;
  }
  return users;
}

const USAGE = `Usage: example_api.ts [--port N] [--hostname ADDR] [--users FILE]

  --port N         TCP port (default 8080; 0 = any free port)
  --hostname ADDR  address to listen on (default 127.0.0.1)
  --users FILE     JSON object {"user@server": "password"} (default: alice@localhost/wonderland,
                   bob@localhost/builder)
  env EXAMPLE_API_TOKEN   require "Authorization: Bearer <token>" on every request

Prints the URL it listens on (stdout), its users and a request to try (stderr), then logs one
line per request on stderr.`;

/**
 * What the example prints on stderr when it starts: its users (with their
 * passwords only for the built-in demo users, never from a --users file) and a
 * request to try.
 */
function startupText(
  url: string,
  users: ReadonlyMap<string, string>,
  usersFile: string | undefined,
  tokenRequired: boolean,
): string {
  const width = Math.max(...[...users.keys()].map((jid) => jid.length));
  const lines = [
    `example API listening on ${url} with ${users.size} user${users.size === 1 ? "" : "s"}` +
    (usersFile === undefined ? "" : ` (passwords from ${usersFile})`) +
    (tokenRequired ? " (bearer token required)" : "") + ":",
    ...[...users].map(([jid, password]) =>
      usersFile === undefined ? `  ${jid.padEnd(width)}  password: ${password}` : `  ${jid}`
    ),
  ];
  const [jid = "alice@localhost", password] = users.entries().next().value ?? [];
  const [user, server] = [jid.slice(0, jid.lastIndexOf("@")), jid.slice(jid.lastIndexOf("@") + 1)];
  const body = JSON.stringify({
    username: jid,
    user,
    server,
    password: usersFile === undefined ? password : "PASSWORD",
  });
  const auth = tokenRequired ? `-H "Authorization: Bearer $EXAMPLE_API_TOKEN" ` : "";
  lines.push(`try: curl ${auth}-d '${body}' ${url}/login`);
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      port: { type: "string", default: "8080" },
      hostname: { type: "string", default: "127.0.0.1" },
      users: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`Cannot parse --port: ${values.port} is not a port number`);
  }
  const options: ExampleApiOptions = {
    port,
    hostname: values.hostname,
    log: (line) => console.error(`${new Date().toISOString()} ${line}`),
  };
  if (values.users !== undefined) options.users = readUsersFile(values.users);
  const token = process.env.EXAMPLE_API_TOKEN;
  if (token) options.token = token;

  const api = await startExampleApi(options);
  console.log(api.url);
  console.error(startupText(api.url, api.users, values.users, token !== undefined));
  const stop = () => void api.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
