/**
 * The OAuth 2.1 server's client registry, as Supabase Auth keeps it (supabase/auth
 * internal/api/oauthserver): `[auth.oauth_server] enabled` turns it on.
 *
 *   POST   /admin/oauth/clients                            register (admin): 201, the secret once
 *   GET    /admin/oauth/clients                            {clients: [...]}, newest first
 *   GET    /admin/oauth/clients/{id}                       no secret
 *   PUT    /admin/oauth/clients/{id}                       partial update
 *   DELETE /admin/oauth/clients/{id}                       204 (soft delete)
 *   POST   /admin/oauth/clients/{id}/regenerate_secret     a new secret, once
 *   POST   /oauth/clients/register                         dynamic registration, when allowed
 *
 * Secrets are 32 random bytes (base64url), stored as base64url(sha256(secret)). The
 * authorization flow itself (/oauth/authorize, consent, /oauth/token) is not built here.
 */
import type { Sql } from "../db/database.ts";
import { AuthError, authJson, badRequest, notFound } from "./errors.ts";
import { UUID } from "./users.ts";

const AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"];
const GRANT_TYPES = ["authorization_code", "refresh_token"];
const DANGEROUS_SCHEMES = ["javascript", "data", "file", "vbscript", "about", "blob"];

export const oauthServerDisabled = () =>
  new AuthError(404, "feature_disabled", "OAuth server is disabled");

function redirectUriProblem(uri: string): string | null {
  if (uri === "") return "redirect URI cannot be empty";
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return "invalid URL format";
  }
  const scheme = url.protocol.replace(/:$/, "");
  if (url.host === "") return "must have scheme and host";
  if (DANGEROUS_SCHEMES.includes(scheme.toLowerCase())) {
    return `scheme '${scheme}' is not allowed for security reasons`;
  }
  if (scheme === "http" && !["localhost", "127.0.0.1", "[::1]"].includes(url.hostname)) {
    return "HTTP scheme only allowed for localhost";
  }
  if (uri.includes("#")) return "fragment not allowed in redirect URI";
  return null;
}

function checkRedirectUris(value: unknown, required: boolean): string[] | undefined {
  if (value === undefined || value === null) {
    if (required) throw badRequest("validation_failed", "redirect_uris is required");
    return undefined;
  }
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw badRequest("validation_failed", "redirect_uris must be a list of strings");
  }
  if (value.length === 0) throw badRequest("validation_failed", "redirect_uris cannot be empty");
  if (value.length > 10) {
    throw badRequest("validation_failed", "redirect_uris cannot exceed 10 items");
  }
  for (const uri of value as string[]) {
    const problem = redirectUriProblem(uri);
    if (problem) {
      throw badRequest(
        "validation_failed",
        `invalid redirect_uri '${uri.slice(0, 200).replace(/[^\x20-\x7e]/g, "")}': ${problem}`,
      );
    }
  }
  return value as string[];
}

function checkGrantTypes(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    throw badRequest("validation_failed", "grant_types cannot be empty");
  }
  if (value.some((g) => !GRANT_TYPES.includes(g as string))) {
    throw badRequest(
      "validation_failed",
      "grant_types must only contain 'authorization_code' and/or 'refresh_token'",
    );
  }
  return value as string[];
}

function optionalText(value: unknown, name: string, max: number, url: boolean): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw badRequest("validation_failed", `${name} must be a string`);
  if (value.length > max) {
    throw badRequest("validation_failed", `${name} cannot exceed ${max} characters`);
  }
  if (url && value !== "") {
    try {
      new URL(value);
    } catch {
      throw badRequest("validation_failed", `${name} must be a valid URL`);
    }
  }
  return value;
}

function newSecret(): { secret: string; hash: Promise<string> } {
  const secret = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const hash = crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret))
    .then((d) => b64url(new Uint8Array(d)));
  return { secret, hash };
}

function b64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

// deno-lint-ignore no-explicit-any
function clientJson(row: any, secret?: string) {
  const out: Record<string, unknown> = {
    client_id: row.id,
    ...(secret ? { client_secret: secret } : {}),
    client_type: row.client_type,
    redirect_uris: row.redirect_uris ? String(row.redirect_uris).split(",") : undefined,
    token_endpoint_auth_method: row.token_endpoint_auth_method,
    grant_types: row.grant_types ? String(row.grant_types).split(",") : undefined,
    response_types: ["code"],
    client_name: row.client_name || undefined,
    client_uri: row.client_uri || undefined,
    logo_uri: row.logo_uri || undefined,
    registration_type: row.registration_type,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key];
  return out;
}

export async function registerClient(
  sql: Sql,
  request: Request,
  params: Record<string, unknown>,
  registrationType: "manual" | "dynamic",
): Promise<Response> {
  const redirectUris = checkRedirectUris(params.redirect_uris, true)!;
  const grantTypes = checkGrantTypes(params.grant_types) ?? GRANT_TYPES;
  const name = optionalText(params.client_name, "client_name", 1024, false) ?? "";
  const uri = optionalText(params.client_uri, "client_uri", 2048, true) ?? "";
  const logo = optionalText(params.logo_uri, "logo_uri", 2048, true) ?? "";
  const type = params.client_type ?? "";
  if (type !== "" && type !== "public" && type !== "confidential") {
    throw badRequest("validation_failed", "client_type must be 'public' or 'confidential'");
  }
  const method = params.token_endpoint_auth_method ?? "";
  if (method !== "" && !AUTH_METHODS.includes(method as string)) {
    throw badRequest(
      "validation_failed",
      `token_endpoint_auth_method must be one of: [${AUTH_METHODS.join(" ")}]`,
    );
  }
  const inferred = method === "none" ? "public" : "confidential";
  if (type !== "" && method !== "" && type !== inferred) {
    throw badRequest(
      "validation_failed",
      `client_type '${type}' is inconsistent with token_endpoint_auth_method '${method}' (expected client_type '${inferred}')`,
    );
  }
  const clientType = type !== "" ? type as string : method !== "" ? inferred : "confidential";
  const authMethod = method !== ""
    ? method as string
    : clientType === "public"
    ? "none"
    : "client_secret_basic";
  const secret = clientType === "confidential" ? newSecret() : null;
  const [row] = await sql`
    insert into auth.oauth_clients (id, client_secret_hash, registration_type, redirect_uris,
      grant_types, client_name, client_uri, logo_uri, client_type, token_endpoint_auth_method)
    values (${crypto.randomUUID()}, ${secret ? await secret.hash : null}, ${registrationType},
      ${redirectUris.join(",")}, ${grantTypes.join(",")}, ${name}, ${uri}, ${logo}, ${clientType},
      ${authMethod})
    returning *`;
  return authJson(request, clientJson(row, secret?.secret), 201);
}

async function loadClient(sql: Sql, id: string) {
  if (!UUID.test(id)) throw badRequest("validation_failed", "invalid client_id format");
  const [row] = await sql`select * from auth.oauth_clients where id = ${id} and deleted_at is null`;
  if (!row) throw notFound("oauth_client_not_found", "OAuth client not found");
  return row;
}

/** /admin/oauth/clients[/{id}[/regenerate_secret]] after the admin check. */
export async function adminClients(
  sql: Sql,
  request: Request,
  rest: string[],
  body: () => Promise<Record<string, unknown>>,
): Promise<Response> {
  const method = request.method;
  if (rest.length === 0 && method === "POST") {
    return await registerClient(sql, request, await body(), "manual");
  }
  if (rest.length === 0 && method === "GET") {
    const rows = await sql`select * from auth.oauth_clients where deleted_at is null
                           order by created_at desc`;
    return authJson(request, rows.length > 0 ? { clients: rows.map((r) => clientJson(r)) } : {});
  }
  const id = rest[0]!;
  if (rest.length === 2 && rest[1] === "regenerate_secret" && method === "POST") {
    const row = await loadClient(sql, id);
    if (row.client_type !== "confidential") {
      throw badRequest("validation_failed", "Cannot regenerate secret for public client");
    }
    const secret = newSecret();
    const [updated] = await sql`update auth.oauth_clients set client_secret_hash = ${await secret
      .hash}, updated_at = now() where id = ${id} returning *`;
    return authJson(request, clientJson(updated, secret.secret));
  }
  if (rest.length !== 1) throw notFound("not_found", "Not found");
  if (method === "GET") return authJson(request, clientJson(await loadClient(sql, id)));
  if (method === "DELETE") {
    await loadClient(sql, id);
    await sql`update auth.oauth_clients set deleted_at = now() where id = ${id}`;
    return new Response(null, { status: 204 });
  }
  if (method === "PUT") {
    await loadClient(sql, id);
    const params = await body();
    const keys = [
      "redirect_uris",
      "grant_types",
      "client_name",
      "client_uri",
      "logo_uri",
      "token_endpoint_auth_method",
    ];
    if (!keys.some((k) => params[k] !== undefined && params[k] !== null)) {
      throw badRequest("validation_failed", "No fields provided for update");
    }
    const redirectUris = checkRedirectUris(params.redirect_uris, false);
    const grantTypes = checkGrantTypes(params.grant_types);
    const name = optionalText(params.client_name, "client_name", 1024, false);
    const uri = optionalText(params.client_uri, "client_uri", 2048, true);
    const logo = optionalText(params.logo_uri, "logo_uri", 2048, true);
    const authMethod = params.token_endpoint_auth_method;
    if (
      authMethod !== undefined && authMethod !== null &&
      !AUTH_METHODS.includes(authMethod as string)
    ) {
      throw badRequest(
        "validation_failed",
        `invalid token_endpoint_auth_method: must be one of [${AUTH_METHODS.join(" ")}]`,
      );
    }
    const [updated] = await sql`
      update auth.oauth_clients set
        redirect_uris = coalesce(${redirectUris?.join(",") ?? null}, redirect_uris),
        grant_types = coalesce(${grantTypes?.join(",") ?? null}, grant_types),
        client_name = coalesce(${name ?? null}, client_name),
        client_uri = coalesce(${uri ?? null}, client_uri),
        logo_uri = coalesce(${logo ?? null}, logo_uri),
        token_endpoint_auth_method = coalesce(${(authMethod as string) ?? null},
          token_endpoint_auth_method),
        updated_at = now()
      where id = ${id} returning *`;
    return authJson(request, clientJson(updated));
  }
  throw notFound("not_found", "Not found");
}
