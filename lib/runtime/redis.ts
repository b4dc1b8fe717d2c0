/**
 * The Redis (or Valkey) client of `--cache-url`, behind the small
 * {@linkcode RedisConnection} interface that `lib/cache/redis_cache.ts` uses:
 * Bun's built-in `Bun.RedisClient` under Bun (and so in the compiled
 * executable), node-redis (`npm:@redis/client`, loaded on demand through a
 * computed specifier so that `bun build` never tries to resolve it) under
 * Deno. No protocol code of our own: both clients are maintained ones.
 *
 * Neither client queues commands while disconnected nor reconnects on its
 * own: the cache decides when to connect again (with backoff), and a command
 * on a dead connection fails at once.
 *
 * @module
 */

/** Where and how to connect. The password never appears in `url`. */
export interface RedisConnectOptions {
  /** `redis://HOST:PORT/DB` or `rediss://HOST:PORT/DB` (TLS), without credentials. */
  readonly url: string;
  /** The ACL user (`--cache-password-file` holding `USER:PASSWORD`); undefined: `default`. */
  readonly username?: string;
  /** The password (`requirepass` or the ACL user's); undefined: none. */
  readonly password?: string;
  /** Extra CA certificates (PEM) to trust for `rediss://`, besides the system's. */
  readonly caCerts: readonly string[];
  /** How long connecting (TCP, TLS, AUTH, SELECT) may take. */
  readonly connectTimeoutMs: number;
}

/** One open connection. */
export interface RedisConnection {
  /** Sends one command; rejects on a server error (its message) or a closed connection. */
  send(command: string, args: readonly string[]): Promise<unknown>;
  /** Called once when the connection closes for any reason other than {@linkcode close}. */
  onClose(handler: () => void): void;
  /** Closes the connection; pending commands reject. */
  close(): void;
}

/** Puts the credentials into a URL (for Bun's client, which takes them only there). */
export function withCredentials(url: string, username?: string, password?: string): string {
  if (password === undefined) return url;
  const u = new URL(url);
  u.username = encodeURIComponent(username ?? "default");
  u.password = encodeURIComponent(password);
  return u.href;
}

/** Bun's `RedisClient`, as far as it is used here. */
interface BunRedis {
  connect(): Promise<void>;
  send(command: string, args: string[]): Promise<unknown>;
  close(): void;
  onclose: ((error: Error) => void) | null;
}

/** Connects with Bun's built-in client. */
export async function connectBun(
  RedisClient: new (url: string, options: object) => BunRedis,
  options: RedisConnectOptions,
): Promise<RedisConnection> {
  const tls = options.url.startsWith("rediss:")
    ? { tls: options.caCerts.length > 0 ? { ca: [...options.caCerts] } : true }
    : {};
  const client = new RedisClient(
    withCredentials(options.url, options.username, options.password),
    {
      autoReconnect: false,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      connectionTimeout: options.connectTimeoutMs,
      ...tls,
    },
  );
  let closing = false;
  let onClose: (() => void) | undefined;
  client.onclose = () => {
    if (!closing) onClose?.();
  };
  try {
    await client.connect();
  } catch (error) {
    closing = true;
    client.close();
    throw error;
  }
  return {
    send: (command, args) => client.send(command, [...args]),
    onClose(handler) {
      onClose = handler;
    },
    close() {
      closing = true;
      client.close();
    },
  };
}

/** node-redis's client, as far as it is used here. */
interface NodeRedis {
  connect(): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  destroy(): void;
  on(event: string, handler: (error?: Error) => void): unknown;
}

/** The node-redis release the Deno path loads (exact, so a run never picks up another). */
export const NODE_REDIS = "npm:@redis/client@6.4.0";

/** Connects with node-redis (Deno). */
export async function connectNodeRedis(options: RedisConnectOptions): Promise<RedisConnection> {
  const specifier = NODE_REDIS; // computed: `bun build` must not bundle it
  const { createClient } = await import(specifier) as {
    createClient(options: object): NodeRedis;
  };
  const tls = options.url.startsWith("rediss:");
  const client = createClient({
    url: options.url,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    disableOfflineQueue: true,
    socket: {
      connectTimeout: options.connectTimeoutMs,
      reconnectStrategy: false,
      ...(tls
        ? { tls: true, ...(options.caCerts.length > 0 ? { ca: [...options.caCerts] } : {}) }
        : {}),
    },
  });
  let closing = false;
  let closed = false;
  let onClose: (() => void) | undefined;
  const closedOnce = () => {
    if (closed) return;
    closed = true;
    if (!closing) onClose?.();
  };
  // node-redis emits "error" for socket faults; without a listener it would throw.
  client.on("error", () => closedOnce());
  client.on("end", () => closedOnce());
  try {
    await client.connect();
  } catch (error) {
    closing = true;
    try {
      client.destroy();
    } catch { /* not open */ }
    throw error;
  }
  return {
    send: (command, args) => client.sendCommand([command, ...args]),
    onClose(handler) {
      onClose = handler;
    },
    close() {
      closing = true;
      try {
        client.destroy();
      } catch { /* already closed */ }
    },
  };
}
