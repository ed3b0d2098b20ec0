/**
 * `admin-posts`: server-to-server work on every user's posts. It uses the ADMIN client
 * (secret key, service_role): Row Level Security does NOT apply here, on purpose, so the
 * caller is checked instead: the project's secret key, or a machine-to-machine token from
 * a trusted issuer that carries the scope `posts:admin`. User tokens are refused.
 *
 *   GET  /admin-posts?limit=&cursor=   -> 200 {items, next_cursor}   every user's posts, oldest first
 *   POST /admin-posts/import {posts: [{user_id, title, body?}, ...]}  (1..1000 rows)
 *        -> 201 {imported, ids}   all rows or none (one INSERT statement)
 */
import {
  type Context,
  encodeCursor,
  fromDbError,
  HttpError,
  json,
  pageQuery,
  readJsonObject,
  validateBody,
  withAuth,
} from "../_shared/mod.ts";

const COLUMNS = "id, user_id, title, body, created_at, updated_at";
const MAX_IMPORT = 1000;
const IMPORTED_POST = {
  user_id: { type: "string", required: true, minLength: 1, maxLength: 256 },
  title: { type: "string", required: true, minLength: 1, maxLength: 200 },
  body: { type: "string", maxLength: 20_000 },
} as const;

async function exportPosts(request: Request, ctx: Context): Promise<Response> {
  const { limit, cursor } = pageQuery(request, 100, 1000);
  let query = ctx.admin.from("posts").select(COLUMNS).order("id", { ascending: true }).limit(
    limit + 1,
  );
  if (cursor !== null) query = query.gt("id", cursor);
  const { data, error, status } = await query;
  if (error) throw fromDbError(error, status);
  const items = (data ?? []).slice(0, limit);
  const next = (data ?? []).length > limit ? encodeCursor(items[items.length - 1]!.id) : null;
  return json({ items, next_cursor: next });
}

async function importPosts(request: Request, ctx: Context): Promise<Response> {
  const body = validateBody(await readJsonObject(request, 8 * 1024 * 1024), {
    posts: { type: "array", required: true },
  });
  const posts = body.posts as unknown[];
  if (posts.length === 0 || posts.length > MAX_IMPORT) {
    throw new HttpError("invalid_body", `posts must hold 1 to ${MAX_IMPORT} rows.`);
  }
  const rows = posts.map((post, i) => {
    try {
      if (typeof post !== "object" || post === null || Array.isArray(post)) {
        throw new HttpError("invalid_body", "must be an object.");
      }
      return validateBody(post as Record<string, unknown>, IMPORTED_POST);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      throw new HttpError("invalid_body", `posts[${i}]: ${error.message}`, { hint: error.hint });
    }
  });
  const { data, error, status } = await ctx.admin.from("posts").insert(rows).select("id");
  if (error) throw fromDbError(error, status);
  return json({ imported: data.length, ids: data.map((r) => r.id) }, 201);
}

export default {
  fetch: withAuth(
    {
      allow: ["secret", "machine"],
      scopes: ["posts:admin"],
      issuerModes: ["supabase", "native", "exchange"],
      methods: ["GET", "POST"],
      admin: true,
    },
    (request, ctx) => {
      const route = `${request.method} /${ctx.path.join("/")}`;
      if (route === "GET /") return exportPosts(request, ctx);
      if (route === "POST /import") return importPosts(request, ctx);
      throw new HttpError("not_found", "Routes: GET /admin-posts, POST /admin-posts/import.");
    },
  ),
};
