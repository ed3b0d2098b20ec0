/**
 * The `[auth]` settings of `supabase/config.toml` the local Auth honours, with the Supabase
 * CLI's defaults where a key is absent.
 */
import { parse } from "smol-toml";
import { DEFAULT_RATE_LIMITS, type RateLimitSettings } from "./rate_limits.ts";

export interface AuthSettings {
  siteUrl: string;
  /** Access token lifetime, seconds (`[auth] jwt_expiry`). */
  jwtExpiry: number;
  rotation: boolean;
  /** Seconds a rotated refresh token may still be used (`refresh_token_reuse_interval`). */
  reuseInterval: number;
  /** `[auth] enable_signup`: false refuses every sign-up. */
  signup: boolean;
  /** `[auth.email] enable_signup`: the email provider. */
  emailProvider: boolean;
  /** `[auth.email] enable_confirmations`: false signs a new user in at once. */
  confirmations: boolean;
  anonymous: boolean;
  minPasswordLength: number;
  /** Access tokens: the stack's ES256 key (`kid` in the JWKS) or the legacy HS256 secret. */
  signingAlg: "ES256" | "HS256";
  /** `[auth.rate_limit]` (./rate_limits.ts). */
  rateLimits: RateLimitSettings;
}

export const DEFAULT_AUTH_SETTINGS: AuthSettings = {
  siteUrl: "http://127.0.0.1:3000",
  jwtExpiry: 3600,
  rotation: true,
  reuseInterval: 10,
  signup: true,
  emailProvider: true,
  confirmations: false,
  anonymous: false,
  minPasswordLength: 6,
  signingAlg: "ES256",
  rateLimits: DEFAULT_RATE_LIMITS,
};

type Table = Record<string, unknown>;

/** Read config.toml (absent file: the defaults). A wrong type names the key and stops the start. */
export function readAuthSettings(
  tomlText: string | null,
  signingAlg: string | undefined,
): AuthSettings {
  const root = tomlText === null ? {} : parse(tomlText) as Table;
  const auth = (root.auth ?? {}) as Table;
  const email = (auth.email ?? {}) as Table;
  const limits = (auth.rate_limit ?? {}) as Table;
  const pick = <T>(
    table: Table,
    key: string,
    type: "string" | "number" | "boolean",
    fallback: T,
    at: string,
  ): T => {
    const value = table[key];
    if (value === undefined) return fallback;
    const actual = typeof value;
    if (actual !== type) {
      throw new Error(`supabase/config.toml: ${at}.${key} must be a ${type}`);
    }
    return value as T;
  };
  const integer = (table: Table, key: string, fallback: number, at: string, min: number) => {
    const n = pick<number>(table, key, "number", fallback, at);
    if (!Number.isInteger(n) || n < min) {
      throw new Error(`supabase/config.toml: ${at}.${key} must be a whole number >= ${min}`);
    }
    return n;
  };
  const alg = signingAlg ?? DEFAULT_AUTH_SETTINGS.signingAlg;
  if (alg !== "ES256" && alg !== "HS256") {
    throw new Error("LOCAL_AUTH_JWT_ALG must be ES256 or HS256");
  }
  const defaults = DEFAULT_AUTH_SETTINGS;
  return {
    siteUrl: pick(auth, "site_url", "string", defaults.siteUrl, "auth"),
    jwtExpiry: integer(auth, "jwt_expiry", defaults.jwtExpiry, "auth", 30),
    rotation: pick(auth, "enable_refresh_token_rotation", "boolean", defaults.rotation, "auth"),
    reuseInterval: integer(auth, "refresh_token_reuse_interval", defaults.reuseInterval, "auth", 0),
    signup: pick(auth, "enable_signup", "boolean", defaults.signup, "auth"),
    // `enabled` (CLI 3) or `enable_signup` (CLI 2, deprecated in 3); default on.
    emailProvider: pick(
      email,
      "enabled",
      "boolean",
      pick(email, "enable_signup", "boolean", defaults.emailProvider, "auth.email"),
      "auth.email",
    ),
    confirmations: pick(
      email,
      "enable_confirmations",
      "boolean",
      defaults.confirmations,
      "auth.email",
    ),
    anonymous: pick(auth, "enable_anonymous_sign_ins", "boolean", defaults.anonymous, "auth"),
    minPasswordLength: integer(
      auth,
      "minimum_password_length",
      defaults.minPasswordLength,
      "auth",
      1,
    ),
    signingAlg: alg,
    rateLimits: {
      signInSignUps: integer(
        limits,
        "sign_in_sign_ups",
        defaults.rateLimits.signInSignUps,
        "auth.rate_limit",
        1,
      ),
      anonymousUsers: integer(
        limits,
        "anonymous_users",
        defaults.rateLimits.anonymousUsers,
        "auth.rate_limit",
        1,
      ),
      tokenRefresh: integer(
        limits,
        "token_refresh",
        defaults.rateLimits.tokenRefresh,
        "auth.rate_limit",
        1,
      ),
      tokenVerifications: integer(
        limits,
        "token_verifications",
        defaults.rateLimits.tokenVerifications,
        "auth.rate_limit",
        1,
      ),
      emailSent: integer(limits, "email_sent", defaults.rateLimits.emailSent, "auth.rate_limit", 1),
      mfaChallengeAndVerify: defaults.rateLimits.mfaChallengeAndVerify,
    },
  };
}
