import "server-only";
import type { Tx } from "../../db";

/** Control and format characters (zero-width joiners and spaces, bidirectional overrides, soft hyphens): never shown. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
/** Scripts whose letters pass for Latin ones ("Аlice" with a Cyrillic А); a name mixing one with Latin is suspect. */
const LOOKALIKE = /[\p{Script=Cyrillic}\p{Script=Greek}\p{Script=Armenian}\p{Script=Cherokee}]/u;
const LATIN = /\p{Script=Latin}/u;

/** The name as it is shown: NFKC, no invisible characters, one space between words, at most 200 characters. */
export function cleanDisplayName(raw: unknown): string {
  if (typeof raw !== "string") return "";
  return raw.normalize("NFKC").replace(/\s+/gu, " ").replace(INVISIBLE, "").replace(/ +/g, " ").trim().slice(0, 200);
}

/** The name followed by the address, within 200 characters: the address is kept whole, the name shortened (or dropped). */
export function withAddress(name: string, email: string): string {
  const room = 200 - email.length - 3;
  return room > 0 ? `${name.slice(0, room)} (${email})` : email.slice(0, 200);
}

/** A name that mixes Latin letters with letters of a script that has Latin lookalikes. */
export function mixesLookalikeScripts(name: string): boolean {
  return LATIN.test(name) && LOOKALIKE.test(name);
}

/**
 * The display name an identity provider's `name` claim gives a user. People read names in approval summaries, the audit
 * trail and the signature chain ("approved by Carol Security Lead"), and a provider often lets users edit their own
 * name, so a name that could pass for someone else's carries the address: one equal to another account's name (ignoring
 * case, Unicode compatibility forms, invisible characters and spacing), or one mixing Latin letters with Cyrillic,
 * Greek, Armenian or Cherokee ones. Judged in the caller's transaction.
 */
export async function providerDisplayName(tx: Tx, { claim, email, userId }: { claim: unknown; email: string; userId: string | null }): Promise<string> {
  const name = cleanDisplayName(claim) || email.split("@")[0]!;
  const marked = withAddress(name, email);
  if (mixesLookalikeScripts(name)) return marked;
  const [clash] = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM users
    WHERE lower(regexp_replace(normalize(name, NFKC), '[[:space:]]+', ' ', 'g')) = lower(${name})
      AND (${userId}::uuid IS NULL OR id <> ${userId}::uuid)
    LIMIT 1`;
  return clash ? marked : name;
}
