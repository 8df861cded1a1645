import "server-only";
import { assertNoNul, assertStorableDocument, decodeUtf8Strict } from "../http/hostile-input";
import { createHash } from "node:crypto";
import { db, type Prisma, type Tx } from "../../db";
import { env } from "../../env";
import { AppError } from "../../errors";
import { OsvError, parseOsvRecord, type OsvAdvisory } from "../../evidence/osv";
import { looksLikeZip, readZip, ZipError } from "../../evidence/zip";
import { actorLabel, requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";
import { matchAdvisories } from "./match-advisories";
import { ADVISORY_LOCKS } from "../advisory-locks";

export interface ImportAdvisoriesOptions {
  actor: Actor;
  /** One OSV record, a JSON array of records, or a ZIP of records (osv.dev's per-ecosystem all.zip). */
  bytes: Buffer;
  /** Where the bytes came from, for the audit trail: "upload", "cli", "feed", or a file name / URL. */
  origin: string;
  /**
   * Called after the import committed with the images whose findings changed; their re-evaluation is already
   * requested in the import's transaction, so this only nudges the worker (the API route kicks the pg-boss job).
   */
  onChanged?: (imageIds: string[]) => Promise<void>;
  /**
   * Import the good records and refuse only the bad ones (invalid JSON or OSV, a NUL, a time in the future), each
   * counted and named in the result and the audit event. For the scheduled feed: one record a publisher got wrong
   * must not stop every other advisory, new CVEs included, from arriving. Off for uploads, which are refused whole
   * with the reason, so whoever sent them can fix them. A refused archive (too large, a bomb, no records) or a body
   * whose every record is refused is refused either way.
   */
  skipBadRecords?: boolean;
}

export interface ImportAdvisoriesResult {
  records: number;
  created: number;
  updated: number;
  unchanged: number;
  /** Records naming only ecosystems whose version order is not known: not stored, not matched. */
  skipped: number;
  skippedEcosystems: Record<string, number>;
  findings: number;
  /** Images whose advisory findings changed (gained, lost or changed status). */
  images: number;
  /** With skipBadRecords: the records refused, and the first few of them with why. */
  refused: number;
  refusedRecords: { record: string; reason: string }[];
}

/** How many refused records the result and the audit event name (the count covers all). */
const REFUSED_LISTED = 20;

/** Collects the records refused one by one (skipBadRecords), or throws the first (an upload is refused whole). */
class RecordRefusals {
  count = 0;
  listed: { record: string; reason: string }[] = [];
  constructor(readonly skip: boolean) {}
  summary(): Pick<ImportAdvisoriesResult, "refused" | "refusedRecords"> {
    return { refused: this.count, refusedRecords: this.listed };
  }
  refuse(where: string, err: AppError): void {
    if (!this.skip) throw err;
    this.count++;
    if (this.listed.length < REFUSED_LISTED) this.listed.push({ record: where.replace(/[.:]\s*$/, "") || "(the document)", reason: err.message.slice(0, 500) });
  }
}

// Serializes imports across replicas: two imports of overlapping records would otherwise race on the same rows.
const IMPORT_LOCK = ADVISORY_LOCKS.advisoryImport;
const MAX_JSON_RECORDS = 50_000;

function decode(bytes: Buffer, refusals: RecordRefusals): { where: string; value: unknown }[] {
  if (!bytes.length) throw new AppError("INVALID_INPUT", "the body is empty: send one OSV record, a JSON array of records, or a ZIP of records", "body");
  if (looksLikeZip(bytes)) {
    const e = env();
    let entries;
    try {
      entries = readZip(
        bytes,
        { maxEntries: e.ADVISORY_ZIP_MAX_ENTRIES, maxTotalBytes: e.ADVISORY_ZIP_MAX_BYTES, maxEntryBytes: 8 * 1024 * 1024, maxRatio: 200 },
        (n) => n.toLowerCase().endsWith(".json"),
      );
    } catch (err) {
      if (err instanceof ZipError)
        throw new AppError(
          err.code === "TOO_LARGE" || err.code === "TOO_MANY_ENTRIES" || err.code === "BOMB" ? "PAYLOAD_TOO_LARGE" : "INVALID_INPUT",
          `ZIP archive refused: ${err.message}`,
          "body",
        );
      throw err;
    }
    if (!entries.length) throw new AppError("INVALID_INPUT", "the ZIP archive holds no .json records", "body");
    return entries.flatMap((en) => {
      const where = `${en.name.slice(0, 200)}: `;
      try {
        return [{ where, value: parseJsonDocument(en.data, where) }];
      } catch (err) {
        refusals.refuse(where, err instanceof AppError ? err : new AppError("INVALID_INPUT", `${where}not valid JSON (${(err as Error).message})`, "body"));
        return [];
      }
    });
  }
  let value: unknown;
  try {
    value = parseJsonDocument(bytes, "");
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError("BAD_REQUEST", `the body is neither JSON nor a ZIP archive (${(err as Error).message})`, "body");
  }
  if (Array.isArray(value)) {
    if (!value.length) throw new AppError("INVALID_INPUT", "the array holds no records", "body");
    if (value.length > MAX_JSON_RECORDS)
      throw new AppError("PAYLOAD_TOO_LARGE", `the array holds ${value.length} records; at most ${MAX_JSON_RECORDS} per import`, "body");
    return value.map((v, i) => ({ where: `[${i}].`, value: v as unknown }));
  }
  if (value && typeof value === "object") return [{ where: "", value }];
  throw new AppError("INVALID_INPUT", "the body must be an OSV record (an object) or an array of records", "body");
}

const digestOf = (raw: string) => `sha256:${createHash("sha256").update(raw).digest("hex")}`;

/**
 * Parses the decoded records, keeping the newest of each id; a bad record or a NUL anywhere refuses the whole import.
 * Records naming only ecosystems without a known version order are counted as skipped, per ecosystem.
 */
/** How far ahead of this server's clock a record's times may be (clocks of feed publishers and servers differ). */
const FUTURE_SLACK_MS = 10 * 60_000;

function parseAdvisoryRecords(decoded: ReturnType<typeof decode>, refusals: RecordRefusals) {
  const parsed = new Map<string, { advisory: OsvAdvisory; raw: unknown; rawText: string }>();
  const skippedEcosystems: Record<string, number> = Object.create(null) as Record<string, number>;
  let skipped = 0;
  for (const { where, value } of decoded) {
    let advisory: OsvAdvisory;
    try {
      advisory = parseOsvRecord(value, where);
    } catch (err) {
      if (err instanceof OsvError) {
        refusals.refuse(where, new AppError("INVALID_INPUT", `${where}${err.message}`, "body"));
        continue;
      }
      throw err;
    }
    const rawText = JSON.stringify(value);
    // Postgres JSON cannot hold NUL; a record carrying one anywhere (even in fields we do not read) is refused.
    if (rawText.includes("\\u0000")) {
      refusals.refuse(where, new AppError("INVALID_INPUT", `${where}record ${advisory.id} contains a NUL character`, "body"));
      continue;
    }
    // A time in the future is not a record's history but a claim on it: a record "modified" in 9999 outranks every
    // later, genuine version of itself (an older incoming record is skipped), so one import pinned an advisory
    // withdrawn, and its findings gone, for good.
    const future = (["modified", "published", "withdrawn"] as const).find((f) => {
      const t = advisory[f];
      return t && t.getTime() > Date.now() + FUTURE_SLACK_MS;
    });
    if (future) {
      refusals.refuse(
        where,
        new AppError("INVALID_INPUT", `${where}record ${advisory.id}: ${future} ${advisory[future]!.toISOString()} is in the future`, "body"),
      );
      continue;
    }
    if (!advisory.affected.length && advisory.unknownEcosystems.length) {
      skipped++;
      for (const e of advisory.unknownEcosystems) skippedEcosystems[e] = (skippedEcosystems[e] ?? 0) + 1;
      continue;
    }
    const prev = parsed.get(advisory.id);
    if (!prev || prev.advisory.modified < advisory.modified) parsed.set(advisory.id, { advisory, raw: value, rawText });
  }
  return { parsed, skipped, skippedEcosystems };
}

/** The body's records, parsed and checked, with those refused one by one (skipBadRecords) or the first refusal thrown. */
function readRecords(bytes: Buffer, skipBadRecords: boolean) {
  const refusals = new RecordRefusals(skipBadRecords);
  const decoded = decode(bytes, refusals);
  const records = decoded.length + refusals.count;
  const { parsed, skipped, skippedEcosystems } = parseAdvisoryRecords(decoded, refusals);
  // Nothing left to import: the body is refused as a whole, with the first reason, as without skipBadRecords.
  if (refusals.count && !parsed.size && !skipped)
    throw new AppError("INVALID_INPUT", `every record was refused (${refusals.count}); the first: ${refusals.listed[0]!.reason}`, "body");
  return { records, parsed, skipped, skippedEcosystems, refusals };
}

/** The stored version of an advisory, as an import weighs it against an incoming record. */
interface StoredVersion {
  modified: Date;
  rawDigest: string;
  importedById: string | null;
  packageKeys: string[];
}

async function readStored(tx: Tx, ids: readonly string[]): Promise<Map<string, StoredVersion>> {
  const existing = new Map<string, StoredVersion>();
  for (let i = 0; i < ids.length; i += 10_000) {
    for (const r of await tx.advisory.findMany({
      where: { id: { in: ids.slice(i, i + 10_000) } },
      select: { id: true, modified: true, rawDigest: true, importedById: true, packageKeys: true },
    }))
      existing.set(r.id, r);
  }
  return existing;
}

/**
 * Whether an incoming record (imported by account `byId`, null for the feed, the system and the CLI) replaces the
 * stored version: a newer `modified`, or the same one with other bytes. The feed (and the operator's CLI) is
 * authoritative over an account's version, whatever its `modified`: a record any reviewer may write, dated "now",
 * outranks the genuine one by its `modified` alone, so a forged withdrawal would otherwise pin itself against every
 * later import of the feed. The same bytes are stored again too, now as the feed's (the gates no longer discount them).
 */
function replacesStored(old: StoredVersion, a: OsvAdvisory, rawDigest: string, byId: string | null): boolean {
  if (byId === null && old.importedById !== null) return true;
  // A stored time in the future (imported before such records were refused) outranks nothing.
  const oldModified = old.modified.getTime() > Date.now() + FUTURE_SLACK_MS ? new Date(0) : old.modified;
  return oldModified < a.modified || (oldModified.getTime() === a.modified.getTime() && old.rawDigest !== rawDigest);
}

/**
 * Imports OSV advisories and matches them against every stored SBOM component: new and newer records are stored,
 * their findings replaced, all in one transaction with one audit event, so a bad record anywhere (or a refused
 * archive) leaves nothing behind. Records naming only ecosystems without a known version order are counted as
 * skipped. Admins and reviewers.
 *
 * Each version records the account that imported it (null for the feed, the system and the CLI): the gates of a request
 * discount a version its requester, an approver or the build's author imported (gather-gate-facts.ts), and an import
 * without an account (the scheduled feed, the operator's CLI) replaces a version an account imported whatever its
 * `modified`.
 */
export async function importAdvisories({ actor, bytes, origin, onChanged, skipBadRecords = false }: ImportAdvisoriesOptions): Promise<ImportAdvisoriesResult> {
  requireRole(actor, ["admin", "reviewer"], "importing advisories");
  const { records, parsed, skipped, skippedEcosystems, refusals } = readRecords(bytes, skipBadRecords);
  const result = await db.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${IMPORT_LOCK}::int, 0)`;
      const existing = await readStored(tx, [...parsed.keys()]);
      const changed: OsvAdvisory[] = [];
      const creates: Prisma.AdvisoryCreateManyInput[] = [];
      let updated = 0;
      const by = actorLabel(actor);
      // The account importing, or null for the feed, the system and the CLI (the operator's own import, with the
      // database's access): the gates discount an advisory version its requester, approvers or build author stored.
      const byId = actor.kind === "user" ? actor.id : null;
      for (const { advisory: a, raw, rawText } of parsed.values()) {
        const rawDigest = digestOf(rawText);
        const old = existing.get(a.id);
        if (old && !replacesStored(old, a, rawDigest, byId)) continue;
        const keys = new Set(a.affected.map((x) => x.key));
        // An account's version keeps the package keys of the one it replaces: moved to another package, the record
        // still concerns the images the genuine one did, and the gates still see who last imported it there.
        if (byId !== null && old) for (const k of old.packageKeys) keys.add(k);
        const row = {
          aliases: a.aliases,
          summary: a.summary,
          severity: a.severity,
          cvssScore: a.cvss?.score ?? null,
          cvssVector: a.cvss?.vector ?? null,
          modified: a.modified,
          published: a.published,
          withdrawn: a.withdrawn,
          raw: raw as object,
          rawDigest,
          importedBy: by,
          importedById: byId,
          importedAt: new Date(),
          packageKeys: [...keys],
        };
        if (old) {
          await tx.advisory.update({ where: { id: a.id }, data: row });
          updated++;
        } else creates.push({ id: a.id, ...row });
        changed.push(a);
      }
      for (let i = 0; i < creates.length; i += 2000) await tx.advisory.createMany({ data: creates.slice(i, i + 2000) });
      const m = await matchAdvisories(tx, {
        advisories: changed.map((a) => ({
          id: a.id,
          aliases: a.aliases,
          summary: a.summary,
          severity: a.severity,
          cvssScore: a.cvss?.score ?? null,
          cvssVector: a.cvss?.vector ?? null,
          withdrawn: a.withdrawn,
          affected: a.affected,
        })),
      });
      const out: ImportAdvisoriesResult = {
        records,
        created: creates.length,
        updated,
        unchanged: parsed.size - changed.length,
        skipped,
        skippedEcosystems: { ...skippedEcosystems },
        findings: m.findings,
        images: m.images.size,
        ...refusals.summary(),
      };
      await requestReevaluation(tx, { trigger: "advisory", imageIds: [...m.images] });
      await appendAuditEvent(tx, {
        actor,
        action: "advisory.import",
        target: origin.slice(0, 500),
        detail: { ...out, advisories: changed.slice(0, 100).map((a) => a.id), more: Math.max(0, changed.length - 100) },
      });
      return { out, imageIds: [...m.images] };
    },
    { timeout: 600_000, maxWait: 60_000 },
  );
  if (onChanged && result.imageIds.length) await onChanged(result.imageIds);
  return result.out;
}

/**
 * Hostile JSON, checked before and after parsing as every other body is: strict UTF-8, no nesting past the document
 * limit (a recursive walk would overflow the stack), no NUL (Postgres refuses it), no `__proto__` / `constructor` keys.
 */
function parseJsonDocument(bytes: Uint8Array, where: string): unknown {
  try {
    const text = decodeUtf8Strict(bytes);
    assertStorableDocument(bytes);
    const value = JSON.parse(text) as unknown;
    // OSV texts (details, summary) are Markdown with newlines: only NUL and prototype-polluting keys are refused.
    assertNoNul(value);
    assertNoPrototypeKeys(value);
    return value;
  } catch (err) {
    if (err instanceof AppError) throw new AppError(err.code, `${where}${err.message}`, "body");
    throw err;
  }
}

const PROTOTYPE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** Iterative (the depth is already capped), so a wide document cannot overflow the stack either. */
function assertNoPrototypeKeys(value: unknown): void {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (!v || typeof v !== "object") continue;
    if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
      continue;
    }
    for (const [k, x] of Object.entries(v)) {
      if (PROTOTYPE_KEYS.has(k)) throw new AppError("INVALID_INPUT", `the document has a ${JSON.stringify(k)} key`, "body");
      stack.push(x);
    }
  }
}
