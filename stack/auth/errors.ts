/**
 * Supabase Auth's error answers, as its `HandleResponseError` writes them (supabase/auth,
 * internal/api/errors.go). Two body shapes, chosen by the request's `X-Supabase-Api-Version`:
 *
 *   absent or before 2024-01-01:  {"code": <HTTP status>, "error_code": "...", "msg": "..."}
 *   2024-01-01 or later:          {"code": "...", "message": "..."}  + X-Supabase-Api-Version
 *
 * supabase-js sends 2024-01-01 and picks its error classes from `code` (AuthWeakPasswordError
 * from `weak_password.reasons`, AuthSessionMissingError from `session_not_found`, ...).
 * Every answer carries `x-sb-error-code`. Messages are Auth's own, never request data.
 */

export const API_VERSION_HEADER = "X-Supabase-Api-Version";
const VERSION_2024 = "2024-01-01";

export class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra top-level members (weak_password: {reasons}). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The API version a request asks for: a valid date on or after 2024-01-01, or the initial one. */
function wantsVersion2024(request: Request): boolean {
  const asked = request.headers.get(API_VERSION_HEADER);
  if (!asked || !/^\d{4}-\d{2}-\d{2}$/.test(asked)) return false;
  const date = Date.parse(`${asked}T00:00:00Z`);
  return Number.isFinite(date) && date >= Date.parse(`${VERSION_2024}T00:00:00Z`);
}

export function authErrorResponse(request: Request, error: AuthError): Response {
  const headers = new Headers({ "x-sb-error-code": error.code });
  if (wantsVersion2024(request)) {
    headers.set(API_VERSION_HEADER, VERSION_2024);
    return Response.json({ code: error.code, message: error.message, ...error.extra }, {
      status: error.status,
      headers,
    });
  }
  return Response.json(
    { code: error.status, error_code: error.code, msg: error.message, ...error.extra },
    { status: error.status, headers },
  );
}

/** Successful answers echo the version too, as Auth does. */
export function authJson(request: Request, body: unknown, status = 200): Response {
  const headers = new Headers();
  if (wantsVersion2024(request)) headers.set(API_VERSION_HEADER, VERSION_2024);
  return Response.json(body, { status, headers });
}

// Auth's own constructors, by status (apierrors.New*Error).
export const badRequest = (code: string, msg: string) => new AuthError(400, code, msg);
export const unprocessable = (code: string, msg: string) => new AuthError(422, code, msg);
export const forbidden = (code: string, msg: string) => new AuthError(403, code, msg);
export const notFound = (code: string, msg: string) => new AuthError(404, code, msg);
export const unauthorized = (code: string, msg: string) => new AuthError(401, code, msg);
