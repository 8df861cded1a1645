import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";
import { describe, expect, it } from "vitest";

const BUILTINS = new Set(builtinModules);

/** Bundles an entry for the browser and returns every Node builtin its module graph reaches, and every input file. */
async function browserGraph(entry: string): Promise<{ builtins: string[]; inputs: string[] }> {
  const builtins: string[] = [];
  const recordBuiltins: Plugin = {
    name: "record-node-builtins",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const bare = args.path.replace(/^node:/, "").split("/")[0]!;
        if (args.path.startsWith("node:") || BUILTINS.has(bare)) {
          builtins.push(`${args.path} (imported by ${args.importer.replace(/^.*\/lib\//, "lib/")})`);
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
  const r = await build({
    entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
    bundle: true,
    write: false,
    platform: "browser",
    format: "esm",
    metafile: true,
    logLevel: "silent",
    plugins: [recordBuiltins],
  });
  return { builtins, inputs: Object.keys(r.metafile.inputs) };
}

describe("the gate catalogue in the browser", () => {
  it("bundles for the browser without any node: builtin in its module graph (no node:crypto through lib/signing/trust)", async () => {
    const g = await browserGraph("./index.ts");
    expect(g.builtins).toEqual([]);
    // Every gate is in the graph, and of lib/signing only the pure identity matching.
    expect(g.inputs.filter((f) => f.includes("lib/policy/gates/")).length).toBeGreaterThanOrEqual(9);
    expect(g.inputs.filter((f) => f.includes("lib/signing/"))).toEqual([expect.stringMatching(/lib\/signing\/trust\/identities\.ts$/)]);
  });

  it("keeps the shared gate vocabulary free of runtime zod, for client components", async () => {
    const g = await browserGraph("./types.ts");
    expect(g.builtins).toEqual([]);
    expect(g.inputs.filter((f) => f.includes("node_modules"))).toEqual([]);
  });

  it("detects a node: builtin when one is reached (the check itself can fail)", async () => {
    const g = await browserGraph("../../signing/trust/judgement.ts");
    expect(g.builtins).toContainEqual(expect.stringMatching(/^node:crypto \(imported by lib\/signing\/trust\/judgement\.ts\)$/));
  });
});
