/**
 * The counters through the real program (docs/metrics.md): `--metrics-file` appears as
 * `STEM.PID.prom`, parses by the Prometheus text format's rules (prometheus_client's own parser
 * where python3-prometheus-client is installed, and a strict line check of our own always),
 * counts exactly the requests sent, is replaced whole (a reader never sees a part), is removed
 * at a clean exit; a stale file of a dead copy is removed at start, nothing else; the summary
 * line comes every `--stats-interval` and at exit; stdout holds only the reply frames.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Api, startApi } from "../helpers/api_server.ts";
import { assertReply, ERROR, FALSE, runners, startExtauth, TRUE } from "../helpers/spawn.ts";

const T = { timeout: 90_000 };
const PASSWORD = "Met-Pw-7741-leakcheck";

/** Polls `done` every 50 ms until it holds; fails after 15 s (never reached when it works). */
async function until<V>(what: string, get: () => V | undefined): Promise<V> {
  for (let i = 0; i < 300; i++) {
    const value = get();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const hasPrometheusClient = spawnSync("python3", ["-c", "import prometheus_client"]).status === 0;

/** Every sample as `name{labels sorted}` → value, by prometheus_client's parser. */
function parseWithPrometheusClient(text: string): Map<string, number> {
  const script = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
`;
  const json = execFileSync("python3", ["-c", script], { input: text }).toString();
  return new Map(Object.entries(JSON.parse(json) as Record<string, number>));
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE = new RegExp(
  `^(${NAME})\\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*",?)*)\\} ` +
    `(-?[0-9]+(?:\\.[0-9]+)?(?:e[-+]?[0-9]+)?|\\+Inf|-Inf|NaN)$`,
);

/**
 * Our own strict reading of the text format: HELP then TYPE before each family's samples,
 * every sample of a declared family (histogram suffixes included), one family never split,
 * names and labels by the grammar, a final newline. Returns the samples as above.
 */
function parseStrictly(text: string): Map<string, number> {
  assert.ok(text.endsWith("\n"), "ends with a newline");
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  let current: string | undefined;
  let helped: string | undefined;
  for (const line of text.slice(0, -1).split("\n")) {
    const help = new RegExp(`^# HELP (${NAME}) \\S.*$`).exec(line);
    const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram)$`).exec(line);
    if (help) {
      assert.ok(!types.has(help[1]!), `family ${help[1]} declared once`);
      helped = help[1];
      continue;
    }
    if (type) {
      assert.equal(type[1], helped, "TYPE right after its HELP");
      types.set(type[1]!, type[2]!);
      current = type[1];
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `a sample line: ${JSON.stringify(line)}`);
    const name = m[1]!;
    const base = types.get(current!) === "histogram"
      ? name.replace(/_(bucket|sum|count)$/, "")
      : name;
    assert.equal(base, current, `${name} belongs to the family above it`);
    const labels = m[2]!.split(/,(?=[a-zA-Z_])/).filter((l) => l !== "").sort().join(",");
    const key = `${name}{${labels}}`;
    assert.ok(!samples.has(key), `${key} once`);
    samples.set(key, Number(m[3] === "+Inf" ? Infinity : m[3]));
  }
  return samples;
}

function parse(text: string): Map<string, number> {
  const mine = parseStrictly(text);
  if (hasPrometheusClient) {
    const theirs = parseWithPrometheusClient(text);
    assert.deepEqual(
      [...theirs.keys()].filter((k) => !k.endsWith("_created{")).sort(),
      [...mine.keys()].sort(),
    );
    for (const [key, value] of theirs) assert.equal(value, mine.get(key), key);
  }
  return mine;
}

const requestsKey = (pid: number, op: string, outcome: string) =>
  `xmpp_extauth_requests_total{op="${op}",outcome="${outcome}",pid="${pid}"}`;

for (const runner of runners()) {
  describe(`metrics through the program (${runner.name})`, () => {
    let api: Api;
    let dir: string;
    before(async () => {
      api = await startApi({ users: { "alice@example.com": PASSWORD } });
      dir = mkdtempSync(join(tmpdir(), "xmpp-extauth-metrics-"));
    });
    after(async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it(
      "writes exact counts, replaced whole, removed at exit; stale files of dead copies go",
      T,
      async () => {
        api.reset();
        const folder = mkdtempSync(join(dir, "textfile-"));
        // A copy that ran and is gone, one that runs (this test), and files of other patterns.
        const dead = spawnSync("true").pid!;
        writeFileSync(join(folder, `xmpp-extauth.${dead}.prom`), "stale\n");
        writeFileSync(join(folder, `.xmpp-extauth.${dead}.prom.tmp`), "stale\n");
        writeFileSync(join(folder, `xmpp-extauth.${process.pid}.prom`), "live\n");
        writeFileSync(join(folder, `other.${dead}.prom`), "other\n");
        writeFileSync(join(folder, `xmpp-extauth.${dead}.txt`), "other\n");
        const p = startExtauth(runner, [
          "--url",
          api.url,
          "--metrics-file",
          join(folder, "xmpp-extauth.prom"),
          "--retries",
          "1",
          "--breaker-failures",
          "0",
        ]);
        try {
          assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "auth true");
          const file = join(folder, `xmpp-extauth.${p.pid}.prom`);
          assert.deepEqual(
            readdirSync(folder).sort(),
            [
              `other.${dead}.prom`,
              `xmpp-extauth.${dead}.txt`,
              `xmpp-extauth.${p.pid}.prom`,
              `xmpp-extauth.${process.pid}.prom`,
            ].sort(),
          );
          assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "auth true");
          assertReply(await p.request("auth:alice:example.com:wrong"), FALSE, "auth false");
          assertReply(await p.request("isuser:alice:example.com"), TRUE, "isuser");
          assertReply(await p.request("isuser:nobody:example.com"), FALSE, "isuser false");
          api.queueModes("login", "status500", "status500");
          assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), ERROR, "api error");
          api.queueModes("login", "status500");
          assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "retried");
          assertReply(await p.request("bogus:x"), FALSE, "rejected");

          // Read while it is rewritten: every read is one whole file, and rewrites are renames.
          const inodes = new Set<number>();
          const samples = await until("the counts", () => {
            inodes.add(statSync(file).ino);
            const s = parse(readFileSync(file, "utf8"));
            return s.get(requestsKey(p.pid, "isuser", "false")) === 1 ? s : undefined;
          });
          const expected: Record<string, number> = {
            [requestsKey(p.pid, "auth", "true")]: 3,
            [requestsKey(p.pid, "auth", "false")]: 1,
            [requestsKey(p.pid, "auth", "error")]: 1,
            [requestsKey(p.pid, "auth", "refused")]: 0,
            [requestsKey(p.pid, "isuser", "true")]: 1,
            [requestsKey(p.pid, "isuser", "false")]: 1,
            [requestsKey(p.pid, "setpass", "true")]: 0,
            [`xmpp_extauth_api_retries_total{pid="${p.pid}"}`]: 2,
            [`xmpp_extauth_rejected_requests_total{pid="${p.pid}"}`]: 1,
            [`xmpp_extauth_breaker_openings_total{pid="${p.pid}"}`]: 0,
            [`xmpp_extauth_api_duration_seconds_count{pid="${p.pid}"}`]: 7,
            [`xmpp_extauth_api_duration_seconds_bucket{le="+Inf",pid="${p.pid}"}`]: 7,
          };
          for (const [key, value] of Object.entries(expected)) {
            assert.equal(samples.get(key), value, key);
          }
          const before = statSync(file).ino;
          await until("a rewrite", () => {
            const text = readFileSync(file, "utf8");
            parse(text);
            return statSync(file).ino !== before ? true : undefined;
          });
          assert.equal(await p.finish(), 0);
          assert.deepEqual(
            readdirSync(folder).sort(),
            [
              `other.${dead}.prom`,
              `xmpp-extauth.${dead}.txt`,
              `xmpp-extauth.${process.pid}.prom`,
            ].sort(),
          );
          assert.ok(!existsSync(file));
          assert.match(p.stderr, new RegExp(`removed .*xmpp-extauth\\.${dead}\\.prom: its copy`));
          assert.ok(!p.stderr.includes(PASSWORD));
        } finally {
          p.kill();
        }
      },
    );

    it("logs the summary every --stats-interval and at exit", T, async () => {
      api.reset();
      const p = startExtauth(runner, ["--url", api.url, "--stats-interval", "1s"]);
      try {
        assertReply(await p.request(`auth:alice:example.com:${PASSWORD}`), TRUE, "auth true");
        assertReply(await p.request("auth:alice:example.com:wrong"), FALSE, "auth false");
        assertReply(await p.request("isuser:alice:example.com"), TRUE, "isuser");
        const line = await until(
          "a periodic summary with the requests",
          () =>
            p.stderr.split("\n").find((l) =>
              l.includes("stats for the last") && l.includes("3 requests")
            ),
        );
        assert.match(
          line,
          /INFO {2}stats for the last [0-9.]+s: 3 requests \(auth 1 true, 1 false; isuser 1 true\); API 3 calls, mean [0-9.]+ ms, slowest [0-9.]+ ms, 0 retries; 0 breaker openings, 0 cache hits, 0 outage-cache answers, 0 rejected$/,
        );
        assertReply(await p.request("isuser:alice:example.com"), TRUE, "isuser");
        assert.equal(await p.finish(), 0); // stdout: the four replies, nothing else
        const lines = p.stderr.trim().split("\n");
        assert.match(lines.at(-1)!, /stdin closed after 4 requests; exiting$/);
        // The one at exit counts what came after the last periodic one.
        assert.match(lines.at(-2)!, /stats for the last [0-9.hms]+: [01] requests?/);
        const total = lines.filter((l) => l.includes("stats for the last"))
          .map((l) => Number(/: ([0-9]+) requests?/.exec(l)![1]))
          .reduce((a, b) => a + b, 0);
        assert.equal(total, 4);
      } finally {
        p.kill();
      }
    });
  });
}
