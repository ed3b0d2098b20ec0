/**
 * The signing settings of config.toml's `[auth]`, as the Supabase CLI reads them:
 *
 *   jwt_secret         the legacy HS256 secret (`env(NAME)` reads it from the environment)
 *   signing_keys_path  a JSON array of private JWKs (`supabase gen signing-key`), relative to
 *                      supabase/: the first signs access tokens, all are published and trusted
 *   jwt_issuer         the `iss` of access tokens (default `<api_url>/auth/v1`)
 */
import type { JWK } from "jose";
import { parse } from "smol-toml";

export interface ProjectKeySettings {
  jwtSecret?: string;
  signingKeys?: JWK[];
  jwtIssuer?: string;
}

function fail(key: string, why: string): never {
  throw new Error(`supabase/config.toml: auth.${key} ${why}`);
}

export async function readProjectKeySettings(
  tomlText: string | null,
  configDir: string,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Promise<ProjectKeySettings> {
  const root = tomlText === null ? {} : parse(tomlText) as Record<string, unknown>;
  const auth = (root.auth ?? {}) as Record<string, unknown>;
  const out: ProjectKeySettings = {};
  if (auth.jwt_secret !== undefined) {
    if (typeof auth.jwt_secret !== "string") fail("jwt_secret", "must be a string");
    const ref = /^env\(([A-Za-z_][A-Za-z0-9_]*)\)$/.exec(auth.jwt_secret);
    const secret = ref ? env(ref[1]!) : auth.jwt_secret;
    if (secret === undefined || secret === "") {
      fail("jwt_secret", `names ${ref?.[1]}, which is not set`);
    }
    if (new TextEncoder().encode(secret).length < 32) {
      fail(
        "jwt_secret",
        "must be at least 32 bytes (a shorter secret is refused by the auth core)",
      );
    }
    out.jwtSecret = secret;
  }
  if (auth.signing_keys_path !== undefined) {
    if (typeof auth.signing_keys_path !== "string") fail("signing_keys_path", "must be a path");
    const path = auth.signing_keys_path.startsWith("/")
      ? auth.signing_keys_path
      : `${configDir}/${auth.signing_keys_path}`;
    let keys: unknown;
    try {
      keys = JSON.parse(await Deno.readTextFile(path));
    } catch (error) {
      fail("signing_keys_path", `: ${path} cannot be read as JSON (${(error as Error).message})`);
    }
    if (!Array.isArray(keys) || keys.length === 0) {
      fail("signing_keys_path", `: ${path} must hold a non-empty JSON array of JWKs`);
    }
    for (const [i, key] of (keys as Record<string, unknown>[]).entries()) {
      const usable = typeof key === "object" && key !== null && typeof key.kid === "string" &&
        typeof key.d === "string" &&
        ((key.kty === "EC" && key.crv === "P-256") || key.kty === "RSA");
      if (!usable) {
        fail(
          "signing_keys_path",
          `: key ${i} of ${path} must be a private EC P-256 or RSA JWK with a kid (supabase gen signing-key writes one)`,
        );
      }
    }
    out.signingKeys = keys as JWK[];
  }
  if (auth.jwt_issuer !== undefined) {
    if (typeof auth.jwt_issuer !== "string" || !/^https?:\/\/\S+$/.test(auth.jwt_issuer)) {
      fail("jwt_issuer", "must be an http(s) URL");
    }
    out.jwtIssuer = auth.jwt_issuer;
  }
  return out;
}
