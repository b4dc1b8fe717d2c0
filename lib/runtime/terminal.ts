/**
 * Whether stdin is a terminal, under Bun, without `process.stdin`: reading
 * `process.stdin.isTTY` builds Node's whole stdin stream (about 8 ms of
 * start-up with the JIT off, paid twice with the JIT restart), and ejabberd's
 * stdin is a pipe, which one `fstat` tells apart.
 *
 * @module
 */

import { fstatSync } from "node:fs";

/**
 * Whether file descriptor `fd` is a terminal: `false` at once for a pipe, a
 * socket or a file (ejabberd, MongooseIM, tests); `isatty` only for a
 * character device (a terminal, Prosody's pty, or `/dev/null`). `false` when
 * `fd` is closed.
 *
 * @example A pipe is not a terminal
 * ```ts ignore
 * import { isTerminal } from "./terminal.ts";
 * isTerminal(0, (fd) => require("node:tty").isatty(fd)); // false under ejabberd
 * ```
 */
export function isTerminal(fd: number, isatty: (fd: number) => boolean = ttyIsatty): boolean {
  try {
    if (!fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return isatty(fd);
}

/** `node:tty`'s `isatty`, loaded (through Bun's `import.meta.require`) only when called. */
function ttyIsatty(fd: number): boolean {
  const meta = import.meta as ImportMeta & { require?: (id: string) => unknown };
  const tty = meta.require?.("node:tty") as { isatty(fd: number): boolean } | undefined;
  return tty?.isatty(fd) ?? false;
}
