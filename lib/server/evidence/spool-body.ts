import "server-only";
import { createHash, randomUUID } from "node:crypto";
import { lstat, mkdtemp, open, readdir, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "../../errors";

/**
 * Spooling of large request bodies to a private temp file (issue 17): a slow client sends its body into a file, not
 * into an open database transaction, so a few slow uploaders cannot hold the connection pool. The body is hashed
 * and size-capped as it arrives; only once it is whole does the caller open a transaction and stream from the file.
 *
 * Files live in one directory per process, `<os.tmpdir()>/imprimatur-spool-<pid>-<random>` (mode 0700, made by
 * mkdtemp), each created with O_EXCL and mode 0600 and deleted when the caller is done (dispose, in a `finally`).
 * A process that died mid-upload leaves its directory behind: sweepStaleSpools() removes it at the next start.
 */

const PREFIX = "imprimatur-spool-";
const READ_PIECE = 1 << 16;

// On globalThis, not in a module variable: Next may load this module once per route bundle, and a second copy
// must neither make a second directory nor sweep the first one as "this pid's leftover".
const g = globalThis as unknown as {
  __imprimaturSpoolDir?: Promise<string> | undefined;
  __imprimaturSpoolPath?: string;
  /** Bytes held by bodies being received right now, in memory or in the spool (see SpoolBodyOptions.budgetBytes). */
  __imprimaturSpoolHeld?: number;
};

/** This process's spool directory, created (after a sweep of dead processes' directories) on first use. */
export function spoolDirectory(): Promise<string> {
  g.__imprimaturSpoolDir ??= (async () => {
    await sweepStaleSpools();
    const path = await mkdtemp(join(/*turbopackIgnore: true*/ tmpdir(), `${PREFIX}${process.pid}-`));
    g.__imprimaturSpoolPath = path;
    return path;
  })().catch((e: unknown) => {
    g.__imprimaturSpoolDir = undefined;
    throw e;
  });
  return g.__imprimaturSpoolDir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes spool directories left by processes that are gone: a dead pid, this process's own pid (a previous
 * incarnation in a container, where pids repeat; this process has not made its own yet when it sweeps). A live
 * process's directory is never touched, whatever its age: it may be receiving a body right now. Called at startup
 * (instrumentation) and before the first spool. Returns what it removed.
 */
export async function sweepStaleSpools({ root = tmpdir() }: { root?: string } = {}): Promise<string[]> {
  const own = g.__imprimaturSpoolPath;
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(/*turbopackIgnore: true*/ root);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^imprimatur-spool-(\d+)-[A-Za-z0-9]+$/.exec(name);
    if (!m) continue;
    const path = join(/*turbopackIgnore: true*/ root, name);
    if (path === own) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && alive(pid)) continue;
    // Only a real directory of our own user (mkdtemp makes it 0700): never one someone else planted under a shared
    // /tmp, whose contents could be swapped for a symlink while we remove them.
    const st = await lstat(path).catch(() => null);
    if (!st?.isDirectory() || (process.getuid && st.uid !== process.getuid()) || (st.mode & 0o077) !== 0) continue;
    await rm(path, { recursive: true, force: true }).catch(() => {});
    removed.push(path);
  }
  return removed;
}

export interface SpooledBody {
  size: number;
  /** `sha256:<hex>` of every byte. */
  digest: string;
  /** The whole body when it fit in `memoryBytes` (no file was written), else null. */
  memory: Buffer | null;
  /** The spool file's path, when there is one (tests check its mode and that it is gone after dispose). */
  path: string | null;
  /**
   * The body again, from the file (or memory), in fresh buffers of up to `pieceBytes` (64 KiB unless given), each
   * owning its memory: the consumer may keep any of them as they are.
   */
  chunks(pieceBytes?: number): AsyncGenerator<Uint8Array>;
  /** Up to `n` first bytes. */
  prefix(n: number): Promise<Buffer>;
  /** The whole body as one buffer. */
  readAll(): Promise<Buffer>;
  /** Closes and deletes the file; safe to call more than once. */
  dispose(): Promise<void>;
}

export interface SpoolBodyOptions {
  body: AsyncIterable<Uint8Array>;
  /** Refused with 413 as soon as one more byte arrives. */
  maxBytes: number;
  /** A body up to this size stays in memory; a larger one goes to a file. */
  memoryBytes: number;
  /**
   * Bytes all bodies being spooled in this process may hold together (memory and files); past it, 429. Local to the
   * process on purpose: it guards this host's memory and disk, which other replicas do not share.
   */
  budgetBytes?: number;
}

/** Takes `n` bytes of the process's spool budget, or refuses the upload (429) when that would pass it. */
function holdBytes(n: number, budget: number): void {
  const held = g.__imprimaturSpoolHeld ?? 0;
  if (held + n > budget) {
    throw new AppError("RATE_LIMITED", `this server is receiving too many evidence uploads at once (${budget} bytes in flight); retry shortly`, "body");
  }
  g.__imprimaturSpoolHeld = held + n;
}

function releaseBytes(n: number): void {
  g.__imprimaturSpoolHeld = Math.max(0, (g.__imprimaturSpoolHeld ?? 0) - n);
}

/** Reads a body whole, to memory when small and to a private temp file when large. Disposes itself on refusal. */
export async function spoolBody({ body, maxBytes, memoryBytes, budgetBytes = Number.POSITIVE_INFINITY }: SpoolBodyOptions): Promise<SpooledBody> {
  const hash = createHash("sha256");
  let parts: Buffer[] = [];
  let size = 0;
  let file: { path: string; handle: FileHandle } | null = null;
  try {
    // Leaving the loop by throwing calls the iterator's return(), which cancels the request body.
    for await (const chunk of body) {
      if (size + chunk.byteLength > maxBytes) throw new AppError("PAYLOAD_TOO_LARGE", `body exceeds the ${maxBytes}-byte limit`, "body");
      holdBytes(chunk.byteLength, budgetBytes);
      size += chunk.byteLength;
      hash.update(chunk);
      if (!file) {
        parts.push(Buffer.from(chunk));
        if (size <= memoryBytes) continue;
        file = await createSpoolFile();
        const held = Buffer.concat(parts, size);
        parts = [];
        await writeAll(file.handle, held);
      } else await writeAll(file.handle, chunk);
    }
  } catch (e) {
    releaseBytes(size);
    if (file) await removeFile(file);
    throw e;
  }
  const digest = `sha256:${hash.digest("hex")}`;
  if (!file) return memorySpool(Buffer.concat(parts, size), digest);
  return fileSpool(file, size, digest);
}

/** The spool file, in this process's directory; made again once if the directory was removed under us (tmp cleaners). */
async function createSpoolFile(): Promise<{ path: string; handle: FileHandle }> {
  try {
    return await openSpoolFile();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    g.__imprimaturSpoolDir = undefined;
    return openSpoolFile();
  }
}

async function openSpoolFile(): Promise<{ path: string; handle: FileHandle }> {
  const path = join(/*turbopackIgnore: true*/ await spoolDirectory(), `${randomUUID()}.body`);
  // "wx+": O_CREAT | O_EXCL | O_RDWR, so an existing file (or a planted symlink) is never opened.
  const handle = await open(path, "wx+", 0o600);
  return { path, handle };
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, off, bytes.byteLength - off);
    off += bytesWritten;
  }
}

async function removeFile(file: { path: string; handle: FileHandle }): Promise<void> {
  await file.handle.close().catch(() => {});
  await rm(file.path, { force: true }).catch(() => {});
}

function memorySpool(bytes: Buffer, digest: string): SpooledBody {
  let disposed = false;
  return {
    size: bytes.byteLength,
    digest,
    memory: bytes,
    path: null,
    async *chunks(piece = READ_PIECE) {
      for (let i = 0; i < bytes.length; i += piece) yield Buffer.from(bytes.subarray(i, i + piece));
    },
    prefix: async (n) => bytes.subarray(0, n),
    readAll: async () => bytes,
    dispose: async () => {
      if (disposed) return;
      disposed = true;
      releaseBytes(bytes.byteLength);
    },
  };
}

function fileSpool(file: { path: string; handle: FileHandle }, size: number, digest: string): SpooledBody {
  const { handle } = file;
  let disposed = false;
  const readAt = async (position: number, length: number): Promise<Buffer> => {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await handle.read(buf, got, length - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === length ? buf : buf.subarray(0, got);
  };
  return {
    size,
    digest,
    memory: null,
    path: file.path,
    async *chunks(piece = READ_PIECE) {
      // A fresh buffer per piece: the consumer may keep one (a raw chunk being gathered) while the next is read.
      for (let pos = 0; pos < size; pos += piece) yield await readAt(pos, Math.min(piece, size - pos));
    },
    prefix: (n) => readAt(0, Math.min(n, size)),
    readAll: () => readAt(0, size),
    dispose: async () => {
      if (disposed) return;
      disposed = true;
      releaseBytes(size);
      await removeFile(file);
    },
  };
}
