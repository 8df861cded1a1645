import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Debian/Ubuntu path of the SoftHSM2 PKCS#11 module (package softhsm2). */
export const SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so";

export interface SoftHsmToken {
  module: string;
  label: string;
  pin: string;
  soPin: string;
  /** The token directory, shared by the tokens of this process and removed when it exits. */
  dir: string;
  cleanup(): void;
}

// SoftHSM reads SOFTHSM2_CONF once, at C_Initialize, and PKCS#11 is initialized once per process (see
// lib/signing/keys/pkcs11.ts). So every token of a process lives in one token directory under one conf file; each
// call adds a token with a fresh label. This also needs the real process environment: under vitest's default
// "forks" pool process.env writes reach getenv() in the native module, whereas in a worker thread they would not.
let shared: { dir: string; conf: string } | undefined;
let counter = 0;

function sharedTokenDir(): { dir: string; conf: string } {
  if (shared) return shared;
  const dir = mkdtempSync(join(tmpdir(), "softhsm-"));
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, [`directories.tokendir = ${dir}`, "objectstore.backend = file", "log.level = ERROR", "slots.removable = false", ""].join("\n"));
  process.env.SOFTHSM2_CONF = conf;
  // Not removed when a token is cleaned up: the module in this process keeps using this conf and directory.
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  shared = { dir, conf };
  return shared;
}

/**
 * Initializes a fresh SoftHSM2 token for a test. Fails (never skips) when SoftHSM2 is missing, so that CI cannot
 * silently stop testing the HSM path.
 */
export function createSoftHsmToken(opts: { label?: string; pin?: string; soPin?: string } = {}): SoftHsmToken {
  if (!existsSync(SOFTHSM_MODULE)) {
    throw new Error(`SoftHSM2 module not found at ${SOFTHSM_MODULE}: install it with \`apt-get install softhsm2\``);
  }
  const { dir, conf } = sharedTokenDir();
  const label = opts.label ?? `imprimatur-test-${process.pid}-${++counter}`;
  const pin = opts.pin ?? "1234";
  const soPin = opts.soPin ?? "5678";
  try {
    execFileSync("softhsm2-util", ["--init-token", "--free", "--label", label, "--so-pin", soPin, "--pin", pin], {
      env: { ...process.env, SOFTHSM2_CONF: conf },
      stdio: "pipe",
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === "ENOENT") {
      throw new Error("softhsm2-util not found on PATH: install SoftHSM2 with `apt-get install softhsm2`");
    }
    throw new Error(`softhsm2-util --init-token failed: ${err.stderr?.toString().trim() || err.message}`);
  }
  return {
    module: SOFTHSM_MODULE,
    label,
    pin,
    soPin,
    dir,
    cleanup() {
      // Only the token's own directory: other tokens of this process may still be in use.
      try {
        execFileSync("softhsm2-util", ["--delete-token", "--token", label], { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: "pipe" });
      } catch {
        // Best effort; the whole directory goes when the process exits.
      }
    },
  };
}
