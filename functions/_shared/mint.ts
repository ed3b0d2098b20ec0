/**
 * Minting project tokens for identities verified elsewhere (token exchange, for providers
 * Supabase does not trust natively, such as Logto).
 *
 * A minted token carries what PostgREST and RLS need and nothing the caller chose:
 * `role: "authenticated"` (without it PostgREST runs the request as `anon`),
 * `aud: "authenticated"`, `sub` = the caller's project id (`<id_prefix>:<provider sub>`, so it
 * cannot collide with a Supabase user or another issuer's user), `iat`, an `exp` that never
 * outlives the provider token, our own `iss`, a `kid` when the key has one.
 *
 * Of the provider's claims only an allowlist is copied: `idp`, `idp_iss`, `idp_sub`, `org_id`,
 * `email` only when the provider says `email_verified: true`, and `scope` only for scopes
 * the exchange grants (TOKEN_EXCHANGE_SCOPES). Never `aal`, `amr`, `session_id` or
 * `is_anonymous`: only Supabase Auth can vouch for those.
 */
import { importJWK, type JWK, SignJWT } from "jose";
import { importHmacKey } from "./hmac.ts";
import { publicPart } from "./jwks.ts";
import type { AuthConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";
import type { Identity } from "./identity.ts";
import type { MintedIssuer } from "./verify.ts";

export interface MintedToken {
  access_token: string;
  token_type: "bearer";
  expires_in: number;
  expires_at: number;
}

/** How verifiers recognise minted tokens: the same key material, public half only. */
export function mintedIssuer(config: AuthConfig): MintedIssuer | undefined {
  const { signingJwk, issuer } = config.exchange;
  if (signingJwk) {
    return { issuer, jwks: { keys: [publicPart(signingJwk as JWK)] } };
  }
  if (config.jwtSecret) return { issuer, secret: config.jwtSecret };
  return undefined;
}

const signingKeys = new WeakMap<object, Promise<CryptoKey>>();

export async function mintProjectToken(
  config: AuthConfig,
  identity: Identity,
  nowMs: number = Date.now(),
): Promise<MintedToken> {
  const { signingJwk, ttlSeconds, issuer, hs256Kid } = config.exchange;
  if (!signingJwk && !config.jwtSecret) {
    throw new ConfigError(
      "TOKEN_EXCHANGE_SIGNING_KEY",
      "and SB_JWT_SECRET are both unset, so no project token can be signed",
      "Set SB_JWT_SECRET (legacy secret) or TOKEN_EXCHANGE_SIGNING_KEY (a key imported into the project).",
    );
  }
  const now = Math.floor(nowMs / 1000);
  const exp = Math.min(identity.expiresAt, now + ttlSeconds);
  const claims: Record<string, unknown> = {
    role: "authenticated",
    idp: identity.provider,
    idp_iss: identity.issuer,
    idp_sub: identity.subject,
  };
  if (identity.email && identity.claims.email_verified === true) claims.email = identity.email;
  const granted = identity.scopes.filter((s) => config.exchange.grantScopes.includes(s));
  if (granted.length > 0) claims.scope = granted.join(" ");
  if (identity.org) claims.org_id = identity.org;

  const alg = signingJwk?.alg ?? "HS256";
  const kid = signingJwk?.kid ?? hs256Kid;
  let key = signingKeys.get(config);
  if (!key) {
    key = signingJwk
      ? importJWK(signingJwk, alg) as Promise<CryptoKey>
      : importHmacKey(config.jwtSecret!, ["sign"]);
    signingKeys.set(config, key);
  }
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg, typ: "JWT", ...(kid ? { kid } : {}) })
    .setIssuer(issuer)
    .setAudience("authenticated")
    .setSubject(identity.id)
    .setIssuedAt(now)
    .setExpirationTime(exp)
    .sign(await key);
  return { access_token: token, token_type: "bearer", expires_in: exp - now, expires_at: exp };
}
