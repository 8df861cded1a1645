// The `imprimatur audit …` commands: verify the chain against the registry's checkpoints, make one, export events.
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { Actor } from "../../lib/server/actor";
import { parseAuditQuery } from "../../lib/server/audit/audit-filter";
import { exportAuditEvents } from "../../lib/server/audit/export-audit-events";
import { makeAuditCheckpoint } from "../../lib/server/audit/make-audit-checkpoint";
import { verifyAuditCheckpoints } from "../../lib/server/audit/verify-audit-checkpoints";

function fail(msg: string, code = 2): never {
  console.error(`imprimatur: ${msg}`);
  process.exit(code);
}

export interface AuditCommandValues {
  force?: boolean;
  format?: string;
  out?: string;
  actor?: string;
  action?: string;
  target?: string;
  outcome?: string;
  from?: string;
  to?: string;
}

/** Runs `audit verify`, `audit checkpoint` or `audit export`; returns the process exit code. */
export async function runAuditCommand(
  command: "audit verify" | "audit checkpoint" | "audit export",
  values: AuditCommandValues,
  actor: Actor,
): Promise<number> {
  switch (command) {
    case "audit verify": {
      // The chain, then every checkpoint in the registry against it (see lib/server/audit/verify-audit-checkpoints.ts).
      const r = await verifyAuditCheckpoints({ actor });
      if (r.chain.ok) console.log(`audit chain intact: ${r.chain.rows} events, head ${r.chain.head}`);
      for (const c of r.checkpoints) console.log(`  ${c.status.padEnd(9)} ${c.message}`);
      for (const g of r.gaps) console.log(`gap: ${g}`);
      if (r.ok) return 0;
      // Not a verdict on the trail, and not a pass either: say so apart from the integrity failures.
      if (r.unverifiable) console.error(`could not verify against the registry: ${r.unverifiable}`);
      for (const p of r.problems) if (!r.unverifiable || !p.startsWith("could not verify against the registry")) console.error(`BROKEN: ${p}`);
      if (!r.chain.ok) console.error(`audit chain BROKEN at event #${r.chain.brokenSeq}: ${r.chain.reason} (${r.chain.rows} events read)`);
      return 1;
    }
    case "audit checkpoint": {
      const r = await makeAuditCheckpoint({ actor, force: Boolean(values.force) });
      if (r.status === "unchanged") console.log(`no new events since checkpoint ${r.number} (seq ${r.seq}); nothing to do (--force makes one anyway)`);
      else if (r.status === "pushed") console.log(`checkpoint ${r.number}: seq ${r.seq}, hash ${r.hash}, pushed to ${r.reference}`);
      else {
        console.error(`checkpoint ${r.number}: seq ${r.seq} signed and recorded, NOT pushed yet (${r.error}); the scheduler retries`);
        return 3;
      }
      return 0;
    }
    case "audit export": {
      const format = values.format ?? "ndjson";
      if (format !== "csv" && format !== "ndjson") fail("--format must be csv or ndjson");
      const sp = new URLSearchParams();
      for (const k of ["actor", "action", "target", "outcome", "from", "to"] as const) if (values[k]) sp.set(k, values[k]);
      const { filter } = parseAuditQuery(sp);
      const out = await exportAuditEvents({ actor, filter, format });
      const sink = values.out ? createWriteStream(values.out, { flags: "wx", mode: 0o600 }) : process.stdout;
      await pipeline(Readable.fromWeb(out.stream as WebReadableStream<Uint8Array>), sink);
      if (values.out) console.error(`wrote ${values.out}`);
      return 0;
    }
  }
}
