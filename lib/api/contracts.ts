/**
 * API contracts: how a request becomes an HTTP body and how an HTTP answer
 * becomes true, false or "the API could not answer". A contract is a small
 * table of endpoints, body and answer rules; both share one request path
 * (`backend.ts`).
 *
 * @module
 */

import { type Mask, MASKED, NO_MASK } from "../log/mask.ts";
import {
  type Operation,
  OPERATION_TABLE,
  OPERATIONS,
  type OperationSpec,
} from "../core/operations.ts";
import type { AuthRequest } from "../core/request.ts";

/** The API contracts the program speaks: one per endpoint column of the operations table. */
export type ContractName = keyof OperationSpec["endpoints"];

/** Every contract name, for `--contract` and the config file. */
export const CONTRACT_NAMES: readonly ContractName[] = Object.keys(
  OPERATION_TABLE.auth.endpoints,
) as ContractName[];

/**
 * Tells whether `name` is one of the {@linkcode CONTRACT_NAMES}.
 *
 * @example Check a --contract value
 * ```ts
 * import assert from "node:assert/strict";
 * import { isContractName } from "./contracts.ts";
 * assert.equal(isContractName("form-status"), true);
 * assert.equal(isContractName("xml"), false);
 * ```
 */
export function isContractName(name: string): name is ContractName {
  return (CONTRACT_NAMES as readonly string[]).includes(name);
}

/** The default endpoint path of each operation under a contract, from the operations table. */
function defaultEndpoints(contract: ContractName): Readonly<Record<Operation, string>> {
  return Object.fromEntries(
    OPERATIONS.map((op) => [op, OPERATION_TABLE[op].endpoints[contract]]),
  ) as Record<Operation, string>;
}

/** What came back from the API. */
export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

/** A contract's reading of an answer. */
export type Interpretation =
  | { readonly kind: "answer"; readonly value: boolean; readonly message?: string }
  | { readonly kind: "error"; readonly cause: string };

/** One API contract. */
export interface Contract {
  readonly name: ContractName;
  /** Default endpoint path of each operation (overridable with `--endpoint`). */
  readonly endpoints: Readonly<Record<Operation, string>>;
  readonly contentType: string;
  readonly accept: string;
  /** The request body; it carries the password, so it is never logged. */
  body(request: AuthRequest): string;
  /** The body with the password masked, for `check` output. */
  maskedBody(request: AuthRequest): string;
  /**
   * Reads an answer. The body is parsed exactly as the API sent it; `mask`
   * is applied to every text taken from it for a message or a cause, before
   * that text is shortened.
   */
  interpret(op: Operation, answer: HttpAnswer, mask?: Mask): Interpretation;
}

/** The start of a text for a message: masked first, so no cut can leave half a secret. */
function snippet(body: string, mask: Mask): string {
  const text = mask(body).replace(/\s+/g, " ").trim();
  if (text === "") return "(empty body)";
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function jsonBody(r: AuthRequest, password: string | undefined): string {
  const fields: Record<string, string> = {
    username: `${r.user}@${r.server}`,
    user: r.user,
    server: r.server,
  };
  if (password !== undefined) fields.password = password;
  return JSON.stringify(fields);
}

/** The default contract: JSON in, `{"success": boolean, "message"?: string}` out. */
export const JSON_CONTRACT: Contract = {
  name: "json",
  endpoints: defaultEndpoints("json"),
  contentType: "application/json",
  accept: "application/json",
  body: (r) => jsonBody(r, r.password),
  maskedBody: (r) => jsonBody(r, r.password === undefined ? undefined : MASKED),
  interpret(_op, { status, body }, mask = NO_MASK) {
    if (status < 200 || status > 299) {
      return { kind: "error", cause: `HTTP ${status}${body ? `: ${snippet(body, mask)}` : ""}` };
    }
    let data: unknown;
    try {
      data = JSON.parse(body);
    } catch {
      return {
        kind: "error",
        cause: `HTTP ${status} with a body that is not JSON: ${snippet(body, mask)}`,
      };
    }
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      return {
        kind: "error",
        cause: `HTTP ${status} with JSON that is not an object: ${snippet(body, mask)}`,
      };
    }
    const { success, message } = data as { success?: unknown; message?: unknown };
    if (typeof success !== "boolean") {
      return {
        kind: "error",
        cause: `HTTP ${status} without a boolean "success": ${snippet(body, mask)}`,
      };
    }
    return typeof message === "string" && message !== ""
      ? { kind: "answer", value: success, message: snippet(message, mask) }
      : { kind: "answer", value: success };
  },
};

function formBody(r: AuthRequest, password: string | undefined): string {
  const form = new URLSearchParams({ user: r.user, server: r.server });
  if (password !== undefined) form.set("pass", password);
  return form.toString();
}

/** Statuses a write operation of the form-status contract reads as success. */
const WRITE_OK = new Set([200, 201, 204]);

/**
 * The contract of MongooseIM's and ejabberd-contrib's `ejabberd_auth_http` and
 * Prosody's `mod_auth_http`: form-encoded `user`, `server`, `pass` in a POST
 * body (never the query string), `200` with `true`/`false` for checks,
 * `201`/`204` for writes, `409` "exists", `403`/`404` refusals.
 */
export const FORM_STATUS_CONTRACT: Contract = {
  name: "form-status",
  endpoints: defaultEndpoints("form-status"),
  contentType: "application/x-www-form-urlencoded",
  accept: "text/plain",
  body: (r) => formBody(r, r.password),
  maskedBody: (r) => formBody(r, r.password === undefined ? undefined : MASKED),
  interpret(op, { status, body }, mask = NO_MASK) {
    const spec = OPERATION_TABLE[op];
    if (spec.kind === "question") {
      const text = body.trim();
      if (status === 200 && (text === "true" || text === "false")) {
        return { kind: "answer", value: text === "true" };
      }
      return {
        kind: "error",
        cause: `HTTP ${status}${status === 200 ? " with a body other than true/false" : ""}: ${
          snippet(body, mask)
        }`,
      };
    }
    if (WRITE_OK.has(status)) return { kind: "answer", value: true };
    if (status === 403 || status === 404 || (status === 409 && spec.conflictIsFalse)) {
      const reason = status === 409 ? "exists" : status === 404 ? "not found" : "not allowed";
      return { kind: "answer", value: false, message: `HTTP ${status} (${reason})` };
    }
    return { kind: "error", cause: `HTTP ${status}${body ? `: ${snippet(body, mask)}` : ""}` };
  },
};

/**
 * Looks up a contract by name.
 *
 * @example The json contract's login endpoint
 * ```ts
 * import assert from "node:assert/strict";
 * import { contractByName } from "./contracts.ts";
 * assert.equal(contractByName("json").endpoints.auth, "login");
 * assert.equal(contractByName("form-status").endpoints.auth, "check_password");
 * ```
 */
export function contractByName(name: ContractName): Contract {
  return CONTRACTS[name];
}

const CONTRACTS: Readonly<Record<ContractName, Contract>> = {
  json: JSON_CONTRACT,
  "form-status": FORM_STATUS_CONTRACT,
};
