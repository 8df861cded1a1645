// The contract's operations: public and sign-in. Listed in operations.ts, which the OpenAPI document is built from.
import type { Operation } from "./operation";
import * as s from "./schemas";

export const OPS_PUBLIC: readonly Operation[] = [
  {
    method: "GET",
    path: "/api/healthz",
    tag: "health",
    summary: "Liveness (and with ?ready=1 readiness) probe",
    auth: "public",
    query: s.healthQuery,
    ok: { status: 200, description: "{ status: ok } (503 with ?ready=1 while the database does not answer)" },
  },
  {
    method: "GET",
    path: "/api/auth/[...nextauth]",
    tag: "session",
    summary: "next-auth: session, CSRF token, providers, OIDC callbacks",
    auth: "public",
    params: { nextauth: "next-auth's route, e.g. session, csrf, providers, callback/oidc" },
    ok: { status: 200, description: "next-auth's answer" },
  },
  {
    method: "POST",
    path: "/api/auth/[...nextauth]",
    tag: "session",
    summary: "next-auth: sign in with a password (throttled: 429 with Retry-After), sign out",
    auth: "public",
    params: { nextauth: "signin/…, callback/credentials, signout" },
    rawBody: { mediaTypes: ["application/x-www-form-urlencoded"], description: "next-auth's form fields (csrfToken, email, password, callbackUrl)" },
    ok: { status: 200, description: "{ url } or a redirect" },
  },
  {
    method: "GET",
    path: "/api/v1/openapi.json",
    tag: "meta",
    summary: "This document",
    auth: "public",
    ok: { status: 200, description: "The OpenAPI 3.1 document of this API" },
  },
];
