/**
 * Real keys and real signatures (jose over WebCrypto) for tests, plus raw token assembly for
 * the malformed cases no honest signer would produce.
 */
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";

export type TestAlg = "ES256" | "RS256" | "EdDSA" | "ES384" | "PS256";

export interface TestKey {
  alg: TestAlg;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeKey(
  alg: TestAlg,
  kid = `${alg.toLowerCase()}-${crypto.randomUUID()}`,
): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}),
  });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { alg, kid, privateKey, publicJwk };
}

export const HS_SECRET = "test-legacy-jwt-secret-with-at-least-32-chars";

export interface SignOptions {
  kid?: string | null;
  header?: Record<string, unknown>;
}

/** Sign claims with a test key (asymmetric) or the legacy secret (HS256). */
export function sign(
  claims: Record<string, unknown>,
  key: TestKey | "HS256",
  options: SignOptions = {},
): Promise<string> {
  const alg = key === "HS256" ? "HS256" : key.alg;
  const header: Record<string, unknown> = { alg, typ: "JWT", ...options.header };
  const kid = options.kid === undefined ? (key === "HS256" ? undefined : key.kid) : options.kid;
  if (kid !== null && kid !== undefined) header.kid = kid;
  const jwt = new SignJWT(claims).setProtectedHeader(header as { alg: string });
  return key === "HS256" ? jwt.sign(new TextEncoder().encode(HS_SECRET)) : jwt.sign(key.privateKey);
}

export function b64url(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Assemble a compact JWS from raw JSON texts and a signature part, without signing. */
export function rawToken(
  headerJson: string,
  payloadJson: string,
  signature = "c2lnbmF0dXJlLWJ5dGVzLXh4eHh4eA",
): string {
  return `${b64url(headerJson)}.${b64url(payloadJson)}.${signature}`;
}

/** Standard Supabase-style claims for a user, relative to `nowSec`. */
export function supabaseClaims(
  issuer: string,
  nowSec: number,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    iss: issuer,
    aud: "authenticated",
    sub: "8c6f4a8e-4a4e-4c7b-9f5e-0d4c1b2a3f10",
    role: "authenticated",
    email: "ada@example.com",
    session_id: "2b1f6c3e-9d0a-4e6b-8f7c-5a4d3c2b1a00",
    aal: "aal1",
    is_anonymous: false,
    iat: nowSec - 10,
    exp: nowSec + 3600,
    ...overrides,
  };
}
