/**
 * Secret files rotated without a restart (docs/rotation.md): a router whose token, Basic,
 * HMAC-secret and header files are read again when their stamp (device, inode, size, mtime)
 * changes, or on demand (SIGHUP). A usable new file is put in use at once: every route is built
 * again from the last good bytes of every file and each route object gets the new headers and
 * signer together, so it keeps its identity (its breaker) and no request sees a new token with
 * an old signer. An unusable new file keeps the previous secret and is reported once, naming
 * the file and the reason, never its content.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import { type Credential, type FileMode, readCredentialLine, readSecret } from "./credentials.ts";
import type { RouteConfig, RoutingConfig } from "./route_config.ts";
import { createRouter, type Route, type Router } from "./router.ts";

/** What {@linkcode RotatingRouter.reload} needs. */
export interface ReloadOptions {
  /** What identifies a file's content (`Runtime.fileStamp`). */
  readonly stamp: (path: string) => string | undefined;
  readonly readFile: (path: string) => Uint8Array;
  readonly fileMode: FileMode;
  /** Called with each new secret before anything else is done with it (the log's mask). */
  readonly addSecret: (secret: string) => void;
  readonly logger: { info(message: string): void; error(message: string): void };
  /** Re-read every file, changed or not (SIGHUP). */
  readonly force?: boolean;
}

/** A router whose secret files can be read again. */
export interface RotatingRouter extends Router {
  /** The secret files its routes read (token, Basic, HMAC, header files). */
  readonly files: readonly string[];
  /**
   * Reads again the files whose stamp changed since they were last read (all with `force`).
   * Never throws.
   */
  reload(options: ReloadOptions): Promise<void>;
}

/** A secret file as last read: its last good bytes and its stamp then. */
interface SecretFile {
  readonly path: string;
  readonly option: string;
  bytes: Uint8Array;
  stamp: string | undefined;
}

/**
 * Makes the router of {@linkcode createRouter} with its secret files watched.
 *
 * @example Nothing changed, nothing read again
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCommand } from "../cli/config.ts";
 * import { SYSTEM_CLOCK } from "../core/clock.ts";
 * import { createRotatingRouter } from "./rotation.ts";
 * const files: Record<string, string> = { "/t": "t0ken\n" };
 * const readFile = (p: string) => new TextEncoder().encode(files[p]!);
 * const command = parseCommand({
 *   args: ["--url", "http://127.0.0.1:1", "--token-file", "/t"],
 *   env: () => undefined,
 *   envNames: () => [],
 *   readFile,
 * });
 * if (command.kind !== "serve") throw new Error(command.kind);
 * const files_ = { readFile, fileMode: () => 0o600, stamp: () => "1" };
 * const router = await createRotatingRouter(command.config, files_, SYSTEM_CLOCK);
 * assert.deepEqual(router.files, ["/t"]);
 * const lines: string[] = [];
 * const logger = { info: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
 * await router.reload({ ...files_, addSecret: () => {}, logger });
 * assert.deepEqual(lines, []);
 * ```
 */
export async function createRotatingRouter(
  config: RoutingConfig,
  files: {
    readonly readFile: (path: string) => Uint8Array;
    readonly fileMode: FileMode;
    readonly stamp: (path: string) => string | undefined;
  },
  clock: Clock,
): Promise<RotatingRouter> {
  const options = secretOptions(config);
  const known = new Map<string, SecretFile>();
  const read = (path: string): Uint8Array => {
    const last = known.get(path);
    if (last !== undefined) return last.bytes;
    const stamp = files.stamp(path);
    const bytes = files.readFile(path);
    const option = options.get(path);
    if (option !== undefined) known.set(path, { path, option, bytes, stamp });
    return bytes;
  };
  const router = await createRouter(config, read, files.fileMode, clock);
  return {
    ...router,
    files: [...known.keys()],
    async reload(reload) {
      if (!readChanged(known, reload)) return;
      try {
        const fresh = await createRouter(config, read, () => undefined, clock);
        adopt(router.routes, fresh.routes);
      } catch (error) {
        reload.logger.error(
          `the new credentials cannot be used (${(error as Error).message}); still using the ` +
            "previous ones",
        );
      }
    },
  };
}

/** Which option each secret file of the configuration is given with. */
function secretOptions(config: RoutingConfig): Map<string, string> {
  const options = new Map<string, string>();
  const routes: RouteConfig[] = [
    ...(config.route === undefined ? [] : [config.route]),
    ...Object.values(config.domains),
  ];
  for (const rc of routes) {
    if (rc.tokenFile !== undefined) options.set(rc.tokenFile, "--token-file");
    if (rc.basicAuthFile !== undefined) options.set(rc.basicAuthFile, "--basic-auth-file");
    if (rc.hmacSecretFile !== undefined) options.set(rc.hmacSecretFile, "--hmac-secret-file");
    for (const [, path] of rc.headerFiles) options.set(path, "--header-file");
  }
  return options;
}

/** Reads the changed files; whether any usable one brought new bytes. */
function readChanged(known: ReadonlyMap<string, SecretFile>, options: ReloadOptions): boolean {
  let changed = false;
  for (const file of known.values()) {
    const now = options.stamp(file.path);
    if (!options.force && now === file.stamp) continue;
    file.stamp = now;
    const next = checkedSecret(options, file);
    if (next === undefined) continue;
    options.addSecret(next.value);
    if (sameBytes(next.bytes, file.bytes)) continue;
    file.bytes = next.bytes;
    changed = true;
    options.logger.info(`${file.option} ${file.path} was read again: its new content is in use`);
  }
  return changed;
}

/** Gives each route in use the headers and signer of its new twin, both at once. */
function adopt(routes: readonly Route[], fresh: readonly Route[]): void {
  const byName = new Map(fresh.map((route) => [route.name, route]));
  for (const route of routes) {
    const twin = byName.get(route.name);
    if (twin === undefined) continue;
    const target = route as { -readonly [K in keyof Route]: Route[K] };
    target.headers = twin.headers;
    if (twin.sign === undefined) delete target.sign;
    else target.sign = twin.sign;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * A changed file's new bytes and the secret they hold, when usable; else undefined, once
 * reported (the file named, with the reason, never its content).
 */
function checkedSecret(
  options: ReloadOptions,
  file: SecretFile,
): { bytes: Uint8Array; value: string } | undefined {
  const keep = (why: string) => {
    options.logger.error(
      `${file.option} ${file.path} changed but cannot be used: ${why}; still using the ` +
        "previous secret",
    );
    return undefined;
  };
  let bytes: Uint8Array;
  try {
    bytes = options.readFile(file.path);
  } catch (error) {
    return keep(`cannot read it (${(error as Error).message})`);
  }
  const mode = options.fileMode(file.path);
  if (mode !== undefined && (mode & 0o007) !== 0) {
    return keep(
      `it is open to all users (mode ${(mode & 0o777).toString(8).padStart(3, "0")}); ` +
        `chmod 600 ${file.path} (or 640 with the server's group)`,
    );
  }
  try {
    return { bytes, value: secretIn(bytes, file) };
  } catch (error) {
    const message = (error as Error).message;
    const prefix = `Cannot use ${file.option} ${file.path}: `;
    return keep(message.startsWith(prefix) ? message.slice(prefix.length) : message);
  }
}

/** The secret a file's bytes hold, checked as at start; throws the start's messages. */
function secretIn(bytes: Uint8Array, file: SecretFile): string {
  const read = () => bytes;
  if (file.option === "--hmac-secret-file") {
    const secret = readSecret(read, file.path, file.option);
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(secret);
  }
  const what: Credential = file.option === "--token-file"
    ? "token"
    : file.option === "--basic-auth-file"
    ? "USER:PASSWORD"
    : "header value";
  const value = readCredentialLine(read, file.path, file.option, what);
  if (what === "USER:PASSWORD" && !value.includes(":")) {
    throw new Error("Basic credentials must be USER:PASSWORD");
  }
  return value;
}
