/**
 * xmpp-extauth: ejabberd's (and Prosody's) external authentication program,
 * answering from a site's HTTP API. This file stays thin: parse the command
 * line, hand over to `lib/`, turn the result into an exit code. It is the
 * only place that writes to stdout outside the reply path (help, version and
 * `check` output).
 *
 * @module
 */

import { runServe } from "./lib/app.ts";
import { runCheck } from "./lib/check.ts";
import { ConfigError, helpText, parseCommand } from "./lib/config.ts";
import { reportConfigError } from "./lib/log_target.ts";
import { asksForProsody, PROSODY_RETRY_EXIT, prosodyErrorLine } from "./lib/prosody.ts";
import { detectRuntime } from "./lib/runtime/mod.ts";
import { runSelfTest } from "./lib/self_test.ts";
import { VERSION } from "./lib/version.ts";

const runtime = detectRuntime();

async function main(): Promise<number> {
  // A variable the runtime read before this code ran, and that would weaken it: stop here.
  if (runtime.environment.refusal !== undefined) {
    throw new ConfigError(runtime.environment.refusal);
  }
  const command = parseCommand({
    args: runtime.args(),
    env: runtime.env,
    envNames: runtime.envNames,
    readFile: runtime.readFile,
  });
  switch (command.kind) {
    case "help":
      console.log(helpText());
      return 0;
    case "version":
      console.log(`xmpp-extauth ${VERSION} (${runtime.version})`);
      return 0;
    case "self-test": {
      const { ok, summary } = await runSelfTest();
      console.log(`${summary} (xmpp-extauth ${VERSION}, ${runtime.version})`);
      return ok ? 0 : 2;
    }
    case "check":
      return await runCheck(command.config, command, runtime, console.log);
    case "serve":
      return await runServe(command.config, runtime);
  }
}

try {
  runtime.exit(await main());
} catch (error) {
  // Under Prosody's terminal the one line Prosody logs is an `error:` reply; exit 0 lets
  // the module start the program again once the admin has fixed the cause.
  if (runtime.stdinIsTerminal() && asksForProsody({ ...runtime, args: runtime.args() })) {
    const message = error instanceof ConfigError
      ? error.message
      : `internal error: ${(error as Error)?.message ?? error}`;
    try {
      runtime.writeStdout(prosodyErrorLine(message));
    } catch { /* the terminal is gone */ }
    runtime.exit(PROSODY_RETRY_EXIT);
  }
  if (error instanceof ConfigError) {
    runtime.writeStderr(`xmpp-extauth: ${error.message}\n`);
    reportConfigError(error.message, runtime);
    runtime.exit(2);
  }
  runtime.writeStderr(`xmpp-extauth: internal error: ${(error as Error)?.stack ?? error}\n`);
  runtime.exit(2);
}
