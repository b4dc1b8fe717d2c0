import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CONTRACT_NAMES, contractByName } from "../lib/api/contracts.ts";
import {
  hasPassword,
  isCached,
  isOperation,
  isRetrySafe,
  OPERATION_LIST,
  OPERATIONS,
} from "../lib/core/operations.ts";

describe("operations", () => {
  it("lists the six operations ejabberd sends", () => {
    assert.deepEqual([...OPERATIONS], [
      "auth",
      "isuser",
      "setpass",
      "tryregister",
      "removeuser",
      "removeuser3",
    ]);
  });

  it("knows which operations carry a password", () => {
    assert.deepEqual(OPERATIONS.filter(hasPassword), [
      "auth",
      "setpass",
      "tryregister",
      "removeuser3",
    ]);
  });

  it("recognises operations exactly", () => {
    for (const op of OPERATIONS) assert.equal(isOperation(op), true, op);
    for (const op of ["certauth", "", "AUTH", "auth ", "toString", "__proto__", "removeuser4"]) {
      assert.equal(isOperation(op), false, JSON.stringify(op));
    }
  });
});

describe("the operations table", () => {
  it("retries only the operations that are safe to send twice", () => {
    assert.deepEqual(OPERATIONS.filter(isRetrySafe), ["auth", "isuser", "setpass"]);
  });

  it("caches only auth and isuser", () => {
    assert.deepEqual(OPERATIONS.filter(isCached), ["auth", "isuser"]);
  });

  it("gives each contract its endpoint for every operation", () => {
    assert.deepEqual([...CONTRACT_NAMES], ["json", "form-status"]);
    assert.deepEqual(contractByName("json").endpoints, {
      auth: "login",
      isuser: "exists",
      setpass: "setpass",
      tryregister: "tryregister",
      removeuser: "removeuser",
      removeuser3: "removeuser3",
    });
    assert.deepEqual(contractByName("form-status").endpoints, {
      auth: "check_password",
      isuser: "user_exists",
      setpass: "set_password",
      tryregister: "register",
      removeuser: "remove_user",
      removeuser3: "remove_user_validate",
    });
  });

  it("lists the operations for help and errors", () => {
    assert.equal(OPERATION_LIST, "auth, isuser, setpass, tryregister, removeuser, removeuser3");
  });
});
