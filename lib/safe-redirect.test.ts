import { describe, expect, it } from "vitest";
import { safeCallbackPath, safeRedirectUrl } from "./safe-redirect";

describe("safeCallbackPath", () => {
  it("keeps same-origin paths with their query and fragment", () => {
    expect(safeCallbackPath("/requests/1?tab=reviews#r2")).toBe("/requests/1?tab=reviews#r2");
    expect(safeCallbackPath("/images/library/alpine@sha256:abc")).toBe("/images/library/alpine@sha256:abc");
  });

  it("refuses every form browsers read as another host", () => {
    // As the sign-in page receives them after URL decoding: /%5Cevil.example, /%09/evil.example, …
    for (const bad of [
      "/\\evil.example",
      "/\t/evil.example",
      "/\n/evil.example",
      "//evil.example",
      "\\\\evil.example",
      "/\\/evil.example",
      "https://evil.example",
      "javascript:alert(1)",
      "evil.example",
      "",
      "/\u0000x",
    ]) {
      expect(safeCallbackPath(bad), JSON.stringify(bad)).toBe("/images");
    }
    expect(safeCallbackPath(undefined)).toBe("/images");
    expect(safeCallbackPath("/" + "a".repeat(5000))).toBe("/images");
  });
});

describe("safeRedirectUrl (next-auth's redirect callback)", () => {
  const base = "http://127.0.0.1:3000";
  it("follows same-origin paths and URLs only", () => {
    expect(safeRedirectUrl("/requests", base)).toBe("http://127.0.0.1:3000/requests");
    expect(safeRedirectUrl("http://127.0.0.1:3000/audit?x=1", base)).toBe("http://127.0.0.1:3000/audit?x=1");
    expect(safeRedirectUrl("/\\evil.example", base)).toBe("http://127.0.0.1:3000/");
    expect(safeRedirectUrl("/\t/evil.example", base)).toBe("http://127.0.0.1:3000/");
    expect(safeRedirectUrl("https://evil.example/", base)).toBe("http://127.0.0.1:3000/");
    expect(safeRedirectUrl("http://127.0.0.1:4000/", base)).toBe("http://127.0.0.1:3000/");
  });
});
