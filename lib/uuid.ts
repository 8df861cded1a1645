const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids in URLs are checked before they reach a `::uuid` cast, so a malformed one is "not found", not a database error. */
export function isUuid(s: string): boolean {
  return UUID.test(s);
}
