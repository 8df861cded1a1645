import { request as httpRequest } from "node:http";
import { expect, test } from "@playwright/test";
import { base, bearer, pushOwnImage, query, syncNow } from "./helpers";

// Through real HTTP against the production server: bodies past the Next proxy's 10 MiB buffer reach the route
// intact, and a body past EVIDENCE_MAX_BYTES (default 256 MiB) is refused with 413 while it is still streaming.

test.setTimeout(300_000);

test("a 12 MiB CycloneDX SBOM of 40,000 components is accepted over HTTP", async ({ request }) => {
  const { digest } = await pushOwnImage("e2e/large-sbom", "large-sbom");
  await syncNow(request);
  const components = Array.from({ length: 40_000 }, (_, i) => ({
    type: "library",
    "bom-ref": `pkg:npm/large-component-number-${i}@1.${i % 100}.0`,
    name: `large-component-number-${i}`,
    version: `1.${i % 100}.0`,
    purl: `pkg:npm/large-component-number-${i}@1.${i % 100}.0`,
    licenses: [{ license: { id: "MIT" } }],
    properties: [
      { name: "syft:package:type", value: "npm" },
      { name: "syft:location:0:path", value: `/app/node_modules/large-component-number-${i}/package.json` },
    ],
  }));
  const body = Buffer.from(JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5", version: 1, components }));
  expect(body.byteLength).toBeGreaterThan(12 * 1024 * 1024);
  const res = await request.post(`${base()}/api/v1/images/e2e/large-sbom@${digest}/evidence?registry=default`, {
    headers: { ...bearer("dev@example.com"), "content-type": "application/json" },
    data: body,
    timeout: 240_000,
  });
  expect(res.status(), await res.text()).toBe(201);
  const doc = (await res.json()).document;
  expect(doc.componentCount).toBe(40_000);
  expect(doc.size).toBe(body.byteLength);
  const [row] = await query<{ n: string; size: number }>(
    "SELECT count(c.*)::text AS n, d.size FROM evidence_documents d JOIN components c ON c.document_id = d.id WHERE d.id = $1 GROUP BY d.size",
    [doc.id],
  );
  expect(row).toEqual({ n: "40000", size: body.byteLength });
});

test("a body past EVIDENCE_MAX_BYTES gets 413 while streaming, without the server reading it all", async ({ request }) => {
  const { digest } = await pushOwnImage("e2e/too-large", "too-large");
  await syncNow(request);
  const url = new URL(`${base()}/api/v1/images/e2e/too-large@${digest}/evidence?registry=default`);
  const cap = 256 * 1024 * 1024;
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  const result = await new Promise<{ status: number; body: string; sent: number }>((resolve, reject) => {
    let sent = 0;
    let done = false;
    // Chunked: no Content-Length, so only counting while streaming can refuse it.
    const req = httpRequest(url, { method: "POST", headers: { ...bearer("dev@example.com"), "content-type": "application/json" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        done = true;
        resolve({ status: res.statusCode ?? 0, body: text, sent });
        req.destroy();
      });
    });
    req.on("error", (e) => {
      if (!done) reject(e);
    });
    const pump = () => {
      while (!done && sent < cap * 2) {
        sent += chunk.byteLength;
        if (!req.write(chunk)) return void req.once("drain", pump);
      }
      if (!done) req.end();
    };
    pump();
  });
  expect(result.status).toBe(413);
  expect(JSON.parse(result.body).error.code).toBe("PAYLOAD_TOO_LARGE");
  // Refused once past the cap, long before the sender was done.
  expect(result.sent).toBeLessThan(cap * 2);
});
