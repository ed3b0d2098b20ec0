/**
 * TOTP and WebAuthn factors, as Supabase Auth runs them (supabase/auth internal/api/mfa.go): enroll, then
 * challenge + verify moves the session to aal2 (amr gains "totp", the session keeps its factor,
 * a refresh keeps the level); unenrolling a verified factor needs aal2 and brings the sessions
 * that used it back to aal1. The secret, the code check (SHA-1, 6 digits, 30 s, one step of
 * skew) and the QR code come from maintained libraries (otpauth, qrcode).
 *
 *   POST   /factors                    {factor_type: "totp", friendly_name?, issuer?}
 *   POST   /factors/{id}/challenge     a challenge (5 minutes, bound to the client address)
 *   POST   /factors/{id}/verify        {challenge_id, code}: a new aal2 token for this session
 *   DELETE /factors/{id}
 */
import * as OTPAuth from "otpauth";
import { type AuthContext, body, caller } from "./context.ts";
import { AuthError, authJson, badRequest, forbidden, notFound, unprocessable } from "./errors.ts";
import { newRefreshToken, signAccessToken } from "./sessions.ts";
import { findUserById, userJson, UUID } from "./users.ts";
import {
  ceremonyOptions,
  type CeremonySession,
  type StoredCredential,
  verifyCeremony,
} from "./webauthn.ts";

const CHALLENGE_EXPIRY_S = 300;
const FACTOR_EXPIRY_S = 300;

function totpOf(secret: string, issuer = "", label = ""): OTPAuth.TOTP {
  return new OTPAuth.TOTP({
    issuer,
    label,
    algorithm: "SHA1",
    digits: 6,
    period: 30,
    secret: OTPAuth.Secret.fromBase32(secret),
  });
}

/** The signed-in caller with a session: the MFA routes need both. */
async function sessionCaller(ctx: AuthContext, request: Request) {
  const who = await caller(ctx, request);
  if (who.user.is_anonymous) {
    throw forbidden("no_authorization", "Anonymous user not allowed to perform these actions");
  }
  if (!who.sessionId) {
    throw new AuthError(
      500,
      "unexpected_failure",
      "A valid session and a registered user are required to enroll a factor",
    );
  }
  return { ...who, sessionId: who.sessionId };
}

async function ownedFactor(ctx: AuthContext, userId: string, id: string) {
  if (!UUID.test(id)) throw notFound("validation_failed", "factor_id must be an UUID");
  const [factor] = await ctx.sql`
    select id, user_id, friendly_name, factor_type, status, secret, web_authn_credential, created_at
    from auth.mfa_factors where id = ${id} and user_id = ${userId}`;
  if (!factor) throw notFound("mfa_factor_not_found", "Factor not found");
  return factor;
}

/** GoTrue's validateFactors: unique names, at most max_enrolled_factors, aal2 once one is verified. */
async function checkNewFactor(ctx: AuthContext, userId: string, name: string, aal: string) {
  await ctx.sql`
    delete from auth.mfa_factors where user_id = ${userId} and status = 'unverified'
    and created_at < now() - make_interval(secs => ${FACTOR_EXPIRY_S})`;
  const factors = await ctx.sql`
    select friendly_name, status from auth.mfa_factors where user_id = ${userId}`;
  if (factors.some((f) => (f.friendly_name ?? "") === name)) {
    throw unprocessable(
      "mfa_factor_name_conflict",
      `A factor with the friendly name "${name}" for this user already exists`,
    );
  }
  const verified = factors.filter((f) => f.status === "verified").length;
  if (factors.length >= ctx.settings.mfa.maxEnrolledFactors) {
    throw unprocessable(
      "too_many_enrolled_mfa_factors",
      "Maximum number of verified factors reached, unenroll to continue",
    );
  }
  if (verified > 0 && aal !== "aal2") {
    throw forbidden("insufficient_aal", "AAL2 required to enroll a new factor");
  }
}

/** `[auth.mfa.totp|web_authn] verify_enabled`, GoTrue's words when off. */
function checkVerifyEnabled(ctx: AuthContext, type: string): void {
  if (type === "totp" && !ctx.settings.mfa.totpVerify) {
    throw unprocessable("mfa_totp_verify_not_enabled", "MFA verification is disabled for TOTP");
  }
  if (type === "webauthn" && !ctx.settings.mfa.webauthnVerify) {
    throw unprocessable(
      "mfa_web_authn_verify_not_enabled",
      "MFA verification is disabled for WebAuthn",
    );
  }
}

export async function enroll(ctx: AuthContext, request: Request): Promise<Response> {
  const { user, aal } = await sessionCaller(ctx, request);
  const params = await body(request);
  const type = params.factor_type;
  if (type === "phone") {
    throw unprocessable("mfa_phone_enroll_not_enabled", "MFA enroll is disabled for Phone");
  }
  if (type !== "totp" && type !== "webauthn") {
    throw badRequest("validation_failed", "factor_type needs to be totp, phone, or webauthn");
  }
  if (type === "webauthn" && !ctx.settings.mfa.webauthnEnroll) {
    throw unprocessable("mfa_web_authn_enroll_not_enabled", "MFA enroll is disabled for WebAuthn");
  }
  if (type === "totp" && !ctx.settings.mfa.totpEnroll) {
    throw unprocessable("mfa_totp_enroll_not_enabled", "MFA enroll is disabled for TOTP");
  }
  const name = typeof params.friendly_name === "string" ? params.friendly_name : "";
  await checkNewFactor(ctx, user.id, name, aal);
  const id = crypto.randomUUID();
  if (type === "webauthn") {
    // The credential comes with the first challenge's verify (GoTrue's enrollWebAuthnFactor).
    await ctx.sql`
      insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status)
      values (${id}, ${user.id}, ${name}, 'webauthn', 'unverified')`;
    return authJson(request, { id, type: "webauthn", friendly_name: name });
  }
  const issuer = typeof params.issuer === "string" && params.issuer !== ""
    ? params.issuer
    : new URL(ctx.settings.siteUrl).host;
  const secret = new OTPAuth.Secret({ size: 20 }).base32;
  const uri = totpOf(secret, issuer, user.email ?? "").toString();
  // Loaded at the first enrollment: most stacks never draw a QR code.
  const { default: QRCode } = await import("qrcode");
  const qr = await QRCode.toString(uri, { type: "svg", errorCorrectionLevel: "H" });
  await ctx.sql`
    insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, secret)
    values (${id}, ${user.id}, ${name}, 'totp', 'unverified', ${secret})`;
  return authJson(request, {
    id,
    type: "totp",
    friendly_name: name,
    totp: { qr_code: qr, secret, uri },
  });
}

export async function challenge(
  ctx: AuthContext,
  request: Request,
  factorId: string,
  client: string,
): Promise<Response> {
  ctx.limits.check("factor_challenge", client);
  const { user } = await sessionCaller(ctx, request);
  const factor = await ownedFactor(ctx, user.id, factorId);
  checkVerifyEnabled(ctx, factor.factor_type);
  let ceremony: Awaited<ReturnType<typeof ceremonyOptions>> | null = null;
  if (factor.factor_type === "webauthn") {
    const others = await ctx.sql`
      select web_authn_credential from auth.mfa_factors
      where user_id = ${user.id} and factor_type = 'webauthn' and web_authn_credential is not null`;
    ceremony = await ceremonyOptions(
      ctx.settings,
      user,
      factor as never,
      others.map((o) => o.web_authn_credential as StoredCredential),
    );
  }
  const id = crypto.randomUUID();
  await ctx.sql`insert into auth.mfa_challenges (id, factor_id, ip_address, web_authn_session_data)
                values (${id}, ${factor.id}, ${client},
                        ${ceremony ? ctx.sql.json(ceremony.session as never) : null})`;
  await ctx.sql`update auth.mfa_factors set last_challenged_at = now() where id = ${factor.id}`;
  return authJson(request, {
    id,
    type: factor.factor_type,
    expires_at: Math.floor(Date.now() / 1000) + CHALLENGE_EXPIRY_S,
    ...(ceremony
      ? { webauthn: { type: ceremony.session.type, credential_options: ceremony.options } }
      : {}),
  });
}

export async function verify(
  ctx: AuthContext,
  request: Request,
  factorId: string,
  client: string,
): Promise<Response> {
  ctx.limits.check("factor_verify", client);
  const { user, sessionId } = await sessionCaller(ctx, request);
  const factor = await ownedFactor(ctx, user.id, factorId);
  const params = await body(request);
  const webauthn = factor.factor_type === "webauthn";
  const code = typeof params.code === "string" ? params.code : "";
  if (code === "" && !webauthn) {
    throw badRequest("validation_failed", "Code needs to be non-empty");
  }
  checkVerifyEnabled(ctx, factor.factor_type);
  const ceremony = params.webauthn as { type?: unknown; credential_response?: unknown } | undefined;
  if (webauthn && (typeof ceremony !== "object" || ceremony === null)) {
    throw badRequest("validation_failed", "WebAuthn config required");
  }
  const challengeId = typeof params.challenge_id === "string" ? params.challenge_id : "";
  const [found] = UUID.test(challengeId)
    ? await ctx.sql`select id, created_at, host(ip_address) as ip, web_authn_session_data
                    from auth.mfa_challenges
                    where id = ${challengeId} and factor_id = ${factor.id} and verified_at is null`
    : [];
  if (!found) {
    throw unprocessable(
      "mfa_factor_not_found",
      "MFA factor with the provided challenge ID not found",
    );
  }
  if (found.ip !== client) {
    throw unprocessable("mfa_ip_address_mismatch", "Challenge and verify IP addresses mismatch.");
  }
  if (Date.now() > new Date(found.created_at).getTime() + CHALLENGE_EXPIRY_S * 1000) {
    await ctx.sql`delete from auth.mfa_challenges where id = ${found.id}`;
    throw unprocessable(
      "mfa_challenge_expired",
      `MFA challenge ${found.id} has expired, verify against another challenge or create a new challenge.`,
    );
  }
  let credential: StoredCredential | null = null;
  if (webauthn) {
    credential = await verifyCeremony(
      ctx.settings,
      found.web_authn_session_data as CeremonySession,
      ceremony!.type,
      ceremony!.credential_response,
      factor.web_authn_credential as StoredCredential | null,
    );
  } else if (totpOf(factor.secret).validate({ token: code, window: 1 }) === null) {
    throw unprocessable("mfa_verification_failed", "Invalid TOTP code entered");
  }
  const method = webauthn ? "mfa/webauthn" : "totp";
  const refreshToken = newRefreshToken();
  await ctx.sql.begin(async (tx) => {
    // The challenge is used once: two verifies racing, only one marks it.
    const marked = await tx`update auth.mfa_challenges set verified_at = now()
                            where id = ${found.id} and verified_at is null returning id`;
    if (marked.length === 0) {
      throw unprocessable(
        "mfa_factor_not_found",
        "MFA factor with the provided challenge ID not found",
      );
    }
    await tx`update auth.mfa_factors set status = 'verified', updated_at = now(),
               web_authn_credential = coalesce(${credential ? tx.json(credential as never) : null},
                                               web_authn_credential)
             where id = ${factor.id}`;
    await tx`update auth.sessions set aal = 'aal2', factor_id = ${factor.id}, updated_at = now()
             where id = ${sessionId}`;
    await tx`
      insert into auth.mfa_amr_claims (session_id, authentication_method)
      values (${sessionId}, ${method})
      on conflict (session_id, authentication_method)
      do update set created_at = now(), updated_at = now()`;
    // Other sessions of the user below aal2 end; unverified factors of the type go.
    await tx`delete from auth.sessions where user_id = ${user.id} and id <> ${sessionId}
             and aal <> 'aal2'`;
    await tx`delete from auth.mfa_factors where user_id = ${user.id} and status = 'unverified'
             and factor_type = ${factor.factor_type} and id <> ${factor.id}`;
    const [live] = await tx`
      update auth.refresh_tokens set revoked = true, updated_at = now()
      where session_id = ${sessionId} and revoked = false returning token`;
    await tx`insert into auth.refresh_tokens (token, user_id, parent, session_id)
             values (${refreshToken}, ${user.id}, ${live?.token ?? null}, ${sessionId})`;
  });
  const fresh = (await findUserById(ctx.sql, user.id))!;
  const access = await signAccessToken(ctx.sql, ctx.signer, ctx.settings, fresh, sessionId, {
    method,
  });
  return authJson(request, {
    access_token: access.token,
    token_type: "bearer",
    expires_in: access.expiresIn,
    expires_at: access.expiresAt,
    refresh_token: refreshToken,
    user: await userJson(ctx.sql, fresh),
  });
}

export async function unenroll(
  ctx: AuthContext,
  request: Request,
  factorId: string,
): Promise<Response> {
  const { user, aal } = await sessionCaller(ctx, request);
  const factor = await ownedFactor(ctx, user.id, factorId);
  if (factor.status === "verified" && aal !== "aal2") {
    throw unprocessable("insufficient_aal", "AAL2 required to unenroll verified factor");
  }
  await ctx.sql.begin(async (tx) => {
    await tx`delete from auth.mfa_factors where id = ${factor.id}`;
    // The sessions that reached aal2 with this factor are aal1 again.
    await tx`delete from auth.mfa_amr_claims where authentication_method in ('totp', 'mfa/webauthn')
             and session_id in (select id from auth.sessions where factor_id = ${factor.id})`;
    await tx`update auth.sessions set aal = 'aal1', factor_id = null, updated_at = now()
             where factor_id = ${factor.id}`;
  });
  return authJson(request, { id: factor.id });
}

/** /admin/users/{id}/factors[/{factor_id}] (after the admin check): list, rename, delete. */
export async function adminFactors(
  ctx: AuthContext,
  request: Request,
  userId: string,
  factorId: string | undefined,
): Promise<Response> {
  if (!UUID.test(userId)) throw notFound("validation_failed", "user_id must be an UUID");
  const user = await findUserById(ctx.sql, userId);
  if (!user) throw notFound("user_not_found", "User not found");
  if (factorId === undefined) {
    if (request.method !== "GET") throw notFound("not_found", "Not found");
    return authJson(request, await factorsJson(ctx.sql, user.id));
  }
  const factor = await ownedFactor(ctx, user.id, factorId);
  if (request.method === "PUT") {
    const params = await body(request);
    if (typeof params.friendly_name === "string" && params.friendly_name !== "") {
      await ctx.sql`update auth.mfa_factors set friendly_name = ${params.friendly_name},
                    updated_at = now() where id = ${factor.id}`;
    }
  } else if (request.method === "DELETE") {
    const [json] = (await factorsJson(ctx.sql, user.id)).filter((f) => f.id === factor.id);
    await ctx.sql.begin(async (tx) => {
      await tx`delete from auth.mfa_factors where id = ${factor.id}`;
      await tx`delete from auth.mfa_amr_claims where authentication_method in ('totp', 'mfa/webauthn')
               and session_id in (select id from auth.sessions where factor_id = ${factor.id})`;
      await tx`update auth.sessions set aal = 'aal1', factor_id = null where factor_id = ${factor.id}`;
    });
    return authJson(request, json);
  } else if (request.method !== "GET") {
    throw notFound("not_found", "Not found");
  }
  const [json] = (await factorsJson(ctx.sql, user.id)).filter((f) => f.id === factor.id);
  return authJson(request, json);
}

/** The user's factors, as GET /user lists them. */
export async function factorsJson(ctx: AuthContext["sql"], userId: string) {
  const rows = await ctx`
    select id, friendly_name, factor_type, status, created_at, updated_at, last_challenged_at
    from auth.mfa_factors where user_id = ${userId} order by created_at`;
  return rows.map((f) => ({
    id: f.id,
    friendly_name: f.friendly_name ?? "",
    factor_type: f.factor_type,
    status: f.status,
    created_at: new Date(f.created_at).toISOString(),
    updated_at: new Date(f.updated_at).toISOString(),
    ...(f.last_challenged_at
      ? { last_challenged_at: new Date(f.last_challenged_at).toISOString() }
      : {}),
  }));
}
