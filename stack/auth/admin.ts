/**
 * Auth's admin API (`/auth/v1/admin/users...`), for the secret key or a service_role token
 * only: what supabase-js `auth.admin.*` calls.
 */
import type { Sql } from "../db/database.ts";
import { AuthError, authJson, badRequest, notFound } from "./errors.ts";
import type { PasswordHasher } from "./passwords.ts";
import type { AuthSettings } from "./settings.ts";
import { parseGoDuration } from "./duration.ts";
import {
  checkPasswordStrength,
  createUser,
  DUPLICATE_EMAIL_MSG,
  findUserById,
  mergeMetadata,
  objectParam,
  userJson,
  UUID,
  validateEmail,
} from "./users.ts";

export interface AdminDeps {
  sql: Sql;
  settings: AuthSettings;
  passwords: PasswordHasher;
}

async function userOr404(sql: Sql, id: string) {
  if (!UUID.test(id)) throw notFound("validation_failed", "user_id must be an UUID");
  const user = await findUserById(sql, id);
  if (!user) throw notFound("user_not_found", "User not found");
  return user;
}

export async function adminRoute(
  deps: AdminDeps,
  request: Request,
  rest: string[],
  body: () => Promise<Record<string, unknown>>,
): Promise<Response> {
  const { sql } = deps;
  const method = request.method;
  if (rest.length === 0 && method === "GET") return await listUsers(deps, request);
  if (rest.length === 0 && method === "POST") {
    const user = await createFromAdmin(deps, await body());
    return authJson(request, await userJson(sql, user));
  }
  if (rest.length === 1 && method === "GET") {
    return authJson(request, await userJson(sql, await userOr404(sql, rest[0]!)));
  }
  if (rest.length === 1 && method === "PUT") {
    const user = await userOr404(sql, rest[0]!);
    await updateFromAdmin(deps, user.id, await body());
    return authJson(request, await userJson(sql, (await findUserById(sql, user.id))!));
  }
  if (rest.length === 1 && method === "DELETE") {
    const user = await userOr404(sql, rest[0]!);
    const params = request.headers.get("content-length") === "0" ? {} : await body();
    if (params.should_soft_delete === true) {
      await sql`
        update auth.users set deleted_at = now(), email = null, phone = null,
          encrypted_password = '', raw_user_meta_data = '{}', updated_at = now()
        where id = ${user.id}`;
      await sql`delete from auth.sessions where user_id = ${user.id}`;
      await sql`delete from auth.identities where user_id = ${user.id}`;
    } else {
      await sql`delete from auth.users where id = ${user.id}`;
    }
    return authJson(request, {});
  }
  throw notFound("not_found", "Unsupported admin route");
}

async function listUsers(deps: AdminDeps, request: Request): Promise<Response> {
  const url = new URL(request.url);
  const number = (name: string, fallback: number) => {
    const raw = url.searchParams.get(name);
    if (raw === null || raw === "") return fallback;
    if (!/^\d{1,9}$/.test(raw)) {
      throw badRequest(
        "validation_failed",
        `Bad Pagination Parameters: strconv.ParseUint: parsing "${
          raw.slice(0, 20).replace(/[^\x20-\x7e]/g, "")
        }": invalid syntax`,
      );
    }
    return Number(raw);
  };
  const page = Math.max(1, number("page", 1));
  const perPage = Math.max(1, number("per_page", 50));
  // GoTrue's `filter`: a substring of the email, or of user_metadata.full_name (any case).
  const filter = url.searchParams.get("filter") ?? "";
  const like = `%${filter.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const matches = filter === ""
    ? deps.sql`true`
    : deps.sql`(email like ${like} or raw_user_meta_data ->> 'full_name' ilike ${like})`;
  const [{ count }] = await deps.sql`
    select count(*)::int as count from auth.users where deleted_at is null and ${matches}`;
  const rows = await deps.sql`
    select * from auth.users where deleted_at is null and ${matches}
    order by created_at desc, id limit ${perPage} offset ${(page - 1) * perPage}`;
  const users = [];
  for (const row of rows) users.push(await userJson(deps.sql, row));
  // Auth's addPaginationHeaders: rel="next" while pages remain, always rel="last".
  const totalPages = Math.ceil(count / perPage);
  const link = (p: number) => {
    const target = new URL(url.pathname + url.search, "http://x");
    target.searchParams.set("page", String(p));
    return `<${target.pathname}${target.search}>`;
  };
  let header = "";
  if (totalPages > page) header += `${link(page + 1)}; rel="next", `;
  header += `${link(totalPages)}; rel="last"`;
  const response = authJson(request, { users, aud: "authenticated" });
  response.headers.set("link", header);
  response.headers.set("x-total-count", String(count));
  return response;
}

async function createFromAdmin(deps: AdminDeps, params: Record<string, unknown>) {
  const email = params.email === undefined || params.email === ""
    ? null
    : validateEmail(params.email);
  if (email === null && !params.phone) {
    throw badRequest("validation_failed", "Cannot create a user without either an email or phone");
  }
  if (params.phone) throw badRequest("validation_failed", "Phone users are not supported locally");
  let encrypted: string | null = null;
  if (params.password !== undefined && params.password !== null) {
    if (typeof params.password !== "string") {
      throw badRequest("validation_failed", "password must be a string");
    }
    checkPasswordStrength(params.password, deps.settings.minPasswordLength);
    encrypted = await deps.passwords.hash(params.password);
  }
  const id = params.id;
  if (id !== undefined && (typeof id !== "string" || !UUID.test(id))) {
    throw badRequest("validation_failed", "ID must conform to the uuid v4 format");
  }
  const ban = typeof params.ban_duration === "string" && params.ban_duration !== "none"
    ? new Date(Date.now() + parseGoDuration(params.ban_duration, "ban duration"))
    : null;
  try {
    return await createUser(deps.sql, {
      ...(typeof id === "string" ? { id } : {}),
      email,
      encryptedPassword: encrypted,
      confirmed: params.email_confirm === true,
      anonymous: false,
      ...(typeof params.role === "string" ? { role: params.role } : {}),
      userMetadata: objectParam(params.user_metadata, "user_metadata") ?? {},
      appMetadata: objectParam(params.app_metadata, "app_metadata") ?? {},
      bannedUntil: ban,
    });
  } catch (error) {
    if (error instanceof AuthError) throw error;
    if ((error as { code?: string }).code === "23505") {
      throw new AuthError(422, "email_exists", DUPLICATE_EMAIL_MSG);
    }
    throw error;
  }
}

async function updateFromAdmin(deps: AdminDeps, id: string, params: Record<string, unknown>) {
  const { sql } = deps;
  const user = (await findUserById(sql, id))!;
  if (params.email !== undefined && params.email !== user.email) {
    const email = validateEmail(params.email);
    const [taken] = await sql`
      select 1 from auth.users where lower(email) = ${email} and id <> ${id} and deleted_at is null`;
    if (taken) throw new AuthError(422, "email_exists", DUPLICATE_EMAIL_MSG);
    await sql`update auth.users set email = ${email}, updated_at = now() where id = ${id}`;
    await sql`
      update auth.identities set identity_data = identity_data || ${sql.json({ email })}
      where user_id = ${id} and provider = 'email'`;
  }
  if (params.password !== undefined) {
    if (typeof params.password !== "string") {
      throw badRequest("validation_failed", "password must be a string");
    }
    checkPasswordStrength(params.password, deps.settings.minPasswordLength);
    const hash = await deps.passwords.hash(params.password);
    await sql.begin(async (tx) => {
      await tx`update auth.users set encrypted_password = ${hash}, updated_at = now() where id = ${id}`;
      // A password set by an admin signs the user out everywhere (GoTrue's UpdatePassword).
      await tx`delete from auth.sessions where user_id = ${id}`;
    });
  }
  if (params.email_confirm === true) {
    await sql`
      update auth.users set email_confirmed_at = coalesce(email_confirmed_at, now()),
        updated_at = now() where id = ${id}`;
  }
  // user_metadata and app_metadata merge the same way (a key set to null is removed).
  for (
    const [param, column] of [["user_metadata", "raw_user_meta_data"], [
      "app_metadata",
      "raw_app_meta_data",
    ]] as const
  ) {
    const update = objectParam(params[param], param);
    if (!update) continue;
    const merged = mergeMetadata(user[column], update);
    await sql`update auth.users set ${sql({ [column]: sql.json(merged as never) })},
              updated_at = now() where id = ${id}`;
  }
  if (typeof params.role === "string") {
    await sql`update auth.users set role = ${params.role}, updated_at = now() where id = ${id}`;
  }
  if (typeof params.ban_duration === "string") {
    const until = params.ban_duration === "none"
      ? null
      : new Date(Date.now() + parseGoDuration(params.ban_duration, "ban duration"));
    await sql`update auth.users set banned_until = ${until}, updated_at = now() where id = ${id}`;
  }
}
