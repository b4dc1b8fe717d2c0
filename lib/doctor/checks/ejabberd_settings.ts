/**
 * ejabberd's own settings that matter with external auth: the pool size (and the memory it
 * implies), the auth cache, the old option names, and the modules that break sites.
 *
 * @module
 */

import { type HostSettings, moduleNames } from "../ejabberd_config.ts";
import type { Add } from "../context.ts";

/** Memory of the compiled binary (docs/performance.md): the first copy, and each further one. */
export const FIRST_COPY_MIB = 28;
export const FURTHER_COPY_MIB = 5;

/** The `✓ pool` line: processes by pool and the memory they take together. */
export function poolFinding(pools: ReadonlyMap<string, number>, defaultText: string, add: Add) {
  const total = [...pools.values()].reduce((a, b) => a + b, 0);
  const mib = FIRST_COPY_MIB + FURTHER_COPY_MIB * Math.max(0, total - 1);
  add({
    status: "ok",
    check: "pool",
    message: `${total} process${total === 1 ? "" : "es"} (${
      [...pools].map(([k, n]) => `${k}: ${n}`).join(", ")
    }; ${defaultText}): about ${mib} MiB for the compiled binary, shared pages ` +
      "counted once (docs/performance.md)",
  });
}

/** The pool size per host (one pool per `extauth_pool_name`). */
export function checkPool(hosts: readonly HostSettings[], cpus: number, add: Add) {
  const pools = new Map<string, number>();
  for (const host of hosts) {
    const o = host.options;
    const size = typeof o.extauth_pool_size === "number"
      ? o.extauth_pool_size
      : typeof o.extauth_instances === "number"
      ? o.extauth_instances
      : cpus;
    pools.set(
      typeof o.extauth_pool_name === "string" ? `pool:${o.extauth_pool_name}` : host.host,
      size,
    );
  }
  poolFinding(pools, "the default is one per CPU", add);
}

/** Where to change a setting of a host. */
function whereOf(host: HostSettings, config: string) {
  return (key: string) =>
    host.ownOptions.includes(key)
      ? `under host_config: ${host.host}: in ${config}`
      : `in ${config} (or under host_config: ${host.host}: for this host only)`;
}

/** The ejabberd settings that break sites with external auth. */
export function checkSettings(host: HostSettings, config: string, apiFailed: boolean, add: Add) {
  const o = host.options;
  const where = whereOf(host, config);
  if (o.auth_use_cache !== false) {
    const life = o.auth_cache_life_time ?? "1 hour";
    add({
      status: "warn",
      check: "auth_use_cache",
      host: host.host,
      message:
        `on (${o.auth_use_cache === undefined ? "ejabberd's default when absent" : "set"}):` +
        ` after a password change on the site, ejabberd keeps accepting the old password and ` +
        `refusing the new one for up to auth_cache_life_time (${life})`,
      fix: `set auth_use_cache: false ${where("auth_use_cache")}, then reload`,
      command: "ejabberdctl reload_config && ejabberdctl clear_cache",
    });
  } else {
    add({ status: "ok", check: "auth_use_cache", host: host.host, message: "off" });
  }
  if (o.extauth_instances !== undefined) {
    add({
      status: "warn",
      check: "extauth_instances",
      host: host.host,
      message: "the old name of extauth_pool_size",
      fix: `rename it to extauth_pool_size ${where("extauth_instances")}`,
    });
  }
  if (o.extauth_cache !== undefined) {
    add({
      status: "warn",
      check: "extauth_cache",
      host: host.host,
      message: "deprecated and ignored by ejabberd; auth_use_cache is the cache",
      fix: `remove extauth_cache ${where("extauth_cache")}`,
    });
  }
  checkModules(host, where, apiFailed, add);
}

/** mod_fail2ban, mod_auth_fast, and mod_last with auth_external_user_exists_check. */
function checkModules(
  host: HostSettings,
  where: (key: string) => string,
  apiFailed: boolean,
  add: Add,
) {
  const modules = moduleNames(host.options);
  if (modules.includes("mod_fail2ban")) {
    add({
      status: apiFailed ? "fail" : "warn",
      check: "mod_fail2ban",
      host: host.host,
      message: "counts every failed login per IP, errors included: while the API is down, " +
        `users' addresses get banned (c2s_max_auth_failures)${
          apiFailed ? ", and it is down now" : ""
        }`,
      fix: "fix the API first; consider --stale-ttl (remembered logins during an outage) or " +
        "removing mod_fail2ban",
    });
  }
  if (modules.includes("mod_auth_fast")) {
    add({
      status: "warn",
      check: "mod_auth_fast",
      host: host.host,
      message: "FAST token logins (ejabberd 24.12+) never ask the program: a password changed " +
        "or an account blocked on the site does not end a token",
      fix: `remove mod_auth_fast ${where("modules")}, or end a user's tokens from the site`,
      command: "ejabberdctl kick_user USER HOST",
    });
  }
  if (host.options.auth_external_user_exists_check !== false && modules.includes("mod_last")) {
    add({
      status: "warn",
      check: "auth_external_user_exists_check",
      host: host.host,
      message: "on (ejabberd 23.10+ default): a user the API says does not exist still counts " +
        "as existing while mod_last has data for it",
      fix: `set auth_external_user_exists_check: false ${where("auth_external_user_exists_check")}`,
    });
  }
}
