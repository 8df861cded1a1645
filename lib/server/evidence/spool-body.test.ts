import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AppError } from "../../errors";
import { spoolBody, spoolDirectory, sweepStaleSpools } from "./spool-body";

async function* pieces(bytes: Buffer, size = 1000): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}

describe("spoolBody", () => {
  it("keeps a body up to memoryBytes in memory, with its digest, and writes no file", async () => {
    const body = randomBytes(5000);
    const s = await spoolBody({ body: pieces(body), maxBytes: 10_000, memoryBytes: 5000 });
    expect(s.path).toBeNull();
    expect(s.memory?.equals(body)).toBe(true);
    expect(s.digest).toBe(sha(body));
    expect((await collect(s.chunks())).equals(body)).toBe(true);
  });

  it("writes a larger body to a 0600 file in the process's 0700 directory, reads it back byte for byte, and deletes it on dispose", async () => {
    const body = randomBytes(300_000);
    const s = await spoolBody({ body: pieces(body, 7777), maxBytes: 1 << 20, memoryBytes: 10_000 });
    try {
      expect(s.memory).toBeNull();
      expect(s.size).toBe(body.length);
      expect(s.digest).toBe(sha(body));
      const dir = await spoolDirectory();
      expect(s.path?.startsWith(`${dir}/`)).toBe(true);
      expect(dir.startsWith(join(tmpdir(), `imprimatur-spool-${process.pid}-`))).toBe(true);
      expect((await stat(s.path!)).mode & 0o777).toBe(0o600);
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
      expect((await collect(s.chunks())).equals(body)).toBe(true);
      expect((await s.prefix(1234)).equals(body.subarray(0, 1234))).toBe(true);
      expect((await s.readAll()).equals(body)).toBe(true);
    } finally {
      await s.dispose();
    }
    await expect(stat(s.path!)).rejects.toMatchObject({ code: "ENOENT" });
    await s.dispose();
  });

  it("refuses a body past maxBytes with 413 naming the body, and leaves no file", async () => {
    const dir = await spoolDirectory();
    const before = await readdir(dir);
    const e = await spoolBody({ body: pieces(randomBytes(50_000)), maxBytes: 40_000, memoryBytes: 10_000 }).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(AppError);
    expect(e).toMatchObject({ code: "PAYLOAD_TOO_LARGE", field: "body" });
    expect(await readdir(dir)).toEqual(before);
  });
});

describe("sweepStaleSpools", () => {
  it("refuses with 429 a body that would pass the process's spool budget, and frees the budget on dispose and on refusal", async () => {
    const held = await spoolBody({ body: pieces(randomBytes(30_000)), maxBytes: 1 << 20, memoryBytes: 10_000, budgetBytes: 50_000 });
    const refused = await spoolBody({ body: pieces(randomBytes(30_000)), maxBytes: 1 << 20, memoryBytes: 10_000, budgetBytes: 50_000 }).then(
      () => null,
      (x: unknown) => x,
    );
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: "RATE_LIMITED", field: "body" });
    // The refused body's bytes were given back: a small one still fits beside the held one.
    const small = await spoolBody({ body: pieces(randomBytes(15_000)), maxBytes: 1 << 20, memoryBytes: 10_000, budgetBytes: 50_000 });
    await small.dispose();
    await held.dispose();
    const again = await spoolBody({ body: pieces(randomBytes(45_000)), maxBytes: 1 << 20, memoryBytes: 10_000, budgetBytes: 50_000 });
    expect(again.size).toBe(45_000);
    await again.dispose();
  });

  it("makes its directory again when a tmp cleaner removed it", async () => {
    const first = await spoolDirectory();
    await rm(first, { recursive: true, force: true });
    const body = randomBytes(20_000);
    const s = await spoolBody({ body: pieces(body), maxBytes: 1 << 20, memoryBytes: 1000 });
    try {
      expect((await s.readAll()).equals(body)).toBe(true);
      expect(s.path?.startsWith(`${first}/`)).toBe(false);
    } finally {
      await s.dispose();
    }
  });

  it("removes directories of dead processes and of an earlier process with this pid, and keeps live processes' directories", async () => {
    const root = join(tmpdir(), `spool-sweep-test-${process.pid}-${Date.now()}`);
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    const mk = async (name: string, mode = 0o700) => {
      await mkdir(root, { recursive: true });
      await mkdir(join(root, name), { mode });
      await writeFile(join(root, name, "x.body"), "left over");
      return join(root, name);
    };
    try {
      const deadDir = await mk(`imprimatur-spool-${dead}-abc123`);
      const ownPidOldDir = await mk(`imprimatur-spool-${process.pid}-old111`);
      const liveDir = await mk(`imprimatur-spool-${process.ppid}-def456`);
      const other = await mk("imprimatur-spool-not-ours");
      // Named like a dead process's spool but open to others: not one mkdtemp made for us (planted under a shared /tmp).
      const planted = await mk(`imprimatur-spool-${dead}-planted9`, 0o755);
      const removed = await sweepStaleSpools({ root });
      expect(removed.sort()).toEqual([deadDir, ownPidOldDir].sort());
      expect((await readdir(root)).sort()).toEqual([liveDir, other, planted].map((p) => p.slice(root.length + 1)).sort());
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
