/**
 * supabase-js clients.
 *
 * The user-scoped client sends the caller's own token to PostgREST, so Postgres RLS decides
 * what the caller may touch. It never stores or refreshes a session: the token belongs to
 * the caller and lives exactly as long as their request.
 *
 * The admin client uses the secret key and bypasses RLS. Only functions that declare
 * `admin: true` can reach it.
 *
 * Creating a supabase-js client costs about 50 µs and 10 KB, a good part of a whole request
 * whose token was verified from cache. `userClient` keeps the last USER_CLIENT_CACHE_SIZE
 * user clients, each under the exact token it sends and never past that token's expiry, so
 * a caller's next request reuses theirs. A client is shared by that token's requests only:
 * state a handler puts on it (realtime channels, `functions.setAuth`) stays with it.
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

/** How many user clients `userClient` keeps per configuration (about 10 KB each). */
export const USER_CLIENT_CACHE_SIZE = 256;

const userClients = new WeakMap<object, Map<string, { client: SupabaseClient; until: number }>>();

/**
 * The caller's client, reused while `token` is unexpired (`expiresAt`, seconds since the epoch).
 * A null token (API-key callers, acting as `anon`) has one shared client per configuration.
 */
export function userClient(
  config: Pick<AuthConfig, "supabaseUrl" | "publicApiKey">,
  token: string | null,
  expiresAt = Infinity,
): SupabaseClient {
  let cache = userClients.get(config);
  if (!cache) userClients.set(config, cache = new Map());
  const key = token ?? "";
  const now = Date.now() / 1000;
  const hit = cache.get(key);
  if (hit && hit.until > now) {
    // Most recently used last: Map keeps insertion order, so the oldest goes first.
    cache.delete(key);
    cache.set(key, hit);
    return hit.client;
  }
  cache.delete(key);
  const client = createUserClient(config, token);
  if (cache.size >= USER_CLIENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(key, { client, until: expiresAt });
  return client;
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
