/**
 * The one error contract of every function: JSON `{code, message, hint?}`, the code
 * repeated in the `sb-error-code` header, and RFC 6750 `WWW-Authenticate` on 401/403.
 *
 * Messages and hints are written by us, never built from request data, so a token or a
 * secret cannot reach a response through an error.
 */

/** Every stable error code, with the HTTP status it is answered with. */
export const ERROR_STATUS = {
  // 400: the request itself is wrong
  bad_request: 400,
  invalid_json: 400,
  invalid_body: 400,
  // 401: credentials absent, malformed or not acceptable
  missing_credentials: 401,
  invalid_authorization_header: 401,
  malformed_token: 401,
  token_too_large: 401,
  unsupported_algorithm: 401,
  unsupported_token_header: 401,
  unknown_key: 401,
  invalid_signature: 401,
  token_expired: 401,
  token_not_yet_valid: 401,
  token_issued_in_future: 401,
  untrusted_issuer: 401,
  invalid_audience: 401,
  invalid_claims: 401,
  unauthorized_party: 401,
  session_not_found: 401,
  user_not_found: 401,
  user_banned: 401,
  invalid_api_key: 401,
  user_token_required: 401,
  role_not_allowed: 401,
  // 403: authenticated, but not allowed
  insufficient_role: 403,
  insufficient_scope: 403,
  insufficient_aal: 403,
  claim_mismatch: 403,
  origin_not_allowed: 403,
  forbidden: 403,
  exchange_not_allowed: 403,
  // other request errors
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  // ours
  server_misconfigured: 500,
  internal_error: 500,
  not_implemented: 501,
  upstream_error: 502,
  jwks_unavailable: 503,
  auth_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** The request id header the local gateway sets on every request and answer. */
export const REQUEST_ID_HEADER = "sb-request-id";

export interface HttpErrorOptions {
  /** What the caller (or the operator, for 5xx) can do about it. */
  hint?: string;
  /** Extra response headers, e.g. `Allow` on a 405. */
  headers?: Record<string, string>;
  /** Underlying error, kept for server-side debugging only; never serialized. */
  cause?: unknown;
}

/** A failure with a stable code. Throw it anywhere; the wrapper turns it into a response. */
export class HttpError extends Error {
  override readonly name = "HttpError";
  readonly code: ErrorCode;
  readonly status: number;
  readonly hint: string | undefined;
  readonly headers: Record<string, string>;
  /** Set on 5xx answers: the id their log line carries, also in the body and a header. */
  requestId: string | undefined;

  constructor(code: ErrorCode, message: string, options: HttpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.hint = options.hint;
    this.headers = options.headers ?? {};
  }
}

/** Raised while reading configuration: always names the variable, never its value. */
export class ConfigError extends HttpError {
  readonly variable: string;
  constructor(variable: string, problem: string, hint?: string) {
    super("server_misconfigured", `${variable} ${problem}`, {
      hint: hint ?? `Check the ${variable} environment variable (see the README's env table).`,
    });
    this.variable = variable;
  }
}

const SCOPE_CODES = new Set<ErrorCode>(["insufficient_scope", "insufficient_role"]);

function quoted(s: string): string {
  // RFC 6750 auth-param values are quoted-strings; our messages never hold quotes or
  // backslashes, but keep the header well-formed whatever a future message says.
  return s.replace(/[\\"]/g, "").replace(/[^\x20-\x7e]/g, "");
}

/** RFC 6750 section 3 challenge for a given error, or undefined when none applies. */
export function bearerChallenge(error: HttpError): string | undefined {
  if (error.code === "missing_credentials") return 'Bearer realm="supabase"';
  if (error.status === 401) {
    return `Bearer realm="supabase", error="invalid_token", error_description="${
      quoted(error.message)
    }"`;
  }
  if (SCOPE_CODES.has(error.code)) {
    return `Bearer realm="supabase", error="insufficient_scope", error_description="${
      quoted(error.message)
    }"`;
  }
  return undefined;
}

/** Turn anything thrown into an `HttpError`; unknown errors become a generic 500. */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  return new HttpError("internal_error", "The function failed unexpectedly.", {
    hint: "The function's log has this request_id, with the error and its stack.",
    cause: error,
  });
}

/** The JSON error response. CORS headers are added by the caller (see cors.ts). */
export function errorResponse(error: HttpError): Response {
  const headers = new Headers(error.headers);
  headers.set("content-type", "application/json; charset=utf-8");
  headers.set("sb-error-code", error.code);
  const challenge = bearerChallenge(error);
  if (challenge) headers.set("www-authenticate", challenge);
  const body: { code: string; message: string; hint?: string; request_id?: string } = {
    code: error.code,
    message: error.message,
  };
  if (error.hint) body.hint = error.hint;
  if (error.requestId) {
    body.request_id = error.requestId;
    headers.set(REQUEST_ID_HEADER, error.requestId);
  }
  return new Response(JSON.stringify(body), { status: error.status, headers });
}
