// The image page's sections (server components): each takes the image as getImage returns it.
import type { ImageDetail } from "@/lib/server/images/get-image";
import { imagePath } from "@/lib/server/http/image-ref";
import { RevokeApprovalButton } from "@/components/promotion/revoke-approval-button";
import { DigestChip } from "@/components/digest-chip";
import { StageBadge } from "@/components/badges";
import { AtRiskList } from "@/components/at-risk";
import { SignatureCard } from "@/components/signature-chain";

function prettyJson(raw: string) {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}

function bytes(n: number) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Registry, repository, digest, tags and size; deleted and tag-moved banners; the index a platform belongs to. */
export function ImageHeader({ image, canDownloadPack }: { image: ImageDetail; canDownloadPack: boolean }) {
  return (
    <div>
      <p className="font-mono text-sm text-slate-500">{image.registry}</p>
      <h1 className="flex flex-wrap items-center gap-3 text-2xl font-semibold">
        <span className="font-mono">{image.repository}</span>
        <DigestChip digest={image.digest} />
      </h1>
      <p className="mt-1 break-all font-mono text-xs text-slate-500" data-testid="full-digest">
        {image.digest}
      </p>
      <div className="mt-2 flex flex-wrap gap-2 text-xs">
        {image.tags.map((t) => (
          <span key={t.name} className="rounded bg-sky-50 px-1.5 py-0.5 font-mono text-sky-800">
            {t.name}
          </span>
        ))}
        <span className="text-slate-500">{image.mediaType}</span>
        <span className="text-slate-500">· {bytes(image.size)}</span>
        {image.platform && <span className="text-slate-500">· {image.platform}</span>}
        {image.configCreated && (
          <span className="text-slate-500">· built {new Date(image.configCreated).toLocaleString("en-GB", { timeZone: "UTC" })} UTC</span>
        )}
        {canDownloadPack && (
          <a
            data-testid="evidence-pack"
            className="text-sky-700 hover:underline"
            href={`/api/v1/images/${image.repository}@${image.digest}/evidence-pack?registry=${encodeURIComponent(image.registry)}`}
          >
            · download evidence pack
          </a>
        )}
      </div>
      {image.deletedAt && (
        <p role="status" className="mt-2 rounded bg-rose-50 px-3 py-2 text-sm text-rose-800" data-testid="deleted-banner">
          Deleted from the registry (confirmed by a HEAD by digest on {new Date(image.deletedAt).toLocaleString("en-GB", { timeZone: "UTC" })} UTC). Its history
          and approvals are kept.
        </p>
      )}
      {image.tagHistory
        .filter((e) => e.movedAfterApproval)
        .map((e) => (
          <p key={`${e.tag}-${e.seenAt}`} role="status" className="mt-2 rounded bg-amber-50 px-3 py-2 text-sm text-amber-900" data-testid="tag-moved-warning">
            ⚠ Tag <span className="font-mono">{e.tag}</span> moved away from this approved digest on{" "}
            {new Date(e.seenAt).toLocaleString("en-GB", { timeZone: "UTC" })} UTC
            {e.to ? (
              <>
                {" "}
                and now points to{" "}
                <a className="font-mono underline" href={imagePath(image.repository, e.to, image.registry)}>
                  {e.to.slice(0, 19)}
                </a>
              </>
            ) : (
              " (the tag was deleted)"
            )}
            . A tag is not an approval.
          </p>
        ))}
      {image.parentDigest && (
        <p className="mt-2 text-sm text-slate-700">
          Platform manifest of index{" "}
          <a className="font-mono text-sky-700 hover:underline" href={imagePath(image.repository, image.parentDigest)}>
            {image.parentDigest.slice(0, 19)}
          </a>
          ; approvals of the index cover it.
        </p>
      )}
    </div>
  );
}

/** Each stage's state for this digest (or for the index whose signature covers it), with what puts it at risk. */
export function StagesSection({ image }: { image: ImageDetail }) {
  return (
    <section aria-labelledby="stages-h">
      <h2 id="stages-h" className="mb-2 text-lg font-semibold">
        Stages
      </h2>
      <div className="grid gap-3 sm:grid-cols-3">
        {(image.coveredBy?.stages ?? image.stages).map((s) => (
          <div key={s.stage} className="rounded-lg border border-slate-200 bg-white p-3" data-testid={`stage-${s.stage}`}>
            <div className="flex items-center justify-between">
              <span className="font-medium">{s.stage}</span>
              <StageBadge state={s.state} />
            </div>
            <p className="mt-1 text-xs text-slate-500">
              {s.detail}
              {s.approver ? ` · ${s.approver}` : ""}
              {s.approvedAt ? ` · ${new Date(s.approvedAt).toLocaleString("en-GB", { timeZone: "UTC" })} UTC` : ""}
            </p>
            {s.atRisk && (
              <div className="mt-2">
                <AtRiskList risks={[{ stage: s.stage, ...s.atRisk }]} />
              </div>
            )}
          </div>
        ))}
      </div>
      {image.coveredBy && (
        <p className="mt-2 text-xs text-slate-500">Shown for the index {image.coveredBy.indexDigest.slice(0, 19)}, whose signature covers this platform.</p>
      )}
    </section>
  );
}

/** The base image's signatures, then every signature on this digest with its checks, in chain order. */
export function SignatureChainSection({ image }: { image: ImageDetail }) {
  return (
    <section aria-labelledby="sigs-h">
      <h2 id="sigs-h" className="mb-2 text-lg font-semibold">
        Signature chain
      </h2>
      <p className="mb-2 text-xs text-slate-500">
        Every signature on this digest (cosign <span className="font-mono">.sig</span> layers, Sigstore bundles and Notation signatures attached as referrers),
        publisher first, then the team, then each stage; each with its checks in order
        {image.sigCheckedAt ? `, checked ${new Date(image.sigCheckedAt).toLocaleString("en-GB", { timeZone: "UTC" })} UTC` : ""}.
      </p>
      {image.base && (
        <div className="mb-3 rounded-lg border border-slate-200 bg-slate-50 p-3" data-testid="base-image">
          <p className="text-sm">
            Base image{" "}
            {image.base.inInventory && image.base.repository && image.base.digest ? (
              <a
                className="font-mono text-sky-700 hover:underline"
                href={imagePath(image.base.repository, image.base.digest, image.base.registry ?? undefined)}
              >
                {image.base.name ?? `${image.base.repository}@${image.base.digest.slice(0, 19)}`}
              </a>
            ) : (
              <span className="font-mono">{image.base.name ?? image.base.digest}</span>
            )}
            {image.base.digest && <span className="ml-1 font-mono text-xs text-slate-500">{image.base.digest.slice(0, 19)}…</span>}
          </p>
          {!image.base.inInventory && <p className="mt-1 text-xs text-slate-500">{image.base.detail}</p>}
          {image.base.layersProven === false && (
            <p className="mt-1 text-xs font-medium text-rose-700" data-testid="base-not-proven">
              {image.base.detail}; its signatures below do not vouch for this image.
            </p>
          )}
          {image.base.inInventory && image.base.signatures.length === 0 && <p className="mt-1 text-xs text-slate-500">The base image carries no signature.</p>}
          {image.base.signatures.length > 0 && (
            <ol className="mt-2 space-y-2">
              {image.base.signatures.map((s) => (
                <SignatureCard key={s.layerDigest} s={s} />
              ))}
            </ol>
          )}
        </div>
      )}
      {image.signatureRun?.detail && (
        <p role="status" className="mb-2 rounded bg-amber-50 px-3 py-2 text-sm text-amber-900" data-testid="signatures-not-tried">
          {image.signatureRun.detail}.
        </p>
      )}
      {image.signatures.length === 0 && <p className="rounded border border-dashed border-slate-300 p-4 text-sm text-slate-500">No signatures.</p>}
      <ol className="space-y-3" data-testid="signature-chain">
        {image.signatures.map((s) => (
          <SignatureCard key={s.layerDigest} s={s} />
        ))}
      </ol>
    </section>
  );
}

/** The stage approvals: who, status or revocation, the key (and its compromise), the trusted time. */
export function ApprovalsTable({ image }: { image: ImageDetail }) {
  return (
    <section aria-labelledby="appr-h">
      <h2 id="appr-h" className="mb-2 text-lg font-semibold">
        Approvals
      </h2>
      <table className="w-full overflow-hidden rounded-lg border border-slate-200 bg-white text-sm">
        <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
          <tr>
            <th className="px-3 py-2">Stage</th>
            <th className="px-3 py-2">Approver</th>
            <th className="px-3 py-2">Comment</th>
            <th className="px-3 py-2">Status</th>
            <th className="px-3 py-2">Key</th>
            <th className="px-3 py-2">Trusted time (UTC)</th>
            <th className="px-3 py-2"></th>
          </tr>
        </thead>
        <tbody>
          {image.approvals.map((a) => (
            <tr key={a.id} className="border-t border-slate-100" data-testid="approval">
              <td className="px-3 py-2">{a.stage}</td>
              <td className="px-3 py-2">{a.approver}</td>
              <td className="px-3 py-2">{a.comment}</td>
              <td className="px-3 py-2">
                {a.revocation ? (
                  <span className="text-rose-700" data-testid="approval-revoked">
                    revoked {new Date(a.revocation.revokedAt).toLocaleString("en-GB", { timeZone: "UTC" })} UTC by {a.revocation.revokedBy}:{" "}
                    {a.revocation.reason}
                    {a.revocation.state === "pending"
                      ? ` (registry removal pending${a.revocation.error ? `: ${a.revocation.error}` : ""}; verify already denies)`
                      : ""}
                  </span>
                ) : a.status === "signed" ? (
                  "signed"
                ) : (
                  <span className="text-sky-700" title={a.lastError ?? ""}>
                    signing{a.lastError ? ` (retrying: ${a.lastError})` : ""}
                  </span>
                )}
              </td>
              <td className="px-3 py-2 font-mono text-xs">
                {a.key.name}
                {a.keyCompromise && (
                  <p className={`mt-1 font-sans ${a.keyCompromise.madeBefore ? "text-emerald-700" : "text-rose-700"}`} data-testid="key-compromise">
                    {a.keyCompromise.explanation}
                  </p>
                )}
              </td>
              <td className="px-3 py-2 text-xs" data-testid="approval-time">
                {new Date(a.trustedTime.at).toLocaleString("en-GB", { timeZone: "UTC" })}
                <span className="block text-slate-500">
                  {a.trustedTime.by === "tsa" ? `trusted: ${a.trustedTime.tsa ?? "TSA"} (RFC 3161)` : "trusted: Imprimatur's record"}
                </span>
              </td>
              <td className="px-3 py-2">
                {image.canRevoke && !a.revocation && (
                  <RevokeApprovalButton approvalId={a.id} stage={a.stage} repository={image.repository} digest={image.digest} />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Signatures, attestations and other artifacts attached to the digest, and how each was found. */
export function AccessoriesTable({ image }: { image: ImageDetail }) {
  return (
    <section aria-labelledby="acc-h">
      <h2 id="acc-h" className="mb-2 text-lg font-semibold">
        Accessories
      </h2>
      <table className="w-full rounded-lg border border-slate-200 bg-white text-sm" data-testid="accessories">
        <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
          <tr>
            <th className="px-3 py-2">Kind</th>
            <th className="px-3 py-2">Type</th>
            <th className="px-3 py-2">Digest</th>
            <th className="px-3 py-2">Found through</th>
            <th className="px-3 py-2">Size</th>
          </tr>
        </thead>
        <tbody>
          {image.artifacts.map((a) => (
            <tr key={a.digest} className="border-t border-slate-100">
              <td className="px-3 py-2 font-medium">{a.kind}</td>
              <td className="px-3 py-2 font-mono text-xs break-all">{a.predicateType ?? a.artifactType ?? a.mediaType}</td>
              <td className="px-3 py-2">
                <DigestChip digest={a.digest} />
              </td>
              <td className="px-3 py-2 text-xs">
                {a.source === "referrers-api" ? "OCI referrers API" : a.source === "referrers-tag" ? "referrers tag schema" : "cosign tag"}
              </td>
              <td className="px-3 py-2 text-xs">{bytes(a.size)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Every observed move of a tag onto or away from this digest. */
export function TagHistoryTable({ image }: { image: ImageDetail }) {
  return (
    <section aria-labelledby="tags-h">
      <h2 id="tags-h" className="mb-2 text-lg font-semibold">
        Tag history
      </h2>
      <table className="w-full rounded-lg border border-slate-200 bg-white text-sm" data-testid="tag-history">
        <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
          <tr>
            <th className="px-3 py-2">Seen (UTC)</th>
            <th className="px-3 py-2">Tag</th>
            <th className="px-3 py-2">From</th>
            <th className="px-3 py-2">To</th>
          </tr>
        </thead>
        <tbody>
          {image.tagHistory.map((e) => (
            <tr key={`${e.tag}-${e.seenAt}-${e.from}`} className="border-t border-slate-100">
              <td className="px-3 py-2 text-xs">{new Date(e.seenAt).toLocaleString("en-GB", { timeZone: "UTC" })}</td>
              <td className="px-3 py-2 font-mono text-xs">{e.tag}</td>
              <td className="px-3 py-2 font-mono text-xs">{e.from ? (e.from === image.digest ? "this digest" : e.from.slice(0, 19)) : "(new tag)"}</td>
              <td className="px-3 py-2 font-mono text-xs">{e.to ? (e.to === image.digest ? "this digest" : e.to.slice(0, 19)) : "(tag deleted)"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** The manifest (config and layers) or the index's platforms, labels, annotations and the raw document. */
export function ManifestSection({ image }: { image: ImageDetail }) {
  return (
    <section aria-labelledby="man-h">
      <h2 id="man-h" className="mb-2 text-lg font-semibold">
        {image.manifest.kind === "index" ? "Platforms" : "Manifest"}
      </h2>
      {image.manifest.kind === "unknown" ? (
        <p className="rounded-lg border border-amber-200 bg-amber-50 p-4 text-sm text-amber-900">
          Unknown media type <span className="font-mono">{image.mediaType}</span>: kept as the registry served it (see the raw document below).
        </p>
      ) : image.manifest.kind === "index" ? (
        <table className="w-full rounded-lg border border-slate-200 bg-white text-sm" data-testid="platforms">
          <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
            <tr>
              <th className="px-3 py-2">Platform</th>
              <th className="px-3 py-2">Digest</th>
              <th className="px-3 py-2">Size</th>
              <th className="px-3 py-2">Covered by</th>
            </tr>
          </thead>
          <tbody>
            {image.manifest.platforms.map((p) => (
              <tr key={p.digest} className="border-t border-slate-100">
                <td className="px-3 py-2">
                  {p.os}/{p.architecture}
                  {p.variant ? `/${p.variant}` : ""}
                </td>
                <td className="px-3 py-2">
                  <DigestChip digest={p.digest} href={imagePath(image.repository, p.digest)} />
                </td>
                <td className="px-3 py-2 text-xs">{bytes(p.size)}</td>
                <td className="px-3 py-2 text-xs">{image.currentStage ? `stage ${image.currentStage} (index signature)` : "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div className="space-y-2 rounded-lg border border-slate-200 bg-white p-4 text-sm">
          <p>
            Config <span className="font-mono text-xs">{image.manifest.config.mediaType}</span> <DigestChip digest={image.manifest.config.digest} />{" "}
            {bytes(image.manifest.config.size)}
          </p>
          <table className="w-full text-sm">
            <thead className="text-left text-xs uppercase text-slate-500">
              <tr>
                <th className="py-1">Layer</th>
                <th className="py-1">Media type</th>
                <th className="py-1">Size</th>
              </tr>
            </thead>
            <tbody>
              {image.manifest.layers.map((l, i) => (
                <tr key={`${l.digest}-${i}`} className="border-t border-slate-100">
                  <td className="py-1">
                    <DigestChip digest={l.digest} />
                  </td>
                  <td className="py-1 font-mono text-xs">{l.mediaType}</td>
                  <td className="py-1 text-xs">{bytes(l.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {Object.keys(image.labels).length > 0 && (
        <div className="mt-3 rounded-lg border border-slate-200 bg-white p-4 text-xs" data-testid="labels">
          <h3 className="mb-1 font-semibold text-slate-600">Config labels</h3>
          <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1">
            {Object.entries(image.labels).map(([k, v]) => (
              <div key={k} className="contents">
                <dt className="font-mono text-slate-500">{k}</dt>
                <dd className="break-all font-mono">{String(v)}</dd>
              </div>
            ))}
          </dl>
        </div>
      )}
      {image.unreadable.length > 0 && (
        <p className="mt-3 rounded border border-amber-300 bg-amber-50 p-2 text-xs text-amber-900" data-testid="unreadable-columns">
          Not shown, stored in a shape this version cannot read: {image.unreadable.join(", ")}
        </p>
      )}
      {Object.keys(image.manifest.annotations).length > 0 && (
        <dl className="mt-3 grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 rounded-lg border border-slate-200 bg-white p-4 text-xs">
          {Object.entries(image.manifest.annotations).map(([k, v]) => (
            <div key={k} className="contents">
              <dt className="font-mono text-slate-500">{k}</dt>
              <dd className="break-all font-mono">{String(v)}</dd>
            </div>
          ))}
        </dl>
      )}
      <details className="mt-3">
        <summary className="cursor-pointer text-sm text-slate-600">Raw manifest</summary>
        <pre className="mt-2 overflow-x-auto rounded bg-slate-900 p-3 text-xs text-slate-100">{prettyJson(image.rawManifest)}</pre>
      </details>
    </section>
  );
}
