const LONE_SURROGATE = /[\ud800-\udfff]/;

/**
 * A string with every lone surrogate (half of a UTF-16 pair, e.g. from a hostile `"\ud800"` escape) replaced by
 * U+FFFD, which is what a text column stores for it anyway (UTF-8 encoding does the same replacement).
 */
export function wellFormed(s: string): string {
  return LONE_SURROGATE.test(s) ? Buffer.from(s, "utf8").toString("utf8") : s;
}

const UNSTORABLE = /[\ud800-\udfff\u0000]/;

/** Text as Postgres stores it: a lone surrogate and U+0000 (which text and jsonb refuse) become U+FFFD. */
export function storableText(s: string): string {
  return UNSTORABLE.test(s) ? wellFormed(s).replaceAll("\u0000", "\ufffd") : s;
}

/**
 * JSON for a jsonb value. jsonb refuses a lone surrogate escape that JSON.stringify writes for such a string, so one
 * hostile string would fail a whole write; string values (and keys) are made well-formed first.
 */
export function wellFormedJson(value: unknown): string {
  return JSON.stringify(value, function (this: unknown, _key, v: unknown) {
    if (typeof v === "string") return storableText(v);
    if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).some((k) => UNSTORABLE.test(k))) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [storableText(k), x]));
    }
    return v;
  });
}
