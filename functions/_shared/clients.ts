/**
 * supabase-js clients.
 *
 * The user-scoped client sends the caller's own token to PostgREST, so Postgres RLS decides
 * what the caller may touch. It never stores or refreshes a session: the token belongs to
 * the caller and lives exactly as long as their request.
 *
 * The admin client uses the secret key and bypasses RLS. Only functions that declare
 * `admin: true` can reach it.
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import type { AuthConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";

const NO_SESSION = {
  persistSession: false,
  autoRefreshToken: false,
  detectSessionInUrl: false,
} as const;

/** A client that acts as the caller: PostgREST sees `Authorization: Bearer <their token>`. */
export function createUserClient(
  config: Pick<AuthConfig, "supabaseUrl" | "publicApiKey">,
  token: string | null,
): SupabaseClient {
  if (!config.publicApiKey) {
    throw new ConfigError(
      "SUPABASE_PUBLISHABLE_KEYS",
      "and SUPABASE_ANON_KEY are both unset, so no client can be created",
    );
  }
  if (token === null) {
    // Key-only callers act as `anon`.
    return createClient(config.supabaseUrl, config.publicApiKey, { auth: NO_SESSION });
  }
  return createClient(config.supabaseUrl, config.publicApiKey, {
    auth: NO_SESSION,
    accessToken: () => Promise.resolve(token),
  });
}

const adminClients = new WeakMap<object, SupabaseClient>();

/** The service-role client (bypasses RLS), one per configuration. */
export function createAdminClient(
  config: Pick<AuthConfig, "supabaseUrl" | "secretApiKey">,
): SupabaseClient {
  const existing = adminClients.get(config);
  if (existing) return existing;
  if (!config.secretApiKey) {
    throw new ConfigError(
      "SUPABASE_SECRET_KEYS",
      "and SUPABASE_SERVICE_ROLE_KEY are both unset, so the admin client cannot be created",
    );
  }
  const client = createClient(config.supabaseUrl, config.secretApiKey, { auth: NO_SESSION });
  adminClients.set(config, client);
  return client;
}
