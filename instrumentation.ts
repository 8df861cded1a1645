// Runs once when a server process starts. A replica that cannot decrypt the signing keys must not serve;
// each replica also runs the Postgres-backed job workers (syncs, schedule) unless IMPRIMATUR_WORKERS=0.
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { startupChecks } = await import("./lib/server/startup-checks");
  await startupChecks();
}
