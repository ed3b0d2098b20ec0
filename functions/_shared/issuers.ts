/**
 * Trusted issuers: who may sign tokens for this project, and what each one's tokens must say.
 *
 * Supabase Auth is always one of them. Others come from `AUTH_ISSUERS`, a JSON array:
 *   {issuer, jwks_url?, audience?, algorithms?, user_id_claim?, authorized_parties?,
 *    mode: "native" | "exchange", provider?}
 * `native` issuers are trusted by PostgREST too (Supabase third-party auth); `exchange`
 * issuers are only accepted by the token-exchange function, which mints project tokens.
 */
import { ConfigError } from "./errors.ts";
import { type Provider, PROVIDERS } from "./identity.ts";
import { ASYMMETRIC_ALGORITHMS, type AsymmetricAlgorithm, isAsymmetric } from "./jwt.ts";

/** `minted`: tokens our token-exchange function signs (see verify.ts). */
export type IssuerMode = "supabase" | "native" | "exchange" | "minted";

export interface IssuerSpec {
  /** Exact `iss` value; compared byte for byte. */
  issuer: string;
  provider: Provider;
  mode: IssuerMode;
  /** Accepted `aud` values (any one must match); null only with `authorizedParties`. */
  audience: readonly string[] | null;
  algorithms: readonly AsymmetricAlgorithm[];
  userIdClaim: string;
  /** Accepted `azp` values (Clerk checks origins here instead of `aud`). */
  authorizedParties: readonly string[] | null;
  /** Explicit JWKS URL; when absent, OIDC discovery from the issuer finds it. */
  jwksUrl: URL | null;
}

const ALL_ASYMMETRIC = Object.keys(ASYMMETRIC_ALGORITHMS) as AsymmetricAlgorithm[];
const FIELDS = new Set([
  "issuer",
  "jwks_url",
  "audience",
  "algorithms",
  "user_id_claim",
  "authorized_parties",
  "mode",
  "provider",
]);
/** Providers AUTH_ISSUERS may name (Supabase Auth is configured by SUPABASE_URL). */
const THIRD_PARTY = new Set<string>(PROVIDERS.filter((p) => p !== "supabase"));

/** Parse `AUTH_ISSUERS`. Every error names the variable and the offending entry and field. */
export function parseIssuers(raw: string, variable = "AUTH_ISSUERS"): IssuerSpec[] {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ConfigError(variable, "is not valid JSON", `Set ${variable} to a JSON array.`);
  }
  if (!Array.isArray(value)) {
    throw new ConfigError(variable, "must be a JSON array of issuer objects");
  }
  const specs = value.map((entry, i) => parseIssuer(entry, `${variable}[${i}]`));
  const seen = new Set<string>();
  for (const [i, spec] of specs.entries()) {
    if (seen.has(spec.issuer)) {
      throw new ConfigError(`${variable}[${i}].issuer`, "repeats an issuer listed before it");
    }
    seen.add(spec.issuer);
  }
  return specs;
}

function parseIssuer(entry: unknown, at: string): IssuerSpec {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new ConfigError(at, "must be an object");
  }
  const e = entry as Record<string, unknown>;
  for (const key of Object.keys(e)) {
    if (!FIELDS.has(key)) throw new ConfigError(`${at}.${key}`, "is not a known field");
  }
  const issuer = e.issuer;
  if (typeof issuer !== "string" || !isHttpUrl(issuer)) {
    throw new ConfigError(`${at}.issuer`, "must be the issuer URL exactly as tokens carry it");
  }
  const mode = e.mode;
  if (mode !== "native" && mode !== "exchange") {
    throw new ConfigError(`${at}.mode`, 'must be "native" or "exchange"');
  }
  const provider = e.provider === undefined ? guessProvider(issuer) : e.provider;
  if (typeof provider !== "string" || !THIRD_PARTY.has(provider)) {
    throw new ConfigError(`${at}.provider`, `must be one of ${[...THIRD_PARTY].join(", ")}`);
  }
  const audience = optionalStrings(e.audience, `${at}.audience`);
  const authorizedParties = optionalStrings(e.authorized_parties, `${at}.authorized_parties`);
  if (audience === null && authorizedParties === null) {
    throw new ConfigError(
      `${at}.audience`,
      "is required (or authorized_parties, for Clerk-style tokens without aud)",
      "Without an audience check, tokens this issuer minted for other apps would be accepted.",
    );
  }
  const algorithms = optionalStrings(e.algorithms, `${at}.algorithms`) ?? ALL_ASYMMETRIC;
  for (const alg of algorithms) {
    if (!isAsymmetric(alg)) {
      throw new ConfigError(
        `${at}.algorithms`,
        `lists "${alg}", not an asymmetric algorithm we verify`,
        `Use some of ${
          ALL_ASYMMETRIC.join(", ")
        }; shared secrets are for Supabase's legacy key only.`,
      );
    }
  }
  const userIdClaim = e.user_id_claim ?? "sub";
  if (typeof userIdClaim !== "string" || userIdClaim === "") {
    throw new ConfigError(`${at}.user_id_claim`, "must be a claim name");
  }
  let jwksUrl: URL | null = null;
  if (e.jwks_url !== undefined) {
    if (typeof e.jwks_url !== "string" || !isHttpUrl(e.jwks_url)) {
      throw new ConfigError(`${at}.jwks_url`, "must be an absolute http(s) URL");
    }
    jwksUrl = new URL(e.jwks_url);
  }
  return {
    issuer,
    provider: provider as Provider,
    mode,
    audience,
    algorithms: algorithms as AsymmetricAlgorithm[],
    userIdClaim,
    authorizedParties,
    jwksUrl,
  };
}

function optionalStrings(value: unknown, at: string): string[] | null {
  if (value === undefined || value === null) return null;
  const list = typeof value === "string" ? [value] : value;
  if (
    !Array.isArray(list) || list.length === 0 ||
    !list.every((v) => typeof v === "string" && v !== "")
  ) {
    throw new ConfigError(at, "must be a non-empty string or array of strings");
  }
  return list as string[];
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

/** Provider from well-known issuer hosts; anything else is a generic OIDC issuer. */
export function guessProvider(issuer: string): Provider {
  const host = new URL(issuer).hostname;
  if (host.endsWith(".clerk.accounts.dev") || host.startsWith("clerk.")) return "clerk";
  if (host.endsWith(".auth0.com")) return "auth0";
  if (host === "securetoken.google.com") return "firebase";
  if (host.endsWith(".logto.app") || new URL(issuer).pathname === "/oidc") return "logto";
  return "oidc";
}

/** Where OIDC discovery looks for an issuer's metadata (trailing slash tolerated, as Auth0 has). */
export function discoveryUrl(issuer: string): URL {
  return new URL(`${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`);
}
