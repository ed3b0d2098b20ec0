/**
 * CRUD on a table whose rows belong to their creator, entirely through the caller's own
 * client: RLS is the only thing keeping users apart, and `user_id` always comes from the
 * token (the column defaults to requesting_user_id(); bodies may not name it).
 *
 *   GET    /<fn>?limit=&cursor=  -> 200 {items, next_cursor}   (keyset, newest first)
 *   GET    /<fn>/<id>            -> 200 row | 404
 *   POST   /<fn>                 -> 201 row
 *   PATCH  /<fn>/<id>            -> 200 row | 404
 *   DELETE /<fn>/<id>            -> 204     | 404
 *
 * Another user's row is indistinguishable from a missing one: RLS returns nothing, so 404.
 */
import { base64url } from "jose";
import type { Context, Handler } from "./with_auth.ts";
import { fromDbError } from "./db_errors.ts";
import { HttpError } from "./errors.ts";
import { type FieldRule, json, noContent, readJsonObject, validateBody } from "./http.ts";

export interface ResourceOptions {
  table: string;
  /** Body schema for POST. */
  create: Record<string, FieldRule>;
  /** Body schema for PATCH (at least one field must be present). */
  update: Record<string, FieldRule>;
  /** Columns returned to the caller. */
  columns: string;
  defaultLimit?: number;
  maxLimit?: number;
}

export function ownedResource(options: ResourceOptions): Handler {
  const limited: Limited = {
    ...options,
    maxLimit: options.maxLimit ?? 100,
    defaultLimit: options.defaultLimit ?? 20,
  };
  return (request, ctx) => {
    const [segment, ...rest] = ctx.path;
    if (rest.length > 0) throw notFound();
    if (segment === undefined) {
      if (request.method === "GET") return list(limited, request, ctx);
      if (request.method === "POST") return create(options, request, ctx);
      throw notAllowed("GET, POST");
    }
    const id = parseId(segment);
    if (request.method === "GET") return getOne(options, id, ctx);
    if (request.method === "PATCH") return update(options, id, request, ctx);
    if (request.method === "DELETE") return remove(options, id, ctx);
    throw notAllowed("GET, PATCH, DELETE");
  };
}

/** The options with their page-size defaults filled in. */
type Limited = ResourceOptions & { maxLimit: number; defaultLimit: number };

async function list(options: Limited, request: Request, ctx: Context): Promise<Response> {
  const { limit, cursor } = pageQuery(request, options.defaultLimit, options.maxLimit);
  let query = ctx.supabase.from(options.table).select(options.columns)
    .order("id", { ascending: false })
    .limit(limit + 1);
  if (cursor !== null) query = query.lt("id", cursor);
  const { data, error, status } = await query;
  if (error) throw fromDbError(error, status);
  const rows = (data ?? []) as unknown as { id: number }[];
  const items = rows.slice(0, limit);
  const next = rows.length > limit ? encodeCursor(items[items.length - 1]!.id) : null;
  return json({ items, next_cursor: next });
}

async function getOne(options: ResourceOptions, id: number, ctx: Context): Promise<Response> {
  const { data, error, status } = await ctx.supabase.from(options.table)
    .select(options.columns).eq("id", id).maybeSingle();
  if (error) throw fromDbError(error, status);
  if (!data) throw notFound();
  return json(data);
}

async function create(options: ResourceOptions, request: Request, ctx: Context): Promise<Response> {
  const values = validateBody(await readJsonObject(request), options.create);
  const { data, error, status } = await ctx.supabase.from(options.table)
    .insert(values).select(options.columns).single();
  if (error) throw fromDbError(error, status);
  return json(data, 201);
}

async function update(
  options: ResourceOptions,
  id: number,
  request: Request,
  ctx: Context,
): Promise<Response> {
  const changes = validateBody(await readJsonObject(request), options.update);
  if (Object.keys(changes).length === 0) {
    throw new HttpError("invalid_body", "Send at least one field to change.", {
      hint: `Fields: ${Object.keys(options.update).join(", ")}.`,
    });
  }
  const { data, error, status } = await ctx.supabase.from(options.table)
    .update(changes).eq("id", id).select(options.columns).maybeSingle();
  if (error) throw fromDbError(error, status);
  if (!data) throw notFound();
  return json(data);
}

async function remove(options: ResourceOptions, id: number, ctx: Context): Promise<Response> {
  const { data, error, status } = await ctx.supabase.from(options.table)
    .delete().eq("id", id).select("id");
  if (error) throw fromDbError(error, status);
  if (!data || data.length === 0) throw notFound();
  return noContent();
}

function parseId(segment: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(segment) || !Number.isSafeInteger(Number(segment))) {
    throw new HttpError("bad_request", "The id in the path must be a positive integer.");
  }
  return Number(segment);
}

/** `?limit=&cursor=` of a list request, validated (400 `bad_request` otherwise). */
export function pageQuery(
  request: Request,
  defaultLimit = 20,
  maxLimit = 100,
): { limit: number; cursor: number | null } {
  const params = new URL(request.url).searchParams;
  return {
    limit: parseLimit(params.get("limit"), defaultLimit, maxLimit),
    cursor: parseCursor(params.get("cursor")),
  };
}

function parseLimit(raw: string | null, fallback: number, max: number): number {
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n < 1 || n > max) {
    throw new HttpError("bad_request", `limit must be an integer from 1 to ${max}.`);
  }
  return n;
}

/** Cursors are opaque to clients: base64url of the last id seen. */
export function encodeCursor(id: number): string {
  return base64url.encode(`id:${id}`);
}

function parseCursor(raw: string | null): number | null {
  if (raw === null) return null;
  let decoded = "";
  try {
    decoded = new TextDecoder().decode(base64url.decode(raw));
  } catch { /* reported below */ }
  const match = /^id:([1-9][0-9]{0,15})$/.exec(decoded);
  if (!match) throw new HttpError("bad_request", "cursor is not one this API issued.");
  return Number(match[1]);
}

function notFound(): HttpError {
  return new HttpError("not_found", "Not found.");
}

function notAllowed(allow: string): HttpError {
  return new HttpError("method_not_allowed", "This method is not supported on this path.", {
    headers: { allow: `${allow}, OPTIONS` },
  });
}
