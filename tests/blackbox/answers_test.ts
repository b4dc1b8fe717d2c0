/**
 * What the API answers, attacked through the real program (issue 8, items 2,
 * 3, 4, 5 and the log part of 7): a refused password change is never answered
 * with a boolean ejabberd would cache; an answer is parsed as the API sent it,
 * whatever the password; no answer, however large, is held in memory; a
 * secret the API echoes back is masked in every encoding on every output
 * path; and nothing from outside can forge a log line.
 *
 * Run: `deno test --allow-all tests/blackbox/answers_test.ts`, `bun test tests/blackbox/answers_test.ts`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { listen, type ProgrammableServer, reply } from "../helpers/api_server.ts";
import {
  assertReply,
  ERROR,
  FALSE,
  runExtauth,
  runners,
  TRUE,
  withExtauth,
} from "../helpers/spawn.ts";

const T = { timeout: 120_000 };
const QUIET = ["--retries", "0", "--breaker-failures", "0"];

/** The backend-error lines in a log, without time and tag. */
function backendErrors(log: string): string[] {
  return log.split("\n").filter((l) => l.includes("backend error")).map((l) =>
    l.replace(/^.*?(WARN|ERROR|INFO) +/, "")
  );
}

for (const runner of runners()) {
  describe(`answers from the API (${runner.name})`, () => {
    let api: ProgrammableServer;
    let dir: string;
    before(async () => {
      api = await listen();
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-answers-"));
    });
    after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });

    describe("a refused password change (item 2)", () => {
      it("ejabberd: answers error, never a boolean ejabberd would cache", T, async () => {
        // Each setpass is refused or fails; every auth fails with HTTP 500.
        let setpass = 0;
        api.on((req, body, res) => {
          if (req.url === "/login") return reply(res, 500, "down");
          setpass++;
          if (setpass === 1) return reply(res, 200, { success: false, message: "too\x07short" });
          if (setpass === 2) return reply(res, 200, { success: false });
          if (setpass === 3) return reply(res, 500, "down");
          reply(res, 200, { success: JSON.parse(body).password === "good-new-pw" });
        });
        // --on-error=false turns errors into false, but never for setpass: ejabberd would
        // take that false for a successful change and cache the refused password.
        await withExtauth(
          runner,
          ["--url", api.url, "--on-error=false", ...QUIET],
          {},
          async (p) => {
            assertReply(await p.request("setpass:alice:example.com:refused1"), ERROR, "refused");
            assertReply(await p.request("setpass:alice:example.com:refused2"), ERROR, "no message");
            assertReply(await p.request("setpass:alice:example.com:x"), ERROR, "backend error");
            assertReply(await p.request("auth:alice:example.com:x"), FALSE, "--on-error=false");
            assertReply(await p.request("setpass:alice:example.com:bad-new-pw"), ERROR, "refused");
            assertReply(await p.request("setpass:alice:example.com:good-new-pw"), TRUE, "accepted");
            assert.equal(await p.finish(), 0);
            const lines = p.stderr.split("\n");
            const refusals = lines.filter((l) => l.includes("refused the password change"));
            assert.deepEqual(refusals.map((l) => l.replace(/^.*?WARN +/, "")), [
              "setpass alice@example.com: the API refused the password change (too\\x07short); " +
              "replying error, as a false reply would be taken for success",
              "setpass alice@example.com: the API refused the password change; " +
              "replying error, as a false reply would be taken for success",
              "setpass alice@example.com: the API refused the password change; " +
              "replying error, as a false reply would be taken for success",
            ]);
          },
        );
      });

      it("ejabberd, form-status contract: a 403 to set_password is answered error", T, async () => {
        api.on((_req, _body, res) => reply(res, 403, "no"));
        const args = ["--url", api.url, "--contract", "form-status", ...QUIET];
        await withExtauth(runner, args, {}, async (p) => {
          assertReply(await p.request("setpass:alice:example.com:new"), ERROR, "HTTP 403");
          assertReply(await p.request("removeuser:alice:example.com"), FALSE, "other writes");
          assert.equal(await p.finish(), 0);
          assert.match(
            p.stderr,
            /WARN {2}setpass alice@example\.com: the API refused the password change \(HTTP 403 \(not allowed\)\); replying error/,
          );
        });
      });

      it("Prosody: a refused setpass stays 0, which Prosody reports as a failure", T, async () => {
        api.on((_req, _body, res) => reply(res, 200, { success: false }));
        const r = await runExtauth(runner, ["--url", api.url, "--protocol", "prosody", ...QUIET], {
          stdin: "setpass:alice:example.com:new\n",
        });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdoutText, "0\n");
      });

      it("check setpass shows the change as refused (exit 1)", T, async () => {
        api.on((_req, _body, res) => reply(res, 200, { success: false, message: "too short" }));
        const r = await runExtauth(runner, [
          "check",
          "setpass",
          "alice",
          "example.com",
          "--url",
          api.url,
        ], {
          stdin: "new-password\n",
        });
        assert.equal(r.code, 1, r.stdoutText + r.stderr);
        assert.match(
          r.stdoutText,
          /^answer: false \(the API refused the password change: too short\)$/m,
        );
      });
    });

    describe("answers parsed as sent, whatever the password (item 3)", () => {
      it("logs in users whose password is part of the answer's syntax", T, async () => {
        const passwords = ["true", "e", "success", '"', "\\", ":", "{", " ", "false"];
        api.on((_req, body, res) => {
          const { user, password } = JSON.parse(body);
          reply(res, 200, { success: password === passwords[Number(user.slice(1))] });
        });
        await withExtauth(runner, ["--url", api.url, ...QUIET], {}, async (p) => {
          for (const [i, password] of passwords.entries()) {
            assertReply(await p.request(`auth:u${i}:example.com:${password}`), TRUE, password);
            assertReply(await p.request(`auth:u${i}:example.com:${password}x`), FALSE, password);
          }
          assert.equal(await p.finish(), 0);
          assert.deepEqual(backendErrors(p.stderr), []);
        });
      });

      it("a definite false is never a backend error: no one can open the breaker", T, async () => {
        api.on((_req, body, res) => {
          const { user, password } = JSON.parse(body);
          reply(res, 200, { success: user === "alice" && password === "right" });
        });
        const args = ["--url", api.url, "--retries", "0", "--breaker-failures", "5"];
        await withExtauth(runner, args, {}, async (p) => {
          for (let i = 0; i < 7; i++) {
            assertReply(await p.request("auth:bob:example.com:success"), FALSE, `attack #${i}`);
          }
          assertReply(await p.request("auth:alice:example.com:right"), TRUE, "after the attack");
          assert.equal(api.seen.length, 8, "every request reached the API");
          assert.equal(await p.finish(), 0);
          assert.deepEqual(backendErrors(p.stderr), []);
          assert.doesNotMatch(p.stderr, /circuit breaker/);
        });
      });
    });

    describe("bounded answers (item 4)", () => {
      let raw: Server;
      let rawUrl: string;
      const sockets = new Set<Socket>();
      before(async () => {
        // Announces a 1 TiB body and sends a few bytes of it.
        raw = createTcpServer((socket) => {
          sockets.add(socket);
          socket.on("error", () => {});
          socket.once("data", () =>
            socket.write(
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
                'Content-Length: 1099511627776\r\n\r\n{"success": true, "x": "',
            ));
        });
        await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
        rawUrl = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
      });
      after(async () => {
        for (const s of sockets) s.destroy();
        await new Promise((r) => raw.close(r));
      });

      it(
        "reads an answer of 65536 bytes, refuses one of 65537 (Content-Length or chunked)",
        T,
        async () => {
          const answer = (size: number) => {
            const json = '{"success": true}';
            return json + " ".repeat(size - json.length);
          };
          await withExtauth(runner, ["--url", api.url, ...QUIET], {}, async (p) => {
            for (const chunked of [false, true]) {
              for (const [size, want] of [[65536, TRUE], [65537, ERROR]] as const) {
                api.on((_req, _body, res) => {
                  if (chunked) {
                    res.writeHead(200, { "Content-Type": "application/json" });
                    const text = answer(size);
                    res.write(text.slice(0, 30000));
                    res.write(text.slice(30000));
                    res.end();
                  } else reply(res, 200, answer(size));
                });
                assertReply(
                  await p.request("auth:alice:example.com:pw"),
                  want,
                  `${size} ${chunked}`,
                );
                assert.equal(api.seen[0]?.headers["accept-encoding"], "identity");
              }
            }
            assert.equal(await p.finish(), 0);
            assert.deepEqual(backendErrors(p.stderr).map((l) => l.replace(/after [\d.]+ ms/, "")), [
              "auth alice@example.com: backend error : HTTP 200, answer larger than 65536 bytes",
              "auth alice@example.com: backend error : HTTP 200, answer larger than 65536 bytes",
            ]);
          });
        },
      );

      it(
        "stops reading an endless, a huge, an announced-huge or a compressed answer",
        T,
        async () => {
          // 1 GiB of zeros in 1024 gzip members (about 1 MB): what a hostile server sends
          // even when asked for no compression.
          const member = gzipSync(Buffer.alloc(1 << 20));
          const bomb = Buffer.concat(Array.from({ length: 1024 }, () => member));
          const endless = (res: import("node:http").ServerResponse, headers = {}) => {
            res.writeHead(200, { "Content-Type": "application/json", ...headers });
            const chunk = Buffer.alloc(1 << 16, 0x20);
            const pump = () => {
              while (!res.destroyed && res.write(chunk));
              if (!res.destroyed) res.once("drain", pump);
            };
            pump();
          };
          const cases: [string, (res: import("node:http").ServerResponse) => void][] = [
            ["an endless chunked body", (res) => endless(res)],
            ["a 200 MB body", (res) => endless(res, { "Content-Length": "200000000" })],
            ["a gzip bomb", (res) => {
              res.writeHead(200, {
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
              });
              res.end(bomb);
            }],
          ];
          await withExtauth(runner, ["--url", api.url, ...QUIET], {}, async (p) => {
            for (const [name, handler] of cases) {
              api.on((_req, _body, res) => handler(res));
              assertReply(await p.request("auth:alice:example.com:pw"), ERROR, name);
            }
            assert.equal(await p.finish(), 0);
            const errors = backendErrors(p.stderr).map((l) => l.replace(/after [\d.]+ ms/, ""));
            assert.deepEqual(
              errors,
              Array(3).fill(
                "auth alice@example.com: backend error : HTTP 200, answer larger than 65536 bytes",
              ),
            );
          });
          await withExtauth(runner, ["--url", rawUrl, ...QUIET], {}, async (p) => {
            assertReply(
              await p.request("auth:alice:example.com:pw"),
              ERROR,
              "Content-Length 1 TiB",
            );
            assert.equal(await p.finish(), 0);
            assert.match(
              p.stderr,
              /WARN {2}auth alice@example\.com: backend error after [\d.]+ ms: HTTP 200, answer larger than 65536 bytes\n/,
            );
          });
        },
      );

      it(
        "refuses an answer with both Content-Length and Transfer-Encoding, either order",
        T,
        async () => {
          // Declares 17 bytes and chunked, then streams chunks for as long as it is read (up
          // to 64 MiB, so that a program that reads it all still ends). The old code read it
          // whole, its declared length being under the cap: 2 GB of RSS for an endless one.
          const TOTAL = 64 * 1024 * 1024;
          for (const order of ["Content-Length first", "Transfer-Encoding first"]) {
            const cl = "Content-Length: 17\r\n";
            const te = "Transfer-Encoding: chunked\r\n";
            let sent = 0;
            let hungUp!: () => void;
            const closed = new Promise<void>((resolve) => hungUp = resolve);
            const server = createTcpServer((socket) => {
              socket.on("error", () => {});
              socket.on("close", () => hungUp());
              socket.once("data", () => {
                socket.write(
                  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
                    (order === "Content-Length first" ? cl + te : te + cl) + "\r\n",
                );
                const chunk = Buffer.from(`10000\r\n${" ".repeat(0x10000)}\r\n`);
                const pump = () => {
                  while (!socket.destroyed && sent < TOTAL) {
                    sent += 0x10000;
                    if (!socket.write(chunk)) return void socket.once("drain", pump);
                  }
                  if (!socket.destroyed) socket.end("0\r\n\r\n");
                };
                pump();
              });
            });
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
            try {
              await withExtauth(runner, ["--url", url, ...QUIET], {}, async (p) => {
                assertReply(await p.request("auth:alice:example.com:pw"), ERROR, order);
                // The program hung up long before the server had sent what it would.
                await closed;
                assert.ok(sent < TOTAL, `${order}: read ${sent} bytes, all of them`);
                assert.equal(await p.finish(), 0);
                assert.deepEqual(
                  backendErrors(p.stderr).map((l) => l.replace(/after [\d.]+ ms/, "")),
                  [
                    "auth alice@example.com: backend error : HTTP 200, malformed answer: " +
                    "both Content-Length and Transfer-Encoding",
                  ],
                  order,
                );
              });
            } finally {
              await new Promise((r) => server.close(r));
            }
          }
        },
      );

      it("reads no more than the declared length when more is sent", T, async () => {
        // 17 bytes declared, then 1 MiB more on the same connection, as if a second answer.
        const server = createTcpServer((socket) => {
          socket.on("error", () => {});
          socket.once("data", () =>
            socket.end(
              'HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{"success": true}' +
                'HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n{"success": false}' +
                " ".repeat(1 << 20),
            ));
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        try {
          await withExtauth(runner, ["--url", url, ...QUIET], {}, async (p) => {
            // The excess is never taken for the next request's answer.
            assertReply(await p.request("auth:alice:example.com:pw"), TRUE, "first");
            assertReply(await p.request("auth:bob:example.com:pw"), TRUE, "second");
            assert.equal(await p.finish(), 0);
            assert.deepEqual(backendErrors(p.stderr), []);
          });
        } finally {
          await new Promise((r) => server.close(r));
        }
      });

      it("never inflates a compressed answer it did not ask for", T, async () => {
        api.on((_req, _body, res) => {
          res.writeHead(200, { "Content-Type": "application/json", "Content-Encoding": "gzip" });
          res.end(gzipSync('{"success": true}'));
        });
        await withExtauth(runner, ["--url", api.url, ...QUIET], {}, async (p) => {
          assertReply(await p.request("auth:alice:example.com:pw"), ERROR, "gzip");
          assert.equal(await p.finish(), 0);
          assert.match(
            p.stderr,
            /backend error after [\d.]+ ms: HTTP 200 with a body that is not JSON: \\x1f/,
          );
        });
      });
    });

    describe("secrets the API echoes back are masked everywhere (item 5)", () => {
      const PASSWORD = 'Pw7q naïve pass/1"\\+&<😀>';
      const TOKEN = "Tk9z-token-leakcheck";
      const BASIC = "Bu3x:Bp5y-basic-leakcheck";
      const HMAC = "Hm2w-hmac/leakcheck";
      const API_KEY = "Ak4v-apikey-leakcheck";
      const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
      // Python's json.dumps and PHP's json_encode (which also writes / as \/).
      const python = (text: string) =>
        JSON.stringify(text).slice(1, -1).replace(
          /[^\x20-\x7e]/g,
          (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
        );
      const php = (text: string) => python(text).replaceAll("/", "\\/");
      const encodings = (text: string): [string, string][] => [
        ["raw", text],
        ["JSON.stringify", JSON.stringify(text).slice(1, -1)],
        ["json.dumps", python(text)],
        ["json_encode", php(text)],
        ["URLSearchParams", new URLSearchParams({ p: text }).toString().slice(2)],
        ["encodeURIComponent", encodeURIComponent(text)],
        [
          "lower-case %XX",
          encodeURIComponent(text).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
        ],
      ];
      type Echo = [string, (req: import("node:http").IncomingMessage, body: string) => string];
      const passwordEchoes: Echo[] = [
        ...encodings(PASSWORD).map(([name, form]): Echo => [`password, ${name}`, () => form]),
        ["the request body", (_req, body) => body.slice(body.indexOf("pass"))],
        ["the Authorization header", (req) => `${req.headers.authorization}`],
      ];
      const files = (): [string[], Echo[]][] => {
        const token = join(dir, "token");
        const basic = join(dir, "basic");
        const hmac = join(dir, "hmac");
        writeFileSync(token, `${TOKEN}\n`);
        writeFileSync(basic, `${BASIC}\n`);
        writeFileSync(hmac, `${HMAC}\n`);
        return [
          // A Bearer token and signed requests, form-encoded (with + for a space).
          [["--contract", "form-status", "--token-file", token, "--hmac-secret-file", hmac], [
            ...passwordEchoes,
            ...encodings(TOKEN).map(([name, form]): Echo => [`token, ${name}`, () => form]),
            ...encodings(HMAC).map(([name, form]): Echo => [`HMAC secret, ${name}`, () => form]),
          ]],
          // Basic credentials, JSON.
          [["--basic-auth-file", basic], [
            ...passwordEchoes,
            ...encodings(BASIC).map((
              [name, form],
            ): Echo => [`Basic credential, ${name}`, () => form]),
            ["Basic password alone", () => BASIC.split(":")[1]!],
            ["Basic credential, base64", () => base64(BASIC)],
          ]],
          // An API key in a custom header (--header), JSON.
          [["--header", `X-Api-Key: ${API_KEY}`], [
            ...passwordEchoes,
            ...encodings(API_KEY).map(([name, form]): Echo => [`API key, ${name}`, () => form]),
            ["the X-Api-Key header", (req) => `${req.headers["x-api-key"]}`],
          ]],
        ];
      };
      /** Fails when any secret, whole or its start, is in `text`. */
      const assertNoSecret = (text: string, where: string) => {
        for (
          const mark of [
            "leakcheck",
            "Pw7q",
            "Tk9z",
            "Bu3x",
            "Bp5y",
            "Hm2w",
            "Ak4v",
            base64(BASIC).slice(0, 8),
          ]
        ) {
          assert.equal(text.includes(mark), false, `${where} shows ${mark}:\n${text}`);
        }
      };

      it("serving: in log lines, for errors and for a false answer's message", T, async () => {
        const redirected = await listen();
        try {
          for (const [i, [extra, echoes]] of files().entries()) {
            const log = join(dir, `echo${i}.log`);
            const args = ["--url", api.url, ...QUIET, "--debug", "--log-file", log, ...extra];
            await withExtauth(runner, args, {}, async (p) => {
              for (const [name, echo] of echoes) {
                for (const status of [500, 302, 200]) {
                  api.on((req, body, res) => {
                    const text = echo(req, body);
                    if (status === 302) {
                      res.writeHead(302, {
                        Location: `${redirected.url}/login?e=${encodeURIComponent(text)}`,
                      });
                      res.end(text);
                    } else if (status === 500) reply(res, 500, text);
                    else if (i === 0) reply(res, 200, `${text} (not true or false)`);
                    else reply(res, 200, { success: false, message: text });
                  });
                  const want = status === 200 && i !== 0 ? FALSE : ERROR;
                  assertReply(
                    await p.request(`auth:alice:example.com:${PASSWORD}`),
                    want,
                    `${name} ${status}`,
                  );
                }
              }
              assert.equal(await p.finish(), 0);
              assertNoSecret(p.stderr, "stderr");
            });
            const text = readFileSync(log, "utf8");
            assert.equal(backendErrors(text).length, echoes.length * (i === 0 ? 3 : 2), text);
            assertNoSecret(text, `the log file (${extra.join(" ")})`);
          }
          assert.equal(redirected.seen.length, 0, "a redirect is never followed");
        } finally {
          await redirected.close();
        }
      });

      it("check: in every line it prints", T, async () => {
        for (const [extra, echoes] of files()) {
          for (const [name, echo] of echoes) {
            api.on((req, body, res) => reply(res, 500, echo(req, body)));
            const r = await runExtauth(
              runner,
              [
                "check",
                "auth",
                "alice",
                "example.com",
                "--url",
                api.url,
                "--retries",
                "0",
                ...extra,
              ],
              { stdin: `${PASSWORD}\n` },
            );
            assert.equal(r.code, 2, `${name}: ${r.stdoutText}${r.stderr}`);
            assert.match(r.stdoutText, /^error \(status\) after [\d.]+ ms: HTTP 500: /m, name);
            assertNoSecret(r.stdoutText + r.stderr, `check, ${name}`);
          }
        }
      });
    });

    describe("log lines cannot be forged (item 7)", () => {
      it("escapes control characters from the request and the answer", T, async () => {
        api.on((_req, _body, res) =>
          reply(res, 500, "oops\x07\x00\r\n\u2028\x9b2026 ERROR forged")
        );
        const log = join(dir, "forged.log");
        const args = ["--url", api.url, ...QUIET];
        await withExtauth(runner, [...args, "--log-file", log], {}, async (p) => {
          // A user name no server sends is refused before the API is asked (h-inputs);
          // its rejection is logged, escaped, on one line.
          assertReply(
            await p.request("isuser:evil\n<fake line>\x1b[1A:example.com"),
            FALSE,
            "forged user",
          );
          assertReply(await p.request("isuser:alice:example.com"), ERROR, "forged answer");
          assert.equal(await p.finish(), 0);
        });
        const lines = readFileSync(log, "utf8").split("\n").filter((l) => l !== "");
        const warnings = lines.filter((l) => !l.includes(" INFO  "));
        assert.equal(warnings.length, 2, lines.join("\n"));
        assert.match(
          warnings[0]!,
          /^\S+ xmpp-extauth\[\d+\] WARN {2}rejected request \(\d+ bytes\): /,
        );
        assert.match(
          warnings[1]!,
          /^\S+ xmpp-extauth\[\d+\] WARN {2}isuser alice@example\.com: backend error after [\d.]+ ms: HTTP 500: oops\\x07\\x00 \\x9b2026 ERROR forged$/,
        );
        for (const line of lines) {
          assert.match(line, /^\d{4}-\d\d-\d\dT\S+Z xmpp-extauth\[\d+\] (INFO |WARN ) /, line);
          // deno-lint-ignore no-control-regex -- looking for control characters is the point
          assert.doesNotMatch(line, /[\x00-\x1f\x7f-\x9f\u2028\u2029]/, line);
        }
      });

      it("check: escapes control characters in what the API sent", T, async () => {
        api.on((_req, _body, res) =>
          reply(res, 200, { success: false, message: "no\x1b[2J\nroot" })
        );
        const r = await runExtauth(runner, [
          "check",
          "isuser",
          "alice",
          "example.com",
          "--url",
          api.url,
        ]);
        assert.equal(r.code, 1, r.stdoutText + r.stderr);
        assert.match(r.stdoutText, /^answer: false \(no\\x1b\[2J root\)$/m);
        assert.equal(r.stdoutText.includes("\x1b"), false, r.stdoutText);
      });
    });
  });
}
