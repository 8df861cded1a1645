// Integration tests run against real services started here: embedded Postgres (unless TEST_DATABASE_URL is
// set, in which case databases are created on that server) and Debian's docker-registry. The migrated
// database is a template: each test file gets its own copy (see vitest-env.ts), so files cannot interfere.
import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import pg from "pg";
import { startPostgres, startRegistry } from "../lib/services.mjs";
import { migrate } from "../lib/migrate.mjs";

declare module "vitest" {
  export interface ProvidedContext {
    templateUrl: string;
    templateName: string;
    registryUrl: string;
    masterKey: string;
  }
}

export default async function setup(project: TestProject) {
  let serverUrl: string;
  let stopPg: (() => Promise<void>) | undefined;
  if (process.env.TEST_DATABASE_URL) {
    serverUrl = process.env.TEST_DATABASE_URL;
  } else {
    const pgs = await startPostgres({ database: "postgres_admin" });
    serverUrl = pgs.url;
    stopPg = () => pgs.stop();
  }
  const templateName = `imprimatur_tpl_${Date.now()}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${templateName}`);
  await admin.end();
  const templateUrl = withDatabase(serverUrl, templateName);
  await migrate(templateUrl);
  const registry = await startRegistry({});
  project.provide("templateUrl", templateUrl);
  project.provide("templateName", templateName);
  project.provide("registryUrl", registry.url);
  project.provide("masterKey", randomBytes(32).toString("base64"));
  return async () => {
    await registry.destroy();
    await stopPg?.();
  };
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}
