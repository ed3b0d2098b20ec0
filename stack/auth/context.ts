/**
 * What every Auth route shares: its context (database, settings, keys, password workers,
 * limits, mailer), the request body reader, and who is calling (a user's bearer token, or an
 * admin key).
 */
import {
  type createLocalJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  type JWK,
  jwtVerify,
} from "jose";
import type { Sql } from "../db/database.ts";
import { AuthError, badRequest, forbidden, unauthorized } from "./errors.ts";
import type { Hooks } from "./hooks.ts";
import type { Mailer } from "./mailer.ts";
import type { PasswordHasher } from "./passwords.ts";
import type { RateLimits } from "./rate_limits.ts";
import type { Signer } from "./sessions.ts";
import type { AuthSettings } from "./settings.ts";
import { findUserById, isBanned, type UserRow, UUID } from "./users.ts";

const MAX_BODY = 1024 * 1024;
const ADMIN_ROLES = new Set(["service_role", "supabase_admin"]);

/** What every route needs: the database, the settings, keys, and the password workers. */
export interface AuthContext {
  sql: Sql;
  settings: AuthSettings;
  /** Which API key, if any, a value is. */
  apiKeyKind: (value: string | null) => "secret" | "publishable" | null;
  signer: Signer;
  /** Every signing key's public half (any of them signed a token this Auth accepts). */
  verifyKeys: ReturnType<typeof createLocalJWKSet>;
  passwords: PasswordHasher;
  /** A hash at Auth's cost, checked when an email is unknown or its hash is cheaper (made once). */
  decoy(): Promise<string>;
  jwks: { keys: JWK[] };
  limits: Pick<RateLimits, "check">;
  mailer: Mailer;
  hooks: Hooks;
  /** `${api_url}/auth/v1`: where the links in mails point. */
  externalUrl: string;
}

/** The bearer's claims, Auth's way: 401 without one, 403 bad_jwt when it does not verify. */
export async function claimsOf(
  ctx: AuthContext,
  request: Request,
): Promise<Record<string, unknown>> {
  const header = request.headers.get("authorization") ?? "";
  const match = /^bearer ([A-Za-z0-9_\-.]+)$/i.exec(header.trim());
  if (!match) {
    throw unauthorized("no_authorization", "This endpoint requires a valid Bearer token");
  }
  const token = match[1]!;
  const kind = ctx.apiKeyKind(token);
  if (kind === "secret") return { role: "service_role" };
  if (kind === "publishable") return { role: "anon" };
  try {
    // As GoTrue: the legacy secret, or any of the project's signing keys.
    const payload = decodeProtectedHeader(token).alg === "HS256"
      ? (await jwtVerify(token, ctx.signer.hs256, { algorithms: ["HS256"] })).payload
      : (await jwtVerify(token, ctx.verifyKeys, { algorithms: ["ES256", "RS256"] })).payload;
    return payload as Record<string, unknown>;
  } catch (error) {
    const why = error instanceof joseErrors.JWTExpired
      ? "token has invalid claims: token is expired"
      : "unable to parse or verify signature, token is malformed";
    throw forbidden("bad_jwt", `invalid JWT: ${why}`);
  }
}

/** requireAuthentication + the user and session loads Auth does for /user and /logout. */
export async function caller(
  ctx: AuthContext,
  request: Request,
): Promise<{
  user: UserRow;
  sessionId: string | null;
  sessionCreatedAt: Date | null;
  /** The session's assurance level (aal1 without a session). */
  aal: string;
}> {
  const claims = await claimsOf(ctx, request);
  const sub = typeof claims.sub === "string" ? claims.sub : "";
  if (!UUID.test(sub)) throw forbidden("bad_jwt", "invalid claim: missing sub claim");
  const user = await findUserById(ctx.sql, sub);
  if (!user || user.deleted_at) {
    throw forbidden("user_not_found", "User from sub claim in JWT does not exist");
  }
  // A token issued before a ban works on no authenticated route (GoTrue's requireAuthentication).
  if (isBanned(user)) throw forbidden("user_banned", "User is banned");
  const sessionId = typeof claims.session_id === "string" && UUID.test(claims.session_id)
    ? claims.session_id
    : null;
  let sessionCreatedAt: Date | null = null;
  let aal = "aal1";
  if (sessionId) {
    const [session] = await ctx.sql`
      select not_after, created_at, aal from auth.sessions
      where id = ${sessionId} and user_id = ${sub}`;
    if (!session) {
      throw forbidden("session_not_found", "Session from session_id claim in JWT does not exist");
    }
    if (session.not_after && new Date(session.not_after) < new Date()) {
      throw forbidden("session_expired", "Session from session_id claim in JWT has expired");
    }
    sessionCreatedAt = new Date(session.created_at);
    aal = session.aal ?? "aal1";
  }
  return { user, sessionId, sessionCreatedAt, aal };
}

export async function body(request: Request): Promise<Record<string, unknown>> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY) {
    throw new AuthError(413, "request_entity_too_large", "Request body too large");
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await new Response(request.body).arrayBuffer());
  } catch {
    // The gateway cuts a streamed body off at the cap (it answers 413 itself).
    throw new AuthError(413, "request_entity_too_large", "Request body too large");
  }
  if (bytes.length > MAX_BODY) {
    throw new AuthError(413, "request_entity_too_large", "Request body too large");
  }
  if (bytes.length === 0) return {};
  const text = new TextDecoder().decode(bytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badRequest("bad_json", "Could not parse request body as JSON: invalid character");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw badRequest(
      "bad_json",
      "Could not parse request body as JSON: json: cannot unmarshal into Go value",
    );
  }
  // PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
  if (text.includes("\\u0000") || text.includes("\0")) {
    throw badRequest("validation_failed", "Request body contains a NUL character");
  }
  return parsed as Record<string, unknown>;
}

export function userAgent(request: Request): string | null {
  return request.headers.get("user-agent")?.slice(0, 512) ?? null;
}

export async function requireAdmin(ctx: AuthContext, request: Request): Promise<void> {
  const claims = await claimsOf(ctx, request);
  // A token that names a session is good only while that session is (as GoTrue checks);
  // sessionless admin tokens (the service_role key, secret keys) skip this.
  const sessionId = typeof claims.session_id === "string" ? claims.session_id : "";
  if (sessionId !== "" && sessionId !== "00000000-0000-0000-0000-000000000000") {
    if (!UUID.test(sessionId)) {
      throw forbidden("bad_jwt", "invalid claim: session_id claim must be a UUID");
    }
    const [session] = await ctx.sql`select not_after from auth.sessions where id = ${sessionId}`;
    if (!session) {
      throw forbidden("session_not_found", "Session from session_id claim in JWT does not exist");
    }
    if (session.not_after && new Date(session.not_after) < new Date()) {
      throw forbidden("session_expired", "Session is no longer valid");
    }
  }
  if (!ADMIN_ROLES.has(String(claims.role ?? ""))) {
    throw forbidden("not_admin", "User not allowed");
  }
}

/** createUser's `beforeCreate` for routes that run before_user_created (as GoTrue's do). */
export function beforeUserCreated(ctx: AuthContext, client?: string) {
  if (!ctx.hooks.enabled("before_user_created")) return undefined;
  return async (draft: Record<string, unknown>) => {
    await ctx.hooks.run("before_user_created", { user: draft }, client);
  };
}
