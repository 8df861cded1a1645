export function freePort(): Promise<number>;
export interface PostgresHandle {
  url: string;
  port: number;
  dir: string;
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}
export function startPostgres(opts?: { dir?: string; port?: number; database?: string; log?: boolean }): Promise<PostgresHandle>;
export interface RegistryHandle {
  url: string;
  port: number;
  dir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  destroy(): Promise<void>;
}
export function startRegistry(opts?: {
  dir?: string;
  port?: number;
  log?: boolean;
  htpasswd?: { username: string; password: string };
}): Promise<RegistryHandle>;
export function registryBinary(): string | null;
export function ensureRegistryBinary(): string;
