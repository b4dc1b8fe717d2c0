import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** Answers one request; `body` is the request body as text. */
export type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** A request as the server saw it. */
export interface Seen {
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

/** A running {@linkcode listen} server. */
export interface ProgrammableServer {
  readonly url: string;
  /** Requests seen since the last `on()`. */
  readonly seen: Seen[];
  /** Sets the behaviour for the next requests and forgets those seen. */
  on(handler: Handler): void;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 whose behaviour each test sets. */
export async function listen(): Promise<ProgrammableServer> {
  let handler: Handler = (_req, _body, res) => res.end();
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Uint8Array[] = [];
    req.on("data", (c: Uint8Array) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ path: req.url ?? "", headers: req.headers, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    on: (h) => {
      handler = h;
      seen.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** Sends a JSON (or, given a string, raw) answer. */
export function reply(res: ServerResponse, status: number, data: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(typeof data === "string" ? data : JSON.stringify(data));
}
