/**
 * Prosody's `external_auth_command`: one path run without a shell and without arguments,
 * usually a wrapper script whose `exec` line runs this program with its options.
 *
 * @module
 */

import { shellWords } from "../shell_words.ts";
import { shq, type Target } from "../context.ts";

/** The `exec` line of a shell script (continuation lines joined), or undefined. */
export function execLine(script: string): string | undefined {
  const joined = script.replace(/\\\r?\n/g, " ");
  return joined.split("\n").map((l) => l.trim()).find((l) => /^exec\s/.test(l))?.slice(4).trim();
}

/**
 * The command line the wrapper runs (its `exec` line, `"$@"` dropped), or the command itself
 * when it is the program; undefined after a ✗.
 */
export function checkWrapper(t: Target, path: string): readonly string[] | undefined {
  const text = t.system.readText(path);
  if (text === undefined) return undefined;
  if (!text.startsWith("#!")) {
    t.add({
      status: "ok",
      check: "wrapper",
      message: `${path} is not a script: it is run as the program, with no options but the ` +
        "XMPP_EXTAUTH_* environment",
    });
    return [path];
  }
  const line = execLine(text);
  // The arguments Prosody passes (none) are no words of the command.
  const split = line === undefined ? undefined : shellWords(line.replace(/\s+"?\$@"?$/, ""));
  if (split === undefined || split.error !== undefined || split.words.length === 0) {
    t.add({
      status: "fail",
      check: "wrapper",
      message: `${path}: no \`exec PROGRAM OPTIONS\` line ${split?.error ? `(${split.error})` : ""}`
        .trimEnd(),
      fix: "end the script with: exec /usr/local/bin/xmpp-extauth --protocol prosody --url ...",
    });
    return undefined;
  }
  const words = split.words;
  const notes = split.notes;
  t.add({
    status: notes.length > 0 ? "warn" : "ok",
    check: "wrapper",
    message: `${path} runs: ${words.map(shq).join(" ")}` +
      (notes.length > 0 ? `; and: ${notes.join("; ")}` : ""),
    ...(notes.length > 0 ? { fix: "quote such characters in single quotes" } : {}),
  });
  return words;
}
