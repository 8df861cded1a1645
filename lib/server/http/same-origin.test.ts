import { describe, expect, it } from "vitest";
import { checkSameOrigin, checkSameSiteRead, isEvidenceMediaType, isJsonMediaType, isStateChanging, mediaTypeEssence } from "./same-origin";

const base = { method: "POST", origin: null, secFetchSite: null, host: "app.example:3000", appOrigin: "https://imprimatur.example" };

describe("cookie-authenticated state changes", () => {
  it("accepts our own origin, from NEXTAUTH_URL or the Host the request was sent to", () => {
    expect(checkSameOrigin({ ...base, origin: "https://imprimatur.example" }).ok).toBe(true);
    expect(checkSameOrigin({ ...base, origin: "http://app.example:3000", secFetchSite: "same-origin" }).ok).toBe(true);
    expect(checkSameOrigin({ ...base, secFetchSite: "same-origin" }).ok).toBe(true);
  });

  it("refuses another site, another port of the same host, a null origin, and a request that says nothing", () => {
    expect(checkSameOrigin({ ...base, origin: "http://evil.example" })).toMatchObject({ ok: false, reason: expect.stringContaining("evil.example") });
    expect(checkSameOrigin({ ...base, origin: "http://app.example:4000", secFetchSite: "same-site" }).ok).toBe(false);
    expect(checkSameOrigin({ ...base, origin: "http://app.example:4000" }).ok).toBe(false);
    expect(checkSameOrigin({ ...base, origin: "null" }).ok).toBe(false);
    expect(checkSameOrigin({ ...base, secFetchSite: "cross-site" }).ok).toBe(false);
    // A matching Origin does not excuse a browser that says the request is cross-site.
    expect(checkSameOrigin({ ...base, origin: "https://imprimatur.example", secFetchSite: "cross-site" }).ok).toBe(false);
    expect(checkSameOrigin(base)).toMatchObject({ ok: false, reason: expect.stringContaining("API token") });
  });

  it("treats GET, HEAD and OPTIONS as safe and everything else as a state change", () => {
    expect(["GET", "HEAD", "OPTIONS", "get"].map(isStateChanging)).toEqual([false, false, false, false]);
    expect(["POST", "PUT", "PATCH", "DELETE"].map(isStateChanging)).toEqual([true, true, true, true]);
  });
});

describe("media types", () => {
  it("reads the essence before the first semicolon; what follows must be parameters", () => {
    expect(mediaTypeEssence("Application/JSON; charset=UTF-8")).toBe("application/json");
    expect(mediaTypeEssence("text/plain; application/json")).toBeNull();
    expect(mediaTypeEssence("text/plain;application/json")).toBeNull();
    expect(mediaTypeEssence("application/json, text/plain")).toBeNull();
    expect(mediaTypeEssence("")).toBeNull();
    expect(mediaTypeEssence(null)).toBeNull();
  });

  it("accepts exactly application/json for JSON bodies", () => {
    expect(isJsonMediaType("application/json")).toBe(true);
    expect(isJsonMediaType("application/json; charset=utf-8")).toBe(true);
    expect(isJsonMediaType('application/json; charset="utf-8"')).toBe(true);
    for (const t of [
      "text/plain; application/json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/jsonx",
      "application/json+evil",
      null,
    ]) {
      expect(isJsonMediaType(t), String(t)).toBe(false);
    }
  });

  it("accepts the declared evidence types and never the three a cross-site form can send", () => {
    for (const t of [
      "application/json",
      "application/x-ndjson",
      "application/vnd.cyclonedx+json",
      "application/spdx+json",
      "application/vnd.in-toto+json",
      "application/octet-stream",
    ])
      expect(isEvidenceMediaType(t), t).toBe(true);
    for (const t of ["text/plain", "text/plain; application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", null])
      expect(isEvidenceMediaType(t), String(t)).toBe(false);
  });
});

describe("cookie-authenticated GETs that write (writesOnGet)", () => {
  const read = { origin: null, secFetchSite: null, host: "app.example:3000", appOrigin: "https://imprimatur.example" };

  it("refuses a navigation from another site or a sibling host, and a foreign Origin", () => {
    expect(checkSameSiteRead({ ...read, secFetchSite: "cross-site" })).toMatchObject({ ok: false, reason: expect.stringContaining("cross-site") });
    expect(checkSameSiteRead({ ...read, secFetchSite: "same-site" }).ok).toBe(false);
    expect(checkSameSiteRead({ ...read, origin: "https://evil.example" }).ok).toBe(false);
    expect(checkSameSiteRead({ ...read, origin: "https://imprimatur.example", secFetchSite: "cross-site" }).ok).toBe(false);
  });

  it("accepts our own links, the address bar, and a request that carries neither header", () => {
    expect(checkSameSiteRead({ ...read, secFetchSite: "same-origin" }).ok).toBe(true);
    expect(checkSameSiteRead({ ...read, secFetchSite: "none" }).ok).toBe(true);
    expect(checkSameSiteRead(read).ok).toBe(true);
    expect(checkSameSiteRead({ ...read, origin: "http://app.example:3000", secFetchSite: "same-origin" }).ok).toBe(true);
  });
});
