/**
 * What every secret is shown as, wherever the program writes one out or stands
 * in for one: masked text in log lines, error causes and `check`'s lines
 * (`log/mask.ts`), the password and credential headers `check` prints, a
 * proxy's credentials in a log line. One token, so that an admin who sees it
 * knows a secret was there.
 *
 * @module
 */

/**
 * The mask token.
 *
 * @example Stand in for a password
 * ```ts
 * import assert from "node:assert/strict";
 * import { MASKED } from "./masked.ts";
 * assert.equal(`"password":"${MASKED}"`, '"password":"***"');
 * ```
 */
export const MASKED = "***";
