// Prisma's migrate engine cannot run here, so migrations are hand-written SQL. This test proves the
// Prisma schema and the migrated database agree: tables, columns, types, nullability, defaults,
// enums, unique and plain indexes, and foreign keys.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { get_dmmf } from "@prisma/prisma-schema-wasm";

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: "scalar" | "object" | "enum";
  isList: boolean;
  isRequired: boolean;
  hasDefaultValue: boolean;
  default?: unknown;
  type: string;
  nativeType?: [string, string[]] | null;
  relationFromFields?: string[];
  relationToFields?: string[];
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
}
interface Dmmf {
  datamodel: {
    models: DmmfModel[];
    enums: { name: string; values: { name: string }[] }[];
    indexes: { model: string; type: "id" | "unique" | "normal" | "fulltext"; fields: { name: string }[] }[];
  };
}

const schema = readFileSync(join(__dirname, "../../prisma/schema.prisma"), "utf8");
const dmmf = JSON.parse(get_dmmf(JSON.stringify({ prismaSchema: [["schema.prisma", schema]] }))) as Dmmf;
const models = dmmf.datamodel.models;
const table = (m: DmmfModel) => m.dbName ?? m.name;
const column = (m: DmmfModel, field: string) => {
  const f = m.fields.find((x) => x.name === field)!;
  return f.dbName ?? f.name;
};

function expectedType(f: DmmfField): string {
  // information_schema names an array's element type with a leading underscore (_text, _uuid).
  if (f.isList) return `ARRAY:${expectedType({ ...f, isList: false }).replace(/^(text|uuid)$/, "_$1")}`;
  if (f.kind === "enum") return `enum:${f.type}`;
  const native = f.nativeType?.[0];
  switch (f.type) {
    case "String":
      return native === "Uuid" ? "uuid" : "text";
    case "Int":
      return "integer";
    case "BigInt":
      return "bigint";
    case "Float":
      return "double precision";
    case "Boolean":
      return "boolean";
    case "DateTime":
      return native === "Timestamptz" ? `timestamp with time zone(${f.nativeType?.[1][0] ?? 6})` : "timestamp without time zone(3)";
    case "Json":
      return "jsonb";
    case "Bytes":
      return "bytea";
    default:
      return `unknown:${f.type}`;
  }
}

let client: pg.Client;
beforeAll(async () => {
  client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
});
afterAll(async () => {
  await client.end();
});

describe("Prisma schema vs migrated database", () => {
  it("has exactly the schema's tables", async () => {
    const { rows } = await client.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations'`,
    );
    expect(rows.map((r) => r.table_name).sort()).toEqual(models.map(table).sort());
  });

  it("has every column with the schema's type, nullability and default", async () => {
    const { rows } = await client.query(
      `SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default, datetime_precision FROM information_schema.columns WHERE table_schema = 'public'`,
    );
    const problems: string[] = [];
    for (const m of models) {
      const cols = rows.filter((r) => r.table_name === table(m));
      const scalar = m.fields.filter((f) => f.kind !== "object");
      const expectedNames = scalar.map((f) => f.dbName ?? f.name).sort();
      const actualNames = cols.map((c) => c.column_name).sort();
      if (JSON.stringify(expectedNames) !== JSON.stringify(actualNames))
        problems.push(`${table(m)} columns: schema ${expectedNames.join(",")} vs db ${actualNames.join(",")}`);
      for (const f of scalar) {
        const c = cols.find((x) => x.column_name === (f.dbName ?? f.name));
        if (!c) continue;
        const actual =
          c.data_type === "USER-DEFINED"
            ? `enum:${c.udt_name}`
            : c.data_type === "ARRAY"
              ? `ARRAY:${c.udt_name}`
              : c.data_type.startsWith("timestamp")
                ? `${c.data_type}(${c.datetime_precision})`
                : c.data_type;
        if (actual !== expectedType(f)) problems.push(`${table(m)}.${c.column_name}: type ${actual}, schema wants ${expectedType(f)}`);
        // Prisma creates scalar-list columns without NOT NULL.
        if (!f.isList && (c.is_nullable === "NO") !== f.isRequired)
          problems.push(`${table(m)}.${c.column_name}: nullable=${c.is_nullable}, schema required=${f.isRequired}`);
        // Prisma applies uuid()/cuid() in the client; every other default must exist in the database.
        const dbSide =
          f.hasDefaultValue && !(typeof f.default === "object" && f.default && ["uuid", "cuid"].includes((f.default as { name?: string }).name ?? ""));
        if (dbSide !== (c.column_default !== null))
          problems.push(`${table(m)}.${c.column_name}: db default ${c.column_default}, schema default ${JSON.stringify(f.default)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("has the schema's enums with the same values in order", async () => {
    const { rows } = await client.query(
      `SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace AND n.nspname = 'public' GROUP BY t.typname`,
    );
    const actual = Object.fromEntries(rows.map((r) => [r.typname, r.labels]));
    const expected = Object.fromEntries(dmmf.datamodel.enums.map((e) => [e.name, e.values.map((v) => v.name)]));
    expect(actual).toEqual(expected);
  });

  it("has the schema's primary keys, unique and plain indexes", async () => {
    const { rows } = await client.query(`
      SELECT t.relname AS table, i.indisunique AS unique, i.indisprimary AS primary,
             array_agg(a.attname::text ORDER BY k.ord) AS cols
      FROM pg_index i
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
      -- Key columns only: INCLUDE columns of covering indexes are invisible to Prisma's schema language.
      JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON k.ord <= i.indnkeyatts
      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
      WHERE t.relname <> '_prisma_migrations'
      GROUP BY t.relname, i.indexrelid, i.indisunique, i.indisprimary`);
    const actual = rows.map((r) => `${r.table}:${r.primary ? "id" : r.unique ? "unique" : "normal"}:${r.cols.join(",")}`).sort();
    const expected = dmmf.datamodel.indexes
      .map((ix) => {
        const m = models.find((x) => x.name === ix.model)!;
        return `${table(m)}:${ix.type}:${ix.fields.map((f) => column(m, f.name)).join(",")}`;
      })
      .sort();
    expect(actual).toEqual(expected);
  });

  it("has a foreign key for every relation", async () => {
    const { rows } = await client.query(`
      SELECT tc.table_name, kcu.column_name, ccu.table_name AS ref_table, ccu.column_name AS ref_column
      FROM information_schema.table_constraints tc
      JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name
      JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name
      WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = 'public'`);
    const actual = rows.map((r) => `${r.table_name}.${r.column_name}->${r.ref_table}.${r.ref_column}`).sort();
    const expected: string[] = [];
    for (const m of models) {
      for (const f of m.fields) {
        if (f.kind !== "object" || !f.relationFromFields?.length) continue;
        const target = models.find((x) => x.name === f.type)!;
        f.relationFromFields.forEach((from, i) => expected.push(`${table(m)}.${column(m, from)}->${table(target)}.${column(target, f.relationToFields![i]!)}`));
      }
    }
    expect(actual).toEqual(expected.sort());
  });
});
