// Integration tests run against real services started here: embedded Postgres (unless DATABASE_URL is
// set, in which case a fresh database is created on that server) and Debian's docker-registry.
import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import pg from "pg";
import { startPostgres, startRegistry } from "../lib/services.mjs";
import { migrate } from "../lib/migrate.mjs";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    registryUrl: string;
    registryDir: string;
    registryPort: number;
    masterKey: string;
  }
}

export default async function setup(project: TestProject) {
  let databaseUrl: string;
  let stopPg: (() => Promise<void>) | undefined;
  if (process.env.TEST_DATABASE_URL) {
    // Use an existing server, in a database of our own.
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    const name = `imprimatur_test_${Date.now()}`;
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(process.env.TEST_DATABASE_URL);
    u.pathname = `/${name}`;
    databaseUrl = u.toString();
  } else {
    const pgs = await startPostgres({ database: "imprimatur_it" });
    databaseUrl = pgs.url;
    stopPg = () => pgs.stop();
  }
  await migrate(databaseUrl);
  const registry = await startRegistry({});
  project.provide("databaseUrl", databaseUrl);
  project.provide("registryUrl", registry.url);
  project.provide("registryDir", registry.dir);
  project.provide("registryPort", registry.port);
  project.provide("masterKey", randomBytes(32).toString("base64"));
  return async () => {
    await registry.destroy();
    await stopPg?.();
  };
}
