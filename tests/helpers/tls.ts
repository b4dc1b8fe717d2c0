/**
 * Test certificates made with openssl: a private CA and a leaf for 127.0.0.1 that a CA signs,
 * each valid two days, in a folder of the test's.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

/** Makes a CA in `dir` (`NAME.key`, `NAME.pem`); returns its PEM. */
export function makeCa(dir: string, name: string): string {
  openssl(
    dir,
    ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`],
    ...["-out", `${name}.pem`, "-days", "2", "-subj", `/CN=xmpp-extauth test ${name} CA`],
    ...["-addext", "basicConstraints=critical,CA:TRUE"],
    ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  );
  return readFileSync(join(dir, `${name}.pem`), "utf8");
}

/**
 * Makes a server certificate for 127.0.0.1 (and localhost) in `dir`, signed by the CA `ca`
 * made there by {@linkcode makeCa}; returns its key and certificate.
 */
export function makeLeaf(dir: string, ca: string): { key: Buffer; cert: Buffer } {
  openssl(
    dir,
    ...["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr"],
    ...["-subj", "/CN=127.0.0.1"],
  );
  writeFileSync(
    join(dir, "leaf.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n" +
      "extendedKeyUsage=serverAuth\n",
  );
  openssl(
    dir,
    ...["x509", "-req", "-in", "leaf.csr", "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`],
    ...["-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext"],
  );
  return { key: readFileSync(join(dir, "leaf.key")), cert: readFileSync(join(dir, "leaf.pem")) };
}
