/**
 * The local project's keys, generated once and kept in `.local/keys.json` (git-ignored)
 * so tokens and API keys stay valid across restarts:
 *
 * - a legacy HS256 JWT secret and the anon / service_role JWT keys signed with it;
 * - new-style `sb_publishable_...` / `sb_secret_...` API keys;
 * - an ES256 signing key (with `kid`) for user access tokens;
 * - the password PostgREST's `authenticator` role logs in with.
 */
import { base64url as joseBase64url, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { publicPart } from "../functions/_shared/parts.ts";

export interface StackKeys {
  jwtSecret: string;
  anonKey: string;
  serviceRoleKey: string;
  publishableKey: string;
  secretKey: string;
  signingKey: JWK & { kid: string };
  dbPassword: string;
}

function randomToken(bytes: number): string {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function legacyKey(secret: string, role: "anon" | "service_role"): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({ role, iss: "supabase" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + 10 * 365 * 24 * 3600)
    .sign(new TextEncoder().encode(secret));
}

export async function generateKeys(): Promise<StackKeys> {
  const jwtSecret = randomToken(32);
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const kid = `local-es256-${randomToken(4)}`;
  const signingKey = { ...(await exportJWK(privateKey)), kid, alg: "ES256", use: "sig" };
  return {
    jwtSecret,
    anonKey: await legacyKey(jwtSecret, "anon"),
    serviceRoleKey: await legacyKey(jwtSecret, "service_role"),
    publishableKey: `sb_publishable_${randomToken(16)}`,
    secretKey: `sb_secret_${randomToken(16)}`,
    signingKey,
    dbPassword: randomToken(16),
  };
}

/** Read keys from `path`, or generate and save them (file mode 0600). */
export async function loadOrCreateKeys(path: string): Promise<StackKeys> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as StackKeys;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const keys = await generateKeys();
  await Deno.mkdir(path.replace(/\/[^/]+$/, ""), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return keys;
}

/** The public half of the signing key, as published at /auth/v1/.well-known/jwks.json. */
export function publicSigningJwk(keys: StackKeys): JWK & { kid: string } {
  return publicPart(keys.signingKey) as JWK & { kid: string };
}

export function base64url(text: string): string {
  return joseBase64url.encode(text);
}
