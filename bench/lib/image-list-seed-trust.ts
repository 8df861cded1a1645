// The trust and evidence half of bench/lib/image-list-seed.ts: signatures, approvals (stage_decisions follow by
// trigger), artifacts, Trivy scans and their findings, stages at risk; then seedImageList() runs both halves.
import type pg from "pg";
import {
  H,
  IMAGES_PER_REPOSITORY,
  factsSql,
  imagesSql,
  principalsSql,
  repositoriesSql,
  sha,
  tagsSql,
  type SeedCounts,
  type SeedOptions,
} from "./image-list-seed";

const PACKAGES = [
  "openssl",
  "libc6",
  "zlib1g",
  "curl",
  "libxml2",
  "busybox",
  "libexpat1",
  "libssl3",
  "git",
  "python3.11",
  "libsqlite3-0",
  "perl-base",
  "tar",
  "gnutls28",
  "krb5",
];

/** One approval per stage up to the highest the image reached; 1 % pending, 2 % revoked, 1 % whose signature fails. */
function approvalsSql(): string[] {
  return [
    `CREATE TEMP TABLE il_appr AS
       SELECT m.i, m.id AS image_id, m.digest, st.id AS stage_id, st.name AS stage, st.pos, st.key_id, st.key_name, st.fingerprint, u.id AS user_id, u.name AS user_name,
              gen_random_uuid() AS id, gen_random_uuid() AS request_id, m.seen + st.pos * interval '6 hours' AS created,
              ${sha(`'il-stage-sig-' || m.i || '-' || st.pos`)} AS layer,
              CASE WHEN ${H(20, "m.i")} + st.pos < 2 THEN 'pending' WHEN ${H(21, "m.i")} < 2 THEN 'revoked' WHEN ${H(22, "m.i")} < 1 THEN 'invalid' ELSE 'verified' END AS variant
       FROM il_img m JOIN il_stage st ON st.pos <= m.stages_approved JOIN il_user u ON u.n = (m.i + st.pos) % 2`,
    // The simple-signing payload the server signs (lib/signing), its optional fields naming the approval.
    `ALTER TABLE il_appr ADD COLUMN payload text`,
    `UPDATE il_appr a SET payload = json_build_object(
       'critical', json_build_object('identity', json_build_object('docker-reference', 'registry.corp.example/' || rp.name), 'image', json_build_object('docker-manifest-digest', a.digest), 'type', 'cosign container image signature'),
       'optional', json_build_object('dev.imprimatur/stage', a.stage, 'dev.imprimatur/request-id', a.request_id, 'dev.imprimatur/approval-id', a.id, 'dev.imprimatur/approver-id', a.user_id,
                                     'dev.imprimatur/approvers', a.user_id, 'dev.imprimatur/approved-at', to_char(a.created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))::text
     FROM il_img m JOIN il_repo rp ON rp.r = m.r WHERE m.i = a.i`,
  ];
}

function signaturesSql(): string[] {
  const checks = (who: string, approval: string) => `jsonb_build_array(
      jsonb_build_object('check', 'payload matches its layer digest', 'passed', true, 'detail', s.layer),
      jsonb_build_object('check', 'payload type', 'passed', true, 'detail', 'cosign container image signature'),
      jsonb_build_object('check', 'names this digest', 'passed', true, 'detail', s.digest),
      jsonb_build_object('check', 'signature is valid', 'passed', s.ok, 'detail', CASE WHEN s.ok THEN 'verified by trusted key ' || ${who} ELSE 'the signature does not match the payload' END),
      jsonb_build_object('check', 'certificate chain is valid at the trusted time', 'passed', NULL, 'detail', 'does not apply: signed with a bare key, no certificate'),
      jsonb_build_object('check', 'identity is trusted for this repository and role', 'passed', CASE WHEN s.ok THEN true END, 'detail', ${who} || ' is trusted as ' || s.role_name),
      jsonb_build_object('check', 'has not expired', 'passed', CASE WHEN s.ok THEN true END, 'detail', ${who} || ' is valid at its trusted time' || ${approval}),
      jsonb_build_object('check', 'has not been revoked', 'passed', CASE WHEN s.ok THEN true END, 'detail', ${who} || ' is not revoked'))`;
  return [
    `CREATE TEMP TABLE il_sig AS
       SELECT m.id AS image_id, m.i, m.digest, ${sha(`'il-pub-' || m.i`)} AS layer, 0 AS position, m.pub_ok AS ok, 'publisher' AS role_name, 'acme-release' AS who,
              ${sha(`'il-pub-key'`)} AS fingerprint, m.seen AS at, NULL::uuid AS approval_id
       FROM il_img m WHERE m.pub
       UNION ALL
       SELECT m.id, m.i, m.digest, ${sha(`'il-team-' || m.i`)}, 1, true, 'team', 'ci-team', ${sha(`'il-team-key'`)}, m.seen, NULL FROM il_img m WHERE m.team
       UNION ALL
       SELECT a.image_id, a.i, a.digest, a.layer, 1 + a.pos, a.variant = 'verified', 'stage', 'stage:' || a.stage || ' (' || a.key_name || ')', a.fingerprint, a.created, a.id
       FROM il_appr a WHERE a.variant IN ('verified', 'invalid')`,
    `INSERT INTO signatures (id, image_id, layer_digest, position, media_type, annotations, payload, docker_reference, payload_digest, optional, verdict, detail,
                             key_name, key_fingerprint, format, checks, signer, time_kind, time_at, time_by, trusted_by, role)
       SELECT gen_random_uuid(), s.image_id, s.layer, s.position, 'application/vnd.dev.cosign.simplesigning.v1+json',
              jsonb_build_object('dev.cosignproject.cosign/signature', 'MEUCIQ' || encode(sha256(convert_to(s.layer, 'UTF8')), 'base64')),
              convert_to(COALESCE(a.payload, json_build_object('critical', json_build_object('identity', json_build_object('docker-reference', 'registry.corp.example/' || rp.name),
                'image', json_build_object('docker-manifest-digest', s.digest), 'type', 'cosign container image signature'), 'optional', NULL)::text), 'UTF8'),
              'registry.corp.example/' || rp.name, s.digest,
              CASE WHEN a.id IS NULL THEN NULL ELSE (a.payload::jsonb -> 'optional') END,
              CASE WHEN s.ok THEN 'verified' WHEN s.approval_id IS NULL THEN 'unverified' ELSE 'invalid' END,
              CASE WHEN s.ok THEN 'verified by trusted key "' || s.who || '" as ' || s.role_name WHEN s.approval_id IS NULL THEN 'no trusted identity matches the signature' ELSE 'the signature does not match the payload' END,
              CASE WHEN s.ok THEN s.who END, CASE WHEN s.ok THEN s.fingerprint END, 'cosign',
              ${checks(`'"' || s.who || '"'`, `CASE WHEN s.approval_id IS NULL THEN '' ELSE ' ' || to_char(s.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') END`)},
              jsonb_build_object('kind', 'key', 'algorithm', 'ecdsa-p256', 'fingerprint', s.fingerprint),
              CASE WHEN s.approval_id IS NULL THEN 'claimed' ELSE 'trusted' END, s.at,
              CASE WHEN s.approval_id IS NULL THEN 'the signer' ELSE 'Imprimatur''s record of approval ' || s.approval_id END,
              CASE WHEN s.ok THEN s.who END, CASE WHEN s.ok THEN s.role_name END
       FROM il_sig s JOIN il_img m ON m.i = s.i JOIN il_repo rp ON rp.r = m.r LEFT JOIN il_appr a ON a.id = s.approval_id`,
    `INSERT INTO artifacts (id, image_id, digest, media_type, kind, source, size, annotations, predicate_type)
       SELECT gen_random_uuid(), x.image_id, ${sha(`'il-sigm-' || x.i`)}, 'application/vnd.oci.image.manifest.v1+json', 'signature', 'cosign-tag', 558, '{}'::jsonb, NULL
       FROM (SELECT DISTINCT image_id, i FROM il_sig) x
       UNION ALL
       SELECT gen_random_uuid(), m.id, ${sha(`'il-vsa-' || m.i`)}, 'application/vnd.oci.image.manifest.v1+json', 'attestation', 'cosign-tag', 511, '{}'::jsonb, 'https://slsa.dev/verification_summary/v1'
       FROM il_img m WHERE m.stages_approved > 0`,
  ];
}

function approvalRowsSql(): string {
  // Signatures first, as the workflow pushes the signature before it marks the approval signed: the
  // stage_decisions trigger on approvals then sees the layer it verifies against.
  return `INSERT INTO approvals (id, image_id, stage_id, approver_id, signing_key_id, comment, status, payload, signature, layer_digest, attempts, created_at, signed_at,
                                 request_id, revoked_at, revoked_by, revoked_by_id, revocation_reason, revocation_source, revocation_state)
    SELECT a.id, a.image_id, a.stage_id, a.user_id, a.key_id, 'lgtm', (CASE WHEN a.variant = 'pending' THEN 'signing' ELSE 'signed' END)::"ApprovalStatus",
           convert_to(a.payload, 'UTF8'), 'MEUCIQ' || encode(sha256(convert_to(a.layer, 'UTF8')), 'base64'), a.layer, CASE WHEN a.variant = 'pending' THEN 3 ELSE 1 END,
           a.created, CASE WHEN a.variant = 'pending' THEN NULL ELSE a.created + interval '2 seconds' END, NULL,
           CASE WHEN a.variant = 'revoked' THEN a.created + interval '5 days' END, CASE WHEN a.variant = 'revoked' THEN 'carol@example.com' END,
           CASE WHEN a.variant = 'revoked' THEN (SELECT id FROM il_user WHERE email = 'carol@example.com') END,
           CASE WHEN a.variant = 'revoked' THEN 'rebuilt on a patched base' END, CASE WHEN a.variant = 'revoked' THEN 'manual' END, CASE WHEN a.variant = 'revoked' THEN 'removed' END
    FROM il_appr a ORDER BY a.i, a.pos`;
}

function evidenceSql(): string[] {
  const pkgs = `(ARRAY['${PACKAGES.join("','")}'])`;
  return [
    `CREATE TEMP TABLE il_doc AS SELECT m.i, m.id AS image_id, m.digest, gen_random_uuid() AS id, m.n_critical, m.n_high, m.n_medium, m.n_low FROM il_img m WHERE m.scanned`,
    `INSERT INTO evidence_documents (id, image_id, content_digest, format, kind, source, uploaded_by, uploaded_at, scanned_at, tool_name, tool_version, subject_digest,
                                     signature_status, signature_detail, size, raw, finding_count)
       SELECT d.id, d.image_id, ${sha(`'il-scan-' || d.i`)}, 'trivy', 'scan', 'upload', 'ci@example.com', now() - interval '1 day', now() - interval '1 day', 'trivy', '0.57.1', d.digest,
              'unsigned', 'not a signed envelope', 64, convert_to('{"SchemaVersion":2,"ArtifactType":"container_image","Results":[]}', 'UTF8'),
              d.n_critical + d.n_high + d.n_medium + d.n_low
       FROM il_doc d`,
    `INSERT INTO findings (id, document_id, image_id, vuln_id, severity, cvss_score, cvss_vector, package, purl, installed_version, fixed_version, fix_available, status, source, title)
       SELECT gen_random_uuid(), d.id, d.image_id, 'CVE-20' || (20 + (d.i + k) % 6) || '-' || (10000 + (hashint8(d.i::bigint * 31 + k + sv.o * 1000) & 2147483647) % 89999),
              sv.sev, sv.cvss, NULL, ${pkgs}[1 + (d.i + k) % ${PACKAGES.length}], 'pkg:deb/debian/' || ${pkgs}[1 + (d.i + k) % ${PACKAGES.length}] || '@1.' || k,
              '1.' || k, CASE WHEN k % 2 = 0 THEN '1.' || k || '+deb12u1' END, k % 2 = 0, 'affected', 'trivy', 'bench finding ' || k
       FROM il_doc d
       CROSS JOIN LATERAL (VALUES (0, 'critical', 9.8, d.n_critical), (1, 'high', 7.5, d.n_high), (2, 'medium', 5.3, d.n_medium), (3, 'low', 2.1, d.n_low)) sv(o, sev, cvss, n)
       CROSS JOIN LATERAL generate_series(1, sv.n) k`,
    `INSERT INTO stage_risks (id, image_id, stage_id, approval_id, since, reasons, checked_at)
       SELECT gen_random_uuid(), a.image_id, a.stage_id, a.id, now() - interval '1 day', ARRAY['scan has ' || GREATEST(m.n_critical, 1) || ' critical findings (max 0)'], now()
       FROM il_appr a JOIN il_img m ON m.i = a.i WHERE m.at_risk AND a.pos = 1 AND a.variant = 'verified'`,
  ];
}

async function count(c: pg.Client, prefix: string): Promise<SeedCounts> {
  const r = await c.query<SeedCounts>(
    `WITH img AS (SELECT i.* FROM images i JOIN repositories r ON r.id = i.repository_id JOIN registries g ON g.id = r.registry_id WHERE g.name LIKE $1 || '%')
     SELECT (SELECT count(*) FROM registries WHERE name LIKE $1 || '%')::int AS registries,
            (SELECT count(*) FROM repositories r JOIN registries g ON g.id = r.registry_id WHERE g.name LIKE $1 || '%')::int AS repositories,
            (SELECT count(*) FROM img)::int AS images, (SELECT count(*) FROM img WHERE parent_digest IS NULL)::int AS "topLevel",
            (SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repository_id JOIN registries g ON g.id = r.registry_id WHERE g.name LIKE $1 || '%')::int AS tags,
            (SELECT count(*) FROM signatures WHERE image_id IN (SELECT id FROM img))::int AS signatures,
            (SELECT count(*) FROM approvals WHERE image_id IN (SELECT id FROM img))::int AS approvals,
            (SELECT count(*) FROM stage_decisions WHERE image_id IN (SELECT id FROM img))::int AS decisions,
            (SELECT count(*) FROM findings WHERE image_id IN (SELECT id FROM img))::int AS findings,
            (SELECT count(*) FROM stage_risks WHERE image_id IN (SELECT id FROM img))::int AS "stageRisks"`,
    [opts_prefix(prefix)],
  );
  return r.rows[0]!;
}

const opts_prefix = (p: string) => p.replace(/[%_\\]/g, (x) => `\\${x}`);

/** Seeds the inventory (see bench/lib/image-list-seed.ts) in one transaction and returns what it wrote. */
export async function seedImageList(c: pg.Client, opts: SeedOptions, step: (name: string, ms: number) => void = () => {}): Promise<SeedCounts> {
  if (!/^[a-z0-9-]*$/.test(opts.prefix)) throw new Error(`seed prefix must be [a-z0-9-]*, got ${JSON.stringify(opts.prefix)}`);
  const n = Math.max(IMAGES_PER_REPOSITORY, Math.round(opts.images));
  const phases: [string, string[]][] = [
    ["facts", [factsSql(opts.prefix)]],
    ["repositories", repositoriesSql(opts.prefix)],
    ["images", imagesSql()],
    ["tags", tagsSql()],
    ["principals", principalsSql(opts)],
    ["signatures", [...approvalsSql(), ...signaturesSql()]],
    ["approvals (stage_decisions triggers)", [approvalRowsSql()]],
    ["evidence", evidenceSql()],
  ];
  await c.query("BEGIN");
  try {
    for (const [name, statements] of phases) {
      const t0 = performance.now();
      for (const sql of statements) await c.query(sql, sql.includes("$1") ? [n] : []);
      step(name, performance.now() - t0);
    }
    for (const t of ["il_img", "il_repo", "il_manifest", "il_tag", "il_stage", "il_user", "il_appr", "il_sig", "il_doc"]) await c.query(`DROP TABLE ${t}`);
    await c.query("COMMIT");
  } catch (e) {
    await c.query("ROLLBACK");
    throw e;
  }
  const t0 = performance.now();
  await c.query("ANALYZE");
  step("analyze", performance.now() - t0);
  return count(c, opts.prefix);
}
