/**
 * Sessions, refresh tokens and access tokens, as Supabase Auth keeps and issues them.
 *
 * - A session is an `auth.sessions` row; how it was authenticated is in `auth.mfa_amr_claims`.
 * - Refresh tokens are opaque (12 characters, [a-z0-9], Auth's v1 form), single use, each
 *   linked to the one it replaced by `parent` (supabase/auth internal/tokens/service.go):
 *   refreshing a revoked token that is the parent of the session's live token returns that
 *   live token (two tabs refreshing at once); within `refresh_token_reuse_interval` of its
 *   revocation a revoked token is swapped again; after it, with rotation on, the reuse is
 *   taken for theft: the session ends (its row and every refresh token go, so its access
 *   tokens fail at /user at once) and the answer is `refresh_token_already_used`. Auth
 *   itself revokes the session's tokens but keeps the row; ending it is the stricter reading.
 * - Access tokens carry Auth's claims and are signed with the stack's ES256 key (its `kid`
 *   is in the JWKS) or the legacy HS256 secret.
 */
import { SignJWT } from "jose";
import type { Sql } from "../db/database.ts";
import type { StackKeys } from "../keys.ts";
import { badRequest } from "./errors.ts";
import { checkHookClaims, type Hooks } from "./hooks.ts";
import type { AuthSettings } from "./settings.ts";
import { isBanned, userJson, type UserRow } from "./users.ts";

export interface Signer {
  keys: StackKeys;
  issuer: string;
  /** The project's signing key (ES256, or RS256 from signing_keys_path) and its algorithm. */
  asymmetric: CryptoKey;
  asymmetricAlg: "ES256" | "RS256";
  hs256: Uint8Array;
  /** `[auth.hook.custom_access_token]` runs on every token signed here. */
  hooks?: Hooks;
}

export interface AccessTokenOptions {
  alg?: "ES256" | "HS256";
  /** Lifetime in seconds. */
  lifetime?: number;
  /** Overrides for `deno task token` (role, aal). */
  role?: string;
  aal?: string;
  /** How the user authenticated for this token (the hook's `authentication_method`). */
  method?: string;
}

export interface TokenResponse {
  access_token: string;
  token_type: "bearer";
  expires_in: number;
  expires_at: number;
  refresh_token: string;
  user: Record<string, unknown>;
}

const ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyz0123456789";

/** Auth's SecureAlphanumeric(12): uniform over [a-z0-9] (rejection sampling, no modulo bias). */
export function newRefreshToken(): string {
  let out = "";
  while (out.length < 12) {
    for (const byte of crypto.getRandomValues(new Uint8Array(16))) {
      if (byte < 252 && out.length < 12) out += ALPHANUMERIC[byte % 36];
    }
  }
  return out;
}

/** Sign an access token for a user's session, shaped like Auth's. */
export async function signAccessToken(
  sql: Sql,
  signer: Signer,
  settings: AuthSettings,
  user: UserRow,
  sessionId: string,
  options: AccessTokenOptions = {},
): Promise<{ token: string; expiresIn: number; expiresAt: number }> {
  const now = Math.floor(Date.now() / 1000);
  const lifetime = options.lifetime ?? settings.jwtExpiry;
  const amr = await sql<{ method: string; timestamp: number }[]>`
    select authentication_method as method, extract(epoch from created_at)::bigint as timestamp
    from auth.mfa_amr_claims where session_id = ${sessionId} order by created_at desc`;
  const [session] = await sql`select aal from auth.sessions where id = ${sessionId}`;
  const alg = options.alg ?? settings.signingAlg;
  let claims: Record<string, unknown> = {
    iss: signer.issuer,
    aud: user.aud ?? "authenticated",
    sub: user.id,
    email: user.email ?? "",
    phone: user.phone ?? "",
    app_metadata: user.raw_app_meta_data ?? {},
    user_metadata: user.raw_user_meta_data ?? {},
    role: options.role ?? user.role ?? "authenticated",
    aal: options.aal ?? session?.aal ?? "aal1",
    amr: amr.map((a) => ({ method: a.method, timestamp: Number(a.timestamp) })),
    session_id: sessionId,
    is_anonymous: user.is_anonymous ?? false,
  };
  if (signer.hooks?.enabled("custom_access_token")) {
    // GoTrue hands the hook the claims with exp and iat, and signs what it answers.
    const output = await signer.hooks.run("custom_access_token", {
      user_id: user.id,
      claims: { ...claims, exp: now + lifetime, iat: now },
      authentication_method: options.method ?? "password",
    });
    claims = checkHookClaims(output ?? null);
  }
  // "ES256" asks for the project's signing key, whatever its algorithm (RS256 from a file).
  const header = alg === "HS256"
    ? { alg, typ: "JWT" }
    : { alg: signer.asymmetricAlg, typ: "JWT", kid: signer.keys.signingKey.kid };
  const jwt = new SignJWT(claims).setProtectedHeader(header);
  if (claims.iat === undefined) jwt.setIssuedAt(now);
  if (claims.exp === undefined) jwt.setExpirationTime(now + lifetime);
  const token = await jwt.sign(alg === "HS256" ? signer.hs256 : signer.asymmetric);
  const expiresAt = typeof claims.exp === "number" ? claims.exp : now + lifetime;
  return { token, expiresIn: expiresAt - now, expiresAt };
}

/** A new session for a user who just authenticated with `method`; returns Auth's token answer. */
export async function startSession(
  sql: Sql,
  signer: Signer,
  settings: AuthSettings,
  user: UserRow,
  method: string,
  options: AccessTokenOptions & { sessionId?: string; userAgent?: string | null } = {},
): Promise<TokenResponse> {
  const sessionId = options.sessionId ?? crypto.randomUUID();
  const refreshToken = newRefreshToken();
  await sql.begin(async (tx) => {
    await tx`
      insert into auth.sessions (id, user_id, aal, user_agent, created_at, updated_at)
      values (${sessionId}, ${user.id}, ${options.aal ?? "aal1"}, ${options.userAgent ?? null},
              now(), now())`;
    await tx`
      insert into auth.mfa_amr_claims (session_id, authentication_method)
      values (${sessionId}, ${method})`;
    await tx`
      insert into auth.refresh_tokens (instance_id, token, user_id, session_id)
      values (${user.instance_id ?? null}, ${refreshToken}, ${user.id}, ${sessionId})`;
    await tx`update auth.users set last_sign_in_at = now(), updated_at = now() where id = ${user.id}`;
    await tx`update auth.identities set last_sign_in_at = now() where user_id = ${user.id}`;
  });
  // Re-read: the sign-in just set last_sign_in_at.
  const [signedIn] = await sql`select * from auth.users where id = ${user.id}`;
  return await answer(sql, signer, settings, signedIn!, sessionId, refreshToken, {
    ...options,
    method,
  });
}

async function answer(
  sql: Sql,
  signer: Signer,
  settings: AuthSettings,
  user: UserRow,
  sessionId: string,
  refreshToken: string,
  options: AccessTokenOptions = {},
): Promise<TokenResponse> {
  const access = await signAccessToken(sql, signer, settings, user, sessionId, options);
  return {
    access_token: access.token,
    token_type: "bearer",
    expires_in: access.expiresIn,
    expires_at: access.expiresAt,
    refresh_token: refreshToken,
    user: await userJson(sql, user),
  };
}

/** POST /token?grant_type=refresh_token. */
export async function refreshSession(
  sql: Sql,
  signer: Signer,
  settings: AuthSettings,
  presented: unknown,
): Promise<TokenResponse> {
  if (
    typeof presented !== "string" || presented.length < 12 ||
    (presented.length === 12 && !/^[a-z0-9]{12}$/.test(presented))
  ) {
    throw badRequest("validation_failed", "Refresh token is not valid");
  }
  let outcome: { sessionId: string; user: UserRow; token: string } | null = null;
  // One transaction, the token row locked: concurrent refreshes of one token queue here.
  // A theft verdict commits (the session stays ended) before it is answered.
  await sql.begin(async (tx) => {
    const { token, user, session } = await refreshable(tx, presented);
    const issued = await rotate(tx, token, session.id, settings);
    if (issued === null) return;
    await tx`update auth.sessions set refreshed_at = now(), updated_at = now() where id = ${session.id}`;
    outcome = { sessionId: session.id, user, token: issued };
  });
  const done = outcome as { sessionId: string; user: UserRow; token: string } | null;
  if (!done) throw badRequest("refresh_token_already_used", "Invalid Refresh Token: Already Used");
  return await answer(sql, signer, settings, done.user, done.sessionId, done.token, {
    method: "token_refresh",
  });
}

/** The token row (locked), its user and its session, or Auth's reason why it cannot refresh. */
// deno-lint-ignore no-explicit-any
async function refreshable(tx: any, presented: string) {
  const notFound = () =>
    badRequest("refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
  const [token] = await tx`
    select id, token, user_id, revoked, parent, session_id, updated_at
    from auth.refresh_tokens where token = ${presented} for update`;
  if (!token) throw notFound();
  const [user] = await tx`select * from auth.users where id::text = ${token.user_id}`;
  if (!user || user.deleted_at) throw notFound();
  if (isBanned(user)) throw badRequest("user_banned", "Invalid Refresh Token: User Banned");
  const [session] = token.session_id
    ? await tx`select id, not_after from auth.sessions where id = ${token.session_id}`
    : [];
  if (!session) {
    throw badRequest("session_not_found", "Invalid Refresh Token: No Valid Session Found");
  }
  if (session.not_after && new Date(session.not_after) < new Date()) {
    throw badRequest("session_expired", "Invalid Refresh Token: Session Expired");
  }
  return { token, user, session };
}

/**
 * The refresh token to answer with: the session's live child when a revoked token is its
 * parent (a second tab), a new child otherwise; null when reuse past the interval is taken for
 * theft (the session is ended).
 */
async function rotate(
  // deno-lint-ignore no-explicit-any
  tx: any,
  token: { id: number; token: string; user_id: string; revoked: boolean; updated_at: string },
  sessionId: string,
  settings: AuthSettings,
): Promise<string | null> {
  if (token.revoked) {
    const [live] = await tx`
      select token, parent from auth.refresh_tokens
      where session_id = ${sessionId} and revoked = false order by id desc limit 1`;
    if (live && live.parent === token.token) return live.token as string;
    const reuseUntil = new Date(token.updated_at).getTime() + settings.reuseInterval * 1000;
    if (Date.now() > reuseUntil) {
      if (settings.rotation) await tx`delete from auth.sessions where id = ${sessionId}`;
      return null;
    }
  }
  const issued = newRefreshToken();
  await tx`update auth.refresh_tokens set revoked = true, updated_at = now() where id = ${token.id}`;
  await tx`
    insert into auth.refresh_tokens (token, user_id, parent, session_id)
    values (${issued}, ${token.user_id}, ${token.token}, ${sessionId})`;
  return issued;
}

/** POST /logout: global (every session of the user), local (this one), others. */
export async function endSessions(
  sql: Sql,
  userId: string,
  sessionId: string | null,
  scope: "global" | "local" | "others",
): Promise<void> {
  if (sessionId && scope === "local") {
    await sql`delete from auth.sessions where id = ${sessionId}`;
  } else if (sessionId && scope === "others") {
    await sql`delete from auth.sessions where user_id = ${userId} and id <> ${sessionId}`;
  } else {
    await sql`delete from auth.sessions where user_id = ${userId}`;
  }
}
