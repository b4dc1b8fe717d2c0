import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Metrics } from "../lib/metrics/metrics.ts";
import { prometheusText } from "../lib/metrics/prometheus.ts";
import { summaryLine } from "../lib/metrics/summary.ts";
import { metricsPaths } from "../lib/metrics/exporter.ts";
import { createRotatingRouter } from "../lib/api/rotation.ts";
import { SYSTEM_CLOCK } from "../lib/core/clock.ts";
import { parseCommand } from "../lib/cli/config.ts";
import { createLogger } from "../lib/log/logger.ts";

describe("Metrics", () => {
  it("counts per operation and outcome, the API's histogram and every other counter", () => {
    const m = new Metrics();
    m.request("auth", "true", 1);
    m.request("auth", "true", 1);
    m.request("isuser", "refused", 0);
    m.api(3, 1);
    m.api(700, 3);
    m.breakerOpened();
    m.cacheAnswer("hit");
    m.cacheAnswer("outage");
    m.rejected();
    const s = m.snapshot();
    assert.equal(s.requests.auth.true, 2);
    assert.equal(s.requests.isuser.refused, 1);
    assert.equal(s.requests.setpass.error, 0);
    assert.equal(s.apiCount, 2);
    assert.equal(s.retries, 2);
    assert.deepEqual([s.breakerOpenings, s.cacheHits, s.outageAnswers, s.rejected], [1, 1, 1, 1]);
    const text = prometheusText(s, { pid: 7, startSeconds: 100 });
    assert.match(text, /^xmpp_extauth_api_duration_seconds_bucket\{pid="7",le="0\.005"\} 1$/m);
    assert.match(text, /^xmpp_extauth_api_duration_seconds_bucket\{pid="7",le="0\.5"\} 1$/m);
    assert.match(text, /^xmpp_extauth_api_duration_seconds_bucket\{pid="7",le="1"\} 2$/m);
    assert.match(text, /^xmpp_extauth_api_duration_seconds_sum\{pid="7"\} 0\.703$/m);
    assert.match(text, /^# TYPE xmpp_extauth_requests_total counter$/m);
    assert.match(text, /^xmpp_extauth_requests_total\{pid="7",op="isuser",outcome="refused"\} 1$/m);
    assert.equal(m.takeSlowest(), 700);
    assert.equal(m.takeSlowest(), 0);
  });

  it("sums what happened since the last summary", () => {
    const m = new Metrics();
    m.request("auth", "false", 1);
    const first = m.snapshot();
    m.request("auth", "error", 1);
    m.request("isuser", "true", 1);
    m.api(2, 2);
    assert.equal(
      summaryLine(first, m.snapshot(), 90_000, m.takeSlowest()),
      "stats for the last 1m30s: 2 requests (auth 1 error; isuser 1 true); API 1 call, mean 2.0 " +
        "ms, slowest 2.0 ms, 1 retry; 0 breaker openings, 0 cache hits, 0 outage-cache answers, " +
        "0 rejected",
    );
  });

  it("names one file per pid and recognises only its own pattern", () => {
    const paths = metricsPaths("/srv/node/xmpp.extauth.prom", 12);
    assert.equal(paths.path, "/srv/node/xmpp.extauth.12.prom");
    assert.equal(paths.folder, "/srv/node");
    assert.equal(paths.pidOf("xmpp.extauth.5.prom"), 5);
    assert.equal(paths.pidOf(".xmpp.extauth.5.prom.tmp"), 5);
    for (
      const other of ["xmpp.extauth.5.prom.tmp", ".xmpp.extauth.5.prom", "xmppXextauth.5.prom"]
    ) {
      assert.equal(paths.pidOf(other), undefined, other);
    }
    assert.equal(paths.pidOf("xmpp.extauth.0.prom"), undefined);
  });
});

describe("router reload", () => {
  it("reports an unusable file once per change, uses its fix, masks old and new", async () => {
    const files = new Map<string, string>([["/s/token", "old-token-1\n"]]);
    const stamps = new Map<string, string>([["/s/token", "1"]]);
    const command = parseCommand({
      args: ["--url", "http://127.0.0.1:1", "--token-file", "/s/token"],
      env: () => undefined,
      envNames: () => [],
      readFile: () => new Uint8Array(),
    });
    if (command.kind !== "serve") throw new Error("expected serve");
    const read = (path: string) => new TextEncoder().encode(files.get(path)!);
    const router = await createRotatingRouter(
      command.config,
      { readFile: read, fileMode: () => 0o600, stamp: (p) => stamps.get(p) },
      SYSTEM_CLOCK,
    );
    const lines: string[] = [];
    const logger = createLogger({
      level: "info",
      sink: (l) => lines.push(l),
      secrets: router.secrets,
    });
    const options = {
      stamp: (p: string) => stamps.get(p),
      readFile: read,
      fileMode: () => 0o600,
      addSecret: (s: string) => logger.addSecrets([s]),
      logger,
    };
    const auth = () => router.resolve("example.com")!.headers.Authorization;
    files.set("/s/token", "a\nb\n");
    stamps.set("/s/token", "2");
    for (let i = 0; i < 3; i++) await router.reload(options);
    assert.equal(lines.filter((l) => l.includes("ERROR")).length, 1);
    assert.equal(auth(), "Bearer old-token-1");
    files.set("/s/token", "new-token-2\n");
    stamps.set("/s/token", "3");
    await router.reload(options);
    assert.equal(auth(), "Bearer new-token-2");
    logger.info("old-token-1 new-token-2");
    assert.match(lines.at(-1)!, /INFO {2}\*\*\* \*\*\*\n$/);
    // The same content again (a touch): nothing logged, nothing rebuilt.
    const count = lines.length;
    stamps.set("/s/token", "4");
    await router.reload(options);
    assert.equal(lines.length, count);
  });
});
