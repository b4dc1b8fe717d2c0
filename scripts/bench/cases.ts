/**
 * The benchmark's request mix: ejabberd frames with the HTTP request each one must lead to and
 * the reply the loopback API's answer must produce.
 *
 * @module
 */

import { BENCH_SERVER, BENCH_USERS, benchPassword } from "../bench_server.ts";

/** One request: its ejabberd frame, its HTTP form, and the reply the API must lead to. */
export interface Case {
  frame: Uint8Array;
  path: string;
  body: string;
  expect: 0 | 1;
}

/** Six kinds, cycled: auth right, auth right, auth wrong password, auth unknown user, isuser yes/no. */
export function buildCases(count: number): Case[] {
  const enc = new TextEncoder();
  const cases: Case[] = [];
  let seed = 12345;
  const next = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % BENCH_USERS;
  };
  for (let k = 0; k < count; k++) {
    const i = next();
    const kind = k % 6;
    let user = `user${i}`;
    let password: string | undefined = benchPassword(i);
    let expect: 0 | 1 = 1;
    if (kind === 2) {
      password = benchPassword(i + 1);
      expect = 0;
    } else if (kind === 3) {
      user = `user${BENCH_USERS + i}`;
      expect = 0;
    } else if (kind === 4) {
      password = undefined;
    } else if (kind === 5) {
      user = `user${BENCH_USERS + i}`;
      password = undefined;
      expect = 0;
    }
    const line = password === undefined
      ? `isuser:${user}:${BENCH_SERVER}`
      : `auth:${user}:${BENCH_SERVER}:${password}`;
    const payload = enc.encode(line);
    const frame = new Uint8Array(2 + payload.length);
    frame[0] = payload.length >> 8;
    frame[1] = payload.length & 0xff;
    frame.set(payload, 2);
    const fields: Record<string, string> = {
      username: `${user}@${BENCH_SERVER}`,
      user,
      server: BENCH_SERVER,
    };
    if (password !== undefined) fields.password = password;
    cases.push({
      frame,
      path: password === undefined ? "/exists" : "/login",
      body: JSON.stringify(fields),
      expect,
    });
  }
  return cases;
}

/** Describes a request without its password, for error messages. */
export function describe(c: Case): string {
  const line = new TextDecoder().decode(c.frame.subarray(2));
  const [op, user] = line.split(":");
  return `${op}:${user}:${BENCH_SERVER} (expected ${c.expect === 1 ? "true" : "false"})`;
}

export const CASES = 1_200;

/**
 * A bridge that answers like the loopback API without asking it: the floor that the stdin/stdout
 * round trip alone sets for any bridge (perl-base is on every Debian system).
 */
export const PIPE_FLOOR = String.raw`$|=1; binmode STDIN; binmode STDOUT;
while (sysread(STDIN,$h,2)==2) { $n=unpack("n",$h); $p="";
  while (length($p)<$n) { sysread(STDIN,$p,$n-length($p),length($p)) or exit 0 }
  $ok = 0;
  if ($p =~ /\Aauth:user(\d+):bench\.example:(.*)\z/s) {
    $ok = ($1 < 1000 && $2 eq "pw:$1:grüße") ? 1 : 0 }
  elsif ($p =~ /\Aisuser:user(\d+):bench\.example\z/) { $ok = $1 < 1000 ? 1 : 0 }
  syswrite(STDOUT, pack("nn",2,$ok)); }`;
