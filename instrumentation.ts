// Runs once when a server process starts. A replica that cannot decrypt the signing keys must not serve.
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  if (process.env.NEXT_PHASE === "phase-production-build") return;
  const { assertMasterKeyUsable } = await import("./lib/server/keys/master-key");
  try {
    await assertMasterKeyUsable();
  } catch (e) {
    console.error(`\n${(e as Error).message}\n`);
    process.exit(1);
  }
}
