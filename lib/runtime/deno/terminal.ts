/**
 * {@linkcode Terminal} on `Deno.stdin.setRaw` and Deno's FFI.
 *
 * @module
 */

import { readLineRaw, tcflushStdin } from "../common.ts";
import type { Terminal } from "../types.ts";

const encoder = new TextEncoder();

/** The terminal as Deno drives it. */
export function denoTerminal(D: typeof Deno): Terminal {
  return {
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
  };
}
