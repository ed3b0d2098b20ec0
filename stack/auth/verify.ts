/**
 * `/verify`, as Supabase Auth answers it (supabase/auth internal/api/verify.go):
 *
 *   POST /verify {type, email, token}        a code from a mail (hashed with the address)
 *   POST /verify {type, token_hash}          the hash a custom template put in its link
 *   GET  /verify?token=&type=&redirect_to=   the link in a mail: a 303 to redirect_to with
 *                                            the session in the fragment (implicit flow),
 *                                            `?code=` (PKCE), or the error in the fragment
 *
 * Types: signup, invite, magiclink, recovery, email_change, and email (a signup or a magic
 * link code). A code is good once, for `otp_expiry` seconds; a wrong, used or old one is
 * 403 otp_expired. The session's `amr` is "otp" (GoTrue's), or for PKCE the flow's method.
 */
import { type AuthContext, body, userAgent } from "./context.ts";
import { AuthError, authJson, badRequest, forbidden } from "./errors.ts";
import { hashMatches, isExpired, redirectTarget, tokenHash } from "./email_tokens.ts";
import { checkPhone } from "./not_here.ts";
import { issueAuthCode, methodOfType } from "./pkce.ts";
import { startSession } from "./sessions.ts";
import { findUserByEmail, findUserById, isBanned, type UserRow, validateEmail } from "./users.ts";

const SINGLE_CONFIRMATION =
  "Confirmation link accepted. Please proceed to confirm link sent to the other email";
const TYPES = new Set(["signup", "invite", "magiclink", "recovery", "email_change", "email"]);

/** The OAuth error names GoTrue puts in a failed link's redirect, by status. */
const OAUTH_ERRORS: Record<number, string> = {
  400: "invalid_request",
  401: "unauthorized_client",
  403: "access_denied",
  500: "server_error",
  503: "temporarily_unavailable",
};

const linkInvalid = () => forbidden("otp_expired", "Email link is invalid or has expired");
const codeInvalid = () => forbidden("otp_expired", "Token has expired or is invalid");

/** The user a token hash (from a link) belongs to, for its type; `type` "email" is resolved. */
async function userByHash(
  ctx: AuthContext,
  hash: string,
  type: string,
): Promise<{ user: UserRow; type: string }> {
  const column: Record<string, string[]> = {
    email: ["confirmation_token", "recovery_token"],
    signup: ["confirmation_token"],
    invite: ["confirmation_token"],
    recovery: ["recovery_token"],
    magiclink: ["recovery_token"],
    email_change: ["email_change_token_current", "email_change_token_new"],
  };
  const columns = column[type];
  if (!columns) throw badRequest("validation_failed", "Invalid email verification type");
  const where = columns.map((c) => `${c} = $1`).join(" or ");
  const [row] = await ctx.sql.unsafe(
    `select id from auth.users where (${where}) and deleted_at is null limit 1`,
    [hash],
  );
  const user = row ? await findUserById(ctx.sql, row.id) : null;
  if (!user) throw linkInvalid();
  if (isBanned(user)) throw forbidden("user_banned", "User is banned");
  let resolved = type;
  let sentAt = user.confirmation_sent_at;
  if (type === "email") {
    resolved = user.recovery_token === hash ? "magiclink" : "signup";
    if (resolved === "magiclink") sentAt = user.recovery_sent_at;
  } else if (type === "recovery" || type === "magiclink") {
    sentAt = user.recovery_sent_at;
  } else if (type === "email_change") {
    sentAt = user.email_change_sent_at;
  }
  if (isExpired(sentAt, ctx.settings.email.otpExpiry)) throw linkInvalid();
  return { user, type: resolved };
}

/** The user a code (with their address) belongs to, for its type. */
async function userByCode(
  ctx: AuthContext,
  address: string,
  hash: string,
  type: string,
): Promise<{ user: UserRow; type: string }> {
  let user: UserRow | null;
  if (type === "email_change") {
    const hashes = [hash, "pkce_" + hash];
    const secure = ctx.settings.email.secureEmailChange;
    const [row] = await ctx.sql`
      select id from auth.users where deleted_at is null and (
        (lower(email_change) = lower(${address}) and email_change_token_new in ${ctx.sql(hashes)})
        or (${secure} and lower(email) = lower(${address})
            and email_change_token_current in ${ctx.sql(hashes)}))
      limit 1`;
    user = row ? await findUserById(ctx.sql, row.id) : null;
  } else {
    user = await findUserByEmail(ctx.sql, address);
  }
  if (!user) throw codeInvalid();
  if (isBanned(user)) throw forbidden("user_banned", "User is banned");
  const expiry = ctx.settings.email.otpExpiry;
  const good = (stored: string | null, sentAt: unknown) =>
    hashMatches(hash, stored) && !isExpired(sentAt as string, expiry);
  let resolved = type;
  let valid = false;
  switch (type) {
    case "email":
      if (good(user.confirmation_token, user.confirmation_sent_at)) {
        valid = true;
        resolved = "signup";
      } else if (good(user.recovery_token, user.recovery_sent_at)) {
        valid = true;
        resolved = "magiclink";
      }
      break;
    case "signup":
    case "invite":
      valid = good(user.confirmation_token, user.confirmation_sent_at);
      break;
    case "recovery":
    case "magiclink":
      valid = good(user.recovery_token, user.recovery_sent_at);
      break;
    case "email_change":
      valid = good(user.email_change_token_current, user.email_change_sent_at) ||
        good(user.email_change_token_new, user.email_change_sent_at);
      break;
  }
  if (!valid) throw codeInvalid();
  return { user, type: resolved };
}

/** Confirm the address (signup/invite); an invited user without a password gets a random one. */
async function confirmSignup(ctx: AuthContext, user: UserRow): Promise<void> {
  if (!user.encrypted_password && user.invited_at) {
    const bytes = crypto.getRandomValues(new Uint8Array(48));
    const hash = await ctx.passwords.hash(btoa(String.fromCharCode(...bytes)));
    await ctx.sql`update auth.users set encrypted_password = ${hash} where id = ${user.id}`;
  }
  await ctx.sql`
    update auth.users set email_confirmed_at = coalesce(email_confirmed_at, now()),
      confirmation_token = '', updated_at = now()
    where id = ${user.id}`;
  await markEmailVerified(ctx, user.id, user.email);
}

async function markEmailVerified(ctx: AuthContext, userId: string, email: string) {
  await ctx.sql`
    update auth.identities
    set identity_data = identity_data || ${ctx.sql.json({ email, email_verified: true })},
        updated_at = now()
    where user_id = ${userId} and provider = 'email'`;
}

/** recovery / magiclink: the code is used; an unconfirmed address is confirmed by it. */
async function confirmRecovery(ctx: AuthContext, user: UserRow): Promise<void> {
  await ctx.sql`
    update auth.users set recovery_token = '',
      email_confirmed_at = coalesce(email_confirmed_at, now()), updated_at = now()
    where id = ${user.id}`;
  if (!user.email_confirmed_at) await markEmailVerified(ctx, user.id, user.email);
}

/**
 * email_change: with double confirmation, the first of the two codes only marks one side
 * (answer: the "proceed to confirm" message); the second (or the only one) moves the address.
 * Returns false when the change is not complete yet.
 */
async function confirmEmailChange(ctx: AuthContext, user: UserRow, hash: string): Promise<boolean> {
  const secure = ctx.settings.confirmations && ctx.settings.email.secureEmailChange;
  if (secure && Number(user.email_change_confirm_status ?? 0) === 0 && user.email) {
    const column = hashMatches(hash, user.email_change_token_current)
      ? "email_change_token_current"
      : "email_change_token_new";
    await ctx.sql.unsafe(
      `update auth.users set email_change_confirm_status = 1, ${column} = '' where id = $1`,
      [user.id],
    );
    return false;
  }
  const next = user.email_change as string;
  await ctx.sql.begin(async (tx) => {
    await tx`
      update auth.users set email = ${next}, email_change = '', email_change_token_new = '',
        email_change_token_current = '', email_change_confirm_status = 0,
        email_confirmed_at = coalesce(email_confirmed_at, now()), is_anonymous = false,
        updated_at = now()
      where id = ${user.id}`;
    await tx`
      insert into auth.identities (provider_id, user_id, identity_data, provider)
      values (${user.id}, ${user.id}, ${
      tx.json({ sub: user.id, email: next, email_verified: true, phone_verified: false })
    }, 'email')
      on conflict (provider_id, provider) do update
      set identity_data = auth.identities.identity_data || ${
      tx.json({ email: next, email_verified: true })
    }, updated_at = now()`;
  });
  return true;
}

/** Apply a verified code; null when an email change waits for its second confirmation. */
async function apply(
  ctx: AuthContext,
  user: UserRow,
  type: string,
  hash: string,
): Promise<UserRow | null> {
  if (type === "signup" || type === "invite") await confirmSignup(ctx, user);
  else if (type === "recovery" || type === "magiclink") await confirmRecovery(ctx, user);
  else if (type === "email_change" && !await confirmEmailChange(ctx, user, hash)) return null;
  return (await findUserById(ctx.sql, user.id))!;
}

function text(params: Record<string, unknown>, key: string): string {
  const value = params[key];
  return typeof value === "string" ? value : "";
}

export async function verifyPost(
  ctx: AuthContext,
  request: Request,
  client: string,
): Promise<Response> {
  ctx.limits.check("verify", client);
  const params = await body(request);
  const type = text(params, "type");
  const token = text(params, "token");
  const given = text(params, "token_hash");
  const email = text(params, "email");
  const phone = text(params, "phone");
  if (type === "") throw badRequest("validation_failed", "Verify requires a verification type");
  if ((token === "") === (given === "")) {
    throw badRequest("validation_failed", "Verify requires either a token or a token hash");
  }
  let found: { user: UserRow; type: string };
  let hash: string;
  if (token !== "") {
    if (phone !== "" && email === "") {
      checkPhone(phone);
      // No phone sign-in here: no user has a code to verify.
      if (type === "sms" || type === "phone_change") throw codeInvalid();
      throw badRequest("validation_failed", "Unsupported verification type");
    }
    if (!(email !== "" && phone === "")) {
      throw badRequest(
        "validation_failed",
        "Only an email address or phone number should be provided on verify",
      );
    }
    let address: string;
    try {
      address = validateEmail(email);
    } catch {
      throw new AuthError(422, "validation_failed", "Invalid email format");
    }
    if (!TYPES.has(type)) throw badRequest("validation_failed", "Unsupported verification type");
    hash = tokenHash(address, token);
    found = await userByCode(ctx, address, hash, type);
  } else {
    if (email !== "" || phone !== "" || text(params, "redirect_to") !== "") {
      throw badRequest("validation_failed", "Only the token_hash and type should be provided");
    }
    if (!TYPES.has(type)) throw badRequest("validation_failed", "Invalid email verification type");
    hash = given;
    found = await userByHash(ctx, given, type);
  }
  const user = await apply(ctx, found.user, found.type, hash);
  if (!user) return authJson(request, { msg: SINGLE_CONFIRMATION, code: "200" });
  const session = await startSession(ctx.sql, ctx.signer, ctx.settings, user, "otp", {
    userAgent: userAgent(request),
  });
  return authJson(request, session);
}

/** Go's url.Values.Encode: keys sorted, form encoding. */
function encodeSorted(values: Record<string, string>): string {
  return new URLSearchParams(
    Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  ).toString();
}

function withQuery(target: string, extra: Record<string, string>): string {
  const url = new URL(target);
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  return url.toString();
}

export async function verifyGet(
  ctx: AuthContext,
  request: Request,
  client: string,
): Promise<Response> {
  ctx.limits.check("verify", client);
  const query = new URL(request.url).searchParams;
  const token = query.get("token") ?? "";
  const type = query.get("type") ?? "";
  const redirectTo = redirectTarget(ctx.settings, request);
  if (type === "") throw badRequest("validation_failed", "Verify requires a verification type");
  if (token === "") {
    throw badRequest("validation_failed", "Verify requires a token or a token hash");
  }
  const pkce = token.startsWith("pkce_");
  const redirect = (location: string) => new Response(null, { status: 303, headers: { location } });
  try {
    if (!TYPES.has(type) || type === "email") {
      throw badRequest("validation_failed", "Unsupported verification type");
    }
    const method = methodOfType(type)!;
    const found = await userByHash(ctx, token, type);
    const user = await apply(ctx, found.user, found.type, token);
    if (!user) {
      const message = { message: SINGLE_CONFIRMATION };
      const target = pkce ? withQuery(redirectTo, message) : redirectTo;
      return redirect(`${target.split("#")[0]}#${encodeSorted({ ...message, sb: "" })}`);
    }
    if (pkce) {
      const code = await issueAuthCode(ctx.sql, user.id, method);
      return redirect(withQuery(redirectTo, { code }));
    }
    const session = await startSession(ctx.sql, ctx.signer, ctx.settings, user, "otp", {
      userAgent: userAgent(request),
    });
    return redirect(
      `${redirectTo}#${
        encodeSorted({
          access_token: session.access_token,
          token_type: session.token_type,
          expires_in: String(session.expires_in),
          expires_at: String(session.expires_at),
          refresh_token: session.refresh_token,
          type,
          sb: "",
        })
      }`,
    );
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    const fields: Record<string, string> = {
      ...(OAUTH_ERRORS[error.status] ? { error: OAUTH_ERRORS[error.status]! } : {}),
      error_code: error.code,
      error_description: error.message,
    };
    const target = pkce ? withQuery(redirectTo, fields) : redirectTo;
    return redirect(`${target.split("#")[0]}#${encodeSorted({ ...fields, sb: "" })}`);
  }
}
