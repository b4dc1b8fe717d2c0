/**
 * A real HTTP API for the black-box tests: the JSON contract of README ("The
 * HTTP contract") on 127.0.0.1, port 0, built on `node:http` so that it runs
 * under Deno and Bun alike. Users live in memory; every request is recorded
 * (method, path, headers, raw body, parsed JSON) before it is answered, so a
 * test that has read xmpp-extauth's reply can assert on what the API saw.
 * Misbehaviour is programmable per endpoint or globally, persistent
 * (`setMode`) or one-shot (`queueModes`).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** An operation's endpoint name in the JSON contract. */
export type Endpoint =
  | "login"
  | "exists"
  | "setpass"
  | "tryregister"
  | "removeuser"
  | "removeuser3";

/** Every endpoint of the JSON contract. */
export const ENDPOINTS: readonly Endpoint[] = [
  "login",
  "exists",
  "setpass",
  "tryregister",
  "removeuser",
  "removeuser3",
];

/**
 * How the API answers:
 * - `normal`: the contract, from the in-memory users;
 * - `status500`: HTTP 500 with a plain-text body;
 * - `echo500`: HTTP 500 whose short body echoes the password;
 * - `echoLate500`: HTTP 500 echoing the password after 72 characters, so that a
 *   cut at 80 characters falls inside it;
 * - `html`: HTTP 200 with an HTML page;
 * - `emptyObject`: HTTP 200 `{}`;
 * - `successString`: HTTP 200 `{"success":"true"}`;
 * - `echoFalse`: HTTP 200 `{"success":false,"message":"..."}` echoing the password;
 * - `hangUp`: the socket is destroyed without an answer;
 * - `{ slow: ms }`: the normal answer, `ms` milliseconds late;
 * - `{ hold, arrived }`: the normal answer, decided on arrival (`arrived()` is called then)
 *   and sent once the promise `hold` settles: a confirmation that crosses a change.
 */
export type Mode =
  | "normal"
  | "status500"
  | "echo500"
  | "echoLate500"
  | "html"
  | "emptyObject"
  | "successString"
  | "echoFalse"
  | "hangUp"
  | { readonly slow: number }
  | { readonly hold: Promise<unknown>; readonly arrived?: () => void };

/** Shorthand for `{ slow: ms }`. */
export function slow(ms: number): Mode {
  return { slow: ms };
}

/** One request as the API received it. */
export interface RecordedRequest {
  readonly method: string;
  /** The full path, e.g. `/api/v1/login` (query string included, if any). */
  readonly path: string;
  /** The endpoint it was routed to, or undefined for an unknown path (answered 404). */
  readonly endpoint: Endpoint | undefined;
  /** Header names in lower case, as `node:http` gives them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly rawBody: Uint8Array;
  readonly body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown;
}

/** Options of {@linkcode startApi}. */
export interface ApiOptions {
  /** Path prefix before every endpoint, e.g. `/api` (no trailing slash). Default: none. */
  readonly prefix?: string;
  /** Endpoint paths below the prefix, for renamed endpoints, e.g. `{ login: "v1/login" }`. */
  readonly paths?: Readonly<Partial<Record<Endpoint, string>>>;
  /** Initial users: `user@server` → password. */
  readonly users?: Readonly<Record<string, string>>;
}

/** A running API. */
export interface Api {
  /** `http://127.0.0.1:PORT` followed by the prefix, without a trailing slash. */
  readonly url: string;
  /** `http://127.0.0.1:PORT`. */
  readonly origin: string;
  readonly port: number;
  /** Every request received, oldest first. */
  readonly requests: RecordedRequest[];
  /** The users: `user@server` → password. */
  readonly users: Map<string, string>;
  /** Sets the persistent mode of one endpoint, or of all when `endpoint` is omitted. */
  setMode(mode: Mode, endpoint?: Endpoint): void;
  /** Modes used once each, in order, by the next requests to `endpoint` (before any other). */
  queueModes(endpoint: Endpoint, ...modes: Mode[]): void;
  /** Back to normal: modes and queues cleared, requests forgotten, users as at start. */
  reset(): void;
  /** The requests received since the index `from`, routed to `endpoint` if given. */
  since(from: number, endpoint?: Endpoint): RecordedRequest[];
  /** Stops listening and destroys open connections (pending slow answers included). */
  close(): Promise<void>;
}

interface Credentials {
  readonly jid: string;
  readonly password: string | undefined;
}

function credentials(json: unknown): Credentials | undefined {
  if (typeof json !== "object" || json === null) return undefined;
  const { username, user, server, password } = json as Record<string, unknown>;
  if (typeof user !== "string" || typeof server !== "string") return undefined;
  const jid = typeof username === "string" ? username : `${user}@${server}`;
  return { jid, password: typeof password === "string" ? password : undefined };
}

/**
 * Starts the API on 127.0.0.1 at a free port.
 *
 * @example Start, use and close
 * ```ts
 * import { startApi } from "./api_server.ts";
 * const api = await startApi({ users: { "alice@example.com": "wonderland" } });
 * // spawn xmpp-extauth --url api.url ...
 * await api.close();
 * ```
 */
export async function startApi(options: ApiOptions = {}): Promise<Api> {
  const prefix = (options.prefix ?? "").replace(/\/+$/, "");
  const initialUsers = Object.entries(options.users ?? {});
  const users = new Map<string, string>(initialUsers);
  const requests: RecordedRequest[] = [];
  const byPath = new Map<string, Endpoint>(
    ENDPOINTS.map((e) => [`${prefix}/${options.paths?.[e] ?? e}`, e]),
  );
  let globalMode: Mode = "normal";
  const modes = new Map<Endpoint, Mode>();
  const queues = new Map<Endpoint, Mode[]>();
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();

  const contract = (endpoint: Endpoint, c: Credentials): { success: boolean; message?: string } => {
    const known = users.get(c.jid);
    switch (endpoint) {
      case "login":
        return known !== undefined && known === c.password
          ? { success: true }
          : { success: false, message: "wrong user name or password" };
      case "exists":
        return known !== undefined
          ? { success: true }
          : { success: false, message: "no such user" };
      case "setpass":
        if (known === undefined || c.password === undefined) {
          return { success: false, message: "no such user" };
        }
        users.set(c.jid, c.password);
        return { success: true };
      case "tryregister":
        if (known !== undefined || c.password === undefined) {
          return { success: false, message: "user already exists" };
        }
        users.set(c.jid, c.password);
        return { success: true };
      case "removeuser":
        return users.delete(c.jid)
          ? { success: true }
          : { success: false, message: "no such user" };
      case "removeuser3":
        if (known === undefined || known !== c.password) {
          return { success: false, message: "wrong user name or password" };
        }
        users.delete(c.jid);
        return { success: true };
    }
  };

  const send = (res: ServerResponse, status: number, type: string, body: string) => {
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
    res.end(body);
  };

  const answer = (
    req: IncomingMessage,
    res: ServerResponse,
    recorded: RecordedRequest,
    mode: Mode,
  ) => {
    const endpoint = recorded.endpoint!;
    if (typeof mode === "object" && "hold" in mode) {
      const c = credentials(recorded.json);
      const body = c === undefined ? undefined : JSON.stringify(contract(endpoint, c));
      mode.arrived?.();
      mode.hold.finally(() => {
        if (res.destroyed) return;
        if (body === undefined) answer(req, res, recorded, "normal");
        else send(res, 200, "application/json", body);
      });
      return;
    }
    if (typeof mode === "object") {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!res.destroyed) answer(req, res, recorded, "normal");
      }, mode.slow);
      timers.add(timer);
      return;
    }
    const c = credentials(recorded.json);
    switch (mode) {
      case "status500":
        return send(res, 500, "text/plain", "Internal Server Error");
      case "echo500":
        return send(res, 500, "text/plain", `bad password ${c?.password ?? ""}`);
      case "echoLate500":
        return send(
          res,
          500,
          "text/plain",
          `${"x".repeat(62)} password ${c?.password ?? ""} rejected`,
        );
      case "html":
        return send(
          res,
          200,
          "text/html",
          "<!doctype html><html><head><title>Login</title></head><body>Please log in</body></html>",
        );
      case "emptyObject":
        return send(res, 200, "application/json", "{}");
      case "successString":
        return send(res, 200, "application/json", '{"success":"true"}');
      case "echoFalse":
        return send(
          res,
          200,
          "application/json",
          JSON.stringify({ success: false, message: `refused ${c?.password ?? ""}` }),
        );
      case "hangUp":
        req.socket.destroy();
        return;
      case "normal":
        if (req.method !== "POST" || c === undefined) {
          return send(res, 400, "application/json", '{"error":"expected a POST of credentials"}');
        }
        return send(res, 200, "application/json", JSON.stringify(contract(endpoint, c)));
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString("utf8");
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const path = req.url ?? "";
      const endpoint = byPath.get(path);
      const recorded: RecordedRequest = {
        method: req.method ?? "",
        path,
        endpoint,
        headers: { ...req.headers },
        rawBody: new Uint8Array(raw),
        body,
        json,
      };
      requests.push(recorded);
      if (endpoint === undefined) {
        return send(res, 404, "application/json", '{"error":"not found"}');
      }
      const mode = queues.get(endpoint)?.shift() ?? modes.get(endpoint) ?? globalMode;
      answer(req, res, recorded, mode);
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  let closed: Promise<void> | undefined;

  return {
    url: `${origin}${prefix}`,
    origin,
    port,
    requests,
    users,
    setMode(mode, endpoint) {
      if (endpoint === undefined) {
        globalMode = mode;
        modes.clear();
      } else {
        modes.set(endpoint, mode);
      }
    },
    queueModes(endpoint, ...more) {
      queues.set(endpoint, [...(queues.get(endpoint) ?? []), ...more]);
    },
    reset() {
      globalMode = "normal";
      modes.clear();
      queues.clear();
      requests.length = 0;
      users.clear();
      for (const [jid, password] of initialUsers) users.set(jid, password);
    },
    since(from, endpoint) {
      return requests.slice(from).filter((r) => endpoint === undefined || r.endpoint === endpoint);
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}

/** An API with a token file beside it: what the black-box and check suites start from. */
export interface ApiWithToken {
  readonly api: Api;
  /** A temporary folder for the suite's files; removed by `close`. */
  readonly dir: string;
  /** `dir/token`, holding the token and a newline. */
  readonly tokenFile: string;
  /** Stops the API and removes `dir`. */
  close(): Promise<void>;
}

/** Starts an API with these users and writes `token` to a fresh token file. */
export async function startApiWithToken(
  options: ApiOptions,
  token: string,
  prefix: string,
): Promise<ApiWithToken> {
  const api = await startApi(options);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, `${token}\n`);
  return {
    api,
    dir,
    tokenFile,
    async close() {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
