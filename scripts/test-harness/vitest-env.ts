import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

// Runs before each integration test file's imports: a fresh copy of the migrated template database for
// this file, and the settings lib/env reads.
const templateUrl = inject("templateUrl");
const name = `imprimatur_t_${randomBytes(6).toString("hex")}`;
const admin = new pg.Client({ connectionString: templateUrl.replace(/\/[^/]+$/, "/postgres") });
await admin.connect();
await admin.query(`CREATE DATABASE ${name} TEMPLATE ${inject("templateName")}`);
await admin.end();

process.env.DATABASE_URL = templateUrl.replace(/\/[^/]+$/, `/${name}`);
process.env.REGISTRY_URL = inject("registryUrl");
process.env.IMPRIMATUR_MASTER_KEY = inject("masterKey");
process.env.NEXTAUTH_SECRET = "integration-test-secret-0123456789";
delete process.env.REGISTRY_PULL_NAME;
// Test files share one registry: each pushes its audit checkpoints to its own repository.
process.env.IMPRIMATUR_AUDIT_REPOSITORY = `imprimatur/audit-${name.slice(-12)}`;
