/** Smaller parts: API key ring, identity normalization, issuer config, body validation. */
import assert from "node:assert/strict";
import { ApiKeyRing } from "../functions/_shared/apikeys.ts";
import { ConfigError, HttpError } from "../functions/_shared/errors.ts";
import { type IdentitySource, toIdentity } from "../functions/_shared/identity.ts";
import { guessProvider, parseIssuers } from "../functions/_shared/issuers.ts";
import { readJsonObject, subPath, validateBody } from "../functions/_shared/http.ts";

const ring = new ApiKeyRing({
  publishable: {
    default: "sb_publishable_aaaaaaaaaaaaaaaa",
    mobile: "sb_publishable_bbbbbbbbbbbbbbbb",
  },
  secret: { default: "sb_secret_cccccccccccccccccccc", cron: "sb_secret_dddddddddddddddddddd" },
  legacyAnon: "eyJ.anon.key",
});

Deno.test("apikeys: named keys match with their kind and name", () => {
  assert.deepEqual(ring.match("sb_publishable_bbbbbbbbbbbbbbbb"), {
    kind: "publishable",
    name: "mobile",
    legacy: false,
  });
  assert.deepEqual(ring.match("sb_secret_dddddddddddddddddddd"), {
    kind: "secret",
    name: "cron",
    legacy: false,
  });
  assert.deepEqual(ring.match("eyJ.anon.key"), { kind: "publishable", name: "anon", legacy: true });
});

Deno.test("apikeys: prefixes, truncations and extensions of a key do not match", () => {
  for (
    const near of [
      "sb_secret_cccccccccccccccccccd",
      "sb_secret_ccccccccccccccccccc",
      "sb_secret_cccccccccccccccccccc ",
      "SB_SECRET_CCCCCCCCCCCCCCCCCCCC",
      "",
    ]
  ) {
    assert.equal(ring.match(near), null, near);
  }
});

Deno.test("apikeys: the default key is preferred for clients", () => {
  assert.equal(ring.first("secret", false), "sb_secret_cccccccccccccccccccc");
  assert.equal(ring.first("publishable", true), "eyJ.anon.key");
});

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

Deno.test("issuers: providers are recognised from the issuer URL", () => {
  assert.equal(guessProvider("https://x.clerk.accounts.dev"), "clerk");
  assert.equal(guessProvider("https://t.us.auth0.com/"), "auth0");
  assert.equal(guessProvider("https://securetoken.google.com/my-proj"), "firebase");
  assert.equal(guessProvider("https://abc.logto.app/oidc"), "logto");
  assert.equal(guessProvider("https://login.example.com"), "oidc");
});

const badIssuers: [string, string][] = [
  ['[{"issuer":"https://a.example","mode":"native"}]', "AUTH_ISSUERS[0].audience"],
  ['[{"issuer":"https://a.example","mode":"sideways","audience":"x"}]', "AUTH_ISSUERS[0].mode"],
  ['[{"issuer":"not a url","mode":"native","audience":"x"}]', "AUTH_ISSUERS[0].issuer"],
  [
    '[{"issuer":"https://a.example","mode":"native","audience":"x","algorithms":["HS256"]}]',
    "AUTH_ISSUERS[0].algorithms",
  ],
  [
    '[{"issuer":"https://a.example","mode":"native","audience":"x","colour":"red"}]',
    "AUTH_ISSUERS[0].colour",
  ],
  [
    '[{"issuer":"https://a.example","mode":"native","audience":"x"},{"issuer":"https://a.example","mode":"native","audience":"y"}]',
    "AUTH_ISSUERS[1].issuer",
  ],
  ['{"issuer":"https://a.example"}', "AUTH_ISSUERS"],
];
for (const [raw, variable] of badIssuers) {
  Deno.test(`issuers: config error names ${variable}`, () => {
    assert.throws(
      () => parseIssuers(raw),
      (e: unknown) => e instanceof ConfigError && e.variable === variable,
    );
  });
}

Deno.test("http: subPath works with and without the /functions/v1 prefix", () => {
  assert.deepEqual(subPath(new Request("http://h/functions/v1/posts/42")), ["42"]);
  assert.deepEqual(subPath(new Request("http://h/posts/42/comments")), ["42", "comments"]);
  assert.deepEqual(subPath(new Request("http://h/posts")), []);
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof HttpError);
    return e.code;
  }
  return "accepted";
}

const schema = {
  title: { type: "string", required: true, maxLength: 10, minLength: 1 },
  done: { type: "boolean" },
} as const;

Deno.test("http: validateBody rejects unknown, missing and mistyped fields", () => {
  assert.equal(codeOf(() => validateBody({ title: "a", user_id: "x" }, schema)), "invalid_body");
  assert.equal(codeOf(() => validateBody({}, schema)), "invalid_body");
  assert.equal(codeOf(() => validateBody({ title: 5 }, schema)), "invalid_body");
  assert.equal(codeOf(() => validateBody({ title: "   " }, schema)), "invalid_body");
  assert.equal(codeOf(() => validateBody({ title: "x".repeat(11) }, schema)), "invalid_body");
  assert.deepEqual(validateBody({ title: "ok", done: true }, schema), { title: "ok", done: true });
});

async function bodyCode(init: RequestInit): Promise<string> {
  try {
    await readJsonObject(new Request("http://h/x", { method: "POST", ...init }), 1024);
  } catch (e) {
    assert.ok(e instanceof HttpError);
    return e.code;
  }
  return "accepted";
}

Deno.test("http: readJsonObject maps media type, size and syntax to 415/413/400", async () => {
  assert.equal(
    await bodyCode({ body: "{}", headers: { "content-type": "text/plain" } }),
    "unsupported_media_type",
  );
  assert.equal(
    await bodyCode({ body: "x".repeat(2000), headers: { "content-type": "application/json" } }),
    "payload_too_large",
  );
  assert.equal(
    await bodyCode({ body: "{", headers: { "content-type": "application/json" } }),
    "invalid_json",
  );
  assert.equal(
    await bodyCode({ body: "[1]", headers: { "content-type": "application/json" } }),
    "invalid_body",
  );
  assert.equal(
    await bodyCode({
      body: '{"a":1}',
      headers: { "content-type": "application/json; charset=utf-8" },
    }),
    "accepted",
  );
});
