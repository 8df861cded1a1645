import { expect, type Page } from "@playwright/test";
import { spawnSync } from "node:child_process";
import pg from "pg";

export const base = () => process.env.E2E_BASE_URL!;
export const PUBLISHER_DIGEST = "sha256:20185a9526a2374f5af416a14a371b119e04a6e8c0f11867c07a94e1f7f32904";

export async function signIn(page: Page, email: string, password: string) {
  await page.goto(`${base()}/signin`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("whoami")).toHaveText(email);
}

export async function query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: process.env.E2E_DATABASE_URL });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

/** An API token made with the CLI against the e2e database, as an operator would. */
export function token(email: string): string {
  const r = spawnSync(process.execPath, ["--conditions=react-server", "--import", "tsx", "scripts/cli.ts", "token", "create", "--email", email, "--expires", "1d"], {
    env: { ...process.env, DATABASE_URL: process.env.E2E_DATABASE_URL, REGISTRY_URL: process.env.E2E_REGISTRY_URL, IMPRIMATUR_MASTER_KEY: process.env.E2E_MASTER_KEY },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim().split("\n").pop()!;
}
