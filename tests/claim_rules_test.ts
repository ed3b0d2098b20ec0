/** The claim rules alone: lifetimes, iat, azp, role types, and the role allowlist per entry. */
import assert from "node:assert/strict";
import {
  checkIssuerClaims,
  checkRole,
  HttpError,
  type IssuerSpec,
  toIdentity,
} from "../functions/_shared/parts.ts";

const spec: IssuerSpec = {
  issuer: "https://idp.example.com",
  provider: "oidc",
  mode: "native",
  audience: ["proj-a"],
  algorithms: ["ES256"],
  userIdClaim: "sub",
  authorizedParties: null,
  jwksUrl: null,
  roles: ["authenticated"],
  idPrefix: "idp",
  machine: { claim: "gty", value: "client-credentials" },
};
const clock = { nowSec: 1_800_000_000, skewSec: 30, maxLifetimeSec: 86_400 };
const code = (f: () => void) => {
  try {
    f();
    return null;
  } catch (error) {
    assert.ok(error instanceof HttpError);
    return error.code;
  }
};

Deno.test("claim rules: lifetimes, iat in the future, azp and role types", () => {
  const ok = { iss: spec.issuer, sub: "u", exp: clock.nowSec + 600, iat: clock.nowSec };
  assert.equal(code(() => checkIssuerClaims(ok, spec, clock)), null);
  assert.equal(
    code(() => checkIssuerClaims({ ...ok, exp: clock.nowSec + 10 * 86_400 }, spec, clock)),
    "invalid_claims",
  );
  assert.equal(
    code(() => checkIssuerClaims({ ...ok, iat: clock.nowSec + 31 }, spec, clock)),
    "token_issued_in_future",
  );
  assert.equal(code(() => checkIssuerClaims({ ...ok, iat: clock.nowSec + 30 }, spec, clock)), null);
  const clerkLike = { ...spec, authorizedParties: ["https://app.example"] };
  assert.equal(code(() => checkIssuerClaims(ok, clerkLike, clock)), "unauthorized_party");
  assert.equal(
    code(() => checkIssuerClaims({ ...ok, azp: "https://app.example" }, clerkLike, clock)),
    null,
  );
  assert.equal(code(() => checkIssuerClaims({ ...ok, role: 7 }, spec, clock)), "invalid_claims");
});

Deno.test("claim rules: a token names only the roles its issuer entry allows", () => {
  const source = {
    issuer: spec.issuer,
    provider: spec.provider,
    userIdClaim: "sub",
    idPrefix: "idp",
    vouchesForSession: false,
    machine: spec.machine,
  };
  const identity = (claims: Record<string, unknown>) =>
    toIdentity({ iss: spec.issuer, sub: "u", exp: clock.nowSec + 60, ...claims }, source);
  assert.equal(code(() => checkRole(identity({ role: "authenticated" }), spec, true)), null);
  for (const role of ["service_role", "postgres", "anon"]) {
    assert.equal(code(() => checkRole(identity({ role }), spec, true)), "role_not_allowed", role);
  }
  // No role claim: anon, which this entry does not allow...
  assert.equal(code(() => checkRole(identity({}), spec, true)), "role_not_allowed");
  // ...except a machine (by the entry's rule) at a function, never at the database.
  const machine = identity({ gty: "client-credentials" });
  assert.equal(code(() => checkRole(machine, spec, false)), null);
  assert.equal(code(() => checkRole(machine, spec, true)), "role_not_allowed");
  // Exchange entries' own tokens never reach the database: no role rule for them.
  assert.equal(
    code(() => checkRole(identity({ role: "x" }), { ...spec, mode: "exchange" }, true)),
    null,
  );
});
