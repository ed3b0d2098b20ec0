/**
 * `withAuth(options, handler)`: the composition every function uses.
 *
 *   request -> CORS preflight -> method check -> authenticate -> guards -> handler
 *           -> CORS headers on whatever comes back, errors included
 *
 * Configuration is read on the first request and kept; a bad configuration answers every
 * request with 500 `server_misconfigured` naming the variable, instead of crashing the
 * worker at import time with a message nobody sees.
 */
import type { SupabaseClient } from "@supabase/supabase-js";
import { authenticate, type Caller, type CallerKind } from "./authenticate.ts";
import { createAdminClient, userClient } from "./clients.ts";
import { type AuthConfig, loadConfig } from "./config.ts";
import { applyCors, type CorsPolicy, isPreflight, preflightResponse } from "./cors.ts";
import { ConfigError, errorResponse, HttpError, REQUEST_ID_HEADER, toHttpError } from "./errors.ts";
import {
  type Identity,
  requireAal,
  requireClaims,
  requireRole,
  requireScopes,
} from "./identity.ts";
import { subPath } from "./http.ts";
import type { IssuerMode } from "./issuers.ts";
import { mintedIssuer } from "./mint.ts";
import { type Strategy, TokenVerifier, type VerifierOptions } from "./verify.ts";

export interface FunctionOptions {
  /** Who may call: any of `user`, `machine`, `secret`, `publishable`, `none`. */
  allow: CallerKind | readonly CallerKind[];
  /** How Supabase tokens are verified (default `auto`). */
  strategy?: Strategy;
  /** Roles a user token must carry (default `["authenticated"]`; null skips the check). */
  roles?: readonly string[] | null;
  /** Scopes a token must carry, all of them (typical for `machine`). */
  scopes?: readonly string[];
  /** Minimum authenticator assurance level of a user session. */
  aal?: "aal1" | "aal2" | "aal3";
  /** Claims that must match exactly or pass a predicate. */
  claims?: Readonly<Record<string, unknown>>;
  /** Methods the function answers; others get 405 with `Allow`. */
  methods?: readonly string[];
  /** Expose `ctx.admin` (the RLS-bypassing client). Off unless asked for. */
  admin?: boolean;
  /** Cache `getUser` answers this long (opt-in; default 0). */
  getUserCacheTtlMs?: number;
  /**
   * Which issuers' tokens are accepted (default supabase, native and minted). Only
   * token-exchange should accept `exchange` issuers, whose tokens PostgREST does not trust.
   */
  issuerModes?: readonly IssuerMode[];
  /** Inject configuration (tests); defaults to reading the environment once. */
  config?: AuthConfig | (() => AuthConfig);
  /** Inject the clock and fetch (tests). */
  now?: () => number;
  fetch?: typeof fetch;
}

export interface Context {
  caller: Caller;
  /** The verified user or machine, or null for API-key and anonymous callers. */
  identity: Identity | null;
  /** Path segments after the function name. */
  path: string[];
  config: AuthConfig;
  /** Acts as the caller (RLS applies). Created on first use. */
  readonly supabase: SupabaseClient;
  /** Bypasses RLS. Only when the function was declared with `admin: true`. */
  readonly admin: SupabaseClient;
}

export type Handler = (request: Request, ctx: Context) => Response | Promise<Response>;

const FALLBACK_CORS: CorsPolicy = { origins: "*" };

export function withAuth(
  options: FunctionOptions,
  handler: Handler,
): (request: Request) => Promise<Response> {
  const accept = new Set<CallerKind>(
    typeof options.allow === "string" ? [options.allow] : options.allow,
  );
  const methods = options.methods?.map((m) => m.toUpperCase());
  const roles = options.roles === undefined ? ["authenticated"] : options.roles;
  let setup: { config: AuthConfig; verifier: TokenVerifier; cors: CorsPolicy } | undefined;
  let setupError: HttpError | undefined;

  function prepare() {
    if (setup) return setup;
    if (setupError) throw setupError;
    try {
      const config = typeof options.config === "function"
        ? options.config()
        : options.config ?? loadConfig();
      if (options.strategy === "secret" && !config.jwtSecret) {
        throw new ConfigError("SB_JWT_SECRET", "is required by this function's secret strategy");
      }
      const verifier = createVerifier(config, {
        strategy: options.strategy ?? "auto",
        acceptModes: options.issuerModes ?? ["supabase", "native", "minted"],
        getUserCacheTtlMs: options.getUserCacheTtlMs ?? 0,
        ...(options.now ? { now: options.now } : {}),
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
      setup = { config, verifier, cors: { origins: config.corsOrigins } };
      return setup;
    } catch (error) {
      setupError = toHttpError(error);
      logError(setupError);
      throw setupError;
    }
  }

  return async function handle(request: Request): Promise<Response> {
    let cors = FALLBACK_CORS;
    try {
      const { config, verifier, cors: policy } = prepare();
      cors = policy;
      if (isPreflight(request)) return preflightResponse(request, cors);
      if (methods && !methods.includes(request.method)) {
        throw new HttpError("method_not_allowed", `${request.method} is not supported here.`, {
          headers: { allow: [...methods, "OPTIONS"].join(", ") },
        });
      }
      const caller = await authenticate(request, accept, { verifier, apiKeys: config.apiKeys });
      const identity = "identity" in caller ? caller.identity : null;
      if (identity) {
        if (identity.kind === "user" && roles) requireRole(identity, roles);
        if (options.scopes) requireScopes(identity, options.scopes);
        if (options.aal) requireAal(identity, options.aal);
        if (options.claims) requireClaims(identity, options.claims);
      }
      const ctx = makeContext(caller, identity, subPath(request), config, options.admin === true);
      return applyCors(await handler(request, ctx), request, cors);
    } catch (error) {
      const httpError = toHttpError(error);
      if (httpError.status >= 500) {
        // One id for the log line and the answer: the platform's request id when it sent one.
        httpError.requestId = requestIdOf(request);
        logError(httpError);
      }
      return applyCors(errorResponse(httpError), request, cors);
    }
  };
}

/** The gateway's `sb-request-id`, or a new id (a request that came some other way). */
function requestIdOf(request: Request): string {
  const given = request.headers.get(REQUEST_ID_HEADER);
  return given && /^[A-Za-z0-9-]{8,64}$/.test(given) ? given : crypto.randomUUID();
}

/** What a verifier takes beyond the configuration: how strict, which issuers, test hooks. */
export type VerifierChoices = Pick<
  VerifierOptions,
  "strategy" | "acceptModes" | "getUserCacheTtlMs" | "forDatabase" | "now" | "fetch"
>;

/** A verifier for this configuration: every function and the local gateway build it here. */
export function createVerifier(config: AuthConfig, choices: VerifierChoices): TokenVerifier {
  return new TokenVerifier({
    ...choices,
    supabase: {
      url: config.supabaseUrl,
      issuer: config.supabaseIssuer,
      ...(config.publicApiKey ? { apiKey: config.publicApiKey } : {}),
      ...(config.supabaseJwks !== undefined ? { jwks: config.supabaseJwks } : {}),
      fetchJwks: config.fetchSupabaseJwks,
      ...(config.jwtSecret ? { jwtSecret: config.jwtSecret } : {}),
    },
    issuers: config.issuers,
    minted: mintedIssuer(config),
    clockSkewSeconds: config.clockSkewSeconds,
    tokenCacheSize: config.tokenCacheSize,
    jwks: config.jwks,
  });
}

function makeContext(
  caller: Caller,
  identity: Identity | null,
  path: string[],
  config: AuthConfig,
  adminAllowed: boolean,
): Context {
  let supabase: SupabaseClient | undefined;
  const token = "token" in caller ? caller.token : null;
  return {
    caller,
    identity,
    path,
    config,
    get supabase() {
      return supabase ??= userClient(config, token, identity?.expiresAt);
    },
    get admin() {
      if (!adminAllowed) {
        throw new HttpError("internal_error", "This function did not declare admin access.", {
          hint: "Pass admin: true to withAuth if the function must bypass RLS.",
        });
      }
      return createAdminClient(config);
    },
  };
}

/**
 * One line per server-side failure: its request id, code, message and the cause's stack, never
 * a credential (causes are errors of this code and its libraries, not request data).
 */
function logError(error: HttpError): void {
  const cause = error.cause instanceof Error
    ? `${error.cause.name}: ${error.cause.message}`
    : undefined;
  const stack = error.cause instanceof Error ? error.cause.stack : undefined;
  console.error(
    JSON.stringify({
      level: "error",
      ...(error.requestId ? { request_id: error.requestId } : {}),
      code: error.code,
      message: error.message,
      cause,
      ...(stack ? { stack } : {}),
    }),
  );
}
