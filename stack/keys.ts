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
  /** The key access tokens are signed with (ES256, or RS256 from a signing_keys_path file). */
  signingKey: JWK & { kid: string };
  /** Further keys of a signing_keys_path file: published and trusted, not signing. */
  otherSigningKeys?: (JWK & { kid: string })[];
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

/** Every signing key's public half: what the JWKS publishes and every door trusts. */
export function publicSigningJwks(keys: StackKeys): (JWK & { kid: string })[] {
  return [keys.signingKey, ...(keys.otherSigningKeys ?? [])].map((k) =>
    publicPart(k) as JWK & { kid: string }
  );
}

/** The asymmetric algorithm a signing key signs with. */
export function signingAlg(key: JWK): "ES256" | "RS256" {
  if (key.alg === "RS256" || key.kty === "RSA") return "RS256";
  return "ES256";
}

/**
 * The project's own keys where config.toml names them, over the generated ones: `[auth]
 * jwt_secret` (the legacy keys are signed with it) and the keys of `signing_keys_path` (a JSON
 * array of private JWKs, as `supabase gen signing-key` writes it: the first signs).
 */
export async function withProjectKeys(
  keys: StackKeys,
  project: { jwtSecret?: string; signingKeys?: JWK[] },
): Promise<StackKeys> {
  const out = { ...keys };
  if (project.jwtSecret !== undefined && project.jwtSecret !== keys.jwtSecret) {
    out.jwtSecret = project.jwtSecret;
    out.anonKey = await legacyKey(project.jwtSecret, "anon");
    out.serviceRoleKey = await legacyKey(project.jwtSecret, "service_role");
  }
  if (project.signingKeys && project.signingKeys.length > 0) {
    // Without key_ops/ext: GoTrue's files say ["sign", "verify"], which WebCrypto refuses for
    // a private key (a private key signs; its public half, published, verifies).
    const usable = (k: JWK) => {
      const { key_ops: _ops, ext: _ext, ...rest } = k;
      return { ...rest, alg: signingAlg(k) } as JWK & { kid: string };
    };
    const [first, ...rest] = project.signingKeys;
    out.signingKey = usable(first!);
    out.otherSigningKeys = rest.map(usable);
  }
  return out;
}

export function base64url(text: string): string {
  return joseBase64url.encode(text);
}
