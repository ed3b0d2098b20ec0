/**
 * The `[auth]` settings of `supabase/config.toml` the local Auth honours, with the Supabase
 * CLI's defaults where a key is absent.
 */
import { parse } from "smol-toml";
import { tryParseGoDuration } from "./duration.ts";
import { checkTemplate, MAIL_KINDS, type MailKind } from "./mail_templates.ts";
import { DEFAULT_RATE_LIMITS, type RateLimitSettings } from "./rate_limits.ts";

/** `[auth.email.smtp]`: a real mail server instead of the local inbox. */
export interface SmtpSettings {
  host: string;
  port: number;
  user: string;
  pass: string;
  adminEmail: string;
  senderName: string;
}

/** What the mails and their one-time codes need (`[auth]`, `[auth.email]`, `[inbucket]`). */
export interface EmailSettings {
  /** `[auth] additional_redirect_urls`: globs a `redirect_to` may match besides site_url. */
  additionalRedirectUrls: string[];
  /** `double_confirm_changes`: an email change needs a code from the old and the new address. */
  secureEmailChange: boolean;
  /** `secure_password_change`: a password change needs a reauthentication code (nonce). */
  securePasswordChange: boolean;
  /** `max_frequency`: least time between two mails of one kind to one user, milliseconds. */
  maxFrequencyMs: number;
  otpLength: number;
  /** `otp_expiry`: seconds a code or link stays good. */
  otpExpiry: number;
  /** `[auth.email.template.<kind>]` subject and content (read from content_path at start). */
  templates: Partial<Record<MailKind, { subject?: string; content?: string }>>;
  /** `[auth.email.smtp]` when enabled; null sends to the local inbox. */
  smtp: SmtpSettings | null;
  /** The From of local mails (`[inbucket] admin_email`, `sender_name`). */
  adminEmail: string;
  senderName: string;
}

export interface AuthSettings {
  siteUrl: string;
  /** Access token lifetime, seconds (`[auth] jwt_expiry`). */
  jwtExpiry: number;
  rotation: boolean;
  /** Seconds a rotated refresh token may still be used (`refresh_token_reuse_interval`). */
  reuseInterval: number;
  /** `[auth] enable_signup`: false refuses every sign-up. */
  signup: boolean;
  /** `[auth.email] enable_signup`: the email provider. */
  emailProvider: boolean;
  /** `[auth.email] enable_confirmations`: false signs a new user in at once. */
  confirmations: boolean;
  anonymous: boolean;
  minPasswordLength: number;
  /** Access tokens: the stack's ES256 key (`kid` in the JWKS) or the legacy HS256 secret. */
  signingAlg: "ES256" | "HS256";
  /** `[auth.rate_limit]` (./rate_limits.ts). */
  rateLimits: RateLimitSettings;
  email: EmailSettings;
  /** `[auth.mfa]`: TOTP (the Supabase CLI's defaults: off until config.toml turns it on). */
  mfa: MfaSettings;
  /** `[auth.oauth_server]`: the OAuth 2.1 server's client registry (./oauth_clients.ts). */
  oauthServer: { enabled: boolean; allowDynamicRegistration: boolean };
  /** `[auth] enable_manual_linking`. */
  manualLinking: boolean;
}

export interface MfaSettings {
  maxEnrolledFactors: number;
  totpEnroll: boolean;
  totpVerify: boolean;
  /** `[auth.mfa.web_authn]` enroll_enabled / verify_enabled. */
  webauthnEnroll: boolean;
  webauthnVerify: boolean;
  /** `[auth.webauthn]`: the relying party (rp_display_name, rp_id, rp_origins). */
  webauthn: { rpDisplayName: string; rpId: string; rpOrigins: string[] };
}

export const DEFAULT_MFA_SETTINGS: MfaSettings = {
  maxEnrolledFactors: 10,
  totpEnroll: false,
  totpVerify: false,
  webauthnEnroll: false,
  webauthnVerify: false,
  webauthn: { rpDisplayName: "", rpId: "", rpOrigins: [] },
};

export const DEFAULT_EMAIL_SETTINGS: EmailSettings = {
  additionalRedirectUrls: [],
  secureEmailChange: true,
  securePasswordChange: false,
  maxFrequencyMs: 1000,
  otpLength: 6,
  otpExpiry: 3600,
  templates: {},
  smtp: null,
  adminEmail: "admin@email.com",
  senderName: "Admin",
};

export const DEFAULT_AUTH_SETTINGS: AuthSettings = {
  siteUrl: "http://127.0.0.1:3000",
  jwtExpiry: 3600,
  rotation: true,
  reuseInterval: 10,
  signup: true,
  emailProvider: true,
  confirmations: false,
  anonymous: false,
  minPasswordLength: 6,
  signingAlg: "ES256",
  rateLimits: DEFAULT_RATE_LIMITS,
  email: DEFAULT_EMAIL_SETTINGS,
  mfa: DEFAULT_MFA_SETTINGS,
  oauthServer: { enabled: false, allowDynamicRegistration: false },
  manualLinking: false,
};

type Table = Record<string, unknown>;

/** Read config.toml (absent file: the defaults). A wrong type names the key and stops the start. */
export function readAuthSettings(
  tomlText: string | null,
  signingAlg: string | undefined,
  /** Where template content_path is resolved from (the folder holding supabase/). */
  projectRoot = ".",
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): AuthSettings {
  const root = tomlText === null ? {} : parse(tomlText) as Table;
  const auth = (root.auth ?? {}) as Table;
  const email = (auth.email ?? {}) as Table;
  const limits = (auth.rate_limit ?? {}) as Table;
  const oauthServer = (auth.oauth_server ?? {}) as Table;
  const pick = <T>(
    table: Table,
    key: string,
    type: "string" | "number" | "boolean",
    fallback: T,
    at: string,
  ): T => {
    const value = table[key];
    if (value === undefined) return fallback;
    const actual = typeof value;
    if (actual !== type) {
      throw new Error(`supabase/config.toml: ${at}.${key} must be a ${type}`);
    }
    return value as T;
  };
  const integer = (table: Table, key: string, fallback: number, at: string, min: number) => {
    const n = pick<number>(table, key, "number", fallback, at);
    if (!Number.isInteger(n) || n < min) {
      throw new Error(`supabase/config.toml: ${at}.${key} must be a whole number >= ${min}`);
    }
    return n;
  };
  const alg = signingAlg ?? DEFAULT_AUTH_SETTINGS.signingAlg;
  if (alg !== "ES256" && alg !== "HS256") {
    throw new Error("LOCAL_AUTH_JWT_ALG must be ES256 or HS256");
  }
  const defaults = DEFAULT_AUTH_SETTINGS;
  return {
    siteUrl: pick(auth, "site_url", "string", defaults.siteUrl, "auth"),
    jwtExpiry: integer(auth, "jwt_expiry", defaults.jwtExpiry, "auth", 30),
    rotation: pick(auth, "enable_refresh_token_rotation", "boolean", defaults.rotation, "auth"),
    reuseInterval: integer(auth, "refresh_token_reuse_interval", defaults.reuseInterval, "auth", 0),
    signup: pick(auth, "enable_signup", "boolean", defaults.signup, "auth"),
    // `enabled` (CLI 3) or `enable_signup` (CLI 2, deprecated in 3); default on.
    emailProvider: pick(
      email,
      "enabled",
      "boolean",
      pick(email, "enable_signup", "boolean", defaults.emailProvider, "auth.email"),
      "auth.email",
    ),
    confirmations: pick(
      email,
      "enable_confirmations",
      "boolean",
      defaults.confirmations,
      "auth.email",
    ),
    anonymous: pick(auth, "enable_anonymous_sign_ins", "boolean", defaults.anonymous, "auth"),
    minPasswordLength: integer(
      auth,
      "minimum_password_length",
      defaults.minPasswordLength,
      "auth",
      1,
    ),
    signingAlg: alg,
    rateLimits: {
      signInSignUps: integer(
        limits,
        "sign_in_sign_ups",
        defaults.rateLimits.signInSignUps,
        "auth.rate_limit",
        1,
      ),
      anonymousUsers: integer(
        limits,
        "anonymous_users",
        defaults.rateLimits.anonymousUsers,
        "auth.rate_limit",
        1,
      ),
      tokenRefresh: integer(
        limits,
        "token_refresh",
        defaults.rateLimits.tokenRefresh,
        "auth.rate_limit",
        1,
      ),
      tokenVerifications: integer(
        limits,
        "token_verifications",
        defaults.rateLimits.tokenVerifications,
        "auth.rate_limit",
        1,
      ),
      emailSent: integer(limits, "email_sent", defaults.rateLimits.emailSent, "auth.rate_limit", 1),
      mfaChallengeAndVerify: defaults.rateLimits.mfaChallengeAndVerify,
    },
    email: readEmailSettings(root, { pick, integer, projectRoot, env }),
    mfa: readMfaSettings(auth, pick, integer),
    oauthServer: {
      enabled: pick(oauthServer, "enabled", "boolean", false, "auth.oauth_server"),
      allowDynamicRegistration: pick(
        oauthServer,
        "allow_dynamic_registration",
        "boolean",
        false,
        "auth.oauth_server",
      ),
    },
    manualLinking: pick(auth, "enable_manual_linking", "boolean", false, "auth"),
  };
}

function readMfaSettings(
  auth: Table,
  pick: Readers["pick"],
  integer: Readers["integer"],
): MfaSettings {
  const mfa = (auth.mfa ?? {}) as Table;
  const totp = (mfa.totp ?? {}) as Table;
  const webauthn = (mfa.web_authn ?? {}) as Table;
  const rp = (auth.webauthn ?? {}) as Table;
  const origins = rp.rp_origins ?? [];
  if (!Array.isArray(origins) || origins.some((o) => typeof o !== "string")) {
    throw new Error("supabase/config.toml: auth.webauthn.rp_origins must be a list of strings");
  }
  const d = DEFAULT_MFA_SETTINGS;
  return {
    maxEnrolledFactors: integer(mfa, "max_enrolled_factors", d.maxEnrolledFactors, "auth.mfa", 1),
    totpEnroll: pick(totp, "enroll_enabled", "boolean", d.totpEnroll, "auth.mfa.totp"),
    totpVerify: pick(totp, "verify_enabled", "boolean", d.totpVerify, "auth.mfa.totp"),
    webauthnEnroll: pick(webauthn, "enroll_enabled", "boolean", false, "auth.mfa.web_authn"),
    webauthnVerify: pick(webauthn, "verify_enabled", "boolean", false, "auth.mfa.web_authn"),
    webauthn: {
      rpDisplayName: pick(rp, "rp_display_name", "string", "", "auth.webauthn"),
      rpId: pick(rp, "rp_id", "string", "", "auth.webauthn"),
      rpOrigins: origins as string[],
    },
  };
}

interface Readers {
  pick: <T>(
    table: Table,
    key: string,
    type: "string" | "number" | "boolean",
    fallback: T,
    at: string,
  ) => T;
  integer: (table: Table, key: string, fallback: number, at: string, min: number) => number;
  projectRoot: string;
  env: (name: string) => string | undefined;
}

/** config.toml's `env(NAME)` values, as the Supabase CLI substitutes them. */
function fromEnv(value: string, at: string, env: Readers["env"]): string {
  const match = /^env\((\w+)\)$/.exec(value.trim());
  if (!match) return value;
  const found = env(match[1]!);
  if (found === undefined) {
    throw new Error(`supabase/config.toml: ${at} names env(${match[1]}), which is not set`);
  }
  return found;
}

function readEmailSettings(root: Table, r: Readers): EmailSettings {
  const auth = (root.auth ?? {}) as Table;
  const email = (auth.email ?? {}) as Table;
  const inbucket = (root.inbucket ?? {}) as Table;
  const d = DEFAULT_EMAIL_SETTINGS;
  const urls = auth.additional_redirect_urls ?? [];
  if (!Array.isArray(urls) || urls.some((u) => typeof u !== "string")) {
    throw new Error(
      "supabase/config.toml: auth.additional_redirect_urls must be a list of strings",
    );
  }
  const frequency = r.pick<string>(email, "max_frequency", "string", "1s", "auth.email");
  const maxFrequencyMs = tryParseGoDuration(frequency);
  if (maxFrequencyMs === null) {
    throw new Error(
      `supabase/config.toml: auth.email.max_frequency must be a duration such as "1s" or "1m"`,
    );
  }
  const otpLength = r.integer(email, "otp_length", d.otpLength, "auth.email", 6);
  if (otpLength > 10) {
    throw new Error("supabase/config.toml: auth.email.otp_length must be 6 to 10");
  }
  const templates: EmailSettings["templates"] = {};
  const templateTable = (email.template ?? {}) as Table;
  for (const [kind, value] of Object.entries(templateTable)) {
    if (!(MAIL_KINDS as readonly string[]).includes(kind)) {
      throw new Error(
        `supabase/config.toml: auth.email.template.${kind} is not a template GoTrue sends (${
          MAIL_KINDS.join(", ")
        })`,
      );
    }
    const t = value as Table;
    const at = `auth.email.template.${kind}`;
    const subject = r.pick<string | undefined>(t, "subject", "string", undefined, at);
    const path = r.pick<string | undefined>(t, "content_path", "string", undefined, at);
    let content: string | undefined;
    if (path !== undefined) {
      const full = path.startsWith("/") ? path : `${r.projectRoot}/${path}`;
      try {
        content = Deno.readTextFileSync(full);
      } catch {
        throw new Error(
          `supabase/config.toml: ${at}.content_path: cannot read ${path} (from ${r.projectRoot})`,
        );
      }
    }
    if (subject !== undefined) checkTemplate(kind as MailKind, "subject", subject);
    if (content !== undefined) checkTemplate(kind as MailKind, "content", content);
    templates[kind as MailKind] = {
      ...(subject !== undefined ? { subject } : {}),
      ...(content !== undefined ? { content } : {}),
    };
  }
  const smtpTable = (email.smtp ?? null) as Table | null;
  let smtp: SmtpSettings | null = null;
  if (smtpTable && r.pick(smtpTable, "enabled", "boolean", true, "auth.email.smtp")) {
    const at = "auth.email.smtp";
    smtp = {
      host: r.pick(smtpTable, "host", "string", "", at),
      port: r.integer(smtpTable, "port", 587, at, 1),
      user: fromEnv(r.pick(smtpTable, "user", "string", "", at), `${at}.user`, r.env),
      pass: fromEnv(r.pick(smtpTable, "pass", "string", "", at), `${at}.pass`, r.env),
      adminEmail: r.pick(smtpTable, "admin_email", "string", d.adminEmail, at),
      senderName: r.pick(smtpTable, "sender_name", "string", d.senderName, at),
    };
    if (smtp.host === "") {
      throw new Error(`supabase/config.toml: ${at}.host is required when enabled`);
    }
  }
  return {
    additionalRedirectUrls: urls as string[],
    secureEmailChange: r.pick(
      email,
      "double_confirm_changes",
      "boolean",
      d.secureEmailChange,
      "auth.email",
    ),
    securePasswordChange: r.pick(
      email,
      "secure_password_change",
      "boolean",
      d.securePasswordChange,
      "auth.email",
    ),
    maxFrequencyMs,
    otpLength,
    otpExpiry: r.integer(email, "otp_expiry", d.otpExpiry, "auth.email", 1),
    templates,
    smtp,
    adminEmail: r.pick(inbucket, "admin_email", "string", d.adminEmail, "inbucket"),
    senderName: r.pick(inbucket, "sender_name", "string", d.senderName, "inbucket"),
  };
}
