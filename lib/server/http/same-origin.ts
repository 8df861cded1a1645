/**
 * Cross-site request checks for cookie-authenticated state changes. A browser attaches the session cookie to any
 * request a page on another origin makes, so a state change made with the cookie must prove it came from our own
 * pages: a same-origin `Origin` or `Sec-Fetch-Site`, and a media type that a cross-site form or no-cors fetch
 * cannot send (those can only send text/plain, application/x-www-form-urlencoded and multipart/form-data).
 * Bearer tokens and client certificates are not sent by browsers on their own and are not checked here.
 *
 * Pure functions of the request headers, so they are unit-tested without a server.
 */

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function isStateChanging(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

/** The media type's essence (`type/subtype`, lower case) when the header is one well-formed media type, else null. */
export function mediaTypeEssence(contentType: string | null): string | null {
  if (contentType === null) return null;
  // RFC 9110: type "/" subtype *( OWS ";" OWS parameter ). Only the first `;` ends the essence; what follows must be
  // parameters (name=value), so "text/plain; application/json" is text/plain, never JSON.
  const semi = contentType.indexOf(";");
  const essence = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (!/^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/.test(essence)) return null;
  if (semi !== -1) {
    for (const param of contentType.slice(semi + 1).split(";")) {
      const p = param.trim();
      if (p === "") continue;
      if (!/^[a-z0-9!#$&^_.+-]{1,127}=("[^"]*"|[a-z0-9!#$&^_.+-]*)$/i.test(p)) return null;
    }
  }
  return essence;
}

/** Whether the request's declared media type is exactly JSON (`application/json`, parameters such as charset allowed). */
export function isJsonMediaType(contentType: string | null): boolean {
  return mediaTypeEssence(contentType) === "application/json";
}

/** Media types an evidence upload may declare: JSON, JSON Lines, `+json` vendor types, or raw octets. */
export function isEvidenceMediaType(contentType: string | null): boolean {
  const e = mediaTypeEssence(contentType);
  if (!e) return false;
  return (
    e === "application/json" ||
    e === "application/x-ndjson" ||
    e === "application/jsonl" ||
    e === "application/jsonlines" ||
    e === "application/octet-stream" ||
    /^application\/[a-z0-9.+-]+\+json$/.test(e)
  );
}

export type CrossSiteVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Whether a cookie-authenticated state change comes from one of our own pages. `appOrigin` is the configured public
 * origin (NEXTAUTH_URL), if any. An `Origin` is accepted when it equals that origin or names the host the request was
 * sent to (`Host`): a page on another origin cannot make the browser send our host in its Origin. Without an Origin,
 * `Sec-Fetch-Site` must say same-origin (or none: typed by the user). With neither, the request is refused: every
 * browser this UI supports sends Origin on non-GET requests, and non-browser clients should use a Bearer token.
 */
export function checkSameOrigin(h: {
  method: string;
  origin: string | null;
  secFetchSite: string | null;
  host: string | null;
  appOrigin: string | null;
}): CrossSiteVerdict {
  const site = h.secFetchSite?.trim().toLowerCase() ?? null;
  if (site !== null && site !== "same-origin" && site !== "none")
    return { ok: false, reason: `cross-site request refused (Sec-Fetch-Site: ${site.slice(0, 40)})` };
  if (h.origin !== null) {
    const origin = parseOrigin(h.origin);
    if (!origin) return { ok: false, reason: "cross-site request refused (Origin is not a URL origin)" };
    if (h.appOrigin && origin === parseOrigin(h.appOrigin)) return { ok: true };
    if (h.host && origin.replace(/^https?:\/\//, "") === h.host.trim().toLowerCase()) return { ok: true };
    return { ok: false, reason: `cross-site request refused (Origin ${origin.slice(0, 100)} is not this site)` };
  }
  if (site === "same-origin" || site === "none") return { ok: true };
  return {
    ok: false,
    reason:
      "cross-site request refused: a request made with the session cookie must carry a same-origin Origin or Sec-Fetch-Site header (scripts should use an API token)",
  };
}

/**
 * Whether a cookie-authenticated GET that writes (an audit export records an event in the user's name) comes from our
 * own pages or from the user. A link or `window.open` on another site is a top-level navigation: the Lax session
 * cookie goes with it, with Sec-Fetch-Site cross-site (or same-site, from a sibling host) and no Origin. The rules
 * are checkSameOrigin's, except that a request with neither header is allowed: a GET typed in an older browser's
 * address bar, or a script, carries neither (browsers that send Sec-Fetch-Site send it on every navigation).
 */
export function checkSameSiteRead(h: { origin: string | null; secFetchSite: string | null; host: string | null; appOrigin: string | null }): CrossSiteVerdict {
  if (h.origin === null && h.secFetchSite === null) return { ok: true };
  return checkSameOrigin({ ...h, method: "GET" });
}

function parseOrigin(value: string): string | null {
  const v = value.trim();
  if (v === "" || v === "null" || v.length > 2048) return null;
  try {
    const u = new URL(v);
    if (u.protocol !== "http:" && u.protocol !== "https:") return null;
    return u.origin.toLowerCase();
  } catch {
    return null;
  }
}
