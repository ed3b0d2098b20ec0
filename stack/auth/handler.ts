/**
 * The local Auth: Supabase Auth's (GoTrue's) HTTP API under /auth/v1, close enough that the
 * unmodified supabase-js auth client cannot tell the difference for what it does here.
 *
 *   GET  /health, /settings, /.well-known/jwks.json
 *   POST /signup                      email + password, or no fields = anonymous sign-in
 *   POST /token?grant_type=password|refresh_token
 *   POST /logout?scope=global|local|others
 *   GET  /user, PUT /user              the caller (metadata, password, email)
 *   /admin/users[/{id}]                secret key or service_role token (./admin.ts)
 *   POST /_local/token                 LOCAL ONLY, secret key: a session for any user id
 *                                      (what `deno task token` calls), through the same code
 *
 * No email is ever sent: with `[auth.email] enable_confirmations = true` a new user waits for
 * a confirmation that can only be given through the admin API (`email_confirm: true`).
 */
import { createLocalJWKSet, importJWK } from "jose";
import type { Sql } from "../db/database.ts";
import { publicSigningJwks, signingAlg, type StackKeys } from "../keys.ts";
import { adminRoute } from "./admin.ts";
import {
  type AuthContext,
  beforeUserCreated,
  body,
  caller,
  requireAdmin,
  userAgent,
} from "./context.ts";
import {
  generateLink,
  invite,
  magicLink,
  otp,
  reauthenticate,
  recover,
  resend,
  sendEmailChange,
  sendWithFlow,
} from "./email_flows.ts";
import { hashMatches, isExpired, tokenHash } from "./email_tokens.ts";
import {
  AuthError,
  authErrorResponse,
  authJson,
  badRequest,
  forbidden,
  unauthorized,
  unprocessable,
} from "./errors.ts";
import { Hooks, type HookSettings } from "./hooks.ts";
import { createMailer } from "./mailer.ts";
import * as mfa from "./mfa.ts";
import {
  adminFeatureOff,
  authorizeRefusal,
  featureOff,
  idTokenRefusal,
  manualLinkingDisabled,
  web3Refusal,
} from "./not_here.ts";
import { adminClients, oauthServerDisabled, registerClient } from "./oauth_clients.ts";
import { BCRYPT_COST, bcryptCost, PasswordHasher } from "./passwords.ts";
import { createFlowState, exchangeAuthCode, pkceParams } from "./pkce.ts";
import { RateLimits } from "./rate_limits.ts";
import {
  endSessions,
  refreshSession,
  signAccessToken,
  type Signer,
  startSession,
} from "./sessions.ts";
import type { AuthSettings } from "./settings.ts";
import {
  checkPasswordStrength,
  createUser,
  DUPLICATE_EMAIL_MSG,
  findUserByEmail,
  findUserById,
  isBanned,
  mergeMetadata,
  objectParam,
  userJson,
  type UserRow,
  UUID,
  validateEmail,
} from "./users.ts";
import { verifyGet, verifyPost } from "./verify.ts";

export interface AuthDeps {
  sql: Sql;
  keys: StackKeys;
  /** `${api_url}/auth/v1`: the iss of tokens this stack signs. */
  issuer: string;
  settings: AuthSettings;
  /** Which API key, if any, a value is (compared in constant time by the caller's key ring). */
  apiKeyKind: (value: string | null) => "secret" | "publishable" | null;
  /** `${api_url}/auth/v1`: where links in mails point (the issuer may be set apart). */
  externalUrl?: string;
  /** The local inbox's SMTP port (null or absent: no inbox). */
  inboxSmtpPort?: number | null;
  /** `[auth.hook.*]` (./hooks.ts). */
  hooks?: HookSettings;
  log?: (line: string) => void;
}

export interface AuthService {
  /**
   * One request under /auth/v1; `client` is the client's address when the gateway knows it
   * (through a trusted proxy); without it no request rate limit applies, as in GoTrue.
   */
  handle(
    request: Request,
    path: string,
    client?: string | undefined,
    requestId?: string,
  ): Promise<Response>;
  close(): void;
}

export async function createAuthService(deps: AuthDeps): Promise<AuthService> {
  const passwords = new PasswordHasher();
  // Compared against when an email is unknown or a stored hash is cheaper than Auth's, so a
  // failed sign-in does the same work either way. Made at the first sign-in, not at start: a
  // bcrypt run (~0.1 s of CPU) that a stack may never need.
  let decoy: Promise<string> | undefined;
  const log = deps.log ?? ((line: string) => console.error(line));
  const hooks = new Hooks(deps.sql, deps.hooks ?? {}, log);
  const ctx: AuthContext = {
    sql: deps.sql,
    settings: deps.settings,
    apiKeyKind: deps.apiKeyKind,
    signer: {
      keys: deps.keys,
      issuer: deps.issuer,
      asymmetric: await importJWK(
        deps.keys.signingKey,
        signingAlg(deps.keys.signingKey),
      ) as CryptoKey,
      asymmetricAlg: signingAlg(deps.keys.signingKey),
      hs256: new TextEncoder().encode(deps.keys.jwtSecret),
      hooks,
    },
    verifyKeys: createLocalJWKSet({ keys: publicSigningJwks(deps.keys) }),
    passwords,
    decoy: () => decoy ??= passwords.hash(crypto.randomUUID()),
    jwks: { keys: publicSigningJwks(deps.keys) },
    limits: new RateLimits(deps.settings.rateLimits),
    mailer: createMailer({
      settings: deps.settings,
      inboxSmtpPort: deps.inboxSmtpPort ?? null,
      log,
    }),
    hooks,
    externalUrl: deps.externalUrl ?? deps.issuer,
  };
  return {
    async handle(request, path, client, requestId = "-") {
      try {
        // GoTrue limits requests per client address only when it is told the address (hosted:
        // by its gateway; `supabase start`: never). Here: when a trusted proxy names it.
        const limited = client === undefined ? { ...ctx, limits: NO_LIMITS } : ctx;
        return await route(limited, request, path, client ?? "127.0.0.1");
      } catch (error) {
        if (error instanceof AuthError) return authErrorResponse(request, error);
        log(
          `[auth] [${requestId}] ${request.method} ${path} failed: ${
            (error as Error).stack ?? error
          }`,
        );
        return authErrorResponse(
          request,
          new AuthError(500, "unexpected_failure", "Unexpected failure, please check server logs"),
        );
      }
    },
    close: () => {
      ctx.passwords.close();
      ctx.mailer.close();
    },
  };
}

const NO_LIMITS: Pick<RateLimits, "check"> = { check() {} };

/** GoTrue's /.well-known/openid-configuration (its OAuth server's endpoints included). */
function openIdConfiguration(issuer: string) {
  const base = issuer.replace(/\/+$/, "");
  return {
    issuer,
    authorization_endpoint: `${base}/oauth/authorize`,
    token_endpoint: `${base}/oauth/token`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    userinfo_endpoint: `${base}/oauth/userinfo`,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256", "HS256", "ES256"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
    code_challenge_methods_supported: ["S256", "plain"],
  };
}

/** POST /signup without email or phone, when `[auth] enable_anonymous_sign_ins` allows it. */
async function signInAnonymously(
  ctx: AuthContext,
  request: Request,
  params: Record<string, unknown>,
  client: string,
): Promise<Response> {
  if (!ctx.settings.anonymous) {
    throw unprocessable("anonymous_provider_disabled", "Anonymous sign-ins are disabled");
  }
  if (!ctx.settings.signup) {
    throw unprocessable("signup_disabled", "Signups not allowed for this instance");
  }
  const user = await createUser(ctx.sql, {
    email: null,
    encryptedPassword: null,
    confirmed: false,
    anonymous: true,
    userMetadata: objectParam(params.data, "data") ?? {},
    beforeCreate: beforeUserCreated(ctx, client),
  });
  const session = await startSession(ctx.sql, ctx.signer, ctx.settings, user, "anonymous", {
    userAgent: userAgent(request),
  });
  return authJson(request, session);
}

async function signup(ctx: AuthContext, request: Request, client: string): Promise<Response> {
  const params = await body(request);
  const email = typeof params.email === "string" ? params.email : "";
  const phone = typeof params.phone === "string" ? params.phone : "";
  // Anonymous sign-in: supabase-js signInAnonymously() posts no email and no phone.
  if (email === "" && phone === "") {
    ctx.limits.check("anonymous", client);
    return await signInAnonymously(ctx, request, params, client);
  }
  ctx.limits.check("signup", client);
  if (!ctx.settings.signup) {
    throw unprocessable("signup_disabled", "Signups not allowed for this instance");
  }
  if (typeof params.password !== "string" || params.password === "") {
    throw badRequest("validation_failed", "Signup requires a valid password");
  }
  if (phone !== "" && email !== "") {
    throw badRequest(
      "validation_failed",
      "Only an email address or phone number should be provided on signup.",
    );
  }
  if (phone !== "") {
    throw badRequest("phone_provider_disabled", "Phone signups are disabled");
  }
  checkPasswordStrength(params.password, ctx.settings.minPasswordLength);
  if (!ctx.settings.emailProvider) {
    throw badRequest("email_provider_disabled", "Email signups are disabled");
  }
  const address = validateEmail(email);
  const userMetadata = objectParam(params.data, "data") ?? {};
  const pkce = pkceParams(params);
  // Hashed whether or not the address is taken: both answers take as long.
  const hash = await ctx.passwords.hash(params.password);
  const existing = await findUserByEmail(ctx.sql, address);
  if (existing && !existing.email_confirmed_at && ctx.settings.confirmations) {
    // Signed up before, never confirmed: the confirmation mail again (GoTrue's Signup).
    await sendWithFlow(ctx, request, existing, "signup", pkce);
    return authJson(request, await userJson(ctx.sql, (await findUserById(ctx.sql, existing.id))!));
  }
  if (existing) {
    if (!ctx.settings.confirmations) {
      throw unprocessable("user_already_exists", "User already registered");
    }
    // With confirmations on, Auth answers the user sanitized (its sanitizeUser: a new id, the
    // request's metadata, no identities), so an address cannot be probed.
    const now = new Date().toISOString();
    return authJson(request, {
      id: crypto.randomUUID(),
      aud: "authenticated",
      role: "",
      email: address,
      phone: "",
      confirmation_sent_at: now,
      app_metadata: { provider: "email", providers: ["email"] },
      user_metadata: userMetadata,
      identities: [],
      created_at: now,
      updated_at: now,
      is_anonymous: false,
    });
  }
  const user = await createUser(ctx.sql, {
    email: address,
    encryptedPassword: hash,
    confirmed: !ctx.settings.confirmations,
    anonymous: false,
    userMetadata,
    beforeCreate: beforeUserCreated(ctx, client),
  });
  if (ctx.settings.confirmations) {
    await sendWithFlow(ctx, request, user, "signup", pkce);
    return authJson(request, await userJson(ctx.sql, (await findUserById(ctx.sql, user.id))!));
  }
  const session = await startSession(ctx.sql, ctx.signer, ctx.settings, user, "password", {
    userAgent: userAgent(request),
  });
  return authJson(request, session);
}

async function token(ctx: AuthContext, request: Request, client: string): Promise<Response> {
  const grant = new URL(request.url).searchParams.get("grant_type");
  if (grant === "web3") {
    ctx.limits.check("token", client);
    throw web3Refusal();
  }
  if (grant === "id_token") {
    ctx.limits.check("token", client);
    throw idTokenRefusal(await body(request));
  }
  if (grant !== "password" && grant !== "refresh_token" && grant !== "pkce") {
    throw badRequest("invalid_credentials", "unsupported_grant_type");
  }
  ctx.limits.check("token", client);
  const params = await body(request);
  if (grant === "pkce") {
    const { userId, method } = await exchangeAuthCode(ctx.sql, params);
    const user = await findUserById(ctx.sql, userId);
    if (!user || user.deleted_at) {
      throw badRequest("user_not_found", "User not found");
    }
    if (isBanned(user)) throw badRequest("user_banned", "User is banned");
    return authJson(
      request,
      await startSession(ctx.sql, ctx.signer, ctx.settings, user, method, {
        userAgent: userAgent(request),
      }),
    );
  }
  if (grant === "refresh_token") {
    return authJson(
      request,
      await refreshSession(ctx.sql, ctx.signer, ctx.settings, params.refresh_token),
    );
  }
  const email = typeof params.email === "string" ? params.email : "";
  const phone = typeof params.phone === "string" ? params.phone : "";
  const password = typeof params.password === "string" ? params.password : "";
  if (email !== "" && phone !== "") {
    throw badRequest(
      "validation_failed",
      "Only an email address or phone number should be provided on login.",
    );
  }
  if (email === "" && phone === "") {
    throw badRequest("validation_failed", "missing email or phone");
  }
  if (phone !== "") throw badRequest("invalid_credentials", "Invalid login credentials");
  const user = await findUserByEmail(ctx.sql, email.trim());
  const stored = user?.encrypted_password || null;
  // The hash is checked even for an unknown email (against the decoy, at Auth's cost).
  const valid = await ctx.passwords.compare(password, stored ?? await ctx.decoy());
  if (user && ctx.hooks.enabled("password_verification_attempt")) {
    const output = await ctx.hooks.run("password_verification_attempt", {
      user_id: user.id,
      valid,
    }, client);
    if (output?.decision === "reject") {
      if (output.should_logout_user === true) {
        await ctx.sql`delete from auth.sessions where user_id = ${user.id}`;
      }
      throw badRequest(
        "invalid_credentials",
        typeof output.message === "string" && output.message !== ""
          ? output.message
          : "Further password verification attempts will be rejected.",
      );
    }
  }
  if (!user || !valid) {
    // A failure does at least one check at Auth's cost, as an unknown address does, under the
    // same load: a seeded user's cheaper (or unreadable) hash does not tell that the address
    // exists. (A fixed wait measured once fell behind when the machine got busy.)
    if (stored !== null && (bcryptCost(stored) ?? 0) < BCRYPT_COST) {
      await ctx.passwords.compare(password, await ctx.decoy());
    }
    throw badRequest("invalid_credentials", "Invalid login credentials");
  }
  if (isBanned(user)) throw badRequest("user_banned", "User is banned");
  if (!user.email_confirmed_at && ctx.settings.confirmations) {
    throw badRequest("email_not_confirmed", "Email not confirmed");
  }
  await upgradeHash(ctx, user.id, user.encrypted_password, password);
  const session = await startSession(ctx.sql, ctx.signer, ctx.settings, user, "password", {
    userAgent: userAgent(request),
  });
  return authJson(request, session);
}

/** A hash made at a lower cost than Auth's (pgcrypto's default is 6) is redone at Auth's. */
async function upgradeHash(ctx: AuthContext, id: string, hash: string, password: string) {
  if ((bcryptCost(hash) ?? BCRYPT_COST) >= BCRYPT_COST) return;
  const better = await ctx.passwords.hash(password);
  await ctx.sql`update auth.users set encrypted_password = ${better} where id = ${id}
                and encrypted_password = ${hash}`;
}

async function logout(ctx: AuthContext, request: Request): Promise<Response> {
  const raw = new URL(request.url).searchParams.get("scope") ?? "global";
  if (raw !== "" && raw !== "global" && raw !== "local" && raw !== "others") {
    throw badRequest(
      "validation_failed",
      `Unsupported logout scope "${raw.slice(0, 20).replace(/[^\x20-\x7e]/g, "")}"`,
    );
  }
  const { user, sessionId } = await caller(ctx, request);
  await endSessions(ctx.sql, user.id, sessionId, (raw || "global") as "global");
  return new Response(null, { status: 204 });
}

async function getUser(ctx: AuthContext, request: Request): Promise<Response> {
  const { user } = await caller(ctx, request);
  return authJson(request, await userJson(ctx.sql, user));
}

/** `secure_password_change`: a session older than a day needs the code /reauthenticate sent. */
async function checkNonce(
  ctx: AuthContext,
  user: UserRow,
  sessionCreatedAt: Date | null,
  nonce: unknown,
): Promise<void> {
  if (!ctx.settings.email.securePasswordChange) return;
  if (sessionCreatedAt && Date.now() - sessionCreatedAt.getTime() < 24 * 3600_000) return;
  if (typeof nonce !== "string" || nonce === "") {
    throw badRequest("reauthentication_needed", "Password update requires reauthentication");
  }
  const invalid = () =>
    unprocessable("reauthentication_not_valid", "Nonce has expired or is invalid");
  if (!user.reauthentication_token || !user.reauthentication_sent_at || !user.email) {
    throw invalid();
  }
  const hash = tokenHash(user.email, nonce);
  if (
    !hashMatches(hash, user.reauthentication_token) ||
    isExpired(user.reauthentication_sent_at, ctx.settings.email.otpExpiry)
  ) {
    throw invalid();
  }
  await ctx.sql`update auth.users set reauthentication_token = '', reauthentication_sent_at = null
                where id = ${user.id}`;
}

async function updateUser(ctx: AuthContext, request: Request, client: string): Promise<Response> {
  const { user, sessionId, sessionCreatedAt, aal } = await caller(ctx, request);
  ctx.limits.check("user", client);
  const params = await body(request);
  const data = objectParam(params.data, "data");
  if (params.app_metadata !== undefined && params.app_metadata !== null) {
    throw forbidden("not_admin", "Updating app_metadata requires admin privileges");
  }
  const newPassword = typeof params.password === "string" && params.password !== "";
  const newEmail = typeof params.email === "string" && params.email !== "";
  if ((newPassword || (newEmail && params.email !== user.email)) && sessionId && aal !== "aal2") {
    const [mfa] = await ctx.sql`
      select exists (select from auth.mfa_factors where user_id = ${user.id}
                     and status = 'verified') as enabled`;
    if (mfa?.enabled) {
      throw new AuthError(
        401,
        "insufficient_aal",
        "AAL2 session is required to update email or password when MFA is enabled.",
      );
    }
  }
  if (user.is_anonymous && newPassword && !newEmail && !params.phone) {
    throw unprocessable(
      "validation_failed",
      "Updating password of an anonymous user without an email or phone is not allowed",
    );
  }
  if (params.password !== undefined && params.password !== null) {
    if (typeof params.password !== "string") {
      throw badRequest("validation_failed", "password must be a string");
    }
    await checkNonce(ctx, user, sessionCreatedAt, params.nonce);
    checkPasswordStrength(params.password, ctx.settings.minPasswordLength);
    if (await ctx.passwords.compare(params.password, user.encrypted_password)) {
      throw unprocessable(
        "same_password",
        "New password should be different from the old password.",
      );
    }
    const hash = await ctx.passwords.hash(params.password);
    await ctx.sql`update auth.users set encrypted_password = ${hash}, updated_at = now()
              where id = ${user.id}`;
    // A new password signs every other session out (Auth's UpdatePassword).
    if (sessionId) await endSessions(ctx.sql, user.id, sessionId, "others");
  }
  if (typeof params.email === "string" && params.email !== "" && params.email !== user.email) {
    const address = validateEmail(params.email);
    const taken = await findUserByEmail(ctx.sql, address);
    if (taken && taken.id !== user.id) {
      throw unprocessable("email_exists", DUPLICATE_EMAIL_MSG);
    }
    if (user.is_anonymous && !ctx.settings.confirmations) {
      // An anonymous user adding an address, with autoconfirm: it lands at once (GoTrue).
      await ctx.sql`update auth.users set email = ${address}, email_confirmed_at = now(),
                is_anonymous = false, updated_at = now() where id = ${user.id}`;
      await ctx.sql`
        insert into auth.identities (provider_id, user_id, identity_data, provider)
        values (${user.id}, ${user.id}, ${
        ctx.sql.json({ sub: user.id, email: address, email_verified: true, phone_verified: false })
      }, 'email')
        on conflict (provider_id, provider) do update set identity_data = excluded.identity_data`;
    } else {
      const pkce = pkceParams(params);
      if (pkce) await createFlowState(ctx.sql, user.id, "email_change", pkce);
      await sendEmailChange(ctx, request, user, address, pkce !== null);
    }
  }
  if (data) {
    const merged = mergeMetadata(user.raw_user_meta_data, data);
    await ctx.sql`update auth.users set raw_user_meta_data = ${ctx.sql.json(merged as never)},
              updated_at = now() where id = ${user.id}`;
  }
  return authJson(request, await userJson(ctx.sql, (await findUserById(ctx.sql, user.id))!));
}

async function localToken(ctx: AuthContext, request: Request): Promise<Response> {
  if (ctx.apiKeyKind(request.headers.get("apikey")) !== "secret") {
    throw unauthorized(
      "no_authorization",
      "This local endpoint requires the secret key as apikey",
    );
  }
  const params = await body(request);
  return authJson(request, await issueLocalToken(ctx.sql, ctx.signer, ctx.settings, params));
}

async function route(
  ctx: AuthContext,
  request: Request,
  path: string,
  client: string,
): Promise<Response> {
  const method = request.method;
  if (path === "/.well-known/jwks.json" && method === "GET") {
    return Response.json(ctx.jwks, { headers: { "cache-control": "public, max-age=600" } });
  }
  if (path === "/health" && method === "GET") {
    return authJson(request, {
      version: "local",
      name: "GoTrue",
      description: "GoTrue is a user registration and authentication API",
    });
  }
  if (path === "/settings" && method === "GET") {
    return authJson(request, {
      external: {
        anonymous_users: ctx.settings.anonymous,
        email: ctx.settings.emailProvider,
        phone: false,
      },
      disable_signup: !ctx.settings.signup,
      mailer_autoconfirm: !ctx.settings.confirmations,
      phone_autoconfirm: false,
      sms_provider: "",
      saml_enabled: false,
    });
  }
  if (path === "/.well-known/openid-configuration" && method === "GET") {
    return authJson(request, openIdConfiguration(ctx.signer.issuer));
  }
  const off = featureOff(path);
  if (off) throw off;
  if (path === "/authorize" && method === "GET") throw authorizeRefusal(new URL(request.url));
  if (path.startsWith("/user/identities/") || path === "/user/identities") {
    await caller(ctx, request);
    throw ctx.settings.manualLinking
      ? new AuthError(
        501,
        "not_implemented",
        "Identity linking needs external OAuth providers, which the local Auth does not run",
      )
      : manualLinkingDisabled();
  }
  if (path === "/user/oauth/grants" || path.startsWith("/oauth/")) {
    if (path === "/user/oauth/grants") await caller(ctx, request);
    if (!ctx.settings.oauthServer.enabled) throw oauthServerDisabled();
    if (path === "/oauth/clients/register" && method === "POST") {
      if (!ctx.settings.oauthServer.allowDynamicRegistration) {
        throw forbidden(
          "oauth_dynamic_client_registration_disabled",
          "Dynamic client registration is not enabled",
        );
      }
      return await registerClient(ctx.sql, request, await body(request), "dynamic");
    }
    throw new AuthError(
      501,
      "not_implemented",
      "The OAuth 2.1 server's authorization flow is not built into the local Auth (its client " +
        "registry is: /admin/oauth/clients)",
    );
  }
  if (path === "/signup" && method === "POST") return await signup(ctx, request, client);
  if (path === "/token" && method === "POST") return await token(ctx, request, client);
  if (path === "/logout" && method === "POST") return await logout(ctx, request);
  if (path === "/user" && method === "GET") return await getUser(ctx, request);
  if (path === "/user" && method === "PUT") return await updateUser(ctx, request, client);
  if (path === "/otp" && method === "POST") return await otp(ctx, request, client);
  if (path === "/magiclink" && method === "POST") return await magicLink(ctx, request, client);
  if (path === "/recover" && method === "POST") return await recover(ctx, request, client);
  if (path === "/resend" && method === "POST") return await resend(ctx, request, client);
  if (path === "/verify" && method === "POST") return await verifyPost(ctx, request, client);
  if (path === "/verify" && method === "GET") return await verifyGet(ctx, request, client);
  if (path === "/reauthenticate" && method === "GET") return await reauthenticate(ctx, request);
  if (path === "/invite" && method === "POST") {
    await requireAdmin(ctx, request);
    return await invite(ctx, request);
  }
  if (path === "/admin/generate_link" && method === "POST") {
    await requireAdmin(ctx, request);
    return await generateLink(ctx, request);
  }
  const factor = /^\/factors(?:\/([^/]+)(?:\/(challenge|verify))?)?\/?$/.exec(path);
  if (factor) {
    const [, id, action] = factor;
    if (!id && method === "POST") return await mfa.enroll(ctx, request);
    if (id && action === "challenge" && method === "POST") {
      return await mfa.challenge(ctx, request, id, client);
    }
    if (id && action === "verify" && method === "POST") {
      return await mfa.verify(ctx, request, id, client);
    }
    if (id && !action && method === "DELETE") return await mfa.unenroll(ctx, request, id);
  }
  if (path === "/_local/token" && method === "POST") return await localToken(ctx, request);
  if (path.startsWith("/admin/")) {
    const adminOff = adminFeatureOff(path, method);
    if (adminOff) {
      await requireAdmin(ctx, request);
      throw adminOff;
    }
  }
  const factors = /^\/admin\/users\/([^/]+)\/factors(?:\/([^/]+))?\/?$/.exec(path);
  if (factors) {
    await requireAdmin(ctx, request);
    return await mfa.adminFactors(ctx, request, factors[1]!, factors[2]);
  }
  const oauthClients = /^\/admin\/oauth\/clients((?:\/[^/]+){0,2})\/?$/.exec(path);
  if (oauthClients) {
    await requireAdmin(ctx, request);
    if (!ctx.settings.oauthServer.enabled) throw oauthServerDisabled();
    return await adminClients(
      ctx.sql,
      request,
      oauthClients[1]!.split("/").filter(Boolean),
      () => body(request),
    );
  }
  if ((path === "/admin/audit" || path === "/admin/sso/providers") && method === "GET") {
    await requireAdmin(ctx, request);
    // No audit log and no SAML providers here: GoTrue's answers for none.
    return authJson(request, path === "/admin/audit" ? [] : { items: [] });
  }
  const admin = /^\/admin\/users(?:\/([^/]+))?\/?$/.exec(path);
  if (admin) {
    await requireAdmin(ctx, request);
    return await adminRoute(
      { sql: ctx.sql, settings: ctx.settings, passwords: ctx.passwords },
      request,
      admin[1] ? [admin[1]] : [],
      () => body(request),
    );
  }
  throw new AuthError(404, "not_found", "Not found");
}

export interface LocalTokenRequest {
  sub?: unknown;
  email?: unknown;
  role?: unknown;
  exp?: unknown;
  alg?: unknown;
  session_id?: unknown;
  is_anonymous?: unknown;
  aal?: unknown;
}

/** `deno task token`: find or create the user, then start a session the way sign-in does. */
/** The checks `deno task token` relies on, one validation_failed message per field. */
function checkLocalTokenRequest(params: LocalTokenRequest) {
  const sub = params.sub;
  if (typeof sub !== "string" || !UUID.test(sub)) {
    throw badRequest("validation_failed", "sub must be a UUID (Supabase Auth user ids are UUIDs)");
  }
  const lifetime = params.exp ?? 3600;
  if (
    typeof lifetime !== "number" || !Number.isInteger(lifetime) || lifetime < -86_400 ||
    lifetime > 7 * 86_400
  ) {
    throw badRequest(
      "validation_failed",
      "exp must be a whole number of seconds, at most one week",
    );
  }
  const sessionId = params.session_id ?? crypto.randomUUID();
  if (typeof sessionId !== "string" || !UUID.test(sessionId)) {
    throw badRequest("validation_failed", "session_id must be a UUID");
  }
  const alg = params.alg ?? "ES256";
  if (alg !== "ES256" && alg !== "HS256") {
    throw badRequest("validation_failed", "alg must be ES256 or HS256");
  }
  const aal = params.aal ?? "aal1";
  if (aal !== "aal1" && aal !== "aal2") {
    throw badRequest("validation_failed", "aal must be aal1 or aal2");
  }
  if (params.role !== undefined && typeof params.role !== "string") {
    throw badRequest("validation_failed", "role must be a string");
  }
  return {
    sub,
    lifetime,
    sessionId,
    alg: alg as "ES256" | "HS256",
    aal: aal as "aal1" | "aal2",
  };
}

export async function issueLocalToken(
  sql: Sql,
  signer: Signer,
  settings: AuthSettings,
  params: LocalTokenRequest,
) {
  const { sub, lifetime, sessionId, alg, aal } = checkLocalTokenRequest(params);
  const email = params.email === undefined || params.email === null
    ? null
    : validateEmail(params.email);
  let user = await findUserById(sql, sub);
  if (!user) {
    if (email && await findUserByEmail(sql, email)) {
      throw unprocessable("email_exists", DUPLICATE_EMAIL_MSG);
    }
    user = await createUser(sql, {
      id: sub,
      email,
      encryptedPassword: null,
      confirmed: email !== null,
      anonymous: params.is_anonymous === true,
      ...(typeof params.role === "string" ? { role: params.role } : {}),
    });
  } else if (email && email !== user.email) {
    const taken = await findUserByEmail(sql, email);
    if (taken && taken.id !== sub) throw unprocessable("email_exists", DUPLICATE_EMAIL_MSG);
    await sql`update auth.users set email = ${email}, updated_at = now() where id = ${sub}`;
    user = (await findUserById(sql, sub))!;
  }
  const [existing] = await sql`select 1 from auth.sessions where id = ${sessionId}`;
  const options = {
    alg: alg as "ES256" | "HS256",
    lifetime,
    aal,
    ...(typeof params.role === "string" ? { role: params.role } : {}),
  };
  if (existing) {
    const access = await signAccessToken(sql, signer, settings, user, sessionId, options);
    return {
      access_token: access.token,
      token_type: "bearer",
      expires_in: lifetime,
      expires_at: access.expiresAt,
      user_id: sub,
      session_id: sessionId,
    };
  }
  const session = await startSession(sql, signer, settings, user, "password", {
    ...options,
    sessionId,
  });
  return { ...session, user_id: sub, session_id: sessionId };
}
