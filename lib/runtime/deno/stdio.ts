/**
 * {@linkcode Stdio} on `Deno.stdin`, `Deno.stdout` and `Deno.stderr`.
 *
 * @module
 */

import { writeAll } from "../common.ts";
import { stderrGoesNowhere } from "../stderr.ts";
import type { Stdio } from "../types.ts";

const encoder = new TextEncoder();

/** The standard streams as Deno has them. */
export function denoStdio(D: typeof Deno): Stdio {
  return {
    stdin: () => D.stdin.readable,
    stdinIsTerminal: () => D.stdin.isTerminal(),
    writeStdout: (bytes) => writeAll((rest) => D.stdout.writeSync(rest), bytes),
    writeStderr(text) {
      try {
        writeAll((rest) => D.stderr.writeSync(rest), encoder.encode(text));
      } catch { /* stderr closed: nowhere left to report */ }
    },
    stderrGoesNowhere: () => stderrGoesNowhere(D.readLinkSync),
  };
}
