import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listMigrations } from "../../../scripts/lib/migrate.mjs";

// Applies the migrations before approval_workflow to an empty database, stores a walking-skeleton approval, then
// applies approval_workflow: the approval must become a request with one approving review, linked to it.
const WORKFLOW = "20261125160000_approval_workflow";
const dbName = `imprimatur_mig_${randomBytes(5).toString("hex")}`;
const adminUrl = process.env.DATABASE_URL!.replace(/\/[^/]+$/, "/postgres");
const url = process.env.DATABASE_URL!.replace(/\/[^/]+$/, `/${dbName}`);
let c: pg.Client;

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  c = new pg.Client({ connectionString: url });
  await c.connect();
});

afterAll(async () => {
  await c.end();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
  await admin.end();
});

describe("migration approval_workflow", () => {
  it("turns each earlier approval into a request with one approval, keeping its status", async () => {
    const all = listMigrations();
    const idx = all.findIndex((m) => m.name === WORKFLOW);
    expect(idx).toBeGreaterThan(0);
    for (const m of all.slice(0, idx)) await c.query(m.sql);
    const ids = {
      user: "00000000-0000-4000-8000-000000000001",
      reg: "00000000-0000-4000-8000-000000000002",
      repo: "00000000-0000-4000-8000-000000000003",
      img: "00000000-0000-4000-8000-000000000004",
      stage: "00000000-0000-4000-8000-000000000005",
      key: "00000000-0000-4000-8000-000000000006",
      signed: "00000000-0000-4000-8000-000000000007",
      pending: "00000000-0000-4000-8000-000000000008",
    };
    await c.query(`INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, 'alice@example.com', 'Alice', 'reviewer', 'x')`, [ids.user]);
    await c.query(`INSERT INTO registries (id, name, url) VALUES ($1, 'default', 'http://127.0.0.1:5000')`, [ids.reg]);
    await c.query(`INSERT INTO repositories (id, registry_id, name) VALUES ($1, $2, 'team/app')`, [ids.repo, ids.reg]);
    await c.query(
      `INSERT INTO images (id, repository_id, digest, media_type, size, manifest) VALUES ($1, $2, 'sha256:${"a".repeat(64)}', 'application/vnd.oci.image.manifest.v1+json', 2, '\\x7b7d')`,
      [ids.img, ids.repo],
    );
    await c.query(`INSERT INTO stages (id, name, position) VALUES ($1, 'test', 1)`, [ids.stage]);
    await c.query(
      `INSERT INTO signing_keys (id, name, stage_id, algorithm, public_key_pem, fingerprint, encrypted_private_key) VALUES ($1, 'k', $2, 'ecdsa-p256', 'pem', 'sha256:f', '\\x00')`,
      [ids.key, ids.stage],
    );
    for (const [id, status] of [
      [ids.signed, "signed"],
      [ids.pending, "signing"],
    ] as const) {
      await c.query(
        `INSERT INTO approvals (id, image_id, stage_id, approver_id, signing_key_id, comment, status, payload, signature, layer_digest) VALUES ($1, $2, $3, $4, $5, 'looks good', $6, '\\x7b7d', 'sig', 'sha256:${"b".repeat(64)}')`,
        [id, ids.img, ids.stage, ids.user, ids.key, status],
      );
    }
    await c.query(all[idx]!.sql);

    const requests = (await c.query(`SELECT id, status, requester_id, image_id, stage_id FROM promotion_requests ORDER BY id`)).rows;
    expect(requests).toEqual([
      { id: ids.signed, status: "signed", requester_id: null, image_id: ids.img, stage_id: ids.stage },
      { id: ids.pending, status: "approved", requester_id: null, image_id: ids.img, stage_id: ids.stage },
    ]);
    const reviews = (await c.query(`SELECT request_id, reviewer_id, decision, comment FROM reviews ORDER BY request_id`)).rows;
    expect(reviews).toEqual([
      { request_id: ids.signed, reviewer_id: ids.user, decision: "approve", comment: "looks good" },
      { request_id: ids.pending, reviewer_id: ids.user, decision: "approve", comment: "looks good" },
    ]);
    const links = (await c.query(`SELECT id, request_id FROM approvals ORDER BY id`)).rows;
    expect(links).toEqual([
      { id: ids.signed, request_id: ids.signed },
      { id: ids.pending, request_id: ids.pending },
    ]);
    // The later migrations still apply on top.
    for (const m of all.slice(idx + 1)) await c.query(m.sql);
  });
});
