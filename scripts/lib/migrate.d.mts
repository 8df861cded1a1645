export function listMigrations(): { name: string; sql: string; checksum: string }[];
export function migrate(databaseUrl: string, opts?: { log?: (s: string) => void }): Promise<string[]>;
