/**
 * Shows that no answer can make xmpp-extauth hold much memory: runs the
 * program (by default the compiled binary) against hostile API servers on
 * 127.0.0.1 and prints, for each, the reply, the peak RSS (VmHWM from
 * /proc/PID/status) against a run with a normal API, and the log line.
 *
 *   deno task build:bun && deno run -A scripts/answer_memory.ts [COMMAND ARGS...]
 *
 * Cases: an endless chunked body, a gzip bomb (1 GiB of zeros, about 1 MB on
 * the wire, sent compressed whatever the request asked) with and without a
 * Content-Length, a small one that fits under the cap compressed (48 MiB of
 * zeros), a 200 MB body, a Content-Length of 1 TiB with a body that never
 * comes, and `Content-Length: 17` with `Transfer-Encoding: chunked` (both
 * orders) followed by endless chunks. Linux only.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { createGzip } from "node:zlib";
import { Buffer } from "node:buffer";
import process from "node:process";

const MiB = 1024 * 1024;

/** `mib` MiB of zeros, gzipped (about 1 KB per MiB). */
async function gzipBomb(mib: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gzip.on("data", (b: Buffer) => parts.push(b));
  const done = new Promise((resolve) => gzip.on("end", resolve));
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < mib; i++) {
    if (!gzip.write(zeros)) await new Promise((r) => gzip.once("drain", r));
  }
  gzip.end();
  await done;
  return Buffer.concat(parts);
}

type Case = (res: ServerResponse, socket: Socket) => void;

function endless(res: ServerResponse): void {
  res.writeHead(200, { "Content-Type": "application/json" });
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once("drain", pump);
  };
  res.on("close", () => {});
  pump();
}

function big200MB(res: ServerResponse): void {
  const total = 200 * 1000 * 1000;
  res.writeHead(200, { "Content-Type": "application/json", "Content-Length": String(total) });
  const chunk = Buffer.alloc(MiB, 0x20);
  let sent = 0;
  const pump = () => {
    while (!res.destroyed && sent < total) {
      const part = chunk.subarray(0, Math.min(chunk.length, total - sent));
      sent += part.length;
      if (!res.write(part)) return void res.once("drain", pump);
    }
    if (!res.destroyed) res.end();
  };
  pump();
}

async function main(): Promise<void> {
  const command = process.argv.length > 2 ? process.argv.slice(2) : ["dist/xmpp-extauth"];
  const bomb = await gzipBomb(1024);
  const smallBomb = await gzipBomb(48);
  let current: Case = (res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end('{"success": true}');
  };
  const http = createHttpServer((req, res) => {
    req.resume();
    req.on("end", () => current(res, req.socket));
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  // A Content-Length no body will ever fill, written by hand (node:http would refuse it).
  const sockets = new Set<Socket>();
  const tcp = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("data", () => {
      socket.write(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\n\r\n" +
          '{"success": true, "padding": "',
      );
    });
  });
  await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
  const tcpUrl = `http://127.0.0.1:${(tcp.address() as AddressInfo).port}`;
  // Content-Length 17 and Transfer-Encoding chunked (RFC 9112 §6.3: malformed), then chunks
  // for as long as anyone reads them; `?te-first` in the path puts the headers the other way.
  const both = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("data", (request: Buffer) => {
      const cl = "Content-Length: 17\r\n";
      const te = "Transfer-Encoding: chunked\r\n";
      const teFirst = request.toString("latin1").split("\r\n", 1)[0]!.includes("te-first");
      socket.write(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
          (teFirst ? te + cl : cl + te) + "\r\n",
      );
      const chunk = Buffer.from(`10000\r\n${" ".repeat(0x10000)}\r\n`);
      const pump = () => {
        while (!socket.destroyed && socket.write(chunk));
        if (!socket.destroyed) socket.once("drain", pump);
      };
      pump();
    });
  });
  await new Promise<void>((r) => both.listen(0, "127.0.0.1", r));
  const bothUrl = `http://127.0.0.1:${(both.address() as AddressInfo).port}`;

  const cases: [string, string, Case | undefined][] = [
    ["normal answer", httpUrl, current],
    ["endless chunked body", httpUrl, endless],
    [`gzip bomb (1 GiB of zeros, ${(bomb.length / MiB).toFixed(2)} MiB sent)`, httpUrl, (res) => {
      res.writeHead(200, {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "Content-Length": String(bomb.length),
      });
      res.end(bomb);
    }],
    ["gzip bomb, chunked (no Content-Length)", httpUrl, (res) => {
      res.writeHead(200, { "Content-Type": "application/json", "Content-Encoding": "gzip" });
      res.end(bomb);
    }],
    [
      `gzip bomb under the cap (48 MiB of zeros, ${(smallBomb.length / 1024).toFixed(0)} KiB sent)`,
      httpUrl,
      (res) => {
        res.writeHead(200, { "Content-Type": "application/json", "Content-Encoding": "gzip" });
        res.end(smallBomb);
      },
    ],
    ["200 MB body", httpUrl, big200MB],
    ["Content-Length 1 TiB", tcpUrl, undefined],
    ["Content-Length 17 + Transfer-Encoding chunked, endless", bothUrl, undefined],
    ["the same, Transfer-Encoding first", `${bothUrl}/te-first`, undefined],
  ];
  console.log(`program: ${command.join(" ")}`);
  console.log("case | replies | peak RSS (VmHWM) | log line");
  for (const [name, url, handler] of cases) {
    if (handler) current = handler;
    const [bin, ...rest] = command;
    const child = spawn(bin!, [...rest, "--url", url, "--retries", "0", "--timeout", "20s"], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NO_COLOR: "1" },
    });
    let stdout = Buffer.alloc(0);
    let stderr = "";
    child.stdout!.on("data", (b: Buffer) => stdout = Buffer.concat([stdout, b]));
    child.stderr!.on("data", (b: Buffer) => stderr += b.toString());
    const replies: string[] = [];
    for (let i = 0; i < 3; i++) {
      const payload = Buffer.from("auth:alice:example.com:secret");
      child.stdin!.write(Buffer.concat([Buffer.from([0, payload.length]), payload]));
      const want = 4 * (i + 1);
      const started = Date.now();
      while (stdout.length < want && Date.now() - started < 60_000) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const reply = stdout.subarray(want - 4, want);
      replies.push(
        reply.length < 4 ? "none" : reply[3] === 1 ? "true" : reply[3] === 0 ? "false" : "error",
      );
    }
    const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? "0") / 1024;
    child.stdin!.end();
    await new Promise((r) => child.on("close", r));
    const line = stderr.split("\n").find((l) => l.includes("backend error")) ?? "";
    const logged = line.replace(/^\S+ \S+ +/, "");
    const shown = logged.length > 120 ? `${logged.slice(0, 120)}…` : logged;
    console.log(`${name} | ${replies.join(" ")} | ${hwm.toFixed(1)} MiB | ${shown}`);
  }
  for (const socket of sockets) socket.destroy();
  http.closeAllConnections();
  http.close();
  tcp.close();
  both.close();
}

await main();
