export interface TestOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  port: number;
  /** Rewrite every ID token's claims from now on (null: stop). */
  setTamper(fn: ((claims: Record<string, unknown>) => Record<string, unknown>) | null): void;
  stop(): Promise<void>;
}

export function startOidcProvider(opts: {
  redirectUris: string[];
  clientId?: string;
  clientSecret?: string;
  users?: Record<string, { email: string; name?: string; groups?: string[] | null }>;
  port?: number;
}): Promise<TestOidcProvider>;
