/**
 * Who is calling: turns a request's credentials into a `Caller`, given what a function
 * accepts. The rules:
 *
 * - A bearer that is not an API key is a token and must verify. A token that fails is a
 *   401, never a fallback to a weaker mode (publishable key, anonymous).
 * - API keys are read from `apikey`; supabase-js also repeats the key as the bearer when
 *   no user is signed in, which is accepted when both match.
 * - No credentials at all: 401 `missing_credentials`, unless the function accepts `none`.
 */
import type { ApiKeyMatch, ApiKeyRing } from "./apikeys.ts";
import { looksLikeApiKey } from "./apikeys.ts";
import { extractApiKey, extractBearer } from "./bearer.ts";
import { HttpError } from "./errors.ts";
import type { Identity } from "./identity.ts";
import type { TokenVerifier } from "./verify.ts";

/** What a function accepts. `user` and `machine` are tokens; the others are API keys. */
export type CallerKind = "user" | "machine" | "secret" | "publishable" | "none";

export type Caller =
  | { kind: "user" | "machine"; identity: Identity; token: string; apiKey: ApiKeyMatch | null }
  | { kind: "secret" | "publishable"; apiKey: ApiKeyMatch }
  | { kind: "none" };

export interface AuthenticateDeps {
  verifier: TokenVerifier;
  apiKeys: ApiKeyRing;
}

export async function authenticate(
  request: Request,
  accept: ReadonlySet<CallerKind>,
  deps: AuthenticateDeps,
): Promise<Caller> {
  const bearer = extractBearer(request);
  const apiKeyHeader = extractApiKey(request);
  const acceptsTokens = accept.has("user") || accept.has("machine");

  // A token this function verified before: a synchronous cache hit, and no need to hash the
  // bearer for the API-key check below (API keys never enter the verified-token cache).
  const known = bearer !== null && acceptsTokens ? deps.verifier.lookup(bearer) : undefined;

  // A bearer that is an API key (new-style prefix, or a configured legacy JWT key).
  const bearerKey = bearer !== null && !known &&
      (looksLikeApiKey(bearer) || deps.apiKeys.match(bearer) !== null)
    ? bearer
    : null;

  if (bearer !== null && bearerKey === null && acceptsTokens) {
    const identity = known ?? await deps.verifier.verify(bearer);
    if (!accept.has(identity.kind)) {
      throw new HttpError(
        "forbidden",
        identity.kind === "machine"
          ? "Machine-to-machine tokens are not accepted by this function."
          : "User tokens are not accepted by this function; it is for servers.",
      );
    }
    const apiKey = apiKeyHeader === null ? null : matchKey(apiKeyHeader, deps.apiKeys);
    return { kind: identity.kind, identity, token: bearer, apiKey };
  }

  if (apiKeyHeader !== null && bearerKey !== null && apiKeyHeader !== bearerKey) {
    throw new HttpError("invalid_api_key", "The apikey header and the bearer hold different keys.");
  }
  const presented = apiKeyHeader ?? bearerKey;
  if (presented !== null) {
    const match = matchKey(presented, deps.apiKeys);
    if (match.kind === "secret" && accept.has("secret")) return { kind: "secret", apiKey: match };
    if (accept.has("publishable")) return { kind: "publishable", apiKey: match };
    if (accept.has("none")) return { kind: "none" };
    throw keyNotEnough(accept);
  }
  if (bearer !== null && !acceptsTokens && !accept.has("none")) {
    throw new HttpError(
      "invalid_api_key",
      "This function is called with an API key, not a token.",
      {
        hint: "Send the project's secret key in the apikey header.",
      },
    );
  }
  if (accept.has("none")) return { kind: "none" };
  throw new HttpError("missing_credentials", "This function requires authentication.", {
    hint: acceptsTokens
      ? 'Send "Authorization: Bearer <access token>" from a signed-in session.'
      : "Send the project's secret key in the apikey header.",
  });
}

function matchKey(presented: string, ring: ApiKeyRing): ApiKeyMatch {
  const match = ring.match(presented);
  if (!match) {
    throw new HttpError("invalid_api_key", "The API key is not valid for this project.", {
      hint: "Use a current publishable or secret key from the project's API settings.",
    });
  }
  return match;
}

function keyNotEnough(accept: ReadonlySet<CallerKind>): HttpError {
  if (accept.has("user")) {
    return new HttpError("user_token_required", "This function requires a signed-in user.", {
      hint: 'Sign in, then send "Authorization: Bearer <access token>".',
    });
  }
  return new HttpError("forbidden", "This API key may not call this function.", {
    hint: accept.has("machine")
      ? "Use the project's secret key, or a machine token with the required scopes."
      : "This function requires the project's secret key.",
  });
}
