/**
 * Sign-in and account mails, as Supabase Auth answers them (supabase/auth internal/api:
 * otp.go, magic_link.go, recover.go, resend.go, reauthenticate.go, invite.go, mail.go):
 *
 *   POST /otp, /magiclink    a magic link + code; a new address signs up first
 *   POST /recover            a recovery link + code; `{}` whether or not the address exists
 *   POST /resend             signup or email_change again
 *   GET  /reauthenticate     a code for `PUT /user {password, nonce}`
 *   POST /invite             (admin) an invitation
 *   POST /admin/generate_link (admin) the link and code without a mail
 *
 * No answer tells whether an address has an account (except the admin routes).
 */
import { type AuthContext, beforeUserCreated, body, caller } from "./context.ts";
import { authJson, badRequest, notFound, unprocessable } from "./errors.ts";
import { checkFrequency, newOtp, PKCE_PREFIX, redirectTarget, tokenHash } from "./email_tokens.ts";
import type { MailKind } from "./mail_templates.ts";
import { createFlowState, type PkceParams, pkceParams } from "./pkce.ts";
import {
  createUser,
  DUPLICATE_EMAIL_MSG,
  findUserByEmail,
  findUserById,
  mergeMetadata,
  objectParam,
  userJson,
  type UserRow,
  validateEmail,
} from "./users.ts";

/** Which column holds a purpose's code, when it was sent, its mail and its link's type. */
const PURPOSES = {
  signup: { token: "confirmation_token", sent: "confirmation_sent_at", mail: "confirmation" },
  invite: { token: "confirmation_token", sent: "confirmation_sent_at", mail: "invite" },
  recovery: { token: "recovery_token", sent: "recovery_sent_at", mail: "recovery" },
  magiclink: { token: "recovery_token", sent: "recovery_sent_at", mail: "magic_link" },
  reauthentication: {
    token: "reauthentication_token",
    sent: "reauthentication_sent_at",
    mail: "reauthentication",
  },
} as const satisfies Record<string, { token: string; sent: string; mail: MailKind }>;
export type Purpose = keyof typeof PURPOSES;

/** GoTrue's encodeRedirectURL: escaped only when it holds &, = or #. */
function encodeRedirect(url: string): string {
  return /[&=#]/.test(url) ? encodeURIComponent(url) : url;
}

/** The link in a mail: `${api_url}/auth/v1/verify?token=<hash>&type=<type>&redirect_to=...`. */
export function actionLink(ctx: AuthContext, hash: string, type: string, redirectTo: string) {
  return `${ctx.externalUrl}/verify?token=${encodeURIComponent(hash)}&type=${
    encodeURIComponent(type)
  }&redirect_to=${encodeRedirect(redirectTo)}`;
}

/**
 * Make a code for `purpose`, mail it, and store its hash (with the PKCE prefix for a PKCE
 * flow). The mail goes first: when it cannot be sent the old code stays, as in GoTrue.
 */
export async function sendCode(
  ctx: AuthContext,
  request: Request,
  user: UserRow,
  purpose: Purpose,
  options: { pkce?: boolean; redirectTo?: string } = {},
): Promise<void> {
  const spec = PURPOSES[purpose];
  if (purpose !== "invite") checkFrequency(user[spec.sent], ctx.settings);
  const otp = newOtp(ctx.settings.email.otpLength);
  const hash = tokenHash(user.email, otp);
  const stored = options.pkce ? PKCE_PREFIX + hash : hash;
  const redirectTo = options.redirectTo ?? redirectTarget(ctx.settings, request);
  if (ctx.hooks.enabled("send_email")) {
    await ctx.hooks.run("send_email", {
      user: await userJson(ctx.sql, user),
      email_data: emailData(ctx, purpose, otp, stored, redirectTo),
    });
  } else {
    await mailCode(ctx, spec.mail, user, otp, stored, purpose, redirectTo);
  }
  await ctx.sql.unsafe(
    `update auth.users set ${spec.token} = $1, ${spec.sent} = now()${
      purpose === "invite" ? ", invited_at = now()" : ""
    } where id = $2`,
    [stored, user.id],
  );
}

/** GoTrue's send_email hook `email_data`. */
function emailData(
  ctx: AuthContext,
  type: string,
  token: string,
  hash: string,
  redirectTo: string,
  extra: { tokenNew?: string; hashNew?: string } = {},
) {
  return {
    token,
    token_hash: hash,
    redirect_to: redirectTo,
    email_action_type: type,
    site_url: ctx.externalUrl,
    token_new: extra.tokenNew ?? "",
    token_hash_new: extra.hashNew ?? "",
    old_email: "",
    old_phone: "",
    provider: "",
    factor_type: "",
  };
}

async function mailCode(
  ctx: AuthContext,
  kind: MailKind,
  user: UserRow,
  otp: string,
  stored: string,
  purpose: Purpose,
  redirectTo: string,
) {
  await ctx.mailer.send(kind, user.email, {
    SiteURL: ctx.settings.siteUrl,
    ...(purpose === "reauthentication"
      ? {}
      : { ConfirmationURL: actionLink(ctx, stored, purpose, redirectTo), RedirectTo: redirectTo }),
    Email: user.email,
    Token: otp,
    TokenHash: stored,
    Data: user.raw_user_meta_data ?? {},
  });
}

/** The flow a purpose's PKCE link comes back to (GoTrue's authentication method names). */
const FLOW_METHOD: Partial<Record<Purpose, string>> = {
  signup: "email/signup",
  magiclink: "magiclink",
  recovery: "recovery",
};

/** sendCode, with the PKCE flow state first when the request started one. */
export async function sendWithFlow(
  ctx: AuthContext,
  request: Request,
  user: UserRow,
  purpose: "signup" | "magiclink" | "recovery",
  pkce: PkceParams | null,
): Promise<void> {
  if (pkce) await createFlowState(ctx.sql, user.id, FLOW_METHOD[purpose]!, pkce);
  await sendCode(ctx, request, user, purpose, { pkce: pkce !== null });
}

/**
 * An email change: a code to the new address and, with `double_confirm_changes`, one to the
 * current address; the change lands when they are verified (./verify.ts).
 */
export async function sendEmailChange(
  ctx: AuthContext,
  request: Request,
  user: UserRow,
  newEmail: string,
  pkce: boolean,
): Promise<void> {
  checkFrequency(user.email_change_sent_at, ctx.settings);
  const prefix = pkce ? PKCE_PREFIX : "";
  const otpNew = newOtp(ctx.settings.email.otpLength);
  const hashNew = prefix + tokenHash(newEmail, otpNew);
  const both = ctx.settings.email.secureEmailChange && !!user.email;
  const otpCurrent = both ? newOtp(ctx.settings.email.otpLength) : "";
  const hashCurrent = both ? prefix + tokenHash(user.email, otpCurrent) : "";
  const redirectTo = redirectTarget(ctx.settings, request);
  const mails = [{ to: newEmail, otp: otpNew, hash: hashNew }];
  if (both) mails.push({ to: user.email, otp: otpCurrent, hash: hashCurrent });
  if (ctx.hooks.enabled("send_email")) {
    await ctx.hooks.run("send_email", {
      user: { ...await userJson(ctx.sql, user), new_email: newEmail },
      email_data: emailData(ctx, "email_change", otpCurrent, hashCurrent, redirectTo, {
        tokenNew: otpNew,
        hashNew,
      }),
    });
    mails.length = 0;
  }
  for (const mail of mails) {
    await ctx.mailer.send("email_change", mail.to, {
      SiteURL: ctx.settings.siteUrl,
      ConfirmationURL: actionLink(ctx, mail.hash, "email_change", redirectTo),
      Email: user.email ?? "",
      NewEmail: newEmail,
      Token: mail.otp,
      TokenHash: mail.hash,
      SendingTo: mail.to,
      Data: user.raw_user_meta_data ?? {},
      RedirectTo: redirectTo,
    });
  }
  await ctx.sql`
    update auth.users set email_change = ${newEmail}, email_change_token_new = ${hashNew},
      email_change_token_current = ${hashCurrent}, email_change_sent_at = now(),
      email_change_confirm_status = 0, updated_at = now()
    where id = ${user.id}`;
}

function text(params: Record<string, unknown>, key: string): string {
  const value = params[key];
  return typeof value === "string" ? value.trim() : "";
}

function checkEmailProvider(ctx: AuthContext): void {
  if (!ctx.settings.emailProvider) {
    throw unprocessable("email_provider_disabled", "Email logins are disabled");
  }
}

/** A random password nobody knows, for a user who signs up by link (GoTrue does the same). */
function randomPassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(33));
  return btoa(String.fromCharCode(...bytes));
}

/** POST /otp: email sign-in by code or link (phone: not here). */
export async function otp(ctx: AuthContext, request: Request, client: string): Promise<Response> {
  ctx.limits.check("otp", client);
  const params = await body(request);
  const email = text(params, "email");
  const phone = text(params, "phone");
  if (email !== "" && phone !== "") {
    throw badRequest(
      "validation_failed",
      "Only an email address or phone number should be provided",
    );
  }
  if (email !== "" && text(params, "channel") !== "") {
    throw badRequest("validation_failed", "Channel should only be specified with Phone OTP");
  }
  pkceParams(params);
  if (params.create_user === false && email !== "") {
    if (!await findUserByEmail(ctx.sql, validateEmail(email))) {
      throw unprocessable("otp_disabled", "Signups not allowed for otp");
    }
  }
  if (email !== "") return await magicLinkFor(ctx, request, params);
  if (phone !== "") throw badRequest("phone_provider_disabled", "Unsupported phone provider");
  throw badRequest("validation_failed", "One of email or phone must be set");
}

/** POST /magiclink. */
export async function magicLink(
  ctx: AuthContext,
  request: Request,
  client: string,
): Promise<Response> {
  ctx.limits.check("magiclink", client);
  return await magicLinkFor(ctx, request, await body(request));
}

async function magicLinkFor(
  ctx: AuthContext,
  request: Request,
  params: Record<string, unknown>,
): Promise<Response> {
  checkEmailProvider(ctx);
  if (text(params, "email") === "") {
    throw badRequest("validation_failed", "Password recovery requires an email");
  }
  const address = validateEmail(params.email);
  const pkce = pkceParams(params);
  const data = objectParam(params.data, "data") ?? {};
  let user = await findUserByEmail(ctx.sql, address);
  if (!user || !user.email_confirmed_at) {
    // A new (or never confirmed) address signs up first, as GoTrue's MagicLink does.
    if (!ctx.settings.signup) {
      throw unprocessable("signup_disabled", "Signups not allowed for this instance");
    }
    if (!user) {
      user = await createUser(ctx.sql, {
        email: address,
        encryptedPassword: await ctx.passwords.hash(randomPassword()),
        confirmed: !ctx.settings.confirmations,
        anonymous: false,
        userMetadata: data,
        beforeCreate: beforeUserCreated(ctx),
      });
    }
    if (ctx.settings.confirmations) {
      await sendWithFlow(ctx, request, user, "signup", pkce);
      return authJson(request, {});
    }
    if (!user.email_confirmed_at) {
      await ctx.sql`update auth.users set email_confirmed_at = now() where id = ${user.id}`;
    }
    user = (await findUserById(ctx.sql, user.id))!;
  }
  await sendWithFlow(ctx, request, user, "magiclink", pkce);
  return authJson(request, {});
}

/** POST /recover: `{}` whether or not the address has an account. */
export async function recover(
  ctx: AuthContext,
  request: Request,
  client: string,
): Promise<Response> {
  ctx.limits.check("recover", client);
  const params = await body(request);
  if (text(params, "email") === "") {
    throw badRequest("validation_failed", "Password recovery requires an email");
  }
  const address = validateEmail(params.email);
  const pkce = pkceParams(params);
  const user = await findUserByEmail(ctx.sql, address);
  if (!user) return authJson(request, {});
  await sendWithFlow(ctx, request, user, "recovery", pkce);
  return authJson(request, {});
}

/** POST /resend: a signup confirmation or an email change's mails again. */
export async function resend(
  ctx: AuthContext,
  request: Request,
  client: string,
): Promise<Response> {
  ctx.limits.check("resend", client);
  const params = await body(request);
  const type = text(params, "type");
  const email = text(params, "email");
  const phone = text(params, "phone");
  if (!["signup", "email_change", "sms", "phone_change"].includes(type)) {
    throw badRequest(
      "validation_failed",
      "Missing one of these types: signup, email_change, sms, phone_change",
    );
  }
  const pkce = type === "signup" || type === "email_change" ? pkceParams(params) : null;
  if (email === "" && type === "signup") {
    throw badRequest("validation_failed", "Type provided requires an email address");
  }
  if (phone === "" && type === "sms") {
    throw badRequest("validation_failed", "Type provided requires a phone number");
  }
  if (email !== "" && phone !== "") {
    throw badRequest(
      "validation_failed",
      "Only an email address or phone number should be provided.",
    );
  }
  if (phone !== "") throw badRequest("phone_provider_disabled", "Phone logins are disabled");
  if (email === "") throw badRequest("validation_failed", "Missing email address or phone number");
  if (!ctx.settings.emailProvider) {
    throw badRequest("email_provider_disabled", "Email logins are disabled");
  }
  const user = await findUserByEmail(ctx.sql, validateEmail(email));
  if (!user) return authJson(request, {});
  if (type === "signup") {
    if (user.email_confirmed_at) return authJson(request, {});
    await sendWithFlow(ctx, request, user, "signup", pkce);
  } else if (type === "email_change") {
    if (!user.email_change) return authJson(request, {});
    if (pkce) await createFlowState(ctx.sql, user.id, "email_change", pkce);
    await sendEmailChange(ctx, request, user, user.email_change, pkce !== null);
  }
  return authJson(request, {});
}

/** GET /reauthenticate: a code to the signed-in user's confirmed address. */
export async function reauthenticate(ctx: AuthContext, request: Request): Promise<Response> {
  const { user } = await caller(ctx, request);
  if (!user.email && !user.phone) {
    throw badRequest(
      "validation_failed",
      "Reauthentication requires the user to have an email or a phone number",
    );
  }
  if (user.email) {
    if (!user.email_confirmed_at) {
      throw unprocessable("email_not_confirmed", "Please verify your email first.");
    }
    await sendCode(ctx, request, user, "reauthentication");
  } else {
    throw badRequest("phone_provider_disabled", "Unsupported phone provider");
  }
  return authJson(request, {});
}

/** POST /invite (admin): an invitation to a new (or never confirmed) address. */
export async function invite(ctx: AuthContext, request: Request): Promise<Response> {
  const params = await body(request);
  const address = validateEmail(params.email);
  const data = objectParam(params.data, "data");
  let user = await findUserByEmail(ctx.sql, address);
  if (user?.email_confirmed_at) throw unprocessable("email_exists", DUPLICATE_EMAIL_MSG);
  if (!user) {
    user = await createUser(ctx.sql, {
      email: address,
      encryptedPassword: null,
      confirmed: false,
      anonymous: false,
      userMetadata: data ?? {},
      beforeCreate: beforeUserCreated(ctx),
    });
  } else if (data) {
    const merged = mergeMetadata(user.raw_user_meta_data, data);
    await ctx.sql`update auth.users set raw_user_meta_data = ${ctx.sql.json(merged as never)}
                  where id = ${user.id}`;
  }
  await sendCode(ctx, request, user, "invite");
  return authJson(request, await userJson(ctx.sql, (await findUserById(ctx.sql, user.id))!));
}

/** POST /admin/generate_link (admin): the link and code, no mail. */
export async function generateLink(ctx: AuthContext, request: Request): Promise<Response> {
  const params = await body(request);
  const address = validateEmail(params.email);
  let type = text(params, "type");
  const data = objectParam(params.data, "data");
  const given = typeof params.redirect_to === "string" ? params.redirect_to : "";
  const redirectTo = redirectTarget(ctx.settings, request, given);
  let user = await findUserByEmail(ctx.sql, address);
  let password = typeof params.password === "string" ? params.password : "";
  if (!user) {
    if (type === "magiclink") {
      type = "signup";
      password = randomPassword();
    } else if (["recovery", "email_change_current", "email_change_new"].includes(type)) {
      throw notFound("user_not_found", "User with this email not found");
    }
  }
  const otp = newOtp(ctx.settings.email.otpLength);
  const hash = tokenHash(address, otp);
  let linkHash = hash;
  let linkType = type;
  switch (type) {
    case "magiclink":
    case "recovery":
      await ctx.sql`update auth.users set recovery_token = ${hash}, recovery_sent_at = now()
                    where id = ${user!.id}`;
      break;
    case "invite":
    case "signup": {
      if (user?.email_confirmed_at) throw unprocessable("email_exists", DUPLICATE_EMAIL_MSG);
      if (!user) {
        if (type === "signup" && password === "") {
          throw badRequest("validation_failed", "Signup requires a valid password");
        }
        user = await createUser(ctx.sql, {
          email: address,
          encryptedPassword: type === "signup" ? await ctx.passwords.hash(password) : null,
          confirmed: false,
          anonymous: false,
          userMetadata: data ?? {},
          beforeCreate: beforeUserCreated(ctx),
        });
      } else if (data) {
        const merged = mergeMetadata(user.raw_user_meta_data, data);
        await ctx.sql`update auth.users set raw_user_meta_data = ${ctx.sql.json(merged as never)}
                      where id = ${user.id}`;
      }
      await ctx.sql.unsafe(
        `update auth.users set confirmation_token = $1, confirmation_sent_at = now()${
          type === "invite" ? ", invited_at = now()" : ""
        } where id = $2`,
        [hash, user.id],
      );
      break;
    }
    case "email_change_current":
    case "email_change_new": {
      if (!ctx.settings.email.secureEmailChange && type === "email_change_current") {
        throw badRequest(
          "validation_failed",
          "Enable secure email change to generate link for current email",
        );
      }
      const newEmail = validateEmail(params.new_email);
      const taken = await findUserByEmail(ctx.sql, newEmail);
      if (taken && taken.id !== user!.id) throw unprocessable("email_exists", DUPLICATE_EMAIL_MSG);
      const current = type === "email_change_current" ? hash : "";
      const next = type === "email_change_new" ? tokenHash(newEmail, otp) : "";
      linkHash = current || next;
      linkType = "email_change";
      await ctx.sql`
        update auth.users set email_change = ${newEmail}, email_change_token_current = ${current},
          email_change_token_new = ${next}, email_change_sent_at = now(),
          email_change_confirm_status = 0
        where id = ${user!.id}`;
      break;
    }
    default:
      throw badRequest(
        "validation_failed",
        `Invalid email action link type requested: ${
          type.slice(0, 30).replace(/[^\x20-\x7e]/g, "")
        }`,
      );
  }
  const fresh = (await findUserById(ctx.sql, user!.id))!;
  return authJson(request, {
    ...await userJson(ctx.sql, fresh),
    action_link: actionLink(ctx, linkHash, linkType, redirectTo),
    email_otp: otp,
    hashed_token: hash,
    verification_type: type,
    redirect_to: redirectTo,
  });
}
