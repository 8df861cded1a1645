import { describe, expect, it } from "vitest";
import { cleanDisplayName, mixesLookalikeScripts, withAddress } from "./display-name";

describe("display names from an identity provider", () => {
  it("drops invisible characters, folds compatibility forms and spacing", () => {
    expect(cleanDisplayName("Carol\u200b Security\u00a0 Lead")).toBe("Carol Security Lead");
    expect(cleanDisplayName("\u202eCarol\u202c")).toBe("Carol");
    expect(cleanDisplayName("Ｃａｒｏｌ")).toBe("Carol");
    expect(cleanDisplayName("  a\tb\nc ")).toBe("a b c");
    expect(cleanDisplayName(42)).toBe("");
    expect(cleanDisplayName("x".repeat(300))).toHaveLength(200);
  });

  it("flags Latin mixed with a lookalike script, not a name in one script", () => {
    expect(mixesLookalikeScripts("\u0410lice")).toBe(true); // Cyrillic А
    expect(mixesLookalikeScripts("Carol Security Lead")).toBe(false);
    expect(mixesLookalikeScripts("Дмитрий Иванов")).toBe(false);
    expect(mixesLookalikeScripts("Νίκος")).toBe(false);
    expect(mixesLookalikeScripts("Nikos \u039d")).toBe(true);
    expect(mixesLookalikeScripts("José Müller")).toBe(false);
  });

  it("keeps the address whole within 200 characters, however long the name or the address", () => {
    expect(withAddress("Carol", "m@corp.example")).toBe("Carol (m@corp.example)");
    const long = withAddress("x".repeat(200), "m@corp.example");
    expect(long).toHaveLength(200);
    expect(long.endsWith(" (m@corp.example)")).toBe(true);
    const address = `${"a".repeat(240)}@corp.example`;
    expect(withAddress("Carol", address)).toBe(address.slice(0, 200));
  });
});
