import type { RegistryClient } from "../../lib/oci/client";
import { sha256Digest, type Digest } from "../../lib/oci/digest";

/**
 * Attaches `doc` (a CycloneDX document) to `subject` as an OCI 1.1 referrer, with the referrers-tag index a client
 * writes on Distribution 2.8: what anyone with push access to the repository can do.
 */
export async function attachReferrer(client: RegistryClient, repo: string, subject: Digest, subjectSize: number, doc: Buffer): Promise<void> {
  const empty = Buffer.from("{}");
  await client.putBlob(repo, doc);
  await client.putBlob(repo, empty);
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
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: md, size: manifest.length, artifactType: "application/vnd.cyclonedx+json" },
      ],
    }),
  );
  await client.putManifest(repo, subject.replace(":", "-"), index, "application/vnd.oci.image.index.v1+json");
}
