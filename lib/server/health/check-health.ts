import "server-only";
import { db } from "../../db";

export type HealthReport = { status: "ok" | "unavailable"; checks: { database?: "ok" | "unreachable" } };

/**
 * Liveness (the process answers) and, with `ready`, readiness: the database answers within `timeoutMs`. Says
 * nothing else about the deployment; unauthenticated probes must learn no more than up or down.
 */
export async function checkHealth({ ready, timeoutMs = 2_000 }: { ready: boolean; timeoutMs?: number }): Promise<HealthReport> {
  if (!ready) return { status: "ok", checks: {} };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      db.$queryRaw`SELECT 1`,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("timeout")), timeoutMs);
      }),
    ]);
    return { status: "ok", checks: { database: "ok" } };
  } catch {
    return { status: "unavailable", checks: { database: "unreachable" } };
  } finally {
    clearTimeout(timer);
  }
}
