/**
 * A small, defensive ZIP reader for advisory archives (osv.dev's per-ecosystem all.zip): every limit is checked
 * against the central directory before anything is inflated, and again while inflating, so a zip bomb, an
 * archive of 100,000 tiny files or a lying size field is refused without buffering what it claims.
 * Supports stored and deflated entries; refuses encryption, ZIP64 and anything it does not understand.
 */
import { crc32, inflateRawSync } from "node:zlib";

export interface ZipLimits {
  /** Most entries (files and directories) in the archive. */
  maxEntries: number;
  /** Most bytes all entries may inflate to, together. */
  maxTotalBytes: number;
  /** Most bytes one entry may inflate to. */
  maxEntryBytes: number;
  /** Largest inflated/compressed ratio of one entry (deflate tops out near 1032:1; JSON is ~10:1). */
  maxRatio: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = { maxEntries: 50_000, maxTotalBytes: 512 * 1024 * 1024, maxEntryBytes: 8 * 1024 * 1024, maxRatio: 200 };

export type ZipErrorCode = "NOT_A_ZIP" | "UNSUPPORTED" | "TOO_MANY_ENTRIES" | "TOO_LARGE" | "BOMB" | "CORRUPT";

export class ZipError extends Error {
  constructor(
    readonly code: ZipErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ZipError";
  }
}

export interface ZipEntry {
  name: string;
  data: Buffer;
}

const EOCD = 0x06054b50;
const CEN = 0x02014b50;
const LOC = 0x04034b50;

export function looksLikeZip(b: Buffer): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5) && (b[3] === 4 || b[3] === 6);
}

function findEocd(b: Buffer): number {
  // The EOCD record is 22 bytes plus a comment of at most 65,535.
  const min = Math.max(0, b.length - 22 - 0xffff);
  for (let i = b.length - 22; i >= min; i--) if (b.readUInt32LE(i) === EOCD) return i;
  return -1;
}

interface CentralEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressed: number;
  size: number;
  localOffset: number;
}

/**
 * Reads the central directory and checks every limit on what it declares. Declared sizes are then enforced while
 * inflating (an entry that inflates past its declared size is refused), so a lie cannot get past the limits.
 */
function centralDirectory(b: Buffer, limits: ZipLimits, want: (name: string) => boolean): CentralEntry[] {
  const eocd = findEocd(b);
  if (eocd < 0) throw new ZipError("NOT_A_ZIP", "not a ZIP archive (no end-of-central-directory record)");
  const disk = b.readUInt16LE(eocd + 4);
  const count = b.readUInt16LE(eocd + 10);
  const cdSize = b.readUInt32LE(eocd + 12);
  const cdOffset = b.readUInt32LE(eocd + 16);
  if (disk !== 0) throw new ZipError("UNSUPPORTED", "multi-part ZIP archives are not supported");
  if (count === 0xffff && limits.maxEntries < 0xffff)
    throw new ZipError("TOO_MANY_ENTRIES", `the archive has 65,535 or more entries (ZIP64); at most ${limits.maxEntries} are accepted`);
  if (count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff)
    throw new ZipError("UNSUPPORTED", "ZIP64 archives are not supported (more than 65,535 entries or 4 GiB)");
  if (count > limits.maxEntries) throw new ZipError("TOO_MANY_ENTRIES", `the archive has ${count} entries; at most ${limits.maxEntries} are accepted`);
  if (cdOffset + cdSize > eocd) throw new ZipError("CORRUPT", "the central directory lies outside the archive");
  const out: CentralEntry[] = [];
  let p = cdOffset;
  let total = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > eocd || b.readUInt32LE(p) !== CEN) throw new ZipError("CORRUPT", `central directory entry ${n} is damaged`);
    const flags = b.readUInt16LE(p + 8);
    const method = b.readUInt16LE(p + 10);
    const crc = b.readUInt32LE(p + 16);
    const compressed = b.readUInt32LE(p + 20);
    const size = b.readUInt32LE(p + 24);
    const nameLen = b.readUInt16LE(p + 28);
    const extraLen = b.readUInt16LE(p + 30);
    const commentLen = b.readUInt16LE(p + 32);
    const localOffset = b.readUInt32LE(p + 42);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > eocd) throw new ZipError("CORRUPT", `central directory entry ${n} runs past the directory`);
    const name = b.subarray(p + 46, p + 46 + nameLen).toString("utf8");
    p = end;
    if (compressed === 0xffffffff || size === 0xffffffff || localOffset === 0xffffffff) throw new ZipError("UNSUPPORTED", "ZIP64 entries are not supported");
    if (name.endsWith("/") || !want(name)) continue;
    if (flags & 0x1) throw new ZipError("UNSUPPORTED", `${name.slice(0, 200)} is encrypted`);
    if (method !== 0 && method !== 8)
      throw new ZipError("UNSUPPORTED", `${name.slice(0, 200)} uses compression method ${method}; only stored and deflate are supported`);
    if (size > limits.maxEntryBytes)
      throw new ZipError("TOO_LARGE", `${name.slice(0, 200)} inflates to ${size} bytes; at most ${limits.maxEntryBytes} per entry`);
    if (size > Math.max(compressed, 1) * limits.maxRatio && size > 64 * 1024)
      throw new ZipError(
        "BOMB",
        `${name.slice(0, 200)} inflates ${Math.round(size / Math.max(compressed, 1))}× (${compressed} → ${size} bytes); at most ${limits.maxRatio}× is accepted`,
      );
    total += size;
    if (total > limits.maxTotalBytes) throw new ZipError("TOO_LARGE", `the archive inflates to more than ${limits.maxTotalBytes} bytes`);
    out.push({ name, method, flags, crc, compressed, size, localOffset });
  }
  return out;
}

/**
 * The entries whose names `want` accepts, inflated and CRC-checked. Throws ZipError on any limit or damage.
 * Memory: the archive plus at most `maxTotalBytes` of inflated entries.
 */
export function readZip(b: Buffer, limits: ZipLimits = DEFAULT_ZIP_LIMITS, want: (name: string) => boolean = () => true): ZipEntry[] {
  const entries = centralDirectory(b, limits, want);
  const out: ZipEntry[] = [];
  for (const e of entries) {
    const p = e.localOffset;
    if (p + 30 > b.length || b.readUInt32LE(p) !== LOC) throw new ZipError("CORRUPT", `${e.name.slice(0, 200)}: local header missing`);
    const start = p + 30 + b.readUInt16LE(p + 26) + b.readUInt16LE(p + 28);
    const end = start + e.compressed;
    if (end > b.length) throw new ZipError("CORRUPT", `${e.name.slice(0, 200)}: data runs past the archive`);
    const raw = b.subarray(start, end);
    let data: Buffer;
    if (e.method === 0) {
      if (e.compressed !== e.size) throw new ZipError("CORRUPT", `${e.name.slice(0, 200)}: stored entry's sizes disagree`);
      data = Buffer.from(raw);
    } else {
      try {
        // One byte over the declared size is enough to know it lied; never inflate further than that.
        data = inflateRawSync(raw, { maxOutputLength: e.size + 1 });
      } catch (err) {
        if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE")
          throw new ZipError("BOMB", `${e.name.slice(0, 200)} inflates past its declared ${e.size} bytes`);
        throw new ZipError("CORRUPT", `${e.name.slice(0, 200)}: ${(err as Error).message}`);
      }
    }
    if (data.length !== e.size) throw new ZipError("BOMB", `${e.name.slice(0, 200)} inflates to ${data.length} bytes, not its declared ${e.size}`);
    if (crc32(data) >>> 0 !== e.crc >>> 0) throw new ZipError("CORRUPT", `${e.name.slice(0, 200)}: CRC mismatch`);
    out.push({ name: e.name, data });
  }
  return out;
}
