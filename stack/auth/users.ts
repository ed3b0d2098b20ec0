/**
 * Users as Supabase Auth keeps them (`auth.users`, `auth.identities`) and answers them
 * (its `models.User` JSON), plus the checks Auth makes on emails and passwords.
 */
import type { Sql } from "../db/database.ts";
import { AuthError, badRequest, unprocessable } from "./errors.ts";
import { factorsJson } from "./mfa.ts";
import { MAX_PASSWORD_LENGTH } from "./passwords.ts";

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** What seed scripts and Auth itself write into `instance_id`. */
export const INSTANCE_ID = "00000000-0000-0000-0000-000000000000";
export const EMAIL_APP_METADATA = { provider: "email", providers: ["email"] };
export const DUPLICATE_EMAIL_MSG = "A user with this email address has already been registered";

// deno-lint-ignore no-explicit-any
export type UserRow = Record<string, any>;

const USER_COLUMNS = `id, instance_id, aud, role, email, encrypted_password, email_confirmed_at,
  phone, phone_confirmed_at, confirmed_at, confirmation_token, confirmation_sent_at, invited_at,
  recovery_token, recovery_sent_at, email_change, email_change_token_new,
  email_change_token_current, email_change_sent_at, email_change_confirm_status,
  reauthentication_token, reauthentication_sent_at, last_sign_in_at, raw_app_meta_data,
  raw_user_meta_data, is_anonymous, banned_until, deleted_at, created_at, updated_at`;

export async function findUserById(sql: Sql, id: string): Promise<UserRow | null> {
  if (!UUID.test(id)) return null;
  const [row] = await sql.unsafe(`select ${USER_COLUMNS} from auth.users where id = $1`, [id]);
  return row ?? null;
}

export async function findUserByEmail(sql: Sql, email: string): Promise<UserRow | null> {
  const [row] = await sql.unsafe(
    `select ${USER_COLUMNS} from auth.users where lower(email) = lower($1) and deleted_at is null
     and is_sso_user = false`,
    [email],
  );
  return row ?? null;
}

export function isBanned(user: UserRow, now = new Date()): boolean {
  return user.banned_until !== null && user.banned_until !== undefined &&
    new Date(user.banned_until) > now;
}

/** Auth's user JSON (GET /user, admin, the `user` of a session). */
export async function userJson(sql: Sql, user: UserRow): Promise<Record<string, unknown>> {
  const identities = await sql`
    select id, provider_id, user_id, identity_data, provider, last_sign_in_at, created_at,
           updated_at, email
    from auth.identities where user_id = ${user.id} order by created_at`;
  const factors = await factorsJson(sql, user.id);
  const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : undefined);
  const out: Record<string, unknown> = {
    id: user.id,
    aud: user.aud ?? "",
    role: user.role ?? "",
    email: user.email ?? "",
    email_confirmed_at: iso(user.email_confirmed_at),
    phone: user.phone ?? "",
    phone_confirmed_at: iso(user.phone_confirmed_at),
    confirmation_sent_at: iso(user.confirmation_sent_at),
    confirmed_at: iso(user.confirmed_at),
    invited_at: iso(user.invited_at),
    recovery_sent_at: iso(user.recovery_sent_at),
    new_email: user.email_change || undefined,
    email_change_sent_at: iso(user.email_change_sent_at),
    reauthentication_sent_at: iso(user.reauthentication_sent_at),
    last_sign_in_at: iso(user.last_sign_in_at),
    app_metadata: user.raw_app_meta_data ?? {},
    user_metadata: user.raw_user_meta_data ?? {},
    identities: identities.map((i) => ({
      identity_id: i.id,
      id: i.provider_id,
      user_id: i.user_id,
      identity_data: i.identity_data,
      provider: i.provider,
      last_sign_in_at: iso(i.last_sign_in_at),
      created_at: iso(i.created_at),
      updated_at: iso(i.updated_at),
      email: i.email ?? undefined,
    })),
    created_at: iso(user.created_at),
    updated_at: iso(user.updated_at),
    banned_until: iso(user.banned_until),
    factors: factors.length > 0 ? factors : undefined,
    is_anonymous: user.is_anonymous ?? false,
  };
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key];
  return out;
}

/** Auth's validateEmail: required, at most 255 characters, a plausible address. */
export function validateEmail(email: unknown): string {
  if (typeof email !== "string" || email.trim() === "") {
    throw badRequest("validation_failed", "An email address is required");
  }
  const trimmed = email.trim();
  if (trimmed.length > 255) throw badRequest("validation_failed", "An email address is too long");
  if (!/^[^\s@"<>()[\]\\,;:]+@[^\s@"<>()[\]\\,;:]+\.[^\s@"<>()[\]\\,;:.]+$/.test(trimmed)) {
    throw badRequest("validation_failed", "Unable to validate email address: invalid format");
  }
  return trimmed.toLowerCase();
}

/** Auth's checkPasswordStrength (length only: no character rules, no HIBP locally). */
export function checkPasswordStrength(password: string, minLength: number): void {
  if (new TextEncoder().encode(password).length > MAX_PASSWORD_LENGTH) {
    throw badRequest(
      "validation_failed",
      `Password cannot be longer than ${MAX_PASSWORD_LENGTH} characters`,
    );
  }
  if (password.length < minLength) {
    throw new AuthError(
      422,
      "weak_password",
      `Password should be at least ${minLength} characters.`,
      { weak_password: { reasons: ["length"] } },
    );
  }
}

export interface NewUser {
  id?: string;
  email: string | null;
  encryptedPassword: string | null;
  confirmed: boolean;
  anonymous: boolean;
  role?: string;
  userMetadata?: Record<string, unknown>;
  appMetadata?: Record<string, unknown>;
  bannedUntil?: Date | null;
  /** Sees the user about to be made, and may refuse it (the before_user_created hook). */
  beforeCreate?: (draft: Record<string, unknown>) => Promise<void>;
}

/** Insert the user and, for an email user, its `email` identity (as Auth's signupNewUser). */
export async function createUser(sql: Sql, user: NewUser): Promise<UserRow> {
  const id = user.id ?? crypto.randomUUID();
  const app = user.anonymous ? {} : { ...EMAIL_APP_METADATA, ...(user.appMetadata ?? {}) };
  if (user.beforeCreate) {
    const now = new Date().toISOString();
    await user.beforeCreate({
      id,
      aud: "authenticated",
      role: user.role ?? "authenticated",
      email: user.email ?? "",
      phone: "",
      app_metadata: app,
      user_metadata: user.userMetadata ?? {},
      identities: [],
      created_at: now,
      updated_at: now,
      is_anonymous: user.anonymous,
    });
  }
  try {
    await sql`
      insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
        email_confirmed_at, confirmation_sent_at, raw_app_meta_data, raw_user_meta_data,
        is_anonymous, banned_until, created_at, updated_at)
      values (${INSTANCE_ID}, ${id}, 'authenticated', ${user.role ?? "authenticated"},
        ${user.email}, ${user.encryptedPassword}, ${user.confirmed ? new Date() : null},
        null, ${sql.json(app)},
        ${sql.json((user.userMetadata ?? {}) as never)}, ${user.anonymous},
        ${user.bannedUntil ?? null}, now(), now())`;
  } catch (error) {
    if ((error as { code?: string }).code === "23505") {
      throw unprocessable("email_exists", DUPLICATE_EMAIL_MSG);
    }
    throw error;
  }
  if (user.email) {
    await sql`
      insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at)
      values (${id}, ${id}, ${
      sql.json({ sub: id, email: user.email, email_verified: false, phone_verified: false })
    }, 'email', now())
      on conflict (provider_id, provider) do nothing`;
  }
  return (await findUserById(sql, id))!;
}

/** Metadata updates merge; a key set to null is removed (Auth's UpdateUserMetaData). */
export function mergeMetadata(
  current: Record<string, unknown> | null,
  update: Record<string, unknown>,
): Record<string, unknown> {
  const out = { ...(current ?? {}) };
  for (const [key, value] of Object.entries(update)) {
    if (value === null) delete out[key];
    else out[key] = value;
  }
  return out;
}

/** A JSON object or nothing: `data`, `user_metadata`, `app_metadata` are objects. */
export function objectParam(value: unknown, name: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw badRequest("validation_failed", `${name} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}
