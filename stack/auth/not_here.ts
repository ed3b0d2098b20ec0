/**
 * GoTrue routes for features the local Auth does not run, answered as GoTrue answers them with
 * the feature off (its middleware's words: supabase/auth internal/api/middleware.go), never a
 * bare 404: SAML SSO, passkeys, SCIM, custom OAuth providers, identity linking, web3 and
 * id_token sign-in, external OAuth providers, phone. What a client sees is what it would see
 * from a project with these off.
 */
import { AuthError, badRequest, unprocessable } from "./errors.ts";

const samlDisabled = () => new AuthError(404, "saml_provider_disabled", "SAML 2.0 is disabled");
export const manualLinkingDisabled = () =>
  new AuthError(404, "manual_linking_disabled", "Manual linking is disabled");

/** The refusal for a path under /auth/v1 no built route takes, or null. */
export function featureOff(path: string): AuthError | null {
  const under = (prefix: string) => path === prefix || path.startsWith(`${prefix}/`);
  if (under("/sso")) return samlDisabled();
  if (under("/passkeys")) return new AuthError(404, "passkey_disabled", "Passkeys are disabled");
  if (under("/scim/v2")) return new AuthError(404, "feature_disabled", "SCIM server is disabled");
  return null;
}

/** Admin routes (after the admin check) for features off, or null. */
export function adminFeatureOff(path: string, method: string): AuthError | null {
  const under = (prefix: string) => path === prefix || path.startsWith(`${prefix}/`);
  if (under("/admin/custom-providers")) {
    return new AuthError(404, "feature_disabled", "Custom OAuth providers are disabled");
  }
  if (under("/admin/sso/providers") && !(path === "/admin/sso/providers" && method === "GET")) {
    return samlDisabled();
  }
  if (/^\/admin\/users\/[^/]+\/passkeys(\/|$)/.test(path)) {
    return new AuthError(404, "passkey_disabled", "Passkeys are disabled");
  }
  return null;
}

/** The issuer GoTrue checks an id_token against, for the providers it knows by name. */
const ID_TOKEN_ISSUERS: Record<string, string> = {
  google: "https://accounts.google.com",
  apple: "https://appleid.apple.com",
  azure: "https://login.microsoftonline.com/common/v2.0",
  facebook: "https://www.facebook.com",
  kakao: "https://kauth.kakao.com",
  keycloak: "",
};

/** POST /token?grant_type=id_token with no external provider enabled (none are, here). */
export function idTokenRefusal(params: Record<string, unknown>): AuthError {
  const provider = typeof params.provider === "string" ? params.provider : "";
  const issuer = typeof params.issuer === "string" && params.issuer !== ""
    ? params.issuer
    : ID_TOKEN_ISSUERS[provider];
  if (typeof params.id_token !== "string" || params.id_token === "") {
    return badRequest("validation_failed", "id_token required");
  }
  if (!issuer) {
    return badRequest("validation_failed", `Custom OIDC provider "${provider}" not allowed`);
  }
  return badRequest("provider_disabled", `Provider (issuer "${issuer}") is not enabled`);
}

/** POST /token?grant_type=web3: no web3 provider (Solana, Ethereum) is enabled here. */
export function web3Refusal(): AuthError {
  return unprocessable("web3_provider_disabled", "Web3 provider is disabled");
}

/** GET /authorize: no external OAuth provider is enabled here. */
export function authorizeRefusal(url: URL): AuthError {
  const provider = url.searchParams.get("provider") ?? "";
  if (provider === "") {
    return badRequest("validation_failed", "Unsupported provider: missing provider");
  }
  return badRequest("validation_failed", "Unsupported provider: provider is not enabled");
}

/** GoTrue's validatePhone: a leading + and spaces dropped, then E.164 digits. */
export function checkPhone(phone: string): string {
  const digits = phone.replace(/^\+/, "").replaceAll(" ", "");
  if (!/^[1-9]\d{1,14}$/.test(digits)) {
    throw badRequest("validation_failed", "Invalid phone number format (E.164 required)");
  }
  return digits;
}
