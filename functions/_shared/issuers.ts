/**
 * Trusted issuers: who may sign tokens for this project, and what each one's tokens must say.
 *
 * Supabase Auth is always one of them. Others come from `AUTH_ISSUERS`, a JSON array:
 *   {issuer, jwks_url?, audience?, algorithms?, user_id_claim?, authorized_parties?,
 *    mode: "native" | "exchange", provider?, roles?, id_prefix?, machine?}
 * `native` issuers are trusted at /rest/v1 too (Supabase third-party auth); `exchange`
 * issuers are only accepted by the token-exchange function, which mints project tokens.
 *
 * An entry says everything its tokens may do, and nothing else is assumed:
 * - `roles`: the Postgres roles its tokens may name (default `["authenticated"]`; `anon`
 *   where listed; never `service_role` or anything else: that is for the project's keys).
 * - `id_prefix`: a user is (issuer, sub), so the id that policies compare is
 *   `<id_prefix>:<sub>` (default: the provider's name), never a bare third-party `sub`.
 * - `machine`: the only way a token counts as machine-to-machine (`{claim, value}`: the claim
 *   equals the value; `{claim, equals_claim}`: two claims are equal). Without it, a person.
 */
import { ConfigError } from "./errors.ts";
import { type Provider, PROVIDERS } from "./identity.ts";
import { ASYMMETRIC_ALGORITHMS, type AsymmetricAlgorithm, isAsymmetric } from "./jwt.ts";

/** `minted`: tokens our token-exchange function signs (see verify.ts). */
export type IssuerMode = "supabase" | "native" | "exchange" | "minted";

/** How an issuer marks client-credentials tokens: one claim's value, or two equal claims. */
export type MachineRule =
  | { claim: string; value: string }
  | { claim: string; equalsClaim: string };

/** Roles a third-party entry may allow; `service_role` comes only from the project's keys. */
export const THIRD_PARTY_ROLES = ["authenticated", "anon"] as const;

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
  /** Postgres roles this issuer's tokens may name; a token without `role` names `anon`. */
  roles: readonly string[];
  /** Prefix of the user id policies compare (`<prefix>:<sub>`); "" keeps the bare id. */
  idPrefix: string;
  /** The explicit rule for machine tokens; null: every token names a person. */
  machine: MachineRule | null;
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
  "roles",
  "id_prefix",
  "machine",
]);
const ID_PREFIX = /^[a-z][a-z0-9_-]{0,31}$/;
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
  const prefixes = new Set<string>();
  for (const [i, spec] of specs.entries()) {
    if (seen.has(spec.issuer)) {
      throw new ConfigError(`${variable}[${i}].issuer`, "repeats an issuer listed before it");
    }
    seen.add(spec.issuer);
    if (prefixes.has(spec.idPrefix)) {
      throw new ConfigError(
        `${variable}[${i}].id_prefix`,
        `"${spec.idPrefix}" is already the id prefix of an issuer listed before it`,
        "Give each issuer its own id_prefix, so that their users' ids cannot collide.",
      );
    }
    prefixes.add(spec.idPrefix);
  }
  return specs;
}

function parseIssuer(entry: unknown, at: string): IssuerSpec {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new ConfigError(at, "must be an object");
  }
  const fields = entry as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!FIELDS.has(key)) throw new ConfigError(`${at}.${key}`, "is not a known field");
  }
  const issuer = fields.issuer;
  if (typeof issuer !== "string" || !isHttpUrl(issuer)) {
    throw new ConfigError(`${at}.issuer`, "must be the issuer URL exactly as tokens carry it");
  }
  const mode = fields.mode;
  if (mode !== "native" && mode !== "exchange") {
    throw new ConfigError(`${at}.mode`, 'must be "native" or "exchange"');
  }
  const provider = fields.provider === undefined ? guessProvider(issuer) : fields.provider;
  if (typeof provider !== "string" || !THIRD_PARTY.has(provider)) {
    throw new ConfigError(`${at}.provider`, `must be one of ${[...THIRD_PARTY].join(", ")}`);
  }
  const audience = optionalStrings(fields.audience, `${at}.audience`);
  const authorizedParties = optionalStrings(fields.authorized_parties, `${at}.authorized_parties`);
  if (audience === null && authorizedParties === null) {
    throw new ConfigError(
      `${at}.audience`,
      "is required (or authorized_parties, for Clerk-style tokens without aud)",
      "Without an audience check, tokens this issuer minted for other apps would be accepted.",
    );
  }
  const algorithms = parseAlgorithms(fields.algorithms, `${at}.algorithms`);
  const userIdClaim = fields.user_id_claim ?? "sub";
  if (typeof userIdClaim !== "string" || userIdClaim === "") {
    throw new ConfigError(`${at}.user_id_claim`, "must be a claim name");
  }
  let jwksUrl: URL | null = null;
  if (fields.jwks_url !== undefined) {
    if (typeof fields.jwks_url !== "string" || !isHttpUrl(fields.jwks_url)) {
      throw new ConfigError(`${at}.jwks_url`, "must be an absolute http(s) URL");
    }
    jwksUrl = new URL(fields.jwks_url);
  }
  const roles = parseRoles(fields.roles, mode, `${at}.roles`);
  const idPrefix = fields.id_prefix ?? provider;
  if (typeof idPrefix !== "string" || !ID_PREFIX.test(idPrefix)) {
    throw new ConfigError(
      `${at}.id_prefix`,
      "must be 1 to 32 lowercase letters, digits, _ or -, starting with a letter",
    );
  }
  return {
    issuer,
    provider: provider as Provider,
    mode,
    audience,
    algorithms,
    userIdClaim,
    authorizedParties,
    jwksUrl,
    roles,
    idPrefix,
    machine: machineRule(fields.machine, `${at}.machine`),
  };
}

/** `algorithms`: a subset of the asymmetric ones (default all); never a shared secret. */
function parseAlgorithms(value: unknown, at: string): AsymmetricAlgorithm[] {
  const algorithms = optionalStrings(value, at) ?? ALL_ASYMMETRIC;
  for (const alg of algorithms) {
    if (!isAsymmetric(alg)) {
      throw new ConfigError(
        at,
        `lists "${alg}", not an asymmetric algorithm we verify`,
        `Use some of ${
          ALL_ASYMMETRIC.join(", ")
        }; shared secrets are for Supabase's legacy key only.`,
      );
    }
  }
  return algorithms as AsymmetricAlgorithm[];
}

/** `roles`: what a native issuer's tokens may name (default authenticated); not for exchange. */
function parseRoles(value: unknown, mode: IssuerMode, at: string): string[] {
  if (mode === "exchange" && value !== undefined) {
    throw new ConfigError(
      at,
      "does not apply to an exchange issuer: its tokens never reach the database",
      'The token-exchange function mints project tokens with role "authenticated".',
    );
  }
  const roles = optionalStrings(value, at) ?? ["authenticated"];
  for (const role of roles) {
    if (!(THIRD_PARTY_ROLES as readonly string[]).includes(role)) {
      throw new ConfigError(
        at,
        `lists "${role}": a third-party issuer may only name ${THIRD_PARTY_ROLES.join(" or ")}`,
        "service_role and database roles are for the project's own keys, never a provider's.",
      );
    }
  }
  return [...roles];
}

function machineRule(value: unknown, at: string): MachineRule | null {
  if (value === undefined || value === null) return null;
  const rule = value as Record<string, unknown>;
  const keys = typeof value === "object" && !Array.isArray(value) ? Object.keys(rule).sort() : [];
  const claimOk = typeof rule.claim === "string" && rule.claim !== "";
  if (claimOk && keys.join() === "claim,value" && typeof rule.value === "string") {
    return { claim: rule.claim as string, value: rule.value };
  }
  if (
    claimOk && keys.join() === "claim,equals_claim" && typeof rule.equals_claim === "string" &&
    rule.equals_claim !== "" && rule.equals_claim !== rule.claim
  ) {
    return { claim: rule.claim as string, equalsClaim: rule.equals_claim };
  }
  throw new ConfigError(
    at,
    'must be {"claim": "<name>", "value": "<string>"} or {"claim": "<name>", "equals_claim": "<other name>"}',
    'For Auth0 client-credentials tokens: {"claim": "gty", "value": "client-credentials"}.',
  );
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
