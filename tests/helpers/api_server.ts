/**
 * The one fake API of the TypeScript tests: the JSON contract of README ("The
 * HTTP contract") on 127.0.0.1, port 0, built on `node:http` (or `node:https`
 * with {@linkcode ApiOptions.tls}) so that it runs under Deno and Bun alike.
 * Every request is recorded (method, path, headers, raw body, parsed JSON)
 * before it is answered, so a test that has read xmpp-extauth's reply can
 * assert on what the API saw.
 *
 * How it answers is a {@linkcode Mode}, set per endpoint or globally,
 * persistent (`setMode`) or one-shot (`queueModes`):
 *
 * - fixed answers (`normal`: the contract from the in-memory users, answered by
 *   the example API's own endpoint table, `scripts/example_api.ts`; `status500`,
 *   `html`, `emptyObject`, `successString`);
 * - echoes of the password (`echo500`, `echoLate500`, `echoFalse`);
 * - closed (`hangUp`: the socket is destroyed; {@linkcode closedPort}: nothing listens);
 * - slow (`{ slow: ms }`), hold/release (`{ hold, arrived }`);
 * - programmable per request (`{ handle }`, or {@linkcode listen} for a server
 *   that answers every path with the handler a test sets).
 *
 * The other fake APIs are separate on purpose: `scripts/bench_server.ts` is the
 * benchmark's minimal server in its own process (see its header) and
 * `scripts/e2e/api.py` runs beside ejabberd under Debian's python3.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer } from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ENDPOINTS as EXAMPLE_ENDPOINTS } from "../../scripts/example_api.ts";

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
 *   and sent once the promise `hold` settles: a confirmation that crosses a change;
 * - `{ handle }`: whatever the test's {@linkcode Handler} sends. Set globally, it also
 *   answers the paths that are no endpoint (else answered 404).
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
  | { readonly hold: Promise<unknown>; readonly arrived?: () => void }
  | { readonly handle: Handler };

/**
 * Answers one request as a test wants: `body` is the request body as text,
 * `recorded` the request as recorded (raw bytes included).
 */
export type Handler = (
  req: IncomingMessage,
  body: string,
  res: ServerResponse,
  recorded: RecordedRequest,
) => void;

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
  /** Header name/value pairs as sent, in order. */
  readonly rawHeaders: readonly string[];
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
  /** The address to listen on (default `127.0.0.1`; `::` for every local address). */
  readonly hostname?: string;
  /** The initial global mode (default `normal`); `reset()` goes back to it. */
  readonly mode?: Mode;
  /** Serve HTTPS with this key and certificate (PEM) instead of HTTP. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
}

/** A running API. */
export interface Api {
  /** `http://127.0.0.1:PORT` (`https://` with `tls`) and the prefix, without a trailing slash. */
  readonly url: string;
  /** `http://127.0.0.1:PORT` (`https://` with `tls`). */
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
  /** Back to the start: modes and queues cleared, requests forgotten, users as at start. */
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
  const initialMode: Mode = options.mode ?? "normal";
  let globalMode: Mode = initialMode;
  const modes = new Map<Endpoint, Mode>();
  const queues = new Map<Endpoint, Mode[]>();
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();

  /** The contract's answer, from the example API's endpoint table; undefined for a bad body. */
  const contract = (endpoint: Endpoint, c: Credentials): string | undefined => {
    const handler = EXAMPLE_ENDPOINTS[`/${endpoint}`]!;
    if (handler.needsPassword && c.password === undefined) return undefined;
    const credentials = c.password === undefined
      ? { username: c.jid }
      : { username: c.jid, password: c.password };
    return JSON.stringify(handler.handle(credentials, users));
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
    if (typeof mode === "object" && "handle" in mode) {
      mode.handle(req, recorded.body, res, recorded);
      return;
    }
    if (typeof mode === "object" && "hold" in mode) {
      const c = credentials(recorded.json);
      const body = c === undefined ? undefined : contract(endpoint, c);
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
      case "normal": {
        const answer = req.method === "POST" && c !== undefined ? contract(endpoint, c) : undefined;
        if (answer === undefined) {
          return send(res, 400, "application/json", '{"error":"expected a POST of credentials"}');
        }
        return send(res, 200, "application/json", answer);
      }
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
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
        rawHeaders: [...req.rawHeaders],
        rawBody: new Uint8Array(raw),
        body,
        json,
      };
      requests.push(recorded);
      if (endpoint === undefined) {
        if (typeof globalMode === "object" && "handle" in globalMode) {
          return globalMode.handle(req, body, res, recorded);
        }
        return send(res, 404, "application/json", '{"error":"not found"}');
      }
      const mode = queues.get(endpoint)?.shift() ?? modes.get(endpoint) ?? globalMode;
      answer(req, res, recorded, mode);
    });
  };
  const server = options.tls === undefined
    ? createServer(onRequest)
    : createTlsServer({ key: options.tls.key, cert: options.tls.cert }, onRequest);
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, options.hostname ?? "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `${options.tls === undefined ? "http" : "https"}://127.0.0.1:${port}`;
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
      globalMode = initialMode;
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
        server.closeAllConnections?.();
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

/**
 * A server whose behaviour each test sets: every path is answered by the
 * handler given to `on()` (by default an empty 200).
 */
export interface ProgrammableServer {
  readonly url: string;
  /** Requests seen since the last `on()`. */
  readonly seen: readonly RecordedRequest[];
  /** Sets the behaviour for the next requests and forgets those seen. */
  on(handler: Handler): void;
  close(): Promise<void>;
}

/**
 * Starts a {@linkcode ProgrammableServer}: {@linkcode startApi} with a global `{ handle }` mode.
 *
 * @example Answer every request with a fixed JSON
 * ```ts
 * import { listen, reply } from "./api_server.ts";
 * const server = await listen();
 * server.on((_req, _body, res) => reply(res, 200, { success: true }));
 * await server.close();
 * ```
 */
export async function listen(): Promise<ProgrammableServer> {
  const api = await startApi({ mode: { handle: (_req, _body, res) => res.end() } });
  return {
    url: api.url,
    seen: api.requests,
    on(handle) {
      api.setMode({ handle });
      api.requests.length = 0;
    },
    close: () => api.close(),
  };
}

/** Sends a JSON (or, given a string, raw) answer. */
export function reply(res: ServerResponse, status: number, data: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(typeof data === "string" ? data : JSON.stringify(data));
}

/** A port on 127.0.0.1 where nothing listens: every request to it is refused. */
export async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
