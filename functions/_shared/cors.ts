/**
 * CORS for browser callers. Preflights are answered before any authentication (browsers
 * never send credentials on them), and every response, errors included, carries the CORS
 * headers, or the browser would hide a 401's body behind a CORS failure.
 */
import { errorResponse, HttpError } from "./errors.ts";

export interface CorsPolicy {
  /** `*`, or the exact origins allowed to read responses. */
  origins: "*" | ReadonlySet<string>;
}

/** Headers supabase-js sends on `functions.invoke`, plus PostgREST-style extras. */
const ALLOW_HEADERS = "authorization, x-client-info, apikey, content-type, x-retry-count, prefer";
const ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
/** Readable by browser code, so apps can branch on our error codes. */
const EXPOSE_HEADERS = "sb-error-code, www-authenticate, content-range";
const MAX_AGE_SECONDS = "600";

export function isPreflight(request: Request): boolean {
  return request.method === "OPTIONS";
}

/** The answer to an OPTIONS request. */
export function preflightResponse(request: Request, policy: CorsPolicy): Response {
  const origin = request.headers.get("origin");
  if (origin !== null && allowedOrigin(origin, policy) === null) {
    return applyCors(
      errorResponse(
        new HttpError("origin_not_allowed", "This origin may not call this function.", {
          hint: "Add the origin to AUTH_CORS_ORIGINS.",
        }),
      ),
      request,
      policy,
    );
  }
  const response = new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-methods": ALLOW_METHODS,
      "access-control-allow-headers": ALLOW_HEADERS,
      "access-control-max-age": MAX_AGE_SECONDS,
      allow: ALLOW_METHODS,
    },
  });
  return applyCors(response, request, policy);
}

/** Add CORS headers for the request's origin to a response (in place when possible). */
export function applyCors(response: Response, request: Request, policy: CorsPolicy): Response {
  let target = response;
  try {
    target.headers.set("vary", mergeVary(target.headers.get("vary")));
  } catch {
    // Headers of a fetched response are immutable: copy once.
    target = new Response(response.body, response);
    target.headers.set("vary", mergeVary(target.headers.get("vary")));
  }
  const origin = request.headers.get("origin");
  const allowed = origin === null
    ? (policy.origins === "*" ? "*" : null)
    : allowedOrigin(origin, policy);
  if (allowed !== null) {
    target.headers.set("access-control-allow-origin", allowed);
    target.headers.set("access-control-expose-headers", EXPOSE_HEADERS);
  }
  return target;
}

function allowedOrigin(origin: string, policy: CorsPolicy): string | null {
  if (policy.origins === "*") return "*";
  return policy.origins.has(origin) ? origin : null;
}

function mergeVary(existing: string | null): string {
  if (!existing) return "Origin";
  return /(^|,\s*)origin(\s*,|$)/i.test(existing) ? existing : `${existing}, Origin`;
}
