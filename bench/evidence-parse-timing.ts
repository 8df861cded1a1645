/**
 * A local timing check, not a test: `npx tsx lib/evidence/parse-timing.ts`.
 * Builds Syft-shaped CycloneDX SBOMs (each component with a purl, a CPE, a license and 15 properties, as Syft
 * writes them) and prints how long parseEvidence takes against JSON.parse alone on the same bytes.
 */
import { performance } from "node:perf_hooks";
import { parseEvidence } from "../lib/evidence/detect";

function sbom(n: number): Buffer {
  const components = Array.from({ length: n }, (_, i) => {
    const name = `package-${i}`;
    const version = `${i % 7}.${i % 13}.${i % 101}-r${i % 5}`;
    const purl = `pkg:apk/alpine/${name}@${version}?arch=x86_64&upstream=${name}&distro=alpine-3.16.2`;
    return {
      "bom-ref": `${purl}&package-id=${i.toString(16)}`,
      type: "library",
      publisher: "Natanael Copa <ncopa@alpinelinux.org>",
      name,
      version,
      description: "A package of the synthetic timing SBOM",
      licenses: [{ license: { id: "GPL-2.0-only" } }],
      cpe: `cpe:2.3:a:${name}:${name}:${version}:*:*:*:*:*:*:*`,
      purl,
      externalReferences: [{ url: `https://git.alpinelinux.org/cgit/aports/tree/main/${name}`, type: "distribution" }],
      properties: [
        { name: "syft:package:foundBy", value: "apkdb-cataloger" },
        { name: "syft:package:metadataType", value: "ApkMetadata" },
        { name: "syft:package:type", value: "apk" },
        ...Array.from({ length: 5 }, (_, k) => ({ name: "syft:cpe23", value: `cpe:2.3:a:${name}${k}:${name}:${version}:*:*:*:*:*:*:*` })),
        { name: "syft:location:0:layerID", value: "sha256:994393dc58e7931862558d06e46aa2bb17487044f670f310dffe1d24e4d1eec7" },
        { name: "syft:location:0:path", value: "/lib/apk/db/installed" },
        { name: "syft:metadata:gitCommitOfApkPort", value: "cb70ca5c6d6db0399d2dd09189c5d57827bce5cd" },
        { name: "syft:metadata:installedSize", value: "348160" },
        { name: "syft:metadata:originPackage", value: name },
        { name: "syft:metadata:pullChecksum", value: "Q1l6/nM0K+cyVdqNfgkp1/c6Ylzk0=" },
        { name: "syft:metadata:size", value: "11126" },
      ],
    };
  });
  const doc = {
    bomFormat: "CycloneDX",
    specVersion: "1.4",
    serialNumber: "urn:uuid:90630c1e-1df2-4d35-85fa-a4e8ebd22d70",
    version: 1,
    metadata: {
      timestamp: "2022-10-07T10:41:07-04:00",
      tools: [{ vendor: "anchore", name: "syft", version: "0.58.0" }],
      component: {
        "bom-ref": "685d54d5e8f71d2f",
        type: "container",
        name: "alpine:latest",
        version: "sha256:cbaa390ec61abd889dfa5146a411c11717c19ef9e5e18458dbdc06439076ffe7",
      },
    },
    components,
  };
  return Buffer.from(JSON.stringify(doc));
}

function best(runs: number, f: () => void): number {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    f();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

for (const n of [10_000, 100_000]) {
  const buf = sbom(n);
  const runs = n > 10_000 ? 2 : 5;
  const jsonOnly = best(runs, () => JSON.parse(buf.toString("utf8")));
  let count = 0;
  const full = best(runs, () => {
    count = parseEvidence(buf).components.length;
  });
  console.log(
    `${n.toLocaleString("en")} components, ${(buf.length / 1e6).toFixed(1)} MB: parseEvidence ${full.toFixed(0)} ms ` +
      `(JSON.parse alone ${jsonOnly.toFixed(0)} ms, ratio ${(full / jsonOnly).toFixed(1)}x), ${count} components`,
  );
}
