/**
 * The outage cache kept in Redis (or Valkey), `--cache-url`: one cache for
 * every process on every node of an ejabberd cluster. Same semantics as the
 * SQLite file of `shared_cache.ts` (the shared `semantics` of
 * `memory_cache.ts`, wall-clock times), the same verifiers (scrypt), and the
 * same guarantee: once the site may have applied a change, no copy on any
 * node serves the old password.
 *
 * What Redis holds, under `PREFIX:` (`--cache-prefix`; no user name, no
 * server name, no password):
 * - `PREFIX:k`: a random 8-byte epoch and a random 32-byte HMAC key, in hex,
 *   set once (`SET NX`) by the first copy; every copy reads it;
 * - `PREFIX:seq`: the forget counter;
 * - `PREFIX:u:<id>` (hash; TTL the stale window): `e` and `p`, the times at
 *   which the API last confirmed the user and the password, and `v`, the
 *   password's verifier in base64; `<id>` is HMAC-SHA-256(key, user, server)
 *   in hex;
 * - `PREFIX:g:<id>` (TTL {@linkcode GENERATION_MS}): the counter of the
 *   user's last forget; `PREFIX:h:<id>` (TTL {@linkcode HOLD_MS}): no
 *   remember of that user, after a change whose answer never came.
 *
 * A login reads the counter before it asks the API ({@linkcode RedisAuthCache.mark});
 * its remember is one Lua script that writes only if the epoch is the one the
 * mark was read in and no forget of that user came since (nor holds it). A
 * forget is one Lua script too: counter, generation, entry gone, hold. A
 * forget that cannot be recorded (Redis down, slow, refusing) returns false,
 * and the pipeline then does not send the change; it is kept and recorded
 * first thing when Redis is back.
 *
 * Every call has a deadline (`--cache-timeout`): past it a lookup is a miss
 * and a remember is skipped, the connection is dropped, and the copy connects
 * again with backoff; while it is down no call is made at all (no time added).
 *
 * @module
 */

import {
  type CacheLookup,
  type CacheMark,
  encodeInput,
  type EntryTimes,
  type ForgetOptions,
  type Freshness,
  HOLD_MS,
  type OutageCache,
  semantics,
} from "./memory_cache.ts";
import { makeVerifier, matchesVerifier } from "./kdf.ts";
import { KnownPasswords } from "./known_passwords.ts";
import { decodeBase64, encodeBase64 } from "../core/base64.ts";
import { type Clock, SYSTEM_CLOCK } from "../core/clock.ts";
import { type CachedOperation, hasPassword } from "../core/operations.ts";
import type { Logger } from "../log/logger.ts";
import { sanitize } from "../log/sanitize.ts";
import { createMask, type Mask } from "../log/mask.ts";
import type { RedisConnection, RedisConnectOptions } from "../runtime/mod.ts";

/** How long a user's forget generation is kept: far beyond any request's deadline. */
export const GENERATION_MS = 3_600_000;
/** A mark older than this is void (its generations may have expired meanwhile). */
const MARK_MAX_AGE_MS = GENERATION_MS / 2;
/** The first wait before connecting again; doubled after each failure up to {@linkcode MAX_BACKOFF_MS}. */
export const MIN_BACKOFF_MS = 100;
/** The longest wait between two connection attempts. */
export const MAX_BACKOFF_MS = 5_000;
/** How long connecting (TCP, TLS, AUTH, SELECT) may take. */
export const CONNECT_TIMEOUT_MS = 2_000;
/** The least time a forget may wait for Redis (a change waits for it; a login never does). */
export const FORGET_TIMEOUT_MS = 500;
/** The most forgets kept for when Redis is back. */
const MAX_PENDING = 10_000;

/** Options of {@linkcode openRedisCache}. */
export interface RedisCacheOptions {
  /** `redis://HOST:PORT/DB` or `rediss://…`, without credentials (it appears in logs). */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** Extra CA certificates (PEM) for `rediss://` (`--ca-file`). */
  readonly caCerts: readonly string[];
  /** The key prefix (`--cache-prefix`). */
  readonly prefix: string;
  /** The deadline of each call (`--cache-timeout`). */
  readonly timeoutMs: number;
  readonly ttlMs: number;
  readonly staleTtlMs: number;
  /** Bounds the passwords this process remembers having verified (`--cache-size`). */
  readonly maxEntries: number;
  readonly logger: Logger;
  /** The runtime's client (`runtime.connectRedis`). */
  readonly connect: (options: RedisConnectOptions) => Promise<RedisConnection>;
  readonly clock?: Clock;
}

const MISS: CacheLookup = { hit: false };
const NO_MARK: CacheMark = { cache: null, seq: -1 };
const EPOCH_HEX = 16;
const KEY_HEX = 64;

/** KEYS: k, seq, u, g, h. ARGV: epoch, since, now, stale ms, mode (e|p|r), verifier. */
const REMEMBER = `
local k = redis.call('GET', KEYS[1])
if not k or string.sub(k, 1, ${EPOCH_HEX}) ~= ARGV[1] then return -1 end
local since = tonumber(ARGV[2])
if tonumber(redis.call('GET', KEYS[2]) or '0') < since then return 0 end
if redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
local g = redis.call('GET', KEYS[4])
if g and tonumber(g) > since then return 0 end
local now = ARGV[3]
local e = redis.call('HGET', KEYS[3], 'e')
if e and tonumber(e) > tonumber(now) then e = e else e = now end
local mode = ARGV[5]
if mode == 'e' then
  redis.call('HSET', KEYS[3], 'e', e)
elseif mode == 'p' then
  redis.call('HSET', KEYS[3], 'e', e, 'p', now, 'v', ARGV[6])
else
  if redis.call('HGET', KEYS[3], 'v') ~= ARGV[6] then return 0 end
  local p = redis.call('HGET', KEYS[3], 'p')
  if not (p and tonumber(p) > tonumber(now)) then p = now end
  redis.call('HSET', KEYS[3], 'e', e, 'p', p)
end
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 1
`;

/** KEYS: k, seq, u, g, h. ARGV: epoch, hold (0|1), generation ms, hold ms. */
const FORGET = `
local k = redis.call('GET', KEYS[1])
if not k or string.sub(k, 1, ${EPOCH_HEX}) ~= ARGV[1] then return -1 end
local s = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[4], s, 'PX', ARGV[3])
redis.call('DEL', KEYS[3])
if ARGV[2] == '1' then redis.call('SET', KEYS[5], '1', 'PX', ARGV[4]) end
return s
`;

/** KEYS: k, u. ARGV: epoch. Returns false on another epoch, else {e, p, v}. */
const READ = `
local k = redis.call('GET', KEYS[1])
if not k or string.sub(k, 1, ${EPOCH_HEX}) ~= ARGV[1] then return -1 end
return redis.call('HMGET', KEYS[2], 'e', 'p', 'v')
`;

/** A script and its SHA-1, for EVALSHA. */
interface Script {
  readonly text: string;
  readonly sha: Promise<string>;
}

function script(text: string): Script {
  const sha = crypto.subtle.digest("SHA-1", new TextEncoder().encode(text)).then(hex);
  return { text, sha };
}

const SCRIPTS = { remember: script(REMEMBER), forget: script(FORGET), read: script(READ) };

function hex(bytes: ArrayBuffer | Uint8Array): string {
  let out = "";
  for (const byte of new Uint8Array(bytes)) out += byte.toString(16).padStart(2, "0");
  return out;
}

function unhex(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** A connection in use, with the epoch and the key of user ids it read. */
interface Live {
  readonly conn: RedisConnection;
  readonly epoch: string;
  readonly key: CryptoKey;
}

/** A call that did not answer within its deadline. */
class Timeout extends Error {}

/** A mark of this cache: also when it was taken. */
interface RedisMark extends CacheMark {
  readonly at: number;
}

/**
 * Opens the Redis cache: connects once (bounded by {@linkcode CONNECT_TIMEOUT_MS}); when
 * Redis cannot be reached it logs one warning and serves nothing from it until it can, trying
 * again with backoff.
 */
export async function openRedisCache(options: RedisCacheOptions): Promise<RedisAuthCache> {
  const cache = new RedisAuthCache(options);
  await cache.reconnect();
  return cache;
}

/** The Redis-backed cache. Made by {@linkcode openRedisCache}. */
export class RedisAuthCache implements OutageCache {
  readonly enabled = true;
  private readonly options: RedisCacheOptions;
  private readonly clock: Clock;
  private readonly staleMs: number;
  private readonly keys: (name: string) => string;
  private readonly mask: Mask;
  private readonly where: string;
  private live: Live | undefined;
  private connecting: Promise<Live | undefined> | undefined;
  /** When (monotonic) to try connecting again; the current backoff. */
  private retryAt = 0;
  private backoffMs = MIN_BACKOFF_MS;
  /** Cancels the timer of the next connection attempt. */
  private cancelRetry: (() => void) | undefined;
  /** Why Redis cannot be used; undefined while it is in use (or before the first try). */
  private problem: string | undefined;
  private warnedDown = false;
  /** The epoch the verified passwords and pending forgets belong to. */
  private epoch: string | undefined;
  /** Forgets not recorded yet, by user id (hex): whether to hold. Recorded at reconnect. */
  private readonly pending = new Map<string, boolean>();
  /** Passwords verified by this process against the verifiers read, by user id (hex). */
  private readonly known: KnownPasswords<string>;

  /** Use {@linkcode openRedisCache}. */
  constructor(options: RedisCacheOptions) {
    this.options = options;
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.staleMs = Math.max(options.ttlMs, options.staleTtlMs);
    const prefix = options.prefix;
    this.keys = (name) => `${prefix}:${name}`;
    this.mask = createMask([options.password, options.username]);
    this.where = `--cache-url ${sanitize(options.url)}`;
    this.known = new KnownPasswords(options.maxEntries, (a, b) => a === b);
  }

  /** Whether a connection is in use. */
  get connected(): boolean {
    return this.live !== undefined;
  }

  /** Closes the connection; nothing is served until {@linkcode reconnect}. */
  close(): void {
    const live = this.live;
    this.live = undefined;
    this.retryAt = Infinity;
    this.cancelRetry?.();
    this.cancelRetry = undefined;
    live?.conn.close();
  }

  /** Connects (once at a time), reads or makes the key, records pending forgets. */
  reconnect(): Promise<Live | undefined> {
    return this.connecting ??= this.connectOnce().finally(() => {
      this.connecting = undefined;
    });
  }

  private async connectOnce(): Promise<Live | undefined> {
    const o = this.options;
    let conn: RedisConnection | undefined;
    try {
      conn = await this.deadline(
        o.connect({
          url: o.url,
          ...(o.username === undefined ? {} : { username: o.username }),
          ...(o.password === undefined ? {} : { password: o.password }),
          caCerts: o.caCerts,
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
        }),
        CONNECT_TIMEOUT_MS,
        (late) => late.close(),
      );
      const live: Live = { conn, ...await this.readKey(conn) };
      if (this.epoch !== live.epoch) {
        // Redis lost what it held (or is another one): what this process knew is void.
        this.known.clear();
        this.pending.clear();
        this.epoch = live.epoch;
      }
      await this.recordPending(live);
      conn.onClose(() => this.failed(live, "the connection closed"));
      this.up(live);
      return live;
    } catch (error) {
      conn?.close();
      this.down(this.reason(error));
      return undefined;
    }
  }

  /** The epoch and the key of user ids, made by the first copy to connect (SET NX). */
  private async readKey(c: RedisConnection): Promise<Omit<Live, "conn">> {
    const fresh = crypto.getRandomValues(new Uint8Array(8 + 32));
    await this.deadline(c.send("SET", [this.keys("k"), hex(fresh), "NX"]), CONNECT_TIMEOUT_MS);
    fresh.fill(0);
    const value = await this.deadline(c.send("GET", [this.keys("k")]), CONNECT_TIMEOUT_MS);
    if (
      typeof value !== "string" || !/^[0-9a-f]+$/.test(value) ||
      value.length !== EPOCH_HEX + KEY_HEX
    ) {
      throw new Error(`${this.keys("k")} is not a key this program made`);
    }
    const raw = unhex(value.slice(EPOCH_HEX));
    const key = await crypto.subtle.importKey(
      "raw",
      raw,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    raw.fill(0);
    return { epoch: value.slice(0, EPOCH_HEX), key };
  }

  /** Records the forgets that could not be recorded while Redis was away. */
  private async recordPending(live: Live): Promise<void> {
    for (const [id, hold] of [...this.pending]) {
      if (await this.forgetIn(live, id, hold, CONNECT_TIMEOUT_MS) === "again") {
        throw new Error("Redis lost its data while this process connected");
      }
      this.pending.delete(id);
    }
  }

  /** Notes that Redis is in use again (one line when it had been reported down). */
  private up(live: Live): void {
    this.live = live;
    this.backoffMs = MIN_BACKOFF_MS;
    if (this.problem !== undefined && this.warnedDown) {
      this.options.logger.warn(`${this.where} is reachable again: the outage cache is back`);
    }
    this.problem = undefined;
    this.warnedDown = false;
  }

  /** Notes that Redis cannot be used: one warning per change of state; the next try later. */
  private down(reason: string): void {
    this.retryAt = this.clock.now() + this.backoffMs;
    this.cancelRetry?.();
    this.cancelRetry = this.clock.after(this.backoffMs, () => {
      this.cancelRetry = undefined;
      if (this.live === undefined && this.retryAt !== Infinity) void this.reconnect();
    });
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.problem = reason;
    if (this.warnedDown) return;
    this.warnedDown = true;
    this.options.logger.warn(
      `cannot use ${this.where}: ${reason}; no outage cache until it can be used (connecting ` +
        `again with backoff up to ${
          MAX_BACKOFF_MS / 1000
        }s; changes are not sent while no forget ` +
        "can be recorded)",
    );
  }

  /** Drops a connection that failed. */
  private failed(live: Live, reason: string): void {
    if (this.live !== live) return;
    this.live = undefined;
    live.conn.close();
    this.down(reason);
  }

  /** The connection in use; without one, starts connecting in the background when due. */
  private ready(): Live | undefined {
    const live = this.live;
    if (live !== undefined) return live;
    if (this.connecting === undefined && this.clock.now() >= this.retryAt) void this.reconnect();
    return undefined;
  }

  private reason(error: unknown): string {
    const text = error instanceof Timeout
      ? error.message
      : error instanceof Error
      ? error.message || error.name
      : String(error);
    return sanitize(this.mask(text));
  }

  /** `promise`, or a {@linkcode Timeout} after `ms`; `late` gets what came after the deadline. */
  private deadline<T>(promise: Promise<T>, ms: number, late?: (value: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const cancel = this.clock.after(ms, () => {
        if (done) return;
        done = true;
        reject(new Timeout(`no answer within ${ms} ms`));
      });
      promise.then((value) => {
        if (done) {
          late?.(value);
          return;
        }
        done = true;
        cancel();
        resolve(value);
      }, (error) => {
        if (done) return;
        done = true;
        cancel();
        reject(error);
      });
    });
  }

  /** Runs a script (EVALSHA, EVAL when Redis does not have it yet) within `ms`. */
  private async run(live: Live, s: Script, keys: string[], args: string[], ms: number) {
    const sha = await s.sha;
    const tail = [String(keys.length), ...keys, ...args];
    const started = this.clock.now();
    try {
      return await this.deadline(live.conn.send("EVALSHA", [sha, ...tail]), ms);
    } catch (error) {
      if (!(error instanceof Error) || !/NOSCRIPT/.test(error.message)) throw error;
      const left = Math.max(1, ms - (this.clock.now() - started));
      return await this.deadline(live.conn.send("EVAL", [s.text, ...tail]), left);
    }
  }

  private userKeys(id: string): string[] {
    const k = this.keys;
    return [k("k"), k("seq"), k(`u:${id}`), k(`g:${id}`), k(`h:${id}`)];
  }

  private async id(live: Live, user: string, server: string): Promise<string> {
    return hex(await crypto.subtle.sign("HMAC", live.key, encodeInput(user, server)));
  }

  /** The user's entry, or undefined (none, another epoch, or Redis failed: a miss). */
  private async read(
    live: Live,
    id: string,
  ): Promise<{ times: EntryTimes; verifier: string | undefined } | undefined> {
    let reply: unknown;
    try {
      reply = await this.run(
        live,
        SCRIPTS.read,
        [this.keys("k"), this.keys(`u:${id}`)],
        [live.epoch],
        this.options.timeoutMs,
      );
    } catch (error) {
      this.failed(live, this.reason(error));
      return undefined;
    }
    if (reply === -1) {
      this.failed(live, "Redis lost its data (a new key): connecting afresh");
      return undefined;
    }
    if (!Array.isArray(reply)) return undefined;
    const [e, p, v] = reply as unknown[];
    if (typeof e !== "string") return undefined;
    const passwordAt = typeof p === "string" ? Number(p) : undefined;
    return {
      times: { existsAt: Number(e), passwordAt },
      verifier: typeof v === "string" ? v : undefined,
    };
  }

  /** See {@linkcode AuthCache.lookup}. */
  async lookup(
    op: CachedOperation,
    user: string,
    server: string,
    password: string | undefined,
    freshness: Freshness,
  ): Promise<CacheLookup> {
    const window = semantics.window(freshness, this.options.ttlMs, this.staleMs);
    if (window <= 0 || (hasPassword(op) && password === undefined)) return MISS;
    const live = this.ready();
    if (live === undefined) return MISS;
    const id = await this.id(live, user, server);
    const row = await this.read(live, id);
    if (row === undefined) return MISS;
    const now = this.clock.wall();
    const expired = semantics.expired(row.times, now, this.staleMs);
    if (expired.entry) return MISS;
    const times = expired.password ? { ...row.times, passwordAt: undefined } : row.times;
    const at = semantics.answerAt(op, times);
    if (at === undefined) return MISS;
    const result = semantics.judge(at, now, window);
    if (!result.hit) return MISS;
    if (hasPassword(op)) {
      const verifier = row.verifier;
      if (verifier === undefined) return MISS;
      // A fresh answer never pays the KDF: ask the API, whose "yes" teaches this process.
      const match = await this.known.matches(
        id,
        user,
        server,
        password!,
        verifier,
        freshness === "fresh"
          ? undefined
          : (input) => matchesVerifier(input, decodeBase64(verifier)),
      );
      if (match === "no") return MISS;
      if (match === "verified") {
        // Forgotten, or given a new password, by some copy while the KDF ran?
        if (this.live !== live) return MISS;
        const again = await this.read(live, id);
        if (again?.verifier !== verifier) return MISS;
      }
    }
    return result;
  }

  /** Read before a login asks the API: the forget counter, or no mark without Redis. */
  async mark(): Promise<CacheMark> {
    const live = this.ready();
    if (live === undefined) return NO_MARK;
    try {
      const seq = await this.deadline(
        live.conn.send("GET", [this.keys("seq")]),
        this.options.timeoutMs,
      );
      const n = seq === null ? 0 : Number(seq);
      if (!Number.isFinite(n)) return NO_MARK;
      const mark: RedisMark = { cache: live, seq: n, at: this.clock.now() };
      return mark;
    } catch (error) {
      this.failed(live, this.reason(error));
      return NO_MARK;
    }
  }

  /**
   * The forget counter a remember is checked against: the login's mark, while it is of this
   * connection and young enough; without one (tests, benchmarks), now. Undefined: do not write.
   */
  private async sinceOf(live: Live, mark: CacheMark | undefined): Promise<number | undefined> {
    if (mark === undefined) {
      const fresh = await this.mark();
      return fresh.cache === live ? fresh.seq : undefined;
    }
    if (mark.cache !== live) return undefined;
    const at = (mark as RedisMark).at;
    return at === undefined || this.clock.now() - at > MARK_MAX_AGE_MS ? undefined : mark.seq;
  }

  /**
   * See {@linkcode AuthCache.remember}. With a `mark` from {@linkcode mark}, writes only if no
   * copy forgot the user since (checked in the script); without one (tests, benchmarks), if
   * none forgot it since now.
   */
  async remember(
    op: CachedOperation,
    user: string,
    server: string,
    password?: string,
    mark?: CacheMark,
  ): Promise<void> {
    const live = this.live;
    if (live === undefined) return;
    const since = await this.sinceOf(live, mark);
    if (since === undefined) return;
    const id = await this.id(live, user, server);
    const write = async (mode: "e" | "p" | "r", verifier = ""): Promise<boolean> => {
      if (this.live !== live) return false;
      try {
        const reply = await this.run(live, SCRIPTS.remember, this.userKeys(id), [
          live.epoch,
          String(since),
          String(this.clock.wall()),
          String(Math.max(1, Math.ceil(this.staleMs))),
          mode,
          verifier,
        ], this.options.timeoutMs);
        if (reply === -1) this.failed(live, "Redis lost its data (a new key): connecting afresh");
        return reply === 1;
      } catch (error) {
        this.failed(live, this.reason(error));
        return false;
      }
    };
    if (!hasPassword(op) || password === undefined) {
      await write("e");
      return;
    }
    const stored = (await this.read(live, id))?.verifier;
    if (stored !== undefined) {
      const same = await this.known.matches(
        id,
        user,
        server,
        password,
        stored,
        (input) => matchesVerifier(input, decodeBase64(stored)),
      ) !== "no";
      // The same password again: new times for the verifier already there, no new KDF.
      if (same && await write("r", stored)) return;
    }
    const input = encodeInput(user, server, password);
    const verifier = encodeBase64(await makeVerifier(input));
    if (await write("p", verifier)) await this.known.learn(id, input, verifier);
    input.fill(0);
  }

  /**
   * See {@linkcode AuthCache.forget}: one script (counter, generation, entry, hold), waiting
   * at most the larger of `--cache-timeout` and {@linkcode FORGET_TIMEOUT_MS}; without a
   * connection it connects first. False when it could not be recorded (the pipeline then does
   * not send a change); it is then kept and recorded first when Redis is back.
   */
  async forget(user: string, server: string, options: ForgetOptions = {}): Promise<boolean> {
    const hold = options.hold === true;
    const ms = Math.max(this.options.timeoutMs, FORGET_TIMEOUT_MS);
    let cause: string | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      // Without a connection: one attempt (whatever the backoff), waited for at most `ms`.
      const live = this.live ?? await this.deadline(this.reconnect(), ms).catch(() => undefined);
      if (live === undefined) {
        cause = this.problem ?? "it could not be reached";
        break;
      }
      const id = await this.id(live, user, server);
      this.known.forget(id);
      let result: "done" | "again";
      try {
        result = await this.forgetIn(live, id, hold, ms);
      } catch (error) {
        cause = this.reason(error);
        this.failed(live, cause);
        this.keep(id, hold);
        break;
      }
      if (result === "done") return true;
      this.failed(live, "Redis lost its data (a new key): connecting afresh");
    }
    cause ??= "Redis lost its data twice";
    this.options.logger.error(
      `could not record a forget in ${this.where} (${cause}): other copies could serve a ` +
        "password the site replaced, so a change is not sent; the forget is recorded when Redis " +
        "is reachable again",
    );
    return false;
  }

  /** Records a forget of user `id`; "again" when Redis holds another epoch. */
  private async forgetIn(live: Live, id: string, hold: boolean, ms: number) {
    const reply = await this.run(live, SCRIPTS.forget, this.userKeys(id), [
      live.epoch,
      hold ? "1" : "0",
      String(GENERATION_MS),
      String(HOLD_MS),
    ], ms);
    return reply === -1 ? "again" as const : "done" as const;
  }

  /** Keeps a forget for when Redis is back (the oldest go first past {@linkcode MAX_PENDING}). */
  private keep(id: string, hold: boolean): void {
    const before = this.pending.get(id) ?? false;
    this.pending.delete(id);
    this.pending.set(id, before || hold);
    for (const oldest of this.pending.keys()) {
      if (this.pending.size <= MAX_PENDING) break;
      this.pending.delete(oldest);
    }
  }
}
