/**
 * `me`: who is calling, and their own profile.
 *
 *   GET   /me  -> 200 {id, role, email, issuer, provider, session_id, aal, is_anonymous,
 *                        user_role, profile}
 *   PATCH /me  {display_name?, avatar_url?} -> 200 the same shape, profile updated
 *   GET   /me/security  -> 200 {aal, amr}: needs aal2 (a verified MFA factor this session)
 *   GET   /me/staff     -> 200 {user_role}: needs user_role admin or moderator, the claim
 *                        Auth's custom access token hook adds (public.user_roles)
 *
 * Any signed-in user: Supabase Auth or a native third-party issuer. The profile is read and
 * written through the caller's own client, so RLS limits it to their row.
 */
import {
  type Context,
  fromDbError,
  HttpError,
  json,
  readJsonObject,
  requireAal,
  requireClaims,
  validateBody,
  withAuth,
} from "../_shared/mod.ts";
import type { SupabaseClient } from "@supabase/supabase-js";
import type { Database, Tables, TablesInsert } from "../_shared/database.types.ts";

/** The caller's client, typed by `deno task gen-types` (CI fails when the types are stale). */
const typed = (ctx: Context) => ctx.supabase as unknown as SupabaseClient<Database>;
type Profile = Pick<Tables<"profiles">, "user_id" | "display_name" | "avatar_url" | "updated_at">;

const PROFILE_COLUMNS = "user_id, display_name, avatar_url, updated_at";
const PROFILE_CHANGES = {
  display_name: { type: "string", maxLength: 100, nullable: true },
  avatar_url: { type: "string", maxLength: 2048, nullable: true },
} as const;

function describe(ctx: Context, profile: Profile | null): Response {
  const id = ctx.identity!;
  return json({
    id: id.id,
    role: id.role,
    email: id.email,
    issuer: id.issuer,
    provider: id.provider,
    session_id: id.sessionId,
    aal: id.aal,
    is_anonymous: id.isAnonymous,
    user_role: userRole(ctx),
    profile,
  });
}

/** The role claim the project's custom access token hook adds (null without one). */
function userRole(ctx: Context): string | null {
  const value = ctx.identity!.claims.user_role;
  return typeof value === "string" ? value : null;
}

const STAFF = new Set(["admin", "moderator"]);

/** Sub-routes that show the two kinds of guard: assurance level, and a claim from a hook. */
function guarded(request: Request, ctx: Context): Response {
  if (request.method !== "GET") {
    throw new HttpError("method_not_allowed", "Use GET.", { headers: { allow: "GET" } });
  }
  const [route] = ctx.path;
  if (route === "security" && ctx.path.length === 1) {
    requireAal(ctx.identity!, "aal2");
    const amr = ctx.identity!.claims.amr;
    return json({
      aal: ctx.identity!.aal,
      amr: Array.isArray(amr) ? amr.map((a) => (a as { method?: unknown }).method ?? a) : [],
    });
  }
  if (route === "staff" && ctx.path.length === 1) {
    requireClaims(ctx.identity!, {
      user_role: (v: unknown) => typeof v === "string" && STAFF.has(v),
    });
    return json({ user_role: userRole(ctx) });
  }
  throw new HttpError("not_found", "Not found.");
}

export default {
  fetch: withAuth({ allow: "user", methods: ["GET", "PATCH"] }, async (request, ctx) => {
    if (ctx.path.length > 0) return guarded(request, ctx);
    if (request.method === "PATCH") {
      const changes = validateBody(await readJsonObject(request), PROFILE_CHANGES);
      if (Object.keys(changes).length === 0) {
        throw new HttpError("invalid_body", "Send display_name and/or avatar_url.");
      }
      // user_id is never sent: the column defaults to requesting_user_id() from the token.
      const { data, error, status } = await typed(ctx).from("profiles")
        // validateBody checked each field against PROFILE_CHANGES (string or null).
        .upsert(changes as TablesInsert<"profiles">, { onConflict: "user_id" })
        .select(PROFILE_COLUMNS).single();
      if (error) throw fromDbError(error, status);
      return describe(ctx, data);
    }
    const { data, error, status } = await typed(ctx).from("profiles")
      .select(PROFILE_COLUMNS).maybeSingle();
    if (error) throw fromDbError(error, status);
    return describe(ctx, data);
  }),
};
