/**
 * The time evidence of a Sigstore bundle: transparency log entries (body, SET, checkpoint, inclusion proof) and
 * RFC 3161 timestamps, each a step of the bundle verifier (./sigstore-bundle.ts). Only a SET or a token from a trusted
 * authority gives a trusted time; an inclusion proof alone proves inclusion, not when.
 */
import type { TLogEntryWithInclusionPromise, TLogEntryWithInclusionProof, TransparencyLogEntry } from "@sigstore/bundle";
import { getTSATimestamp } from "@sigstore/verify/dist/timestamp";
import { verifyCheckpoint } from "@sigstore/verify/dist/tlog/checkpoint";
import { verifyTLogBody } from "@sigstore/verify/dist/tlog";
import { verifyMerkleInclusion } from "@sigstore/verify/dist/tlog/merkle";
import { verifyTLogSET } from "@sigstore/verify/dist/tlog/set";
import { fail, pass, skip, type StepResult, type VerifierStep } from "../steps";
import type { LogKey } from "../verification";
import { errMessage, FUTURE_SKEW_MS, SIGSTORE_CHECKS, type BundleState } from "./sigstore-common";

/** 5. Transparency log entries: each must match the signature and be proven included by a trusted log. */
export const tlogStep: VerifierStep<BundleState> = {
  name: "transparency log",
  run(s) {
    const out: StepResult[] = [];
    let verifiedEntries = 0;
    // bundleFromJSON has checked that every entry has logId and kindVersion.
    const entries = s.bundle.verificationMaterial.tlogEntries.slice(0, 16) as TransparencyLogEntry[];
    if (s.bundle.verificationMaterial.tlogEntries.length > entries.length)
      return fail("invalid", SIGSTORE_CHECKS.wellFormed, `more than ${entries.length} tlog entries`);
    for (const [i, entry] of entries.entries()) {
      const label = (c: string) => (entries.length > 1 ? `${c} (entry ${i + 1} of ${entries.length})` : c);
      const results = tlogEntry(s, entry, label);
      out.push(...results);
      if (results.some((r) => r.passed === false)) return out;
      verifiedEntries++;
    }
    const { tlog } = s.thresholds;
    const tlogDetail = `${verifiedEntries} verified, ${tlog} required`;
    if (verifiedEntries < tlog) return [...out, fail("unverified", SIGSTORE_CHECKS.tlogThreshold, tlogDetail)];
    if (tlog === 0 && verifiedEntries === 0) return [...out, skip(SIGSTORE_CHECKS.tlogThreshold, "none in the bundle, none required")];
    return [...out, pass(SIGSTORE_CHECKS.tlogThreshold, tlogDetail)];
  },
};

/** One log entry: its body matches the signature, then its SET and its inclusion proof (whichever it carries). */
function tlogEntry(s: BundleState, entry: TransparencyLogEntry, label: (c: string) => string): StepResult[] {
  const where = `log ${entry.logId.keyId.toString("hex").slice(0, 12)}…, index ${entry.logIndex}`;
  const integrated = entry.integratedTime && entry.integratedTime !== "0" ? new Date(Number(entry.integratedTime) * 1000) : null;
  if (integrated && !s.claimedTime) s.claimedTime = integrated;
  try {
    verifyTLogBody(entry, s.entity.signature);
  } catch (e) {
    return [fail("invalid", label(SIGSTORE_CHECKS.tlogBody), `${where}: ${errMessage(e)}`)];
  }
  const out = [pass(label(SIGSTORE_CHECKS.tlogBody), `${where}, ${entry.kindVersion.kind} ${entry.kindVersion.version}`)];
  const logKeys = s.opts.trust.rekorKeys.filter((k) => k.logId === entry.logId.keyId.toString("hex"));
  const untrustedLog = `the log's key (log ID ${entry.logId.keyId.toString("hex")}) is not in the trust material: import the Rekor key`;

  if (entry.inclusionPromise) {
    const r = inclusionPromise(s, entry as TLogEntryWithInclusionPromise, integrated, logKeys, untrustedLog, label);
    out.push(r);
    if (r.passed === false) return out;
  } else out.push(skip(label(SIGSTORE_CHECKS.set), "the entry has no inclusion promise"));

  if (entry.inclusionProof) {
    if (logKeys.length === 0) return [...out, fail("unverified", label(SIGSTORE_CHECKS.checkpoint), untrustedLog)];
    const proofEntry = entry as TLogEntryWithInclusionProof;
    let checkpoint: ReturnType<typeof verifyCheckpoint>;
    try {
      checkpoint = verifyCheckpoint(proofEntry, s.tm.tlogs);
    } catch (e) {
      return [
        ...out,
        fail(
          "unverified",
          label(SIGSTORE_CHECKS.checkpoint),
          `${errMessage(e)} (the trusted Rekor key's name must contain the log's origin, e.g. rekor.sigstore.dev)`,
        ),
      ];
    }
    out.push(pass(label(SIGSTORE_CHECKS.checkpoint), `${checkpoint.origin}, tree size ${checkpoint.logSize}`));
    try {
      verifyMerkleInclusion(proofEntry, checkpoint);
    } catch (e) {
      return [...out, fail("invalid", label(SIGSTORE_CHECKS.inclusionProof), `${where}: ${errMessage(e)}`)];
    }
    const p = proofEntry.inclusionProof;
    out.push(
      pass(
        label(SIGSTORE_CHECKS.inclusionProof),
        `leaf ${p.logIndex} of ${p.treeSize} under root hash ${Buffer.from(p.rootHash).toString("hex").slice(0, 16)}…`,
      ),
    );
  } else out.push(skip(label(SIGSTORE_CHECKS.inclusionProof), "the entry has no inclusion proof"));

  if (!entry.inclusionPromise && !entry.inclusionProof)
    return [...out, fail("unverified", label(SIGSTORE_CHECKS.inclusionProof), "the entry has neither an inclusion proof nor a SET")];
  return out;
}

/** The SET: a trusted key of that log, valid at the integrated time, signed the entry (and so its integrated time). */
function inclusionPromise(
  s: BundleState,
  entry: TLogEntryWithInclusionPromise,
  integrated: Date | null,
  logKeys: LogKey[],
  untrustedLog: string,
  label: (c: string) => string,
): StepResult {
  if (logKeys.length === 0) return fail("unverified", label(SIGSTORE_CHECKS.set), untrustedLog);
  const inRange = logKeys.filter((k) => !integrated || ((!k.validFrom || k.validFrom <= integrated) && (!k.validUntil || integrated <= k.validUntil)));
  if (inRange.length === 0) {
    return fail(
      "unverified",
      label(SIGSTORE_CHECKS.set),
      `no trusted key of that log is valid at the integrated time ${integrated?.toISOString()} (${logKeys.map((k) => k.name).join(", ")})`,
    );
  }
  // Try each trusted key of that log alone, to say which one vouched.
  const by = s.tm.tlogs
    .map((t, j) => ({ t, k: s.opts.trust.rekorKeys[j]! }))
    .find(({ t }) => {
      try {
        verifyTLogSET(entry, [t]);
        return true;
      } catch {
        return false;
      }
    });
  if (!by) {
    const validAt = integrated ? ` at ${integrated.toISOString()}` : "";
    return fail(
      "invalid",
      label(SIGSTORE_CHECKS.set),
      `the SET does not verify with the trusted key of that log${validAt} (${logKeys.map((k) => k.name).join(", ")})`,
    );
  }
  if (integrated && integrated.getTime() > s.opts.now.getTime() + FUTURE_SKEW_MS) {
    return fail("invalid", label(SIGSTORE_CHECKS.set), `the integrated time ${integrated.toISOString()} is in the future`);
  }
  // Only the SET signs integratedTime; an inclusion proof alone proves inclusion, not when.
  if (integrated) s.trustedTimes.push({ at: integrated, by: by.k.name });
  return pass(label(SIGSTORE_CHECKS.set), `signed by ${by.k.name}${integrated ? `: integrated at ${integrated.toISOString()}` : ""}`);
}

/** 6. RFC 3161 timestamps from a trusted TSA, then the threshold of trusted times (SETs and tokens). */
export const timestampsStep: VerifierStep<BundleState> = {
  name: "timestamps",
  run(s) {
    const { opts, tm, trustedTimes } = s;
    const out: StepResult[] = [];
    const tsTokens = s.entity.timestamps.flatMap((t) => (t.$case === "timestamp-authority" ? [t.timestamp] : []));
    for (const [i, token] of tsTokens.entries()) {
      const label = tsTokens.length > 1 ? `${SIGSTORE_CHECKS.tsa} (${i + 1} of ${tsTokens.length})` : SIGSTORE_CHECKS.tsa;
      if (tm.timestampAuthorities.length === 0) return [...out, fail("unverified", label, "no timestamp authority in the trust material")];
      const by = tm.timestampAuthorities
        .map((ca, j) => ({ ca, name: opts.trust.tsaRoots[j]!.name }))
        .map(({ ca, name }) => {
          try {
            return { at: getTSATimestamp(token, s.entity.signature.signature, [ca]).timestamp, name };
          } catch {
            return null;
          }
        })
        .find((x) => x !== null);
      if (!by) return [...out, fail("unverified", label, "no trusted timestamp authority verifies the token over the signature")];
      if (by.at.getTime() > opts.now.getTime() + FUTURE_SKEW_MS)
        return [...out, fail("invalid", label, `the token's time ${by.at.toISOString()} is in the future`)];
      trustedTimes.push({ at: by.at, by: by.name });
      out.push(pass(label, `${by.name} at ${by.at.toISOString()}`));
    }
    const { timestamp } = s.thresholds;
    const tsDetail = `${trustedTimes.length} trusted (${trustedTimes.map((t) => `${t.at.toISOString()} by ${t.by}`).join("; ") || "none"}), ${timestamp} required`;
    if (trustedTimes.length < timestamp) return [...out, fail("unverified", SIGSTORE_CHECKS.timestampThreshold, tsDetail)];
    const first = trustedTimes[0];
    s.time = first
      ? { kind: "trusted", at: first.at.toISOString(), by: first.by }
      : {
          kind: "claimed",
          at: s.claimedTime ? s.claimedTime.toISOString() : null,
          by: s.claimedTime ? "transparency log entry, not vouched for by a trusted key" : "no timestamp in the bundle",
        };
    if (timestamp === 0 && trustedTimes.length === 0) return [...out, skip(SIGSTORE_CHECKS.timestampThreshold, "none required")];
    return [...out, pass(SIGSTORE_CHECKS.timestampThreshold, tsDetail)];
  },
};
