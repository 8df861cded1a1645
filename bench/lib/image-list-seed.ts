// Seeds an image inventory for bench/image-list.ts straight with SQL (INSERT … SELECT over generate_series), in
// the shapes the product writes (lib/server/images/list-images-seed.int.test.ts checks them against rows the real
// sync and approval wrote): 3 registries, repositories of 20 images each (5 % OCI indexes with two platform
// manifests, 10 % Docker v2), semver/latest/sha tags and the tag events of `latest` moving, publisher and team
// signatures, build/test/prod approvals with their stage signatures (some pending, revoked or not verifying; prod
// approvals last 90 days so the oldest have expired), Trivy scans with findings, images naming a base image,
// stages at risk. The stage_decisions triggers run as they do for the product's own writes.

export interface SeedOptions {
  /** Top-level images (an index counts once; its two platform manifests come on top). */
  images: number;
  /** Prefix of the registry names, so several seeds can share a database. */
  prefix: string;
  /** Sets prod's approval TTL when it has none (the bench: 90 days). */
  prodTtlDays?: number;
}

export interface SeedCounts {
  registries: number;
  repositories: number;
  images: number;
  topLevel: number;
  tags: number;
  signatures: number;
  approvals: number;
  decisions: number;
  findings: number;
  stageRisks: number;
}

export const IMAGES_PER_REPOSITORY = 20;
const TEAMS = ["payments", "identity", "search", "platform", "data", "web", "mobile", "infra", "ml", "billing", "growth", "security"];
const SERVICES = ["api", "worker", "gateway", "scheduler", "ingest", "frontend", "auth", "reports", "notifier", "exporter"];
const STAGES = ["build", "test", "prod"] as const;

/** A deterministic percentile 0..99 of image i for the fact k. */
const H = (k: number, col = "i") => `((hashint8(${col}::bigint * 1000 + ${k}) & 2147483647) % 100)`;
const sha = (what: string) => `'sha256:' || encode(sha256(convert_to(${what}, 'UTF8')), 'hex')`;

function factsSql(prefix: string): string {
  const p = prefix.replace(/[^a-z0-9-]/g, "");
  return `CREATE TEMP TABLE il_img AS
    SELECT i, i / ${IMAGES_PER_REPOSITORY} AS r, i % ${IMAGES_PER_REPOSITORY} AS j, gen_random_uuid() AS id,
           ${sha(`'${p}-img-' || i`)} AS digest,
           CASE WHEN ${H(1)} < 5 AND i >= ${IMAGES_PER_REPOSITORY} THEN 'index' WHEN ${H(1)} < 15 THEN 'docker' ELSE 'oci' END AS kind,
           now() - (((${IMAGES_PER_REPOSITORY} - i % ${IMAGES_PER_REPOSITORY}) * 10 + ${H(2)} / 10.0) * interval '1 day') - (i / ${IMAGES_PER_REPOSITORY}) * interval '1 minute' AS seen,
           i % ${IMAGES_PER_REPOSITORY} < 5 AND ${H(3)} < 15 AS deleted,
           i >= ${IMAGES_PER_REPOSITORY} AND ${H(4)} < 10 AS names_base,
           i < ${IMAGES_PER_REPOSITORY} OR ${H(5)} < 35 AS pub, i < ${IMAGES_PER_REPOSITORY} OR ${H(6)} < 90 AS pub_ok,
           ${H(7)} < 30 AS team,
           CASE WHEN ${H(8)} < 15 THEN 3 WHEN ${H(8)} < 35 THEN 2 WHEN ${H(8)} < 60 THEN 1 ELSE 0 END AS stages_approved,
           ${H(11)} < 70 AS scanned,
           CASE WHEN ${H(12)} < 10 THEN 1 + ${H(12)} % 3 ELSE 0 END AS n_critical, ${H(13)} % 6 AS n_high, ${H(14)} % 10 AS n_medium, ${H(15)} % 8 AS n_low,
           ${H(16)} < 2 AS at_risk
    FROM generate_series(0, $1::int - 1) i`;
}

function repositoriesSql(prefix: string): string[] {
  const teams = `(ARRAY['${TEAMS.join("','")}'])`;
  const services = `(ARRAY['${SERVICES.join("','")}'])`;
  return [
    `INSERT INTO registries (id, name, url, updated_at, last_sync_at) VALUES
       (gen_random_uuid(), '${prefix}corp', 'https://registry.corp.example', now(), now()),
       (gen_random_uuid(), '${prefix}mirror', 'https://mirror.corp.example', now(), now()),
       (gen_random_uuid(), '${prefix}edge', 'https://edge.corp.example', now(), now())`,
    `CREATE TEMP TABLE il_repo AS
       SELECT r, gen_random_uuid() AS id,
              CASE WHEN r = 0 OR (hashint8(r::bigint * 77 + 5) & 2147483647) % 10 < 6 THEN 'corp' WHEN (hashint8(r::bigint * 77 + 5) & 2147483647) % 10 < 9 THEN 'mirror' ELSE 'edge' END AS reg,
              CASE WHEN r = 0 THEN 'base/debian'
                   ELSE ${teams}[1 + r % ${TEAMS.length}] || '/' || ${services}[1 + (r / ${TEAMS.length}) % ${SERVICES.length}] || '-' || r END AS name
       FROM (SELECT DISTINCT r FROM il_img) x`,
    `INSERT INTO repositories (id, registry_id, name, last_synced_at)
       SELECT rp.id, g.id, rp.name, now() FROM il_repo rp JOIN registries g ON g.name = '${prefix}' || rp.reg ORDER BY rp.r`,
  ];
}

/** The manifest as served: OCI or Docker v2 with 4 layers, or an OCI index of two platforms; base annotations. */
function imagesSql(): string[] {
  const layers = `(SELECT json_agg(json_build_object('mediaType', CASE WHEN m.kind = 'docker' THEN 'application/vnd.docker.image.rootfs.diff.tar.gzip' ELSE 'application/vnd.oci.image.layer.v1.tar+gzip' END,
                     'digest', ${sha(`'il-layer-' || m.i || '-' || k`)}, 'size', 1048576 * k + m.i)) FROM generate_series(1, 4) k)`;
  const baseAnn = `CASE WHEN m.names_base THEN json_build_object('org.opencontainers.image.base.digest', (SELECT b.digest FROM il_img b WHERE b.i = m.i % ${IMAGES_PER_REPOSITORY}),
                     'org.opencontainers.image.base.name', 'registry.corp.example/base/debian:12.' || (m.i % ${IMAGES_PER_REPOSITORY})) END`;
  return [
    `CREATE TEMP TABLE il_manifest AS
       SELECT m.i, CASE
         WHEN m.kind = 'index' THEN json_strip_nulls(json_build_object('schemaVersion', 2, 'mediaType', 'application/vnd.oci.image.index.v1+json',
           'manifests', json_build_array(
             json_build_object('mediaType', 'application/vnd.oci.image.manifest.v1+json', 'digest', ${sha(`m.digest || '-amd64'`)}, 'size', 1024, 'platform', json_build_object('os', 'linux', 'architecture', 'amd64')),
             json_build_object('mediaType', 'application/vnd.oci.image.manifest.v1+json', 'digest', ${sha(`m.digest || '-arm64'`)}, 'size', 1024, 'platform', json_build_object('os', 'linux', 'architecture', 'arm64', 'variant', 'v8'))),
           'annotations', ${baseAnn}))
         ELSE json_strip_nulls(json_build_object('schemaVersion', 2,
           'mediaType', CASE WHEN m.kind = 'docker' THEN 'application/vnd.docker.distribution.manifest.v2+json' ELSE 'application/vnd.oci.image.manifest.v1+json' END,
           'config', json_build_object('mediaType', CASE WHEN m.kind = 'docker' THEN 'application/vnd.docker.container.image.v1+json' ELSE 'application/vnd.oci.image.config.v1+json' END,
                                       'digest', ${sha(`'il-config-' || m.i`)}, 'size', 1469),
           'layers', ${layers}, 'annotations', ${baseAnn}))
         END::text AS body
       FROM il_img m`,
    // The digests above name the bytes only nominally: the list never re-hashes a stored manifest.
    `INSERT INTO images (id, repository_id, digest, media_type, size, manifest, config_digest, os, architecture, variant, platforms, first_seen_at, last_seen_at,
                         sig_checked_at, config_created, labels, history, diff_ids, deleted_at)
       SELECT m.id, rp.id, m.digest,
              CASE m.kind WHEN 'index' THEN 'application/vnd.oci.image.index.v1+json' WHEN 'docker' THEN 'application/vnd.docker.distribution.manifest.v2+json' ELSE 'application/vnd.oci.image.manifest.v1+json' END,
              octet_length(mf.body), convert_to(mf.body, 'UTF8'),
              CASE WHEN m.kind = 'index' THEN NULL ELSE ${sha(`'il-config-' || m.i`)} END,
              CASE WHEN m.kind = 'index' THEN NULL ELSE 'linux' END, CASE WHEN m.kind = 'index' THEN NULL WHEN m.i % 7 = 0 THEN 'arm64' ELSE 'amd64' END, NULL,
              CASE WHEN m.kind = 'index' THEN jsonb_build_array(
                jsonb_build_object('os', 'linux', 'size', 1024, 'digest', ${sha(`m.digest || '-amd64'`)}, 'mediaType', 'application/vnd.oci.image.manifest.v1+json', 'architecture', 'amd64'),
                jsonb_build_object('os', 'linux', 'size', 1024, 'digest', ${sha(`m.digest || '-arm64'`)}, 'variant', 'v8', 'mediaType', 'application/vnd.oci.image.manifest.v1+json', 'architecture', 'arm64')) END,
              m.seen, CASE WHEN m.deleted THEN m.seen + interval '2 days' ELSE now() - (m.i % 60) * interval '1 minute' END,
              CASE WHEN m.deleted THEN NULL ELSE now() END,
              CASE WHEN m.kind = 'index' THEN NULL ELSE m.seen - interval '1 hour' END,
              CASE WHEN m.kind = 'index' THEN NULL ELSE jsonb_build_object('org.opencontainers.image.source', 'https://git.corp.example/' || rp.name, 'org.opencontainers.image.version', '1.' || m.j) END,
              CASE WHEN m.kind = 'index' THEN NULL ELSE (SELECT jsonb_agg(jsonb_build_object('created', '2026-11-01T00:00:00Z', 'created_by', 'RUN build step ' || k)) FROM generate_series(1, 4) k) END,
              CASE WHEN m.kind = 'index' THEN ARRAY[]::text[] ELSE ARRAY(SELECT ${sha(`'il-diff-' || m.i || '-' || k`)} FROM generate_series(1, 4) k) END,
              CASE WHEN m.deleted THEN m.seen + interval '3 days' END
       FROM il_img m JOIN il_repo rp ON rp.r = m.r JOIN il_manifest mf ON mf.i = m.i ORDER BY m.i`,
    // An index's platform manifests, stored as the sync stores them (parent_digest set; not listed on their own).
    `INSERT INTO images (id, repository_id, digest, media_type, size, manifest, config_digest, os, architecture, variant, parent_digest, first_seen_at, last_seen_at, config_created, labels, diff_ids)
       SELECT gen_random_uuid(), rp.id, ${sha(`m.digest || '-' || a.arch`)}, 'application/vnd.oci.image.manifest.v1+json', 1024,
              convert_to(json_build_object('schemaVersion', 2, 'mediaType', 'application/vnd.oci.image.manifest.v1+json',
                'config', json_build_object('mediaType', 'application/vnd.oci.image.config.v1+json', 'digest', ${sha(`'il-config-' || m.i || a.arch`)}, 'size', 1469),
                'layers', json_build_array(json_build_object('mediaType', 'application/vnd.oci.image.layer.v1.tar+gzip', 'digest', ${sha(`'il-layer-' || m.i || a.arch`)}, 'size', 4096)))::text, 'UTF8'),
              ${sha(`'il-config-' || m.i || a.arch`)}, 'linux', a.arch, a.variant, m.digest, m.seen, now(), m.seen - interval '1 hour', '{}'::jsonb, ARRAY[${sha(`'il-diff-' || m.i || a.arch`)}]
       FROM il_img m JOIN il_repo rp ON rp.r = m.r CROSS JOIN (VALUES ('amd64', NULL), ('arm64', 'v8')) a(arch, variant) WHERE m.kind = 'index'`,
  ];
}

/** Tags on the newest images of each repository (semver, latest, sha-…) and the events of latest moving up. */
function tagsSql(): string[] {
  const N = IMAGES_PER_REPOSITORY;
  return [
    `CREATE TEMP TABLE il_tag AS
       SELECT m.i, m.r, 'v' || (m.r % 3 + 1) || '.' || (m.j / 5) || '.' || (m.j % 5) AS name, m.digest, m.seen FROM il_img m WHERE m.j >= ${N - 6} AND NOT m.deleted
       UNION ALL SELECT m.i, m.r, 'sha-' || substr(m.digest, 8, 7), m.digest, m.seen FROM il_img m WHERE m.j >= ${N / 2} AND NOT m.deleted
       UNION ALL SELECT m.i, m.r, 'latest', m.digest, m.seen FROM il_img m WHERE m.j = ${N - 1}`,
    `INSERT INTO tags (id, repository_id, name, digest, first_seen_at, updated_at)
       SELECT gen_random_uuid(), rp.id, t.name, t.digest, t.seen, t.seen FROM il_tag t JOIN il_repo rp ON rp.r = t.r`,
    `INSERT INTO tag_events (id, repository_id, tag, from_digest, to_digest, seen_at)
       SELECT gen_random_uuid(), rp.id, t.name, NULL, t.digest, t.seen FROM il_tag t JOIN il_repo rp ON rp.r = t.r WHERE t.name <> 'latest'
       UNION ALL
       SELECT gen_random_uuid(), rp.id, 'latest', prev.digest, m.digest, m.seen
       FROM il_img m JOIN il_img prev ON prev.r = m.r AND prev.j = m.j - 1 JOIN il_repo rp ON rp.r = m.r WHERE m.j > ${N - 5}
       UNION ALL
       SELECT gen_random_uuid(), rp.id, 'latest', NULL, m.digest, m.seen FROM il_img m JOIN il_repo rp ON rp.r = m.r WHERE m.j = ${N - 5}`,
  ];
}

/** Stages, reviewers and stage keys: the existing ones when the database has them (the shape test), else new. */
function principalsSql(opts: SeedOptions): string[] {
  return [
    `INSERT INTO stages (id, name, position) VALUES ${STAGES.map((s, k) => `(gen_random_uuid(), '${s}', ${k + 1})`).join(", ")} ON CONFLICT DO NOTHING`,
    ...(opts.prodTtlDays ? [`UPDATE stages SET approval_ttl_days = ${Math.trunc(opts.prodTtlDays)} WHERE name = 'prod' AND approval_ttl_days IS NULL`] : []),
    `INSERT INTO users (id, email, name, role, password_hash) VALUES
       (gen_random_uuid(), 'alice@example.com', 'Alice Reviewer', 'reviewer', 'x'), (gen_random_uuid(), 'bob@example.com', 'Bob Reviewer', 'reviewer', 'x'),
       (gen_random_uuid(), 'carol@example.com', 'Carol Manager', 'manager', 'x') ON CONFLICT DO NOTHING`,
    `INSERT INTO signing_keys (id, name, stage_id, algorithm, public_key_pem, fingerprint, encrypted_private_key)
       SELECT gen_random_uuid(), 'stage-' || s.name || '-key', s.id, 'ecdsa-p256', '-----BEGIN PUBLIC KEY-----\\n-----END PUBLIC KEY-----',
              ${sha(`'il-key-' || s.name`)}, '\\x00'::bytea
       FROM stages s WHERE s.name IN ('build', 'test', 'prod') AND NOT EXISTS (SELECT 1 FROM signing_keys k WHERE k.stage_id = s.id)`,
    `CREATE TEMP TABLE il_stage AS
       SELECT s.id, s.name, s.position AS pos, k.id AS key_id, k.name AS key_name, k.fingerprint
       FROM stages s JOIN LATERAL (SELECT * FROM signing_keys k WHERE k.stage_id = s.id ORDER BY k.created_at LIMIT 1) k ON true
       WHERE s.name IN ('build', 'test', 'prod')`,
    `CREATE TEMP TABLE il_user AS SELECT row_number() OVER (ORDER BY email) - 1 AS n, id, name, email FROM users WHERE email IN ('alice@example.com', 'bob@example.com', 'carol@example.com')`,
  ];
}

export { factsSql, repositoriesSql, imagesSql, tagsSql, principalsSql, H, sha };
