/**
 * The caller, normalized across issuers, and the guards that check it.
 *
 * Claim names differ by provider (Clerk `o.id`, Auth0 `permissions`, Logto `scope`,
 * Supabase `session_id`); everything downstream reads one shape.
 */
import { HttpError } from "./errors.ts";
import type { MachineRule } from "./issuers.ts";
import type { JwtPayload } from "./jwt.ts";

export const PROVIDERS = ["supabase", "clerk", "auth0", "firebase", "logto", "oidc"] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface Identity {
  /** `user` for a person, `machine` only where the issuer's machine rule says so. */
  kind: "user" | "machine";
  /**
   * Who this is in the database: the id `requesting_user_id()` returns and policies compare.
   * Supabase Auth users keep their uuid; a third-party user is `<id_prefix>:<sub>`, because
   * a `sub` is unique only within its issuer.
   */
  id: string;
  /** The id as the issuer wrote it (the configured id claim, usually `sub`). */
  subject: string;
  /** The Postgres role PostgREST will assume for this token (`anon` when the claim is absent). */
  role: string;
  email: string | null;
  issuer: string;
  provider: Provider;
  /** Supabase Auth's own session claims; null (false) for every other issuer. */
  sessionId: string | null;
  aal: string | null;
  isAnonymous: boolean;
  scopes: readonly string[];
  org: string | null;
  /** Expiry of the token, in seconds since the epoch. */
  expiresAt: number;
  /** The verified claims, as issued. */
  claims: Readonly<JwtPayload>;
}

export interface IdentitySource {
  issuer: string;
  provider: Provider;
  userIdClaim: string;
  /** `<idPrefix>:<subject>` is the id; "" keeps the subject as it is. */
  idPrefix: string;
  /** Only Supabase Auth vouches for `session_id`, `aal` and `is_anonymous`. */
  vouchesForSession: boolean;
  machine: MachineRule | null;
}

/** Build the identity from verified claims. Throws 401 `invalid_claims` if the id is missing. */
export function toIdentity(claims: JwtPayload, source: IdentitySource): Identity {
  const subject = claims[source.userIdClaim];
  if (typeof subject !== "string" || subject === "" || subject.length > 256) {
    throw new HttpError("invalid_claims", `The token has no usable "${source.userIdClaim}" claim.`);
  }
  const session = source.vouchesForSession;
  return {
    kind: isMachine(claims, source.machine) ? "machine" : "user",
    id: source.idPrefix === "" ? subject : `${source.idPrefix}:${subject}`,
    subject,
    role: typeof claims.role === "string" ? claims.role : "anon",
    email: stringOrNull(claims.email),
    issuer: source.issuer,
    provider: source.provider,
    sessionId: session ? stringOrNull(claims.session_id) : null,
    aal: session ? stringOrNull(claims.aal) : null,
    isAnonymous: session && claims.is_anonymous === true,
    scopes: Object.freeze(scopesOf(claims)),
    org: orgOf(claims),
    expiresAt: claims.exp as number,
    claims: Object.freeze({ ...claims }),
  };
}

/**
 * Machine-to-machine only by the issuer's explicit rule. Guessing from the shape of `sub`
 * (Auth0's `@clients` suffix) failed open: any provider that lets users pick their id let
 * a person pass for a machine.
 */
function isMachine(claims: JwtPayload, rule: MachineRule | null): boolean {
  if (!rule) return false;
  const have = claims[rule.claim];
  if (typeof have !== "string" || have === "") return false;
  return "value" in rule ? have === rule.value : have === claims[rule.equalsClaim];
}

function scopesOf(claims: JwtPayload): string[] {
  const found = new Set<string>();
  for (const value of [claims.scope, claims.scp, claims.permissions]) {
    if (typeof value === "string") value.split(" ").forEach((s) => s && found.add(s));
    if (Array.isArray(value)) value.forEach((s) => typeof s === "string" && s && found.add(s));
  }
  return [...found];
}

const LOGTO_ORG_AUDIENCE = "urn:logto:organization:";

function orgOf(claims: JwtPayload): string | null {
  const clerkV2 = claims.o as { id?: unknown } | undefined;
  if (clerkV2 && typeof clerkV2 === "object" && typeof clerkV2.id === "string") return clerkV2.id;
  const direct = stringOrNull(claims.org_id) ?? stringOrNull(claims.organization_id);
  if (direct) return direct;
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  for (const aud of audiences) {
    if (typeof aud === "string" && aud.startsWith(LOGTO_ORG_AUDIENCE)) {
      return aud.slice(LOGTO_ORG_AUDIENCE.length);
    }
  }
  return null;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

// ---------------------------------------------------------------------------------------
// Guards: each throws 403 with a stable code when the identity lacks what is required.

export function requireRole(identity: Identity, roles: readonly string[]): void {
  if (!roles.includes(identity.role)) {
    throw new HttpError(
      "insufficient_role",
      `This function requires the role ${roles.join(" or ")}.`,
      {
        hint: identity.provider === "supabase"
          ? "Sign in: anonymous API keys cannot call this function."
          : 'Make the identity provider add the claim "role": "authenticated" to its tokens.',
      },
    );
  }
}

export function requireScopes(identity: Identity, scopes: readonly string[]): void {
  const missing = scopes.filter((s) => !identity.scopes.includes(s));
  if (missing.length > 0) {
    throw new HttpError("insufficient_scope", `The token lacks the scope ${missing.join(" ")}.`, {
      hint: "Request a token with the missing scopes from the identity provider.",
    });
  }
}

const AAL_ORDER = ["aal1", "aal2", "aal3"];

export function requireAal(identity: Identity, minimum: "aal1" | "aal2" | "aal3"): void {
  if (AAL_ORDER.indexOf(identity.aal ?? "") < AAL_ORDER.indexOf(minimum)) {
    throw new HttpError("insufficient_aal", `This function requires assurance level ${minimum}.`, {
      hint: "Complete multi-factor authentication, then retry with the new access token.",
    });
  }
}

/** Each claim must equal the given value, or pass the given predicate. */
export function requireClaims(
  identity: Identity,
  expected: Readonly<Record<string, unknown | ((value: unknown) => boolean)>>,
): void {
  for (const [name, want] of Object.entries(expected)) {
    const have = identity.claims[name];
    const ok = typeof want === "function" ? want(have) : Object.is(have, want);
    if (!ok) {
      throw new HttpError(
        "claim_mismatch",
        `The token's "${name}" claim does not permit this call.`,
      );
    }
  }
}
