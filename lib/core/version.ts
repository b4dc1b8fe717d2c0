/**
 * The program's version, printed by `--version` and sent in `User-Agent`.
 * `scripts/release.ts --version X.Y.Z` rewrites this line for a tagged build.
 *
 * @module
 */

/** The version of this build. */
export const VERSION = "0.1.0";
