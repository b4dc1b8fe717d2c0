/**
 * Whether the program's stderr leads anywhere a person will read. Under `ejabberdctl start`
 * (ejabberd started by hand or by an init script, `erl -detached`) it is `/dev/null`; Deno and
 * Bun also put `/dev/null` on a stderr that was closed before they started. Linux only: it reads
 * the link `/proc/self/fd/2`; where there is no `/proc`, the answer is false (trust stderr).
 *
 * Runtime-neutral: the adapter passes its own `readlink` (`Deno.readLinkSync`, `fs.readlinkSync`).
 *
 * @module
 */

/**
 * True when fd 2 is `/dev/null` or closed.
 *
 * @example stderr redirected to /dev/null
 * ```ts
 * import assert from "node:assert/strict";
 * const links: Record<string, string> = { "/proc/self/fd/2": "/dev/null" };
 * const readLink = (path: string) => {
 *   if (path in links) return links[path]!;
 *   throw new Error(`ENOENT: ${path}`);
 * };
 * assert.equal(stderrGoesNowhere(readLink), true);
 * ```
 */
export function stderrGoesNowhere(readLink: (path: string) => string): boolean {
  try {
    return readLink("/proc/self/fd/2") === "/dev/null";
  } catch {
    // No link for fd 2: it is closed, if /proc shows this process at all.
    try {
      readLink("/proc/self/exe");
      return true;
    } catch {
      return false;
    }
  }
}
