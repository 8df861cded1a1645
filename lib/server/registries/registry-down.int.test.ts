// One translator from registry-client errors to HTTP at the edge: a registry that is down answers 503
// REGISTRY_UNAVAILABLE through every path (an action that translates its own errors, an OciError that reaches
// apiHandler untranslated, a sync), where apiHandler used to answer 502 for the same outage.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { NextRequest } from "next/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { POST as requestRoute } from "../../../app/api/v1/requests/route";
import { seedStages } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { ERROR_STATUS, AppError } from "../../errors";
import { RegistryClient } from "../../oci/client";
import { OciError } from "../../oci/digest";
import type { Actor } from "../actor";
import { apiHandler } from "../http/api-handler";
import { syncRegistry } from "../images/sync-registry";
import { createToken } from "../tokens/create-token";
import { createUser } from "../users/create-user";
import { createRegistry } from "./create-registry";
import { registryErrorToAppError } from "./registry-error";

const cli: Actor = { kind: "cli", label: "registry-down-test" };
const DIGEST = `sha256:${"cd".repeat(32)}`;
let token = "";
let downUrl = "";

/** A port nothing listens on: connections are refused, as when a registry is down. */
async function closedPortUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  await seedStages(["build"]);
  await createUser({ actor: cli, email: "down-dev@example.com", role: "developer", password: "developer-pass-123" });
  token = (await createToken({ actor: cli, email: "down-dev@example.com" })).token;
  downUrl = await closedPortUrl();
  await createRegistry({ actor: cli, input: { name: "down", url: downUrl } });
});
afterAll(async () => {
  await disconnectDb();
});

const call = (handler: (req: NextRequest, ctx: never) => Promise<Response>, path: string, body?: unknown) =>
  handler(
    new NextRequest(new URL(path, "http://localhost"), {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
    { params: Promise.resolve({}) } as never,
  );

describe("a registry that is down is 503 everywhere", () => {
  it("a promotion request for an image on a down registry answers 503 REGISTRY_UNAVAILABLE and stores nothing", async () => {
    const res = await call(requestRoute as never, "/api/v1/requests", { registry: "down", repository: "apps/x", digest: DIGEST, stage: "build" });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("REGISTRY_UNAVAILABLE");
    expect(body.error.message).toMatch(/unreachable|refused/i);
    expect(await db.promotionRequest.count({ where: { image: { digest: DIGEST } } })).toBe(0);
    expect(await db.image.count({ where: { digest: DIGEST } })).toBe(0);
  });

  it("an OciError that reaches apiHandler untranslated is 503 too (it was 502 REGISTRY_ERROR)", async () => {
    const route = apiHandler(async () => {
      await new RegistryClient({ url: downUrl, retries: 0, timeoutMs: 2000 }).ping();
      return { ok: true };
    });
    const res = await call(route as never, "/api/v1/anything");
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("REGISTRY_UNAVAILABLE");
  });

  it("a sync of a down registry fails with REGISTRY_UNAVAILABLE (503) and records the failed run", async () => {
    const err = await syncRegistry({ actor: cli, registry: "down" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("REGISTRY_UNAVAILABLE");
    expect((err as AppError).status).toBe(503);
    const run = await db.syncRun.findFirstOrThrow({ where: { registry: { name: "down" } }, orderBy: { createdAt: "desc" } });
    expect(run.status).toBe("failed");
  });

  it("the translator: unavailable 503, a registry answering wrongly 502, a bad reference 422, a missing manifest 404", () => {
    const status = (code: OciError["code"]) => {
      const e = registryErrorToAppError(new OciError(code, "x"));
      return e instanceof AppError ? ERROR_STATUS[e.code] : null;
    };
    expect(status("UNAVAILABLE")).toBe(503);
    for (const c of ["BLOCKED_ADDRESS", "REALM_REFUSED", "UNAUTHORIZED", "DIGEST_MISMATCH", "TOO_LARGE", "BAD_RESPONSE"] as const) expect(status(c)).toBe(502);
    expect(status("INVALID_REFERENCE")).toBe(422);
    expect(status("NOT_FOUND")).toBe(404);
    const other = new Error("not a registry error");
    expect(registryErrorToAppError(other)).toBe(other);
  });
});
