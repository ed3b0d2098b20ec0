/** Identity normalization: ids carry their issuer, machines by rule, claims only from who can vouch. */
import assert from "node:assert/strict";
import { type IdentitySource, toIdentity } from "../functions/_shared/parts.ts";

const base: IdentitySource = {
  issuer: "https://idp.example.com",
  provider: "oidc",
  userIdClaim: "sub",
  idPrefix: "idp",
  vouchesForSession: false,
  machine: null,
};

Deno.test("identity: Logto organization tokens expose the org from aud", () => {
  const id = toIdentity({
    sub: "u1",
    aud: "urn:logto:organization:org9",
    scope: "read write",
    exp: 1,
  }, base);
  assert.equal(id.org, "org9");
  assert.deepEqual([...id.scopes], ["read", "write"]);
});

Deno.test("identity: Auth0 permissions and scp arrays become scopes", () => {
  const id = toIdentity({ sub: "u1", permissions: ["a:read"], scp: ["b:write"], exp: 1 }, base);
  assert.deepEqual([...id.scopes].sort(), ["a:read", "b:write"]);
});

Deno.test("identity: a configured id claim is used instead of sub", () => {
  const id = toIdentity({ sub: "ignored", user_id: "firebase-uid", exp: 1 }, {
    ...base,
    userIdClaim: "user_id",
  });
  assert.equal(id.id, "idp:firebase-uid");
  assert.equal(id.subject, "firebase-uid");
});

Deno.test("identity: a user is (issuer, sub): third-party ids carry the prefix, Supabase's not", () => {
  const claims = { sub: "3f0c6c0e-8a8e-4f43-9b8e-2f7d1b1c0a11", exp: 1 };
  assert.equal(toIdentity(claims, base).id, `idp:${claims.sub}`);
  assert.equal(toIdentity(claims, { ...base, idPrefix: "" }).id, claims.sub);
});

Deno.test("identity: machines only by the issuer's explicit rule, never by the shape of sub", () => {
  const m2m = { sub: "abc@clients", client_id: "abc@clients", gty: "client-credentials", exp: 1 };
  assert.equal(toIdentity(m2m, base).kind, "user"); // no rule: a person
  const gty = { ...base, machine: { claim: "gty", value: "client-credentials" } };
  assert.equal(toIdentity(m2m, gty).kind, "machine");
  assert.equal(toIdentity({ ...m2m, gty: "password" }, gty).kind, "user");
  const equal = { ...base, machine: { claim: "sub", equalsClaim: "client_id" } };
  assert.equal(toIdentity(m2m, equal).kind, "machine");
  assert.equal(toIdentity({ ...m2m, client_id: "other" }, equal).kind, "user");
  assert.equal(toIdentity({ sub: "u", exp: 1 }, equal).kind, "user"); // both absent is no match
});

Deno.test("identity: session_id, aal and is_anonymous only from Supabase Auth", () => {
  const claims = { sub: "u", session_id: "s1", aal: "aal2", is_anonymous: true, exp: 1 };
  const third = toIdentity(claims, base);
  assert.deepEqual([third.sessionId, third.aal, third.isAnonymous], [null, null, false]);
  const own = toIdentity(claims, { ...base, idPrefix: "", vouchesForSession: true });
  assert.deepEqual([own.sessionId, own.aal, own.isAnonymous], ["s1", "aal2", true]);
});

Deno.test("identity: the identity and its claims are frozen", () => {
  const id = toIdentity({ sub: "u", exp: 1 }, base);
  assert.throws(() => {
    (id.claims as Record<string, unknown>).sub = "other";
  });
});
