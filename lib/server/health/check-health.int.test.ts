import { afterAll, describe, expect, it } from "vitest";
import { disconnectDb } from "../../db";
import { checkHealth } from "./check-health";

afterAll(async () => {
  await disconnectDb();
});

describe("health probes", () => {
  it("liveness answers without the database; readiness checks that the database answers", async () => {
    expect(await checkHealth({ ready: false })).toEqual({ status: "ok", checks: {} });
    expect(await checkHealth({ ready: true })).toEqual({ status: "ok", checks: { database: "ok" } });
  });
});
