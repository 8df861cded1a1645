import { defineConfig } from "prisma/config";

// The URL is only read by commands that talk to a database (migrate status/deploy, studio).
// `prisma generate` works without it, so a missing DATABASE_URL is not an error here.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost/imprimatur" },
});
