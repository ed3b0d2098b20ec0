/**
 * Local stand-in for Supabase Auth. No Supabase Auth (GoTrue) binary exists for our
 * machines, so these endpoints do what the functions and supabase-js rely on, the way
 * Auth does them, backed by the `auth.users` and `auth.sessions` tables:
 *
 *   GET  /auth/v1/.well-known/jwks.json   public signing key(s)
 *   GET  /auth/v1/user                    token verified, user exists and is not banned or
 *                                         deleted, session not signed out; Auth's error shape
 *   POST /auth/v1/logout?scope=global|local|others   signs sessions out (deletes rows)
 *   POST /auth/v1/_local/token            LOCAL ONLY, secret key required: creates the
 *                                         user/session if needed and signs an access token
 *                                         (what `deno task token` calls)
 */
import { errors as joseErrors, importJWK, type JWK, jwtVerify, SignJWT } from "jose";
import type { Sql } from "./db.ts";
import { publicSigningJwk, type StackKeys } from "./keys.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface AuthDeps {
  sql: Sql;
  keys: StackKeys;
  /** `${api_url}/auth/v1`: the iss of tokens this stack signs. */
  issuer: string;
  /** Does `apikey` hold the secret (or service_role) key? */
  isSecretKey: (value: string | null) => boolean;
}

export interface TokenRequest {
  sub: string;
  email?: string;
  role?: string;
  /** Lifetime in seconds (default 3600). */
  exp?: number;
  alg?: "ES256" | "HS256";
  session_id?: string;
  is_anonymous?: boolean;
  aal?: "aal1" | "aal2";
}

export function createAuthHandler(
  deps: AuthDeps,
): (request: Request, path: string) => Promise<Response> {
  const jwks = { keys: [publicSigningJwk(deps.keys)] };
  const secret = new TextEncoder().encode(deps.keys.jwtSecret);
  const signingKey = importJWK(deps.keys.signingKey, "ES256");
  const verifyKey = importJWK(publicSigningJwk(deps.keys) as JWK, "ES256");

  async function verify(request: Request): Promise<Record<string, unknown> | Response> {
    const header = request.headers.get("authorization") ?? "";
    const match = /^bearer ([A-Za-z0-9_\-.]+)$/i.exec(header.trim());
    if (!match) {
      return authError(401, "no_authorization", "This endpoint requires a valid Bearer token");
    }
    const token = match[1]!;
    try {
      const alg = JSON.parse(atob(token.split(".")[0]!.replace(/-/g, "+").replace(/_/g, "/"))).alg;
      const key = alg === "HS256" ? secret : await verifyKey;
      const { payload } = await jwtVerify(token, key, {
        algorithms: [alg === "HS256" ? "HS256" : "ES256"],
        issuer: deps.issuer,
      });
      return payload as Record<string, unknown>;
    } catch (error) {
      const why = error instanceof joseErrors.JWTExpired
        ? "token is expired"
        : "unable to parse or verify signature";
      return authError(403, "bad_jwt", `invalid JWT: ${why}`);
    }
  }

  async function getUser(request: Request): Promise<Response> {
    const claims = await verify(request);
    if (claims instanceof Response) return claims;
    const sub = String(claims.sub ?? "");
    if (!UUID.test(sub)) {
      return authError(403, "bad_jwt", "invalid claim: sub claim must be a UUID");
    }
    const [user] = await deps.sql`
      select id, aud, role, email, is_anonymous, banned_until, raw_app_meta_data, raw_user_meta_data,
             created_at, updated_at
      from auth.users where id = ${sub} and deleted_at is null`;
    if (!user) return authError(403, "user_not_found", "User from sub claim in JWT does not exist");
    if (user.banned_until && new Date(user.banned_until) > new Date()) {
      return authError(403, "user_banned", "User is banned");
    }
    if (typeof claims.session_id === "string") {
      const [session] = await deps.sql`
        select not_after from auth.sessions where id = ${claims.session_id} and user_id = ${sub}`;
      if (!session) {
        return authError(
          403,
          "session_not_found",
          "Session from session_id claim in JWT does not exist",
        );
      }
      if (session.not_after && new Date(session.not_after) < new Date()) {
        return authError(
          403,
          "session_expired",
          "Session from session_id claim in JWT has expired",
        );
      }
    }
    return Response.json({
      id: user.id,
      aud: user.aud,
      role: user.role,
      email: user.email ?? "",
      is_anonymous: user.is_anonymous,
      app_metadata: user.raw_app_meta_data,
      user_metadata: user.raw_user_meta_data,
      created_at: user.created_at,
      updated_at: user.updated_at,
    });
  }

  async function logout(request: Request): Promise<Response> {
    const claims = await verify(request);
    if (claims instanceof Response) return claims;
    const scope = new URL(request.url).searchParams.get("scope") ?? "global";
    const sub = String(claims.sub);
    const session = typeof claims.session_id === "string" ? claims.session_id : null;
    if (!UUID.test(sub)) {
      return authError(403, "bad_jwt", "invalid claim: sub claim must be a UUID");
    }
    if (scope === "local" && session) {
      await deps.sql`delete from auth.sessions where id = ${session} and user_id = ${sub}`;
    } else if (scope === "others" && session) {
      await deps.sql`delete from auth.sessions where user_id = ${sub} and id <> ${session}`;
    } else {
      await deps.sql`delete from auth.sessions where user_id = ${sub}`;
    }
    return new Response(null, { status: 204 });
  }

  async function localToken(request: Request): Promise<Response> {
    if (!deps.isSecretKey(request.headers.get("apikey"))) {
      return authError(
        401,
        "no_authorization",
        "This local endpoint requires the secret key as apikey",
      );
    }
    let body: TokenRequest;
    try {
      body = await request.json();
    } catch {
      return authError(400, "bad_json", "Body must be JSON");
    }
    try {
      return Response.json(await issueToken(deps, body, { secret, signingKey: await signingKey }));
    } catch (error) {
      return authError(400, "validation_failed", (error as Error).message);
    }
  }

  return async (request, path) => {
    if (path === "/.well-known/jwks.json" && request.method === "GET") {
      return Response.json(jwks, { headers: { "cache-control": "public, max-age=600" } });
    }
    if (path === "/user" && request.method === "GET") return await getUser(request);
    if (path === "/logout" && request.method === "POST") return await logout(request);
    if (path === "/_local/token" && request.method === "POST") return await localToken(request);
    return authError(
      404,
      "not_found",
      "This local Auth stand-in serves jwks.json, user, logout and _local/token only",
    );
  };
}

/** Create the user and session rows if needed, then sign an access token shaped like Auth's. */
export async function issueToken(
  deps: Pick<AuthDeps, "sql" | "keys" | "issuer">,
  request: TokenRequest,
  signing: { secret: Uint8Array; signingKey: CryptoKey | Uint8Array },
): Promise<
  {
    access_token: string;
    token_type: "bearer";
    expires_in: number;
    expires_at: number;
    user_id: string;
    session_id: string;
  }
> {
  const sub = request.sub;
  if (typeof sub !== "string" || !UUID.test(sub)) {
    throw new Error("sub must be a UUID (Supabase Auth user ids are UUIDs)");
  }
  const lifetime = request.exp ?? 3600;
  if (!Number.isInteger(lifetime) || lifetime < -86_400 || lifetime > 7 * 86_400) {
    throw new Error("exp must be a whole number of seconds, at most one week");
  }
  const sessionId = request.session_id ?? crypto.randomUUID();
  if (!UUID.test(sessionId)) throw new Error("session_id must be a UUID");
  const role = request.role ?? "authenticated";
  const email = request.email ?? null;
  const alg = request.alg ?? "ES256";
  if (alg !== "ES256" && alg !== "HS256") throw new Error("alg must be ES256 or HS256");
  await deps.sql`
    insert into auth.users (id, email, role, is_anonymous)
    values (${sub}, ${email}, ${role}, ${request.is_anonymous ?? false})
    on conflict (id) do update set email = coalesce(excluded.email, auth.users.email), updated_at = now()`;
  await deps.sql`
    insert into auth.sessions (id, user_id, aal) values (${sessionId}, ${sub}, ${
    request.aal ?? "aal1"
  })
    on conflict (id) do nothing`;
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: deps.issuer,
    aud: "authenticated",
    sub,
    role,
    email: email ?? "",
    phone: "",
    app_metadata: { provider: "email", providers: ["email"] },
    user_metadata: {},
    session_id: sessionId,
    aal: request.aal ?? "aal1",
    amr: [{ method: "password", timestamp: now }],
    is_anonymous: request.is_anonymous ?? false,
  };
  const header = alg === "HS256"
    ? { alg, typ: "JWT" }
    : { alg, typ: "JWT", kid: deps.keys.signingKey.kid };
  const token = await new SignJWT(claims)
    .setProtectedHeader(header)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime)
    .sign(alg === "HS256" ? signing.secret : signing.signingKey);
  return {
    access_token: token,
    token_type: "bearer",
    expires_in: lifetime,
    expires_at: now + lifetime,
    user_id: sub,
    session_id: sessionId,
  };
}

/** Supabase Auth's error body. */
function authError(status: number, code: string, msg: string): Response {
  return Response.json({ code: status, error_code: code, msg }, {
    status,
    headers: { "x-supabase-api-version": "2024-01-01" },
  });
}
