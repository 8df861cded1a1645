import { inject } from "vitest";

// Runs before each integration test file's imports, so lib/env sees these.
process.env.DATABASE_URL = inject("databaseUrl");
process.env.REGISTRY_URL = inject("registryUrl");
process.env.IMPRIMATUR_MASTER_KEY = inject("masterKey");
process.env.NEXTAUTH_SECRET = "integration-test-secret-0123456789";
delete process.env.REGISTRY_PULL_NAME;
