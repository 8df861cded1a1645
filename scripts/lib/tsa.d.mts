export interface TsaHandle {
  url: string;
  port: number;
  dir: string;
  /** The root CA certificate (PEM): the trust anchor. */
  rootPem: string;
  /** The TSA's own certificate (PEM). */
  tsaPem: string;
  /** TSA certificate then root, as a Sigstore trusted root's timestampAuthorities and a `tsa` trust identity hold it. */
  chainPem: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  destroy(): Promise<void>;
}
export function startTsa(opts?: { dir?: string; port?: number; log?: boolean }): Promise<TsaHandle>;
