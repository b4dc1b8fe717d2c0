/**
 * The reply policy's whole table, op × server × --on-error × outcome, in one place: the
 * rules of lib/auth/reply_policy.ts as they are read.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  createReplyPolicy,
  errorAnswer,
  errorReply,
  refusedReply,
  rejectedReply,
  replySettingsOf,
} from "../lib/auth/reply_policy.ts";
import { OPERATIONS, type XmppServer } from "../lib/core/operations.ts";
import type { Verdict } from "../lib/wire/protocol.ts";

const SERVERS: readonly XmppServer[] = ["ejabberd", "prosody", "mongooseim"];
const ON_ERRORS = ["error", "false"] as const;
const encode = (text: string) => new TextEncoder().encode(text);

/** The table, written out: what each outcome is answered. */
function expected(
  op: string,
  server: XmppServer,
  onError: "error" | "false",
  outcome: "refused" | "error" | "rejected" | "thrown",
): Verdict {
  // ejabberd takes any true/false reply to setpass for success.
  if (op === "setpass" && server === "ejabberd") return "error";
  if (outcome === "refused" || outcome === "rejected") return "false";
  // MongooseIM never gets error.
  return server === "mongooseim" ? "false" : onError;
}

describe("reply policy", () => {
  it("answers every op, server, --on-error and outcome as the table says", () => {
    let cases = 0;
    for (const op of OPERATIONS) {
      for (const server of SERVERS) {
        for (const onError of ON_ERRORS) {
          const policy = createReplyPolicy({ server, onError });
          const label = `${op} ${server} --on-error ${onError}`;
          const payload = encode(`${op}:alice:example.com${op === "isuser" ? "" : ":pw"}`);
          assert.equal(policy.refused(op), expected(op, server, onError, "refused"), label);
          assert.equal(policy.error(op), expected(op, server, onError, "error"), label);
          assert.equal(policy.rejected(op), expected(op, server, onError, "rejected"), label);
          assert.equal(policy.thrown(payload), expected(op, server, onError, "thrown"), label);
          assert.equal(refusedReply(op, server), policy.refused(op), label);
          assert.equal(errorReply(op, { server, onError }), policy.error(op), label);
          assert.equal(rejectedReply(op, server), policy.rejected(op), label);
          cases += 4;
        }
      }
    }
    assert.equal(cases, 6 * 3 * 2 * 4);
  });

  it("answers a refused setpass error to ejabberd only", () => {
    for (const op of OPERATIONS) {
      assert.deepEqual(
        Object.fromEntries(SERVERS.map((server) => [server, refusedReply(op, server)])),
        { ejabberd: op === "setpass" ? "error" : "false", prosody: "false", mongooseim: "false" },
        op,
      );
    }
  });

  it("answers what names no operation like any op, and input that is no request false", () => {
    for (const server of SERVERS) {
      for (const onError of ON_ERRORS) {
        const policy = createReplyPolicy({ server, onError });
        const label = `${server} --on-error ${onError}`;
        assert.equal(policy.rejectedInput, "false", label);
        assert.equal(policy.rejected(undefined), "false", label);
        assert.equal(policy.rejected("certauth"), "false", label);
        assert.equal(policy.error(undefined), server === "mongooseim" ? "false" : onError, label);
        assert.equal(policy.thrown(encode("garbage")), policy.error(undefined), label);
        assert.equal(errorAnswer({ server, onError }), policy.error(undefined), label);
      }
    }
  });

  it("keeps a setpass error from --on-error=false in ejabberd mode, even unreadable", () => {
    const ejabberd = createReplyPolicy({ server: "ejabberd", onError: "false" });
    const prosody = createReplyPolicy({ server: "prosody", onError: "false" });
    const setpass = encode("setpass:alice:example.com:new");
    assert.equal(ejabberd.thrown(setpass), "error");
    assert.equal(prosody.thrown(setpass), "false");
    assert.equal(ejabberd.thrown(encode("auth:alice:example.com:pw")), "false");
    assert.equal(ejabberd.thrown(new Uint8Array([...encode("setpass:a:b:"), 0xff])), "error");
    assert.equal(ejabberd.rejected("setpass"), "error");
    assert.equal(ejabberd.thrown(encode("garbage")), "false");
  });

  it("reads the server from a config: MongooseIM when --server says so, else the protocol", () => {
    assert.deepEqual(
      replySettingsOf({ protocol: "prosody", server: "ejabberd", onError: "false" }),
      {
        server: "prosody",
        onError: "false",
      },
    );
    assert.deepEqual(
      replySettingsOf({ protocol: "ejabberd", server: "ejabberd", onError: "error" }),
      { server: "ejabberd", onError: "error" },
    );
    assert.deepEqual(
      replySettingsOf({ protocol: "ejabberd", server: "mongooseim", onError: "error" }),
      { server: "mongooseim", onError: "error" },
    );
  });
});
