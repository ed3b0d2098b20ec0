/**
 * The claim rules a verified token must also pass, per issuer entry: what jose leaves to the
 * caller (`iat` in the future, implausible lifetimes, `azp`, claim types) and the one rule for
 * what a token may make of a database session (its role). Pure functions of the claims, the
 * issuer entry and the clock, so each is tested alone (tests/claim_rules_test.ts).
 */
import type { JwtPayload } from "./jwt.ts";
import { HttpError } from "./errors.ts";
import type { Identity } from "./identity.ts";
import type { IssuerSpec } from "./issuers.ts";

export interface ClaimClock {
  nowSec: number;
  skewSec: number;
  /** The longest lifetime any trusted issuer grants. */
  maxLifetimeSec: number;
}

/** `exp` not absurdly far, `iat` not in the future, `azp` one of the entry's, `role` a string. */
export function checkIssuerClaims(claims: JwtPayload, spec: IssuerSpec, clock: ClaimClock): void {
  if ((claims.exp as number) > clock.nowSec + clock.maxLifetimeSec) {
    // A validly signed but (practically) never-expiring token is a minting mistake or a
    // leak waiting to happen; no issuer we trust grants lifetimes like that.
    throw new HttpError("invalid_claims", 'The token\'s "exp" is implausibly far in the future.');
  }
  if (typeof claims.iat === "number" && claims.iat > clock.nowSec + clock.skewSec) {
    throw new HttpError("token_issued_in_future", "The token claims to be issued in the future.", {
      hint: "Check the clock of the machine that issued or sent the token.",
    });
  }
  if (spec.authorizedParties) {
    if (typeof claims.azp !== "string" || !spec.authorizedParties.includes(claims.azp)) {
      throw new HttpError(
        "unauthorized_party",
        "The token was issued to a party we do not serve.",
        {
          hint: "Add the app's origin to authorized_parties in AUTH_ISSUERS.",
        },
      );
    }
  }
  if ("role" in claims && typeof claims.role !== "string") {
    throw new HttpError("invalid_claims", 'The token "role" claim must be a string.');
  }
}

/**
 * A token names only roles its issuer entry allows (third parties: `authenticated`, `anon`
 * where listed; `service_role` only from the project's own keys). PostgREST would `set role`
 * to whatever it says. `forDatabase`: a token without `role` names `anon` even for a machine.
 */
export function checkRole(identity: Identity, spec: IssuerSpec, forDatabase: boolean): void {
  // Provider tokens of exchange issuers never reach the database; the minted token does.
  if (spec.mode === "exchange") return;
  const named = "role" in identity.claims;
  if (!named && identity.kind === "machine" && !forDatabase) return;
  if (!spec.roles.includes(identity.role)) {
    throw new HttpError(
      "role_not_allowed",
      named
        ? `Tokens of this issuer may not name the role "${safeRole(identity.role)}".`
        : 'Tokens of this issuer must carry a "role" claim.',
      {
        hint: spec.mode === "native"
          ? `This issuer may name ${spec.roles.join(" or ")} (AUTH_ISSUERS roles).`
          : `Project tokens may name ${spec.roles.join(" or ")}.`,
      },
    );
  }
}

/** A role name fit to repeat in a message; anything else is not echoed. */
function safeRole(role: string): string {
  return /^[a-z_][a-z0-9_]{0,62}$/.test(role) ? role : "(not a role name)";
}
