/**
 * Credential extraction (RFC 6750 section 2.1): `Authorization: Bearer <token>` only.
 *
 * - the scheme is case-insensitive, exactly one space-delimited token follows it;
 * - one Authorization header only (Fetch joins repeated headers with ", ", and a comma
 *   can never appear in a b64token, so two headers are detected reliably);
 * - tokens in the query string are refused, because URLs end up in logs and referrers.
 */
import { HttpError } from "./errors.ts";

/** The b64token grammar of RFC 6750 section 2.1. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Upper bound for anything we accept in Authorization or apikey, checked before parsing. */
export const MAX_CREDENTIAL_LENGTH = 16 * 1024;

/** Query parameters that carry tokens in RFC 6750 section 2.3 or common clients. */
const QUERY_TOKEN_PARAMS = ["access_token", "token", "apikey", "jwt"];

/**
 * Returns the bearer token, or `null` when the request carries no Authorization header.
 * Throws `HttpError` (401) for any header that is present but not one well-formed token.
 * `queryTokens: "ignore"` is for /rest/v1, where `?token=eq.1` filters a column.
 */
export function extractBearer(
  request: Request,
  options: { queryTokens: "refuse" | "ignore" } = { queryTokens: "refuse" },
): string | null {
  if (options.queryTokens === "refuse") refuseQueryTokens(request);
  const header = request.headers.get("authorization");
  if (header === null) return null;
  if (header.length > MAX_CREDENTIAL_LENGTH) {
    throw new HttpError("token_too_large", "The Authorization header is too large.");
  }
  const value = header.trim();
  if (value === "") {
    throw invalidHeader("The Authorization header is empty.");
  }
  if (value.includes(",")) {
    throw invalidHeader("Send exactly one Authorization header with one bearer token.");
  }
  const space = value.indexOf(" ");
  const scheme = space === -1 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== "bearer") {
    throw invalidHeader("The Authorization header must use the Bearer scheme.");
  }
  const token = space === -1 ? "" : value.slice(space + 1);
  if (token === "") {
    throw invalidHeader("The Bearer scheme needs a token after it.");
  }
  if (!B64TOKEN.test(token)) {
    throw invalidHeader("The bearer token must be one token without spaces or separators.");
  }
  return token;
}

/** The `apikey` header, or `null`. Same size and shape rules as a bearer token. */
export function extractApiKey(request: Request): string | null {
  const header = request.headers.get("apikey");
  if (header === null) return null;
  if (header.length > MAX_CREDENTIAL_LENGTH) {
    throw new HttpError("invalid_api_key", "The apikey header is too large.");
  }
  const value = header.trim();
  if (value === "" || value.includes(",") || !B64TOKEN.test(value)) {
    throw new HttpError("invalid_api_key", "Send exactly one apikey header holding one key.", {
      hint: "Use the project's publishable or secret key as the apikey header value.",
    });
  }
  return value;
}

function refuseQueryTokens(request: Request): void {
  const query = request.url.indexOf("?");
  if (query === -1) return;
  const params = new URL(request.url).searchParams;
  for (const name of QUERY_TOKEN_PARAMS) {
    if (params.has(name)) {
      throw new HttpError(
        "invalid_authorization_header",
        "Credentials in the URL are not accepted.",
        { hint: "Send the token in the Authorization header: URLs are logged." },
      );
    }
  }
}

function invalidHeader(message: string): HttpError {
  return new HttpError("invalid_authorization_header", message, {
    hint: 'Send "Authorization: Bearer <access token>".',
  });
}
