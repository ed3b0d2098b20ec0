/**
 * Configuration, read from the environment once and validated. Every error names the
 * variable (never its value) and answers 500 `server_misconfigured` with a hint.
 * The README's env table documents each variable read here.
 */
import { ApiKeyRing } from "./apikeys.ts";
import { ConfigError } from "./errors.ts";
import { type IssuerSpec, parseIssuers } from "./issuers.ts";
import { isLoopbackHost } from "./outgoing.ts";

export type EnvReader = (name: string) => string | undefined;

export interface AuthConfig {
  supabaseUrl: string;
  /** `iss` of this project's Supabase Auth tokens. */
  supabaseIssuer: string;
  apiKeys: ApiKeyRing;
  /** Key for user-scoped clients and calls to Auth: default publishable key, else anon. */
  publicApiKey: string | undefined;
  /** Key for the admin client: default secret key, else service_role. */
  secretApiKey: string | undefined;
  jwtSecret: Uint8Array | undefined;
  supabaseJwks: unknown;
  /** False when SUPABASE_URL is plain http to another host: keys then come only from SUPABASE_JWKS. */
  fetchSupabaseJwks: boolean;
  issuers: readonly IssuerSpec[];
  clockSkewSeconds: number;
  corsOrigins: "*" | ReadonlySet<string>;
  tokenCacheSize: number;
  jwks: { cooldownMs: number; maxAgeMs: number; timeoutMs: number };
  exchange: ExchangeConfig;
}

/** How token-exchange mints project tokens (and how every function recognises them). */
export interface ExchangeConfig {
  /** `iss` of minted tokens. */
  issuer: string;
  /** Lifetime cap in seconds; a minted token never outlives the provider token either. */
  ttlSeconds: number;
  /** Mint for machine-to-machine provider tokens too. */
  allowMachines: boolean;
  /** Private JWK (with kid) of an asymmetric key imported into the project; else HS256. */
  signingJwk: (JsonWebKey & { kid: string; alg: string }) | undefined;
  /** kid put on HS256 minted tokens (the legacy secret's kid, when the project shows one). */
  hs256Kid: string | undefined;
  /** Provider scopes a minted token may carry (default none): the exchange grants these only. */
  grantScopes: readonly string[];
}

const MIN_SECRET_LENGTH = 32;

/** Read and check every setting, one small parser per group; a bad value names its variable. */
export function loadConfig(env: EnvReader = (name) => Deno.env.get(name)): AuthConfig {
  const project = readProject(env);
  const { apiKeys, legacyAnon, legacyServiceRole } = readApiKeys(env);
  const issuers = readIssuers(env, project.supabaseIssuer);
  const exchange = readExchange(env, project.base, project.supabaseIssuer);
  return {
    supabaseUrl: project.base,
    supabaseIssuer: project.supabaseIssuer,
    apiKeys,
    publicApiKey: apiKeys.first("publishable", false) ?? legacyAnon,
    secretApiKey: apiKeys.first("secret", false) ?? legacyServiceRole,
    jwtSecret: readJwtSecret(env),
    supabaseJwks: readSupabaseJwks(env),
    fetchSupabaseJwks: project.url.protocol === "https:" || isLoopbackHost(project.url.hostname),
    issuers,
    clockSkewSeconds: integer(env, "AUTH_CLOCK_SKEW_SECONDS", 30, 0, 300),
    corsOrigins: origins(env, "AUTH_CORS_ORIGINS"),
    tokenCacheSize: integer(env, "AUTH_TOKEN_CACHE_SIZE", 1000, 0, 1_000_000),
    jwks: {
      cooldownMs: integer(env, "AUTH_JWKS_COOLDOWN_SECONDS", 30, 1, 3600) * 1000,
      maxAgeMs: integer(env, "AUTH_JWKS_MAX_AGE_SECONDS", 600, 10, 86_400) * 1000,
      timeoutMs: integer(env, "AUTH_JWKS_TIMEOUT_MS", 3000, 100, 60_000),
    },
    exchange,
  };
}

/** SUPABASE_URL and the issuer of the project's own tokens. */
function readProject(env: EnvReader): { url: URL; base: string; supabaseIssuer: string } {
  const supabaseUrl = required(env, "SUPABASE_URL");
  let url: URL;
  try {
    url = new URL(supabaseUrl);
  } catch {
    throw new ConfigError("SUPABASE_URL", "is not an absolute URL");
  }
  const base = supabaseUrl.replace(/\/+$/, "");
  return {
    url,
    base,
    supabaseIssuer: optional(env, "AUTH_SUPABASE_ISSUER") ?? `${base}/auth/v1`,
  };
}

/** The new API keys and the legacy anon / service_role JWT keys, in one constant-time ring. */
function readApiKeys(env: EnvReader) {
  const legacyAnon = optional(env, "SUPABASE_ANON_KEY");
  const legacyServiceRole = optional(env, "SUPABASE_SERVICE_ROLE_KEY");
  const apiKeys = new ApiKeyRing({
    publishable: keyMap(env, "SUPABASE_PUBLISHABLE_KEYS"),
    secret: keyMap(env, "SUPABASE_SECRET_KEYS"),
    ...(legacyAnon ? { legacyAnon } : {}),
    ...(legacyServiceRole ? { legacyServiceRole } : {}),
  });
  return { apiKeys, legacyAnon, legacyServiceRole };
}

/** SB_JWT_SECRET: absent, or long enough to be a real HS256 secret. */
function readJwtSecret(env: EnvReader): Uint8Array | undefined {
  const raw = env("SB_JWT_SECRET");
  if (raw === undefined) return undefined;
  if (raw.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(
      "SB_JWT_SECRET",
      raw === "" ? "is empty" : `is shorter than ${MIN_SECRET_LENGTH} characters`,
      "Copy the project's legacy JWT secret (Settings > API), or unset SB_JWT_SECRET.",
    );
  }
  return new TextEncoder().encode(raw);
}

/** SUPABASE_JWKS: a JWK Set or a bare array of keys, known before any fetch. */
function readSupabaseJwks(env: EnvReader): unknown {
  const raw = optional(env, "SUPABASE_JWKS");
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError("SUPABASE_JWKS", "is not valid JSON");
  }
  const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) {
    throw new ConfigError("SUPABASE_JWKS", 'must be a JWK Set ({"keys": [...]}) or an array');
  }
  return parsed;
}

/** AUTH_ISSUERS, plus what only makes sense next to this project: its own issuer, TLS. */
function readIssuers(env: EnvReader, supabaseIssuer: string): IssuerSpec[] {
  const raw = optional(env, "AUTH_ISSUERS");
  const issuers = raw === undefined ? [] : parseIssuers(raw);
  const insecure = (u: URL) => u.protocol === "http:" && !isLoopbackHost(u.hostname);
  for (const [i, spec] of issuers.entries()) {
    if (spec.issuer === supabaseIssuer) {
      throw new ConfigError(
        `AUTH_ISSUERS[${i}].issuer`,
        "is this project's own Supabase Auth issuer",
      );
    }
    if (spec.jwksUrl && insecure(spec.jwksUrl)) {
      throw new ConfigError(
        `AUTH_ISSUERS[${i}].jwks_url`,
        "uses plain http to a non-loopback host",
        "Keys fetched without TLS can be swapped in transit: use https.",
      );
    }
    if (!spec.jwksUrl && insecure(new URL(spec.issuer))) {
      throw new ConfigError(
        `AUTH_ISSUERS[${i}].issuer`,
        "uses plain http to a non-loopback host, so its discovery and keys would travel without TLS",
      );
    }
  }
  return issuers;
}

/** TOKEN_EXCHANGE_*: how minted project tokens look. */
function readExchange(env: EnvReader, base: string, supabaseIssuer: string): ExchangeConfig {
  const exchange: ExchangeConfig = {
    issuer: optional(env, "TOKEN_EXCHANGE_ISSUER") ?? `${base}/functions/v1/token-exchange`,
    ttlSeconds: integer(env, "TOKEN_EXCHANGE_TTL", 300, 30, 3600),
    allowMachines: boolean(env, "TOKEN_EXCHANGE_ALLOW_M2M", false),
    signingJwk: signingJwk(env, "TOKEN_EXCHANGE_SIGNING_KEY"),
    hs256Kid: optional(env, "TOKEN_EXCHANGE_KID"),
    grantScopes: (optional(env, "TOKEN_EXCHANGE_SCOPES") ?? "").split(/\s+/).filter(Boolean),
  };
  if (exchange.issuer === supabaseIssuer) {
    throw new ConfigError("TOKEN_EXCHANGE_ISSUER", "must differ from Supabase Auth's issuer");
  }
  return exchange;
}

function boolean(env: EnvReader, name: string, fallback: boolean): boolean {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(name, "must be true or false");
}

const SIGNING_ALGS = new Set(["ES256", "RS256", "EdDSA"]);

function signingJwk(env: EnvReader, name: string): ExchangeConfig["signingJwk"] {
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  let jwk: Record<string, unknown>;
  try {
    jwk = JSON.parse(raw);
  } catch {
    throw new ConfigError(name, "is not valid JSON (expected a private JWK)");
  }
  if (typeof jwk !== "object" || jwk === null || typeof jwk.d !== "string") {
    throw new ConfigError(name, "must be a private JWK (with its d member)");
  }
  if (typeof jwk.kid !== "string" || jwk.kid === "") {
    throw new ConfigError(
      name,
      "needs a kid: Supabase only trusts custom-minted tokens that carry one",
    );
  }
  if (typeof jwk.alg !== "string" || !SIGNING_ALGS.has(jwk.alg)) {
    throw new ConfigError(name, "needs alg ES256, RS256 or EdDSA");
  }
  return jwk as unknown as ExchangeConfig["signingJwk"];
}

function optional(env: EnvReader, name: string): string | undefined {
  const value = env(name)?.trim();
  return value === undefined || value === "" ? undefined : value;
}

function required(env: EnvReader, name: string): string {
  const value = optional(env, name);
  if (value === undefined) throw new ConfigError(name, "is not set");
  return value;
}

function integer(env: EnvReader, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

function keyMap(env: EnvReader, name: string): Record<string, string> {
  const raw = optional(env, name);
  if (raw === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ConfigError(name, "is not valid JSON", `Set ${name} to {"default":"<key>"}.`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(name, 'must be a JSON object like {"default":"<key>"}');
  }
  for (const [keyName, key] of Object.entries(value)) {
    if (typeof key !== "string" || key.length < 16) {
      throw new ConfigError(name, `has a key "${keyName}" that is not a key string`);
    }
  }
  return value as Record<string, string>;
}

function origins(env: EnvReader, name: string): "*" | ReadonlySet<string> {
  const raw = optional(env, name);
  if (raw === undefined || raw === "*") return "*";
  const list = raw.split(",").map((s) => s.trim()).filter(Boolean);
  for (const origin of list) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch { /* reported below */ }
    if (!parsed || parsed.origin !== origin) {
      throw new ConfigError(
        name,
        `lists "${origin}", which is not an origin like https://app.example.com`,
      );
    }
  }
  return new Set(list);
}
