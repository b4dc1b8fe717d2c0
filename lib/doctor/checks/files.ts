/**
 * The files a program's options name, checked as the server's user: secret files readable by
 * it and by nobody else, plain files readable, the log and cache files writable in a private
 * folder, and none of them hidden by systemd's PrivateTmp.
 *
 * @module
 */

import type { Config } from "../../cli/config.ts";
import { folderOf, folderOpenToOthers } from "../../runtime/file_trust.ts";
import { access, modeText, shq, type Target } from "../context.ts";

/** Every file check of one program's options. */
export async function checkFiles(t: Target, options: Config, argv: readonly string[]) {
  const secrets = await checkSecrets(t, options);
  await checkPlain(t, options, argv);
  if (options.logFile === undefined) t.add({ check: "log file", ...t.server.noLogFile });
  else await checkWritable(t, "log file", options.logFile);
  if (options.cacheFile !== undefined) await checkWritable(t, "cache file", options.cacheFile);
  checkSandbox(t, [argv[0]!, ...secrets, options.logFile, options.cacheFile]);
}

/** The secret files of the options, by path: the check's name. */
function secretFiles(options: Config): [string, string][] {
  const secrets: [string, string][] = [];
  const routes = [options.route, ...Object.values(options.domains)].filter((r) => r !== undefined);
  for (const route of routes) {
    if (route.tokenFile) secrets.push(["token file", route.tokenFile]);
    if (route.hmacSecretFile) secrets.push(["hmac secret file", route.hmacSecretFile]);
    if (route.basicAuthFile) secrets.push(["basic auth file", route.basicAuthFile]);
    for (const [name, file] of route.headerFiles) secrets.push([`header file ${name}`, file]);
  }
  const password = options.cacheUrl?.passwordFile;
  if (password !== undefined) secrets.push(["cache password file", password]);
  return [...new Map(secrets.map(([k, p]) => [p, k])).entries()];
}

/** Each secret file: readable by the user, and by no other user but root. Returns the paths. */
async function checkSecrets(t: Target, options: Config): Promise<string[]> {
  const { account, system } = t;
  const unique = secretFiles(options);
  const readable = await access(t.probe, unique.map(([p]) => ["r", p] as const));
  const fixOwner = (p: string) => `chown root:${account.group} ${shq(p)} && chmod 0640 ${shq(p)}`;
  unique.forEach(([file, check], i) => {
    const stat = system.statPath(file);
    if (!readable[i]) {
      t.add({
        status: "fail",
        check,
        message: `${account.name} cannot read ${file}` +
          (stat === undefined
            ? " (no such file, or a folder above it is closed)"
            : ` (mode ${modeText(stat.mode)}, owner uid ${stat.uid}, group gid ${stat.gid})`),
        fix: `let ${account.name} (and nobody else) read it`,
        command: fixOwner(file),
      });
      return;
    }
    const others = stat !== undefined && (stat.mode & 0o007) !== 0;
    const group = stat !== undefined && (stat.mode & 0o070) !== 0 && stat.uid !== account.uid &&
      stat.gid !== account.gid && stat.gid !== 0;
    if (stat !== undefined && (others || group)) {
      t.add({
        status: "fail",
        check,
        message: `${file} can be read by ${others ? "every user" : `group gid ${stat.gid}`} ` +
          `(mode ${modeText(stat.mode)})`,
        fix: `let ${account.name} and nobody else read it`,
        command: stat.uid === account.uid ? `chmod 0600 ${shq(file)}` : fixOwner(file),
      });
      return;
    }
    t.add({ status: "ok", check, message: `${file}: readable by ${account.name} only` });
  });
  return unique.map(([p]) => p);
}

/** `--config` and `--ca-file`: readable by the user. */
async function checkPlain(t: Target, options: Config, argv: readonly string[]) {
  const { account } = t;
  const configFile =
    argv.map((a, i) =>
      a.startsWith("--config=") ? a.slice(9) : a === "--config" ? argv[i + 1] : undefined
    ).find((v) => v !== undefined) ?? t.env.XMPP_EXTAUTH_CONFIG;
  const plain: [string, string][] = [];
  if (configFile) plain.push(["config file", configFile]);
  if (options.caFile) plain.push(["ca file", options.caFile]);
  const readable = await access(t.probe, plain.map(([, p]) => ["r", p] as const));
  plain.forEach(([check, file], i) => {
    t.add(
      readable[i] ? { status: "ok", check, message: `${file}: readable by ${account.name}` } : {
        status: "fail",
        check,
        message: `${account.name} cannot read ${file}`,
        fix: `let ${account.name} read it`,
        command: `chgrp ${account.group} ${shq(file)} && chmod g+r ${shq(file)}`,
      },
    );
  });
}

/** A log or cache file the user must be able to append to (or create in a private folder). */
async function checkWritable(t: Target, check: string, file: string): Promise<void> {
  const { account, system } = t;
  const folder = folderOf(file);
  const exists = system.statPath(file) !== undefined;
  const [ok] = await access(t.probe, exists ? [["w", file]] : [["w", folder]]);
  const [enter] = exists ? [true] : await access(t.probe, [["x", folder]]);
  const own = `install -d -o ${account.name} -g ${account.group} -m 0750 ${shq(folder)}`;
  if (!ok || !enter) {
    t.add({
      status: "fail",
      check,
      message: exists
        ? `${account.name} cannot write ${file}`
        : `${account.name} cannot create ${file}: the folder ${folder} ` +
          (system.statPath(folder) === undefined ? "does not exist" : "is not writable by it"),
      fix: exists ? `give the file to ${account.name}` : `give ${folder} to ${account.name}`,
      command: exists ? `chown ${account.name}:${account.group} ${shq(file)}` : own,
    });
    return;
  }
  const stat = system.statPath(folder);
  const open = stat === undefined ? undefined : folderOpenToOthers(folder, stat, account.uid);
  if (open !== undefined) {
    t.add({
      status: "fail",
      check,
      message: `${folder} can be written by other users (${open}): the program refuses ` +
        `a ${check} there (another user could plant a link)`,
      fix: `use a folder that only ${account.name} and root can write`,
      command: own,
    });
    return;
  }
  t.add({
    status: "ok",
    check,
    message: `${file}: writable by ${account.name}, in a private folder`,
  });
}

/** Files under /tmp or /var/tmp, which systemd's PrivateTmp hides from the server. */
function checkSandbox(t: Target, paths: readonly (string | undefined)[]) {
  const privateTmp = paths.filter((p): p is string =>
    p !== undefined && /^\/(var\/)?tmp\//.test(p)
  );
  if (privateTmp.length === 0) return;
  const dir = t.server.name.toLowerCase();
  t.add({
    status: "warn",
    check: "sandbox",
    message: `${privateTmp.join(", ")}: under Debian's unit (PrivateTmp=true) ${t.server.name} ` +
      "has its own /tmp and /var/tmp and does not see these",
    fix: `keep the program's files in /etc/xmpp-extauth, /var/lib/${dir} or /var/log/${dir}`,
  });
}
