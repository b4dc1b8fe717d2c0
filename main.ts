/**
 * xmpp-extauth: ejabberd's (and Prosody's) external authentication program,
 * answering from a site's HTTP API. This file stays thin: parse the command
 * line, hand over to `lib/`, turn the result into an exit code. It is the
 * only place that writes to stdout outside the reply path (help, version and
 * `check` output).
 *
 * Start-up order matters for the memory of ejabberd's pool: under Bun the
 * process first restarts itself with the JIT off (see `restartWithoutJit`),
 * before anything else is loaded; then each mode loads only its own modules,
 * so serving never loads `check`, the self-test or their dependencies.
 *
 * @module
 */

import { detectRuntime, restartWithoutJit } from "./lib/runtime.ts";

restartWithoutJit();
const runtime = detectRuntime();
const { ConfigError, helpText, parseCommand } = await import("./lib/config.ts");

async function main(): Promise<number> {
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
    case "version": {
      const { VERSION } = await import("./lib/version.ts");
      console.log(`xmpp-extauth ${VERSION} (${runtime.version})`);
      return 0;
    }
    case "self-test": {
      const { runSelfTest } = await import("./lib/self_test.ts");
      const { VERSION } = await import("./lib/version.ts");
      const { ok, summary } = await runSelfTest();
      console.log(`${summary} (xmpp-extauth ${VERSION}, ${runtime.version})`);
      return ok ? 0 : 2;
    }
    case "check": {
      const { runCheck } = await import("./lib/check.ts");
      return await runCheck(command.config, command, runtime, console.log);
    }
    case "serve": {
      const { runServe } = await import("./lib/app.ts");
      return await runServe(command.config, runtime);
    }
  }
}

try {
  runtime.exit(await main());
} catch (error) {
  if (error instanceof ConfigError) {
    runtime.writeStderr(`xmpp-extauth: ${error.message}\n`);
    runtime.exit(2);
  }
  runtime.writeStderr(`xmpp-extauth: internal error: ${(error as Error)?.stack ?? error}\n`);
  runtime.exit(2);
}
