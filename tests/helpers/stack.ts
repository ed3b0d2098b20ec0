/**
 * The local stack for end-to-end tests, plus the test identity providers it trusts.
 *
 * `deno task test` (scripts/test.ts) starts one stack for the whole run and passes it in
 * `EDGE_STACK`. A test module run on its own (`deno test tests/x_test.ts`) starts its own
 * instead, so every test file also works alone.
 */
import { importJWK, type JWK, SignJWT } from "jose";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import postgres from "postgres";
import { freePort } from "../../stack/db/ports.ts";
import type { Stack, StackOptions, StackStatus } from "../../stack/start.ts";
import { type IssuerServer, startIssuer } from "./issuer_server.ts";
import { makeKey } from "./keys.ts";

export interface TestProvider {
  issuer: string;
  jwksUrl: string;
  kid: string;
  alg: string;
  privateJwk: JWK;
}

export interface StackContext {
  status: StackStatus;
  clerk: TestProvider;
  logto: TestProvider;
  /** A generic OIDC issuer, native, `audience: "proj-a"`, machines by `gty`. */
  acme: TestProvider;
  /** The app's origin: allowed by AUTH_CORS_ORIGINS, and Clerk tokens' `azp`. */
  appOrigin: string;
}

export const LOGTO_AUDIENCE = "https://api.edge-auth.test";

/**
 * Auth's rate limits for stacks many tests share: every test connects from 127.0.0.1, so the
 * CLI's defaults would throttle the suite itself. tests/hardening_test.ts checks the limits.
 */
export const SUITE_RATE_LIMITS = {
  signInSignUps: 1_000_000,
  anonymousUsers: 1_000_000,
  tokenRefresh: 1_000_000,
  tokenVerifications: 1_000_000,
  emailSent: 1_000_000,
  mfaChallengeAndVerify: 1_000_000,
};
export const ACME_AUDIENCE = "proj-a";

/** Start the providers, and describe the env the stack needs to trust them. */
export async function startProviders(): Promise<{
  servers: IssuerServer[];
  clerk: TestProvider;
  logto: TestProvider;
  acme: TestProvider;
  appOrigin: string;
  functionEnv: Record<string, string>;
}> {
  const appOrigin = `http://127.0.0.1:${await freePort()}`;
  const clerkKey = await makeKey("RS256", "clerk-test-1");
  const logtoKey = await makeKey("ES384", "logto-test-1");
  const clerkServer = startIssuer({ keys: [clerkKey.publicJwk] });
  const logtoServer = startIssuer({ keys: [logtoKey.publicJwk], issuerPath: "/oidc" });
  const acmeKey = await makeKey("ES256", "acme-test-1");
  const acmeServer = startIssuer({ keys: [acmeKey.publicJwk], issuerPath: "/acme" });
  const provider = (server: IssuerServer, key: typeof clerkKey) =>
    crypto.subtle.exportKey("jwk", key.privateKey).then((jwk) => ({
      issuer: server.issuer,
      jwksUrl: server.jwksUrl,
      kid: key.kid,
      alg: key.alg,
      privateJwk: jwk as JWK,
    }));
  const clerk = await provider(clerkServer, clerkKey);
  const logto = await provider(logtoServer, logtoKey);
  const acme = await provider(acmeServer, acmeKey);
  return {
    servers: [clerkServer, logtoServer, acmeServer],
    clerk,
    logto,
    acme,
    appOrigin,
    functionEnv: providerEnv({ clerk, logto, acme, appOrigin }),
  };
}

/** The env the stack's functions get to trust the test providers (AUTH_ISSUERS and CORS). */
export function providerEnv(
  { clerk, logto, acme, appOrigin }: Pick<StackContext, "clerk" | "logto" | "acme" | "appOrigin">,
): Record<string, string> {
  return {
    AUTH_ISSUERS: JSON.stringify([
      {
        issuer: clerk.issuer,
        jwks_url: clerk.jwksUrl,
        mode: "native",
        provider: "clerk",
        authorized_parties: [appOrigin],
      },
      {
        issuer: logto.issuer,
        mode: "exchange",
        provider: "logto",
        audience: LOGTO_AUDIENCE,
        machine: { claim: "sub", equals_claim: "client_id" },
      },
      {
        issuer: acme.issuer,
        jwks_url: acme.jwksUrl,
        mode: "native",
        provider: "oidc",
        id_prefix: "acme",
        audience: ACME_AUDIENCE,
        machine: { claim: "gty", value: "client-credentials" },
      },
    ]),
    AUTH_CORS_ORIGINS: appOrigin,
    // The exchange passes on only these of a provider's scopes.
    TOKEN_EXCHANGE_SCOPES: "profile tasks:read",
  };
}

/** A volume multiplier from the environment (FUZZ_HTTP_SCALE, LOAD_SCALE): 1 unless set. */
export function envScale(name: string): number {
  const value = Deno.env.get(name) ?? "1";
  if (!/^[1-9][0-9]{0,2}$/.test(value)) {
    throw new Error(`${name} must be a whole number from 1 to 999, got "${value}"`);
  }
  return Number(value);
}

let local: Promise<StackContext> | undefined;

export function stackContext(): Promise<StackContext> {
  const shared = Deno.env.get("EDGE_STACK");
  if (shared) return Promise.resolve(JSON.parse(shared) as StackContext);
  local ??= privateStack().then((own) => {
    globalThis.addEventListener("unload", () => void own.stop());
    return own.ctx;
  });
  return local;
}

/** A stack of this module's own, with its own providers (for tests that count fetches). */
export async function privateStack(): Promise<{
  ctx: StackContext;
  stack: Stack;
  servers: IssuerServer[];
  logs: string[];
  stop(): Promise<void>;
}> {
  const { startStack } = await import("../../stack/start.ts");
  const providers = await startProviders();
  const logs: string[] = [];
  const stack = await startStack({
    port: 0,
    dataDir: null,
    keysPath: null,
    functionEnv: providers.functionEnv,
    authSettings: { rateLimits: SUITE_RATE_LIMITS },
    log: (line) => logs.push(line),
  });
  return {
    ctx: {
      status: stack.status,
      clerk: providers.clerk,
      logto: providers.logto,
      acme: providers.acme,
      appOrigin: providers.appOrigin,
    },
    stack,
    servers: providers.servers,
    logs,
    async stop() {
      await stack.stop();
      await Promise.all(providers.servers.map((s) => s.close()));
    },
  };
}

/** Options for tests that share a stack across a module (resources outlive one test). */
export const E2E = { sanitizeOps: false, sanitizeResources: false } as const;

/** A Supabase user's access token from the stack's local Auth (creates the user and session). */
export async function userToken(
  status: StackStatus,
  body: {
    sub?: string;
    email?: string;
    exp?: number;
    alg?: "ES256" | "HS256";
    session_id?: string;
    role?: string;
  } = {},
): Promise<{ token: string; sub: string; sessionId: string }> {
  const sub = body.sub ?? crypto.randomUUID();
  const response = await fetch(`${status.api_url}/auth/v1/_local/token`, {
    method: "POST",
    headers: { apikey: status.secret_key, "content-type": "application/json" },
    body: JSON.stringify({ ...body, sub }),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`token: ${JSON.stringify(answer)}`);
  return { token: answer.access_token, sub, sessionId: answer.session_id };
}

/** A token signed by a test provider (Clerk-like or Logto-like). */
export async function providerToken(
  provider: TestProvider,
  claims: Record<string, unknown>,
): Promise<string> {
  const key = await importJWK(provider.privateJwk, provider.alg);
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({ iss: provider.issuer, iat: now, exp: now + 600, ...claims })
    .setProtectedHeader({ alg: provider.alg, kid: provider.kid, typ: "JWT" })
    .sign(key);
}

/** supabase-js as an app would create it, with the caller's token (or none). */
export function appClient(status: StackStatus, token?: string): SupabaseClient {
  return createClient(status.api_url, status.publishable_key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    ...(token ? { accessToken: () => Promise.resolve(token) } : {}),
  });
}

/** A superuser SQL connection to the stack's database (for arranging and checking state). */
export function adminSql(status: StackStatus): ReturnType<typeof postgres> {
  return postgres(status.db_url, { max: 1, prepare: false, onnotice: () => {} });
}

/**
 * A stack of a test's own: random ports, a throwaway cluster and keys, no log, the suite's rate
 * limits; `options` on top (its authSettings merged over those limits).
 */
export async function ownStack(options: StackOptions = {}): Promise<Stack> {
  const { startStack } = await import("../../stack/start.ts");
  return await startStack({
    port: 0,
    dataDir: null,
    keysPath: null,
    log: () => {},
    ...options,
    authSettings: { rateLimits: SUITE_RATE_LIMITS, ...options.authSettings },
  });
}
