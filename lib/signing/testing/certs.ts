// Test-only certificate factory for the X.509 / certificate-signature tests: real certificates made at test time
// with @peculiar/x509 on WebCrypto.
import { webcrypto } from "node:crypto";

// @peculiar/x509 (test-only here) loads tsyringe, which insists on a reflect-metadata polyfill that is not installed.
// A Map-backed stand-in for the three functions it calls is enough, and it must exist before the import.
const metadata = new WeakMap<object, Map<unknown, unknown>>();
const R = Reflect as unknown as Record<string, unknown>;
R.defineMetadata ??= (k: unknown, v: unknown, t: object) => {
  const m = metadata.get(t) ?? new Map();
  m.set(k, v);
  metadata.set(t, m);
};
R.getMetadata ??= (k: unknown, t: object) => metadata.get(t)?.get(k);
R.getOwnMetadata ??= (k: unknown, t: object) => metadata.get(t)?.get(k);
export const x509 = await import("@peculiar/x509");
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
export const DAY = 86_400_000;
export const NOW = new Date("2025-03-01T12:00:00Z");

export interface TestCert {
  name: string;
  pem: string;
  der: Uint8Array;
  keys: CryptoKeyPair;
}

let serial = 1;
export async function makeCert(opts: {
  name: string;
  issuer?: TestCert;
  ca?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  keyUsage?: number;
  eku?: string[];
  extensions?: InstanceType<typeof x509.Extension>[];
  /** Signs with this key instead of the issuer's (a forged certificate). */
  signingKey?: CryptoKey;
}): Promise<TestCert> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
  const ca = opts.ca ?? false;
  const extensions: InstanceType<typeof x509.Extension>[] = [
    new x509.BasicConstraintsExtension(ca, undefined, true),
    new x509.KeyUsagesExtension(
      opts.keyUsage ?? (ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature),
      true,
    ),
    ...(opts.eku ? [new x509.ExtendedKeyUsageExtension(opts.eku)] : []),
    ...(opts.extensions ?? []),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(2, "0"),
    subject: opts.name,
    issuer: opts.issuer?.name ?? opts.name,
    notBefore: opts.notBefore ?? new Date(NOW.getTime() - 30 * DAY),
    notAfter: opts.notAfter ?? new Date(NOW.getTime() + 365 * DAY),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: opts.signingKey ?? opts.issuer?.keys.privateKey ?? keys.privateKey,
    extensions,
  });
  return { name: opts.name, pem: cert.toString("pem"), der: new Uint8Array(cert.rawData), keys };
}
