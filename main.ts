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

import { restartWithoutJit } from "./lib/runtime/jit.ts";

await restartWithoutJit();
const { detectRuntime } = await import("./lib/runtime/mod.ts");
const runtime = detectRuntime();
const { ConfigError, helpText, parseCommand } = await import("./lib/cli/config.ts");

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
    case "version": {
      const { VERSION } = await import("./lib/core/version.ts");
      console.log(`xmpp-extauth ${VERSION} (${runtime.version})`);
      return 0;
    }
    case "self-test": {
      const { runSelfTest } = await import("./lib/modes/self_test.ts");
      const { VERSION } = await import("./lib/core/version.ts");
      const { ok, summary } = await runSelfTest();
      console.log(`${summary} (xmpp-extauth ${VERSION}, ${runtime.version})`);
      return ok ? 0 : 2;
    }
    case "check": {
      const { runCheck } = await import("./lib/modes/check.ts");
      return await runCheck(command.config, command, runtime, console.log);
    }
    case "doctor": {
      const { runDoctor } = await import("./lib/modes/doctor.ts");
      return await runDoctor(command, runtime, console.log);
    }
    case "serve": {
      const { runServe } = await import("./lib/modes/serve.ts");
      return await runServe(command.config, runtime);
    }
  }
}

try {
  runtime.exit(await main());
} catch (error) {
  // The strict parse failed or never ran: where the error goes is read leniently.
  const { asksForProsody, readEarlyCommand } = await import("./lib/cli/early_args.ts");
  const early = readEarlyCommand({ ...runtime, args: runtime.args() });
  // Under Prosody's terminal the one line Prosody logs is an `error:` reply; exit 0 lets
  // the module start the program again once the admin has fixed the cause.
  if (runtime.stdinIsTerminal() && asksForProsody(early)) {
    const { PROSODY_RETRY_EXIT, prosodyErrorLine } = await import(
      "./lib/wire/prosody_terminal.ts"
    );
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
    // doctor's own usage errors belong to whoever ran it, not to the server's log.
    if (early.mode !== "doctor") {
      const target = {
        logFile: early.setting("log-file"),
        mayFallBack: early.mode !== "check" && early.mode !== "self-test",
      };
      (await import("./lib/log/log_target.ts")).reportConfigError(error.message, target, runtime);
    }
    runtime.exit(2);
  }
  runtime.writeStderr(`xmpp-extauth: internal error: ${(error as Error)?.stack ?? error}\n`);
  runtime.exit(2);
}
