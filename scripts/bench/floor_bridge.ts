/**
 * The least a Bun bridge can do per request, as a reference row of `deno task bench`: read
 * ejabberd's frames from `Bun.stdin.stream()`, ask the loopback API with one `fetch`, write the
 * 4-byte reply with `writeSync`. No validation, no timeout, no retries, no logging, no masking:
 * not a program to run, only the floor that Bun's stdin stream and `fetch` set for any bridge
 * built on them. The benchmark compiles it with the release's flags and runs it with the JIT
 * settings the shipped executable restarts itself with (`RESTART_ENV`, lib/runtime/jit.ts):
 * given in its environment (one start of the runtime), or, with `--restart`, set by the same
 * bare `execve` restart the shipped executable makes (two starts, as ours): the floor of
 * "spawn → first reply" with the restart.
 *
 * ```sh
 * bun scripts/bench/floor_bridge.ts --url http://127.0.0.1:PORT   # the benchmark's API
 * ```
 *
 * @module
 */

import { writeSync } from "node:fs";
import process from "node:process";
import { RESTART_ENV } from "../../lib/runtime/jit.ts";

if (process.argv.includes("--restart") && process.env.BUN_JSC_useJIT === undefined) {
  // The shipped executable's restart without its checks (lib/runtime/jit.ts): same file, same
  // arguments (a compiled executable's own follow argv[1]), RESTART_ENV added.
  const execve = (process as unknown as {
    execve: (file: string, args: string[], env: Record<string, string | undefined>) => never;
  }).execve;
  execve.call(process, process.execPath, [process.argv0, ...process.argv.slice(2)], {
    ...RESTART_ENV,
    ...process.env,
  });
}

const url = process.argv[process.argv.indexOf("--url") + 1] ?? "";
const decoder = new TextDecoder();
const TRUE = Uint8Array.of(0, 2, 0, 1);
const FALSE = Uint8Array.of(0, 2, 0, 0);
const ERROR = Uint8Array.of(0, 2, 0, 2);
const HEADERS = { "Content-Type": "application/json", "Accept-Encoding": "identity" };

/** `auth:USER:SERVER:PASSWORD` or `isuser:USER:SERVER` → the API's answer as a reply. */
async function answer(payload: Uint8Array): Promise<Uint8Array> {
  const line = decoder.decode(payload);
  const a = line.indexOf(":");
  const b = line.indexOf(":", a + 1);
  const c = line.indexOf(":", b + 1);
  const auth = line.slice(0, a) === "auth";
  const user = line.slice(a + 1, b);
  const server = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
  const fields: Record<string, string> = { username: `${user}@${server}`, user, server };
  if (auth) fields.password = line.slice(c + 1);
  try {
    const response = await fetch(`${url}/${auth ? "login" : "exists"}`, {
      method: "POST",
      headers: HEADERS,
      body: JSON.stringify(fields),
    });
    const text = await response.text();
    if (response.status !== 200) return ERROR;
    return (JSON.parse(text) as { success?: unknown }).success === true ? TRUE : FALSE;
  } catch {
    return ERROR;
  }
}

const bun = (globalThis as { Bun?: { stdin: { stream(): ReadableStream<Uint8Array> } } }).Bun;
if (bun === undefined) throw new Error("Cannot run the floor bridge: it runs under Bun only");
const reader = bun.stdin.stream().getReader();
let pending = new Uint8Array(0);
while (true) {
  const { value, done } = await reader.read();
  if (done) break;
  let chunk = value;
  if (pending.length > 0) {
    chunk = new Uint8Array(pending.length + value.length);
    chunk.set(pending);
    chunk.set(value, pending.length);
  }
  let offset = 0;
  while (chunk.length - offset >= 2) {
    const end = offset + 2 + ((chunk[offset]! << 8) | chunk[offset + 1]!);
    if (end > chunk.length) break;
    writeSync(1, await answer(chunk.subarray(offset + 2, end)));
    offset = end;
  }
  pending = chunk.slice(offset);
}
