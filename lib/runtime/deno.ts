/**
 * The Deno adapter: the {@linkcode Runtime} on `Deno.*`. It imports no
 * `node:` module (importing `node:fs` under Deno costs ~9 MiB RSS and ~10 ms
 * of start-up), so serving loads nothing it does not use. The one exception is
 * a log file: opening one loads `node:fs` (see `nodeFs`), for `O_NOFOLLOW` and
 * `fchown`, which `Deno.*` lacks.
 *
 * @module
 */

import { inspectEnvironment, type Proxy, proxyFor, type ProxySettings } from "./environment.ts";
import { appendLogFile, type FileCalls } from "./log_file.ts";
import * as atomic from "./atomic_file.ts";
import { loadSqlite, readLineRaw, tcflushStdin, urlOf, writeAll } from "./common.ts";
import { stderrGoesNowhere } from "./stderr.ts";
import type { Runtime } from "./types.ts";

const encoder = new TextEncoder();

/**
 * `node:fs`, loaded on the first log file only: `Deno.openSync` has no `O_NOFOLLOW` and Deno has
 * no `fchown`, which the log files need (see `openLogFile` in common.ts). Deno's `node:fs` passes
 * numeric flags through to `open(2)` (checked: `O_NOFOLLOW` on a link gives ELOOP).
 */
function nodeFs<T = FileCalls>(): T {
  const process = (globalThis as unknown as {
    process: { getBuiltinModule(name: string): unknown };
  }).process;
  return process.getBuiltinModule("node:fs") as T;
}

/**
 * The process's user id without a permission prompt (it would read the terminal): `Deno.uid`
 * when `--allow-sys` granted it, else the owner of `/proc/self`; undefined where neither says.
 */
function processUid(D: typeof Deno, fs: FileCalls): number | undefined {
  try {
    if (D.permissions.querySync({ name: "sys", kind: "uid" }).state === "granted") {
      return D.uid() ?? undefined;
    }
    return fs.statSync("/proc/self").uid;
  } catch {
    return undefined;
  }
}

/**
 * Makes the Deno adapter; the environment is inspected (and cleaned) once, here.
 *
 * @example Ask the runtime for its version
 * ```ts ignore
 * import { createDenoRuntime } from "./deno.ts";
 * createDenoRuntime().version; // "deno 2.9.6"
 * ```
 */
export function createDenoRuntime(): Runtime {
  const D = Deno;
  const environment = inspectEnvironment((name) => D.env.get(name));
  for (const name of environment.remove) D.env.delete(name);
  return {
    name: "deno",
    version: `deno ${D.version.deno}`,
    pid: D.pid,
    environment,
    args: () => [...D.args],
    env: (name) => D.env.get(name),
    envNames: () => Object.keys(D.env.toObject()),
    stdin: () => D.stdin.readable,
    stdinIsTerminal: () => D.stdin.isTerminal(),
    writeStdout: (bytes) => writeAll((rest) => D.stdout.writeSync(rest), bytes),
    writeStderr(text) {
      try {
        writeAll((rest) => D.stderr.writeSync(rest), encoder.encode(text));
      } catch { /* stderr closed: nowhere left to report */ }
    },
    stderrGoesNowhere: () => stderrGoesNowhere(D.readLinkSync),
    readFile: (path) => D.readFileSync(path),
    openAppend(path, options = {}) {
      const fs = nodeFs();
      return appendLogFile(path, options, fs, processUid(D, fs));
    },
    onSignal(signal, handler) {
      try {
        D.addSignalListener(signal, handler);
      } catch { /* not supported on this OS (Windows: SIGHUP) */ }
    },
    createFetch(caCerts, options) {
      const reuse = options?.reuse ?? true;
      const settings = environment.proxy;
      const clients = new Map<string, Deno.HttpClient>();
      const clientFor = (proxy: Proxy | undefined) => {
        const key = proxy?.url ?? "";
        let client = clients.get(key);
        if (client === undefined) {
          client = D.createHttpClient({
            caCerts: [...caCerts],
            ...(reuse ? {} : { poolMaxIdlePerHost: 0 }),
            ...(proxy === undefined ? {} : {
              proxy: {
                url: proxy.url,
                ...(proxy.username === undefined
                  ? {}
                  : { basicAuth: { username: proxy.username, password: proxy.password ?? "" } }),
              },
            }),
          });
          clients.set(key, client);
        }
        return client;
      };
      if (caCerts.length === 0 && reuse && !usesProxy(settings)) return fetch;
      return ((input: RequestInfo | URL, init?: RequestInit) =>
        fetch(input, {
          ...init,
          client: clientFor(proxyFor(settings, urlOf(input))),
        } as RequestInit)) as typeof fetch;
    },
    loadSqlite,
    async readSecretLine(prompt) {
      // Echo off before the prompt appears, so that nothing typed after it is shown.
      D.stdin.setRaw(true);
      D.stderr.writeSync(encoder.encode(prompt));
      try {
        return await readLineRaw(D.stdin.readable);
      } finally {
        D.stdin.setRaw(false);
        D.stderr.writeSync(encoder.encode("\n"));
      }
    },
    fileMode(path) {
      try {
        return D.statSync(path).mode ?? undefined;
      } catch {
        return undefined;
      }
    },
    fileStamp: (path) =>
      atomic.fileStamp((p) => {
        const s = D.statSync(p);
        return { dev: s.dev, ino: s.ino ?? 0, size: s.size, mtimeMs: s.mtime?.getTime() ?? 0 };
      }, path),
    writeAtomic: (path, text) => atomic.writeAtomic(nodeFs<atomic.AtomicFileCalls>(), path, text),
    listFolder: (path) => [...D.readDirSync(path)].map((entry) => entry.name),
    removeFile: (path) => atomic.removeFile(nodeFs<atomic.AtomicFileCalls>(), path),
    processAlive: (pid) => atomic.processAlive(nodeFs<atomic.AtomicFileCalls>(), pid),
    discardQueuedInput() {
      // Without the permission Deno.dlopen would prompt on the terminal, which is Prosody's.
      if (D.permissions.querySync({ name: "ffi" }).state !== "granted") {
        return { ok: false, reason: "Deno runs without --allow-ffi, which tcflush needs" };
      }
      return tcflushStdin((name) => {
        const lib = D.dlopen(name, { tcflush: { parameters: ["i32", "i32"], result: "i32" } });
        return { tcflush: (fd, how) => lib.symbols.tcflush(fd, how), close: () => lib.close() };
      }, D.build.os);
    },
    exit: (code) => D.exit(code),
  };
}

/** Whether any request may go through a proxy. */
function usesProxy(settings: ProxySettings): boolean {
  return settings.http !== undefined || settings.https !== undefined;
}
