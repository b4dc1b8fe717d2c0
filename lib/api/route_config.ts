/**
 * What a route is made of, as the command line, the environment and the config file
 * give it (`cli/` builds it, `router.ts` turns it into routes), and which headers are
 * credentials.
 *
 * @module
 */

import type { ContractName } from "./contracts.ts";
import type { Operation } from "../core/operations.ts";

/** Where requests for one XMPP domain go, and with which credentials. */
export interface RouteConfig {
  /** Base URL; `{server}` is replaced by the request's domain, URL-encoded. */
  readonly url: string;
  readonly contract: ContractName;
  /** Endpoint overrides by operation; the contract's defaults fill the rest. */
  readonly endpoints: Readonly<Partial<Record<Operation, string>>>;
  readonly headers: readonly (readonly [string, string])[];
  /** `--header-file`: header name and the file holding its (secret) value. */
  readonly headerFiles: readonly (readonly [string, string])[];
  readonly tokenFile?: string;
  readonly hmacSecretFile?: string;
  readonly basicAuthFile?: string;
  /**
   * The route names its own credentials (a domain of the config file that sets
   * any credential key): the environment's token, Basic credentials and HMAC
   * secret do not apply to it, as the top level's credential files do not.
   */
  readonly ownCredentials?: boolean;
}

/** The routes of one run and the secrets the environment gives them. */
export interface RoutingConfig {
  /** The default route, or undefined when only `domains` routes exist. */
  readonly route: RouteConfig | undefined;
  /** Routes by XMPP domain (lower case), from the config file. */
  readonly domains: Readonly<Record<string, RouteConfig>>;
  /**
   * `v1` when `--signature-scheme v1` asks for the deprecated signature (see
   * `signing.ts`); absent for the default, v2.
   */
  readonly signatureScheme?: "v1";
  /** Secrets given directly in the environment (never on the command line). */
  readonly envSecrets: {
    readonly token?: string;
    readonly hmacSecret?: string;
    readonly basicAuth?: string;
  };
}

/**
 * Tells whether a request header carries a credential by its name
 * (`Authorization`, `X-Api-Key`, `X-Auth-Token`, `Cookie`, …): its value is
 * masked in logs and in `check` output, and giving it with `--header` (on
 * the command line, which `ps` shows) is warned about.
 *
 * @example Credential headers
 * ```ts
 * import assert from "node:assert/strict";
 * import { isCredentialHeader } from "./route_config.ts";
 * assert.equal(isCredentialHeader("X-Api-Key"), true);
 * assert.equal(isCredentialHeader("X-Site"), false);
 * ```
 */
export function isCredentialHeader(name: string): boolean {
  return /auth|key|token|secret|pass|cookie|session|signature|credential/i.test(name);
}
