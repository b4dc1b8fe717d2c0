/**
 * Starts the loopback API (`scripts/bench_server.ts`) in its own process, so that it does not
 * share the event loop of the client being measured.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

const SERVER_SCRIPT = fileURLToPath(new URL("../bench_server.ts", import.meta.url));

export async function startServer(impl: string): Promise<{ url: string; child: ChildProcess }> {
  const argv = impl === "deno"
    ? [process.execPath, "run", "-A", SERVER_SCRIPT, "--impl", "deno"]
    : ["bun", SERVER_SCRIPT, "--impl", impl];
  const [cmd, ...args] = argv;
  const child = spawn(cmd ?? "", args, { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.on("error", (e) => reject(new Error(`Cannot start the loopback API: ${e.message}`)));
    child.on("exit", (code) => reject(new Error(`Cannot start the loopback API: exit ${code}`)));
    child.stdout?.on("data", (c: Uint8Array) => {
      out += new TextDecoder().decode(c);
      const m = /LISTENING (\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
  });
  return { url: `http://127.0.0.1:${port}`, child };
}
