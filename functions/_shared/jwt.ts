/**
 * Structural checks of a compact JWS, done before any key lookup or network I/O, so a
 * garbage token costs microseconds and never a JWKS fetch.
 *
 * Signature verification itself is jose's job (see verify.ts); this module only decides
 * whether a string is worth verifying, and reads the header and payload to route it.
 */
import { HttpError } from "./errors.ts";

export const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_HEADER_LENGTH = 2 * 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const KID = /^[\x21-\x7e]{1,256}$/;

/** Algorithms verified with a public key from a JWKS, by the JWK key type they need. */
export const ASYMMETRIC_ALGORITHMS = {
  ES256: { kty: "EC", crv: "P-256" },
  ES384: { kty: "EC", crv: "P-384" },
  ES512: { kty: "EC", crv: "P-521" },
  RS256: { kty: "RSA" },
  RS384: { kty: "RSA" },
  RS512: { kty: "RSA" },
  PS256: { kty: "RSA" },
  PS384: { kty: "RSA" },
  PS512: { kty: "RSA" },
  EdDSA: { kty: "OKP", crv: "Ed25519" },
  Ed25519: { kty: "OKP", crv: "Ed25519" },
} as const;

export type AsymmetricAlgorithm = keyof typeof ASYMMETRIC_ALGORITHMS;
export type Algorithm = AsymmetricAlgorithm | "HS256";

export function isAsymmetric(alg: string): alg is AsymmetricAlgorithm {
  return Object.hasOwn(ASYMMETRIC_ALGORITHMS, alg);
}

const ACCEPTED_TYP = new Set(["jwt", "at+jwt", "application/jwt", "application/at+jwt"]);
/** Header members that ask the verifier to fetch or trust keys named by the token itself. */
const KEY_CARRYING_MEMBERS = ["jku", "x5u", "jwk", "x5c"];

export interface JwtHeader {
  alg: Algorithm;
  kid?: string;
  typ?: string;
  [member: string]: unknown;
}

export type JwtPayload = Record<string, unknown>;

export interface ParsedJwt {
  header: JwtHeader;
  payload: JwtPayload;
}

/** Parse and sanity-check a compact JWS. Throws `HttpError` (401) on any defect. */
export function parseJwt(token: string): ParsedJwt {
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new HttpError("token_too_large", "The token is larger than any token we accept.");
  }
  const parts = token.split(".");
  if (parts.length === 5) {
    throw malformed("Encrypted tokens (JWE) are not accepted; send a signed access token.");
  }
  if (parts.length !== 3) {
    throw malformed("A JWT has exactly three dot-separated parts.");
  }
  const [encodedHeader, encodedPayload, signature] = parts as [string, string, string];
  if (encodedHeader.length > MAX_HEADER_LENGTH) {
    throw malformed("The token header is too large.");
  }
  for (const part of parts) {
    if (!BASE64URL.test(part)) {
      throw malformed("Each part of a JWT must be unpadded base64url and non-empty.");
    }
  }
  if (signature.length < 16) throw malformed("The token signature is missing or truncated.");

  const header = decodeJsonObject(encodedHeader, "header") as JwtHeader;
  checkHeader(header);
  const payload = decodeJsonObject(encodedPayload, "payload");
  return { header, payload };
}

function checkHeader(header: Record<string, unknown>): void {
  const alg = header.alg;
  if (typeof alg !== "string") throw malformed('The token header has no "alg".');
  if (alg !== "HS256" && !isAsymmetric(alg)) {
    throw new HttpError("unsupported_algorithm", "The token's signing algorithm is not accepted.");
  }
  if ("crit" in header) {
    throw new HttpError(
      "unsupported_token_header",
      'The token header has "crit" extensions we do not support.',
    );
  }
  for (const member of KEY_CARRYING_MEMBERS) {
    if (member in header) {
      throw new HttpError(
        "unsupported_token_header",
        "Tokens that carry or point to their own keys are not accepted.",
      );
    }
  }
  if ("kid" in header && (typeof header.kid !== "string" || !KID.test(header.kid))) {
    throw malformed('The token header "kid" must be a short printable string.');
  }
  if ("typ" in header) {
    if (typeof header.typ !== "string" || !ACCEPTED_TYP.has(header.typ.toLowerCase())) {
      throw new HttpError("unsupported_token_header", 'The token "typ" is not a JWT type.');
    }
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeJsonObject(part: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(base64UrlToBytes(part));
  } catch {
    throw malformed(`The token ${what} is not valid base64url-encoded UTF-8.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed(`The token ${what} is not valid JSON.`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed(`The token ${what} must be a JSON object.`);
  }
  if (hasDuplicateTopLevelMember(text)) {
    throw malformed(`The token ${what} has a duplicate member.`);
  }
  return value as Record<string, unknown>;
}

export function base64UrlToBytes(part: string): Uint8Array {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * JSON.parse keeps the last of duplicate members silently, so two parsers can disagree on
 * what a token says ("alg", "sub", "role"). Walk the already-valid JSON text once and
 * compare the decoded names of the top-level object's members.
 */
export function hasDuplicateTopLevelMember(json: string): boolean {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === "\\" ? 2 : 1;
      if (depth === 1 && expectKey) {
        const name = JSON.parse(json.slice(i, j + 1)) as string;
        if (seen.has(name)) return true;
        seen.add(name);
        expectKey = false;
      }
      i = j;
    } else if (c === "{" || c === "[") {
      depth++;
      expectKey = depth === 1;
    } else if (c === "}" || c === "]") {
      depth--;
    } else if (c === "," && depth === 1) {
      expectKey = true;
    }
  }
  return false;
}

function malformed(message: string): HttpError {
  return new HttpError("malformed_token", message, {
    hint: "Send the access token exactly as the identity provider issued it.",
  });
}
