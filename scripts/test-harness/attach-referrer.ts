import type { RegistryClient } from "../../lib/oci/client";
import { sha256Digest, type Digest } from "../../lib/oci/digest";

/**
 * Attaches `docs` (CycloneDX documents) to `subject` as OCI 1.1 referrers, one artifact manifest each, with the
 * referrers-tag index a client writes on Distribution 2.8 (listing them all): what anyone with push access to the
 * repository can do.
 */
export async function attachReferrer(client: RegistryClient, repo: string, subject: Digest, subjectSize: number, docs: Buffer | Buffer[]): Promise<void> {
  const empty = Buffer.from("{}");
  await client.putBlob(repo, empty);
  const entries = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    await client.putBlob(repo, doc);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: "application/vnd.cyclonedx+json",
        config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256Digest(empty), size: 2 },
        layers: [{ mediaType: "application/vnd.cyclonedx+json", digest: sha256Digest(doc), size: doc.length }],
        subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: subject, size: subjectSize },
      }),
    );
    const md = sha256Digest(manifest);
    await client.putManifest(repo, md, manifest, "application/vnd.oci.image.manifest.v1+json");
    entries.push({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: md,
      size: manifest.length,
      artifactType: "application/vnd.cyclonedx+json",
    });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: entries }));
  await client.putManifest(repo, subject.replace(":", "-"), index, "application/vnd.oci.image.index.v1+json");
}
