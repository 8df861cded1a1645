/**
 * A lookup table without a prototype: keys come from untrusted documents and queries, and a plain object
 * literal would answer "__proto__" or "constructor" with Object's own members.
 */
export function table<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}
