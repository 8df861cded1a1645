// Test helper: an image whose findings gate holds until an advisory arrives. It has a clean Trivy scan and a CycloneDX
// SBOM with lodash 4.17.20, which the real OSV record GHSA-35jh-r3h4-6jhm (CVE-2021-23337, high) makes vulnerable once
// imported.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { db } from "../../lib/db";
import type { RegistryClient } from "../../lib/oci/client";
import type { Digest } from "../../lib/oci/digest";
import type { Actor } from "../../lib/server/actor";
import { ingestEvidence } from "../../lib/server/evidence/ingest-evidence";
import { syncRegistry } from "../../lib/server/images/sync-registry";
import { buildImage, pushImage } from "../lib/oci-build";

export const LODASH_ADVISORY = readFileSync("/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json");
export const LODASH_CVE = "CVE-2021-23337";

const sbom = (lodash: string) =>
  Buffer.from(
    JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.4",
      version: 1,
      serialNumber: `urn:uuid:${randomUUID()}`,
      components: [{ type: "library", name: "lodash", version: lodash, purl: `pkg:npm/lodash@${lodash}` }],
    }),
  );
const emptyScan = () => Buffer.from(JSON.stringify({ SchemaVersion: 2, ArtifactName: `x-${randomUUID()}`, ArtifactType: "container_image", Results: [] }));

/** Pushes a fresh image to `repo`, syncs registry "default" and attaches the clean scan and the lodash SBOM. */
export async function lodashImage(client: RegistryClient, actor: Actor, repo: string): Promise<{ imageId: string; digest: Digest; repo: string }> {
  const tag = randomUUID().slice(0, 8);
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${tag} ${Date.now()}` }] });
  await pushImage(client, repo, img, [`v-${tag}`]);
  await syncRegistry({ actor, registry: "default" });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  await ingestEvidence({ actor, imageId: row.id, bytes: emptyScan(), source: "upload" });
  await ingestEvidence({ actor, imageId: row.id, bytes: sbom("4.17.20"), source: "upload" });
  return { imageId: row.id, digest: img.digest as Digest, repo };
}
