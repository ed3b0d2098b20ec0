/**
 * How a token is verified. One class, four strategies for Supabase-issued tokens:
 *
 * - `jwks`: asymmetric signature against the project's JWKS (ES256/RS256/EdDSA...).
 * - `secret`: legacy HS256 shared secret (`SB_JWT_SECRET`).
 * - `getUser`: ask Supabase Auth (`GET /auth/v1/user`). One round trip per call, but the
 *   only check that sees signed-out sessions and deleted or banned users.
 * - `auto`: local when we can (asymmetric with JWKS, HS256 with a secret), else `getUser`.
 *
 * Third-party issuers (Clerk, Auth0, Firebase, Logto, any OIDC) are always verified with
 * their own JWKS: Supabase Auth cannot vouch for them.
 *
 * Order of work, cheapest first, so garbage never costs network I/O: cache lookup ->
 * structural parse -> issuer routing by exact `iss` -> algorithm allowlist -> key lookup
 * (may fetch) -> signature + claims (jose) -> our extra claim checks -> identity.
 */
import {
  createClient,
  isAuthApiError,
  isAuthSessionMissingError,
  type SupabaseClient,
} from "@supabase/supabase-js";
import { errors as joseErrors, jwtVerify } from "jose";
import { HttpError } from "./errors.ts";
import {
  type Identity,
  type IdentitySource,
  type Provider,
  PROVIDERS,
  toIdentity,
} from "./identity.ts";
import type { IssuerSpec } from "./issuers.ts";
import { checkIssuerClaims, checkRole } from "./claim_rules.ts";
import { importHmacKey } from "./hmac.ts";
import { JwksKeySet, type JwksOptions } from "./jwks.ts";
import { discoverJwksUrl, type FetchLimits, withTimeout } from "./outgoing.ts";
import { type AsymmetricAlgorithm, isAsymmetric, type JwtPayload, parseJwt } from "./jwt.ts";
import { type CachedVerification, TokenCache } from "./token_cache.ts";

export type Strategy = "jwks" | "secret" | "getUser" | "auto";

export interface SupabaseAuthSettings {
  /** Project URL, e.g. https://<ref>.supabase.co; `getUser` calls `${url}/auth/v1/user`. */
  url: string;
  /** `iss` of Supabase Auth tokens, normally `${url}/auth/v1`. */
  issuer: string;
  /** A publishable (or anon) key, sent as `apikey` to Auth. */
  apiKey?: string;
  /** Inline JWKS (`SUPABASE_JWKS`), consulted before any fetch. */
  jwks?: unknown;
  /** Fetch `${url}/auth/v1/.well-known/jwks.json` for unknown kids (default true). */
  fetchJwks?: boolean;
  /** Legacy HS256 secret (`SB_JWT_SECRET`), at least 32 bytes. */
  jwtSecret?: Uint8Array;
}

/** Where tokens minted by the token-exchange function come from and how they are signed. */
export interface MintedIssuer {
  issuer: string;
  /** HS256 (the legacy project secret), when no asymmetric key is configured. */
  secret?: Uint8Array;
  /** Public JWKS of the asymmetric minting key. */
  jwks?: unknown;
}

export interface VerifierOptions {
  strategy: Strategy;
  supabase: SupabaseAuthSettings;
  /** Trust project tokens minted by token-exchange (accepted when `acceptModes` has `minted`). */
  minted?: MintedIssuer;
  /** Third-party issuers (see issuers.ts). */
  issuers?: readonly IssuerSpec[];
  /** Issuer modes this verifier accepts (default: supabase, native and minted). */
  acceptModes?: ReadonlyArray<IssuerSpec["mode"]>;
  /**
   * The token becomes a database session (the gateway in front of PostgREST): the role it
   * names, `anon` when it names none, must be one its issuer may name, machines included.
   * Functions leave this off: a machine token without `role` never reaches the database.
   */
  forDatabase?: boolean;
  /** Allowed clock difference for `exp`, `nbf` and `iat`, in seconds (default 30, as PostgREST). */
  clockSkewSeconds?: number;
  /** Tokens whose exp lies further ahead than this are refused (default 366 days). */
  maxTokenLifetimeSeconds?: number;
  /** Verified tokens remembered (default 1000; 0 disables). */
  tokenCacheSize?: number;
  /** Longest time one verification is reused, even for long-lived tokens (default 5 min). */
  tokenCacheMaxAgeMs?: number;
  /** Reuse a `getUser` answer for this long (default 0: every call asks Auth). */
  getUserCacheTtlMs?: number;
  /** JWKS cache behaviour, shared by every issuer. */
  jwks?: Omit<JwksOptions, "initial" | "url">;
  /** Timeout for calls to Supabase Auth (default 5 s). */
  authTimeoutMs?: number;
  now?: () => number;
  fetch?: typeof fetch;
  warn?: (message: string) => void;
}

/** An issuer plus its key set (and HMAC key, for issuers that accept HS256), ready to verify. */
interface Trusted {
  spec: IssuerSpec;
  keys: JwksKeySet;
  hmac?: Promise<CryptoKey>;
}

export class TokenVerifier {
  readonly strategy: Strategy;
  readonly #supabase: SupabaseAuthSettings;
  readonly #byIssuer = new Map<string, Trusted>();
  readonly #skew: number;
  readonly #maxLifetime: number;
  readonly #now: () => number;
  readonly #fetch: typeof fetch;
  readonly #cache: TokenCache;
  readonly #cacheMaxAgeMs: number;
  readonly #getUserTtlMs: number;
  readonly #authTimeoutMs: number;
  readonly #forDatabase: boolean;
  #authClient: SupabaseClient | undefined;

  constructor(options: VerifierOptions) {
    this.strategy = options.strategy;
    this.#supabase = options.supabase;
    this.#skew = options.clockSkewSeconds ?? 30;
    this.#maxLifetime = options.maxTokenLifetimeSeconds ?? 366 * 24 * 3600;
    this.#now = options.now ?? Date.now;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#cache = new TokenCache(options.tokenCacheSize ?? 1000);
    this.#cacheMaxAgeMs = options.tokenCacheMaxAgeMs ?? 5 * 60_000;
    this.#getUserTtlMs = options.getUserCacheTtlMs ?? 0;
    this.#authTimeoutMs = options.authTimeoutMs ?? 5_000;
    this.#forDatabase = options.forDatabase ?? false;
    if (options.supabase.jwtSecret && options.supabase.jwtSecret.byteLength < 32) {
      throw new Error("the HS256 secret must be at least 32 bytes");
    }
    const jwksDefaults: JwksOptions = {
      ...options.jwks,
      now: this.#now,
      fetch: this.#fetch,
      ...(options.warn ? { warn: options.warn } : {}),
    };
    const accept = new Set(options.acceptModes ?? ["supabase", "native", "minted"]);
    if (accept.has("supabase")) {
      this.#addSupabase(options.supabase, jwksDefaults);
    }
    if (accept.has("minted") && options.minted) {
      this.#addMinted(options.minted, jwksDefaults);
    }
    for (const spec of options.issuers ?? []) {
      if (!accept.has(spec.mode)) continue;
      const limits: FetchLimits = {
        timeoutMs: jwksDefaults.timeoutMs ?? 3_000,
        maxBytes: jwksDefaults.maxBytes ?? 256 * 1024,
        fetch: this.#fetch,
      };
      const url = spec.jwksUrl ?? (() => discoverJwksUrl(spec.issuer, limits));
      this.#byIssuer.set(spec.issuer, { spec, keys: new JwksKeySet({ ...jwksDefaults, url }) });
    }
  }

  /** Number of cached verifications (for tests and benchmarks). */
  get cacheSize(): number {
    return this.#cache.size;
  }

  /** The identity of an already verified, still valid token, without any async work. */
  lookup(token: string): Identity | undefined {
    return this.#cache.get(token, this.#now());
  }

  /** Verify a bearer token and return who it names. Throws `HttpError` otherwise. */
  async verify(token: string): Promise<Identity> {
    const now = this.#now();
    const cached = this.#cache.get(token, now);
    if (cached) return cached;

    const { header, payload } = parseJwt(token);
    const iss = payload.iss;
    const trusted = typeof iss === "string" ? this.#byIssuer.get(iss) : undefined;
    if (!trusted) {
      throw new HttpError("untrusted_issuer", "The token was not issued by a trusted issuer.", {
        hint: "Use a token from this project's Supabase Auth or a configured identity provider.",
      });
    }
    const isSupabase = trusted.spec.mode === "supabase";
    const alg = header.alg;

    if (isSupabase && this.#useGetUser(alg)) {
      return await this.#verifyWithAuthServer(token, payload, trusted.spec, now);
    }
    if (alg === "HS256") {
      if (!trusted.hmac) {
        throw new HttpError("unsupported_algorithm", "HS256 tokens are not accepted here.");
      }
      const claims = await this.#verifyLocally(token, await trusted.hmac, "HS256", trusted.spec);
      return this.#remember(token, claims, trusted.spec, now);
    }
    if (isSupabase && this.strategy === "secret") {
      throw new HttpError("unsupported_algorithm", "Only HS256 tokens are accepted here.");
    }
    if (!isAsymmetric(alg) || !trusted.spec.algorithms.includes(alg)) {
      throw new HttpError(
        "unsupported_algorithm",
        "This issuer's tokens may not use that algorithm.",
      );
    }
    const entry = await trusted.keys.getKey(header.kid, alg);
    let key: CryptoKey;
    try {
      key = await JwksKeySet.cryptoKey(entry, alg);
    } catch {
      throw new HttpError("unknown_key", "The issuer published a key that cannot be used.");
    }
    const claims = await this.#verifyLocally(token, key, alg, trusted.spec);
    return this.#remember(token, claims, trusted.spec, now, entry);
  }

  #useGetUser(alg: string): boolean {
    if (this.strategy === "getUser") return true;
    return this.strategy === "auto" && alg === "HS256" && !this.#supabase.jwtSecret;
  }

  async #verifyLocally(
    token: string,
    key: CryptoKey,
    alg: AsymmetricAlgorithm | "HS256",
    spec: IssuerSpec,
  ): Promise<JwtPayload> {
    let claims: JwtPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, key, {
        algorithms: [alg],
        issuer: spec.issuer,
        ...(spec.audience ? { audience: [...spec.audience] } : {}),
        clockTolerance: this.#skew,
        currentDate: new Date(this.#now()),
        requiredClaims: ["exp"],
      }));
    } catch (error) {
      throw fromJoseError(error);
    }
    checkIssuerClaims(claims, spec, {
      nowSec: this.#now() / 1000,
      skewSec: this.#skew,
      maxLifetimeSec: this.#maxLifetime,
    });
    return claims;
  }

  #remember(
    token: string,
    claims: JwtPayload,
    spec: IssuerSpec,
    now: number,
    key?: { retired: boolean },
    ttlMs = this.#cacheMaxAgeMs,
  ): Identity {
    const identity = toIdentity(claims, identitySource(spec, claims));
    checkRole(identity, spec, this.#forDatabase);
    const entry: CachedVerification = {
      identity,
      validUntil: Math.min((identity.expiresAt + this.#skew) * 1000, now + ttlMs),
    };
    if (key) entry.key = key;
    if (ttlMs > 0) this.#cache.set(token, entry);
    return identity;
  }

  /** `getUser`: Auth verifies the token and checks the user and session still exist. */
  async #verifyWithAuthServer(
    token: string,
    payload: JwtPayload,
    spec: IssuerSpec,
    now: number,
  ): Promise<Identity> {
    if (typeof payload.exp !== "number") {
      // Checked before the call: a token without a numeric exp is never worth a round trip.
      throw new HttpError("invalid_claims", 'The token has no numeric "exp" claim.');
    }
    // Auth checks the signature and the session; the audience is ours to check, as the
    // local strategies do, and costs no round trip.
    const auds = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (spec.audience && !auds.some((a) => spec.audience!.includes(a as string))) {
      throw new HttpError("invalid_audience", "The token was issued for another audience.", {
        hint: "Request a token for this API's audience.",
      });
    }
    const { data, error } = await this.#auth().auth.getUser(token);
    if (error || !data.user) throw fromAuthError(error, payload, now);
    if (data.user.id !== payload.sub) {
      throw new HttpError(
        "invalid_claims",
        "Supabase Auth returned a different user for this token.",
      );
    }
    return this.#remember(token, payload, spec, now, undefined, this.#getUserTtlMs);
  }

  #auth(): SupabaseClient {
    if (this.#authClient) return this.#authClient;
    const { url, apiKey } = this.#supabase;
    if (!apiKey) {
      throw new HttpError(
        "server_misconfigured",
        "No API key is configured to call Supabase Auth.",
        {
          hint: "Set SUPABASE_PUBLISHABLE_KEYS or SUPABASE_ANON_KEY.",
        },
      );
    }
    const timeoutMs = this.#authTimeoutMs;
    const baseFetch = this.#fetch;
    this.#authClient = createClient(url, apiKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: { fetch: withTimeout(baseFetch, timeoutMs) },
    });
    return this.#authClient;
  }

  #addSupabase(settings: SupabaseAuthSettings, jwks: JwksOptions): void {
    const spec = projectIssuer(settings.issuer, "supabase");
    const options: JwksOptions = { ...jwks };
    if (settings.jwks !== undefined) options.initial = settings.jwks;
    if (settings.fetchJwks !== false) {
      const url = new URL(`${settings.url.replace(/\/+$/, "")}/auth/v1/.well-known/jwks.json`);
      options.url = url;
    }
    // The `jwks` strategy refuses HS256 even when a secret is configured.
    const secret = this.strategy !== "jwks" ? settings.jwtSecret : undefined;
    this.#byIssuer.set(spec.issuer, {
      spec,
      keys: new JwksKeySet(options),
      ...(secret ? { hmac: importHmacKey(secret, ["verify"]) } : {}),
    });
  }

  #addMinted(minted: MintedIssuer, jwks: JwksOptions): void {
    const spec = projectIssuer(minted.issuer, "minted");
    const keys = new JwksKeySet({ ...jwks, initial: minted.jwks ?? [] });
    this.#byIssuer.set(spec.issuer, {
      spec,
      keys,
      ...(minted.secret ? { hmac: importHmacKey(minted.secret, ["verify"]) } : {}),
    });
  }
}

/**
 * Issuers of project tokens (Supabase Auth, token-exchange): aud `authenticated`, id in
 * `sub` as it is (minted tokens carry the provider's prefix in `sub` already). Only the
 * project's own Auth may name `service_role` or `anon`.
 */
function projectIssuer(issuer: string, mode: "supabase" | "minted"): IssuerSpec {
  return {
    issuer,
    provider: mode === "supabase" ? "supabase" : "oidc",
    mode,
    audience: ["authenticated"],
    algorithms: ["ES256", "RS256", "EdDSA", "Ed25519"],
    userIdClaim: "sub",
    authorizedParties: null,
    jwksUrl: null,
    roles: mode === "supabase" ? ["authenticated", "anon", "service_role"] : ["authenticated"],
    idPrefix: "",
    machine: null,
  };
}

/** A role name fit for a message: what a token says is never echoed unless it is plain. */

function identitySource(spec: IssuerSpec, claims: JwtPayload): IdentitySource {
  // A minted token names the identity provider that vouched for the user in `idp`.
  const provider = spec.mode === "minted" && PROVIDERS.includes(claims.idp as Provider)
    ? claims.idp as Provider
    : spec.provider;
  return {
    issuer: spec.issuer,
    provider,
    userIdClaim: spec.userIdClaim,
    idPrefix: spec.idPrefix,
    vouchesForSession: spec.mode === "supabase",
    machine: spec.machine,
  };
}

/** jose's typed errors, mapped to our stable codes. */
function fromJoseError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof joseErrors.JWTExpired) {
    return new HttpError("token_expired", "The token has expired.", {
      hint: "Refresh the session and retry with the new access token.",
    });
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.reason === "invalid") {
      return new HttpError(
        "invalid_claims",
        `The token's "${error.claim}" claim has the wrong type.`,
      );
    }
    switch (error.claim) {
      case "nbf":
        return new HttpError("token_not_yet_valid", "The token is not valid yet.");
      case "iss":
        return new HttpError("untrusted_issuer", "The token was not issued by a trusted issuer.");
      case "aud":
        return new HttpError("invalid_audience", "The token was issued for another audience.", {
          hint: "Request a token for this API's audience.",
        });
      default:
        return new HttpError("invalid_claims", `The token's "${error.claim}" claim is not valid.`);
    }
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new HttpError("invalid_signature", "The token signature is not valid.");
  }
  if (
    error instanceof joseErrors.JOSEAlgNotAllowed || error instanceof joseErrors.JOSENotSupported
  ) {
    return new HttpError("unsupported_algorithm", "The token's signing algorithm is not accepted.");
  }
  // JWSInvalid, JWTInvalid and anything a malformed token provokes in the crypto layer.
  return new HttpError("malformed_token", "The token could not be verified.");
}

/** Supabase Auth's answers to `GET /user`, mapped to our codes. */
function fromAuthError(error: unknown, payload: JwtPayload, now: number): HttpError {
  // auth-js turns Auth's 403 session_not_found into a client-side "session missing" error.
  if (isAuthSessionMissingError(error)) {
    return new HttpError("session_not_found", "The session of this token has ended.", {
      hint: "Sign in again.",
    });
  }
  if (isAuthApiError(error) && error.status > 0 && error.status < 500) {
    switch (error.code) {
      case "session_not_found":
      case "session_expired":
        return new HttpError("session_not_found", "The session of this token has ended.", {
          hint: "Sign in again.",
        });
      case "user_not_found":
        return new HttpError("user_not_found", "The user of this token no longer exists.");
      case "user_banned":
        return new HttpError("user_banned", "The user of this token is banned.");
      default:
        if (typeof payload.exp === "number" && payload.exp * 1000 <= now) {
          return new HttpError("token_expired", "The token has expired.", {
            hint: "Refresh the session and retry with the new access token.",
          });
        }
        return new HttpError("invalid_signature", "Supabase Auth rejected the token.");
    }
  }
  return new HttpError("auth_unavailable", "Supabase Auth cannot be reached right now.", {
    hint: "Retry shortly.",
    cause: error,
  });
}
