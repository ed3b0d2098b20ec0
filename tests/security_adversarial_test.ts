/**
 * Adversarial credentials over real HTTP against `me` and `posts`, on a stack of this
 * module's own (so JWKS fetches can be counted exactly): every category of the security
 * bar, each case answered with the right status and code, none accepted, none a 5xx, and
 * none causing a JWKS fetch unless it names an unknown key of a trusted issuer (bounded).
 */
import assert from "node:assert/strict";
import { exportSPKI, importJWK, type JWK, SignJWT } from "jose";
import { b64url, makeKey, rawToken } from "./helpers/keys.ts";
import { E2E, privateStack, providerToken, userToken } from "./helpers/stack.ts";

const p = await privateStack();
const s = p.ctx.status;
const clerkServer = p.servers[0]!;
globalThis.addEventListener("unload", () => void p.stop());

const now = () => Math.floor(Date.now() / 1000);
const supabaseIss = `${s.api_url}/auth/v1`;
const stackKey = await importJWK(p.stack.keys.signingKey, "ES256");
const kid = p.stack.keys.signingKey.kid;
const secret = new TextEncoder().encode(p.stack.keys.jwtSecret);
const attacker = await makeKey("ES256", kid); // same kid, different key
const valid = await userToken(s);

function claims(over: Record<string, unknown> = {}): Record<string, unknown> {
  const c: Record<string, unknown> = {
    iss: supabaseIss,
    aud: "authenticated",
    sub: valid.sub,
    role: "authenticated",
    session_id: valid.sessionId,
    iat: now() - 5,
    exp: now() + 600,
    ...over,
  };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c;
}

function es256(
  over: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims(over)).setProtectedHeader({ alg: "ES256", typ: "JWT", kid, ...header })
    .sign(stackKey);
}

function swapPayload(token: string, payload: Record<string, unknown>): string {
  const [h, , sig] = token.split(".");
  return `${h}.${b64url(JSON.stringify(payload))}.${sig}`;
}

const validSig = valid.token.split(".")[2]!;
const pem = await exportSPKI(
  await importJWK({ ...p.stack.keys.signingKey, d: undefined } as JWK, "ES256") as CryptoKey,
);

type Case = {
  name: string;
  headers: () => Record<string, string> | Promise<Record<string, string>>;
  status: number;
  code: string;
  /** Names an unknown key of a trusted issuer: a fetch is allowed (bounded by the cooldown). */
  mayFetch?: boolean;
  query?: string;
};

const bearer = (t: string | Promise<string>) => async () => ({
  authorization: `Bearer ${await t}`,
});

const cases: Case[] = [
  // header parsing
  { name: "no credentials", headers: () => ({}), status: 401, code: "missing_credentials" },
  {
    name: "empty Authorization",
    headers: () => ({ authorization: "" }),
    status: 401,
    code: "invalid_authorization_header",
  },
  {
    name: "Basic scheme",
    headers: () => ({ authorization: "Basic dXNlcjpwYXNz" }),
    status: 401,
    code: "invalid_authorization_header",
  },
  {
    name: "scheme only",
    headers: () => ({ authorization: "Bearer" }),
    status: 401,
    code: "invalid_authorization_header",
  },
  {
    name: "double space",
    headers: () => ({ authorization: `Bearer  ${valid.token}` }),
    status: 401,
    code: "invalid_authorization_header",
  },
  {
    name: "two tokens",
    headers: () => ({ authorization: `Bearer ${valid.token} ${valid.token}` }),
    status: 401,
    code: "invalid_authorization_header",
  },
  {
    name: "two Authorization headers",
    headers: () => ({ authorization: `Bearer ${valid.token}, Bearer ${valid.token}` }),
    status: 401,
    code: "invalid_authorization_header",
  },
  {
    name: "token in the query",
    headers: () => ({}),
    query: `?access_token=${valid.token}`,
    status: 401,
    code: "invalid_authorization_header",
  },
  {
    name: "token without scheme",
    headers: () => ({ authorization: valid.token }),
    status: 401,
    code: "invalid_authorization_header",
  },
  {
    name: "publishable key as bearer",
    headers: () => ({
      authorization: `Bearer ${s.publishable_key}`,
      apikey: s.publishable_key,
    }),
    status: 401,
    code: "user_token_required",
  },
  {
    name: "secret key as bearer",
    headers: () => ({ authorization: `Bearer ${s.secret_key}` }),
    status: 401,
    code: "user_token_required",
  },
  {
    name: "legacy anon key as bearer",
    headers: () => ({ authorization: `Bearer ${s.anon_key}` }),
    status: 401,
    code: "user_token_required",
  },
  {
    name: "legacy service_role key as bearer",
    headers: () => ({ authorization: `Bearer ${s.service_role_key}` }),
    status: 401,
    code: "user_token_required",
  },
  {
    name: "valid token with a wrong apikey",
    headers: () => ({
      authorization: `Bearer ${valid.token}`,
      apikey: "sb_publishable_wrong_wrong_wrong",
    }),
    status: 401,
    code: "invalid_api_key",
  },
  {
    name: "made-up sb_secret_ bearer",
    headers: () => ({ authorization: "Bearer sb_secret_guessing_guessing_1234" }),
    status: 401,
    code: "invalid_api_key",
  },
  // token structure
  { name: "one part", headers: bearer("abc"), status: 401, code: "malformed_token" },
  { name: "two parts", headers: bearer("abc.def"), status: 401, code: "malformed_token" },
  { name: "four parts", headers: bearer(`${valid.token}.x`), status: 401, code: "malformed_token" },
  { name: "JWE shape", headers: bearer("a.b.c.d.e"), status: 401, code: "malformed_token" },
  {
    name: "empty signature",
    headers: bearer(valid.token.slice(0, valid.token.lastIndexOf(".") + 1)),
    status: 401,
    code: "malformed_token",
  },
  {
    name: "padded base64",
    headers: bearer(`${valid.token}==`),
    status: 401,
    code: "malformed_token",
  },
  {
    name: "standard base64 alphabet",
    headers: bearer(valid.token.replace(/-/g, "+").replace(/_/g, "/") + "+/"),
    status: 401,
    code: "malformed_token",
  },
  {
    name: "header not JSON",
    headers: bearer(rawToken("{alg:ES256}", JSON.stringify(claims()))),
    status: 401,
    code: "malformed_token",
  },
  {
    name: "payload an array",
    headers: bearer(rawToken(`{"alg":"ES256","kid":"${kid}"}`, "[1,2]")),
    status: 401,
    code: "malformed_token",
  },
  {
    name: "duplicate alg",
    headers: bearer(
      rawToken(`{"alg":"HS256","alg":"ES256","kid":"${kid}"}`, JSON.stringify(claims()), validSig),
    ),
    status: 401,
    code: "malformed_token",
  },
  {
    name: "duplicate sub",
    headers: bearer(
      rawToken(`{"alg":"ES256","kid":"${kid}"}`, `{"sub":"a","sub":"${valid.sub}"}`, validSig),
    ),
    status: 401,
    code: "malformed_token",
  },
  {
    name: "20 KB token",
    headers: bearer(`${"a".repeat(10_000)}.${"b".repeat(10_000)}.c`),
    status: 401,
    code: "token_too_large",
  },
  {
    name: "payload not UTF-8",
    headers: bearer(
      `${b64url(`{"alg":"ES256","kid":"${kid}"}`)}.${
        b64url(new Uint8Array([0xc3, 0x28]))
      }.${validSig}`,
    ),
    status: 401,
    code: "malformed_token",
  },
  // header and algorithm
  {
    name: "alg none",
    headers: bearer(rawToken('{"alg":"none"}', JSON.stringify(claims()))),
    status: 401,
    code: "unsupported_algorithm",
  },
  {
    name: "alg HS512",
    headers: bearer(rawToken('{"alg":"HS512"}', JSON.stringify(claims()))),
    status: 401,
    code: "unsupported_algorithm",
  },
  {
    name: "alg with trailing space",
    headers: bearer(
      rawToken(`{"alg":"ES256 ","kid":"${kid}"}`, JSON.stringify(claims()), validSig),
    ),
    status: 401,
    code: "unsupported_algorithm",
  },
  {
    name: "alg ES384 for a P-256 key",
    headers: bearer(rawToken(`{"alg":"ES384","kid":"${kid}"}`, JSON.stringify(claims()), validSig)),
    status: 401,
    code: "unsupported_algorithm",
  },
  {
    name: "HS256 signed with the public key PEM",
    headers: bearer(
      new SignJWT(claims()).setProtectedHeader({ alg: "HS256", kid }).sign(
        new TextEncoder().encode(pem),
      ),
    ),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "HS256 signed with the public JWK JSON",
    headers: bearer(
      new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).sign(
        new TextEncoder().encode(JSON.stringify({ ...p.stack.keys.signingKey, d: undefined })),
      ),
    ),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "crit header",
    headers: bearer(
      rawToken(
        `{"alg":"ES256","kid":"${kid}","crit":["exp"],"exp":1}`,
        JSON.stringify(claims()),
        validSig,
      ),
    ),
    status: 401,
    code: "unsupported_token_header",
  },
  {
    name: "jku header",
    headers: bearer(es256({}, { jku: "https://evil.example/jwks.json" })),
    status: 401,
    code: "unsupported_token_header",
  },
  {
    name: "x5u header",
    headers: bearer(es256({}, { x5u: "https://evil.example/cert.pem" })),
    status: 401,
    code: "unsupported_token_header",
  },
  {
    name: "embedded attacker jwk",
    headers: bearer(
      new SignJWT(claims()).setProtectedHeader({ alg: "ES256", jwk: attacker.publicJwk }).sign(
        attacker.privateKey,
      ),
    ),
    status: 401,
    code: "unsupported_token_header",
  },
  {
    name: "kid with spaces (path)",
    headers: bearer(es256({}, { kid: "../ ../etc/passwd" })),
    status: 401,
    code: "malformed_token",
  },
  {
    name: "kid SQL injection",
    headers: bearer(es256({}, { kid: "' OR 1=1 --" })),
    status: 401,
    code: "malformed_token",
  },
  {
    name: "kid null",
    headers: bearer(rawToken('{"alg":"ES256","kid":null}', JSON.stringify(claims()), validSig)),
    status: 401,
    code: "malformed_token",
  },
  {
    name: "kid 300 characters",
    headers: bearer(es256({}, { kid: "k".repeat(300) })),
    status: 401,
    code: "malformed_token",
  },
  {
    name: "typ JWE",
    headers: bearer(es256({}, { typ: "JWE" })),
    status: 401,
    code: "unsupported_token_header",
  },
  {
    name: "unknown kid",
    headers: bearer(es256({}, { kid: "rotated-away-key" })),
    status: 401,
    code: "unknown_key",
    mayFetch: true,
  },
  {
    name: "no kid (ES256)",
    headers: bearer(new SignJWT(claims()).setProtectedHeader({ alg: "ES256" }).sign(stackKey)),
    status: 401,
    code: "unknown_key",
  },
  // signatures
  {
    name: "payload tampered to service_role",
    headers: () => ({
      authorization: `Bearer ${swapPayload(valid.token, claims({ role: "service_role" }))}`,
    }),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "payload tampered to another sub",
    headers: () => ({
      authorization: `Bearer ${swapPayload(valid.token, claims({ sub: crypto.randomUUID() }))}`,
    }),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "flipped signature character",
    headers: () => ({
      authorization: `Bearer ${valid.token.slice(0, -10)}${
        valid.token.at(-10) === "A" ? "B" : "A"
      }${valid.token.slice(-9)}`,
    }),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "truncated signature",
    headers: bearer(valid.token.slice(0, -30)),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "signed by another key under the real kid",
    headers: bearer(
      new SignJWT(claims()).setProtectedHeader({ alg: "ES256", kid }).sign(attacker.privateKey),
    ),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "ECDSA r=0 s=0",
    headers: bearer(
      `${valid.token.slice(0, valid.token.lastIndexOf(".") + 1)}${b64url(new Uint8Array(64))}`,
    ),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "ECDSA values above the order",
    headers: bearer(
      `${valid.token.slice(0, valid.token.lastIndexOf(".") + 1)}${
        b64url(new Uint8Array(64).fill(0xff))
      }`,
    ),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "DER-encoded ECDSA signature",
    headers: bearer(
      `${valid.token.slice(0, valid.token.lastIndexOf(".") + 1)}${
        b64url(
          new Uint8Array([
            0x30,
            0x44,
            0x02,
            0x20,
            ...new Uint8Array(32).fill(1),
            0x02,
            0x20,
            ...new Uint8Array(32).fill(2),
          ]),
        )
      }`,
    ),
    status: 401,
    code: "invalid_signature",
  },
  {
    name: "HS256 with a wrong secret",
    headers: bearer(
      new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).sign(
        new TextEncoder().encode("x".repeat(40)),
      ),
    ),
    status: 401,
    code: "invalid_signature",
  },
  // claims at their edges
  {
    name: "expired an hour ago",
    headers: bearer(es256({ iat: now() - 7200, exp: now() - 3600 })),
    status: 401,
    code: "token_expired",
  },
  {
    name: "expired 40 s ago (skew 30)",
    headers: bearer(es256({ exp: now() - 40 })),
    status: 401,
    code: "token_expired",
  },
  {
    name: "nbf in a minute",
    headers: bearer(es256({ nbf: now() + 60 })),
    status: 401,
    code: "token_not_yet_valid",
  },
  {
    name: "iat in a minute",
    headers: bearer(es256({ iat: now() + 60 })),
    status: 401,
    code: "token_issued_in_future",
  },
  {
    name: "exp as a string",
    headers: bearer(es256({ exp: String(now() + 600) })),
    status: 401,
    code: "invalid_claims",
  },
  {
    name: "exp missing",
    headers: bearer(es256({ exp: undefined })),
    status: 401,
    code: "invalid_claims",
  },
  {
    name: "exp as a float far away",
    headers: bearer(es256({ exp: 1e300 })),
    status: 401,
    code: "invalid_claims",
  },
  {
    name: "aud anon",
    headers: bearer(es256({ aud: "anon" })),
    status: 401,
    code: "invalid_audience",
  },
  {
    name: "aud missing",
    headers: bearer(es256({ aud: undefined })),
    status: 401,
    code: "invalid_audience",
  },
  {
    name: "iss of another project",
    headers: bearer(es256({ iss: "https://other.supabase.co/auth/v1" })),
    status: 401,
    code: "untrusted_issuer",
  },
  {
    name: "iss with trailing slash",
    headers: bearer(es256({ iss: `${supabaseIss}/` })),
    status: 401,
    code: "untrusted_issuer",
  },
  {
    name: "iss missing",
    headers: bearer(es256({ iss: undefined })),
    status: 401,
    code: "untrusted_issuer",
  },
  {
    name: "sub missing",
    headers: bearer(es256({ sub: undefined })),
    status: 401,
    code: "invalid_claims",
  },
  { name: "sub empty", headers: bearer(es256({ sub: "" })), status: 401, code: "invalid_claims" },
  {
    name: "role anon",
    headers: bearer(es256({ role: "anon" })),
    status: 403,
    code: "insufficient_role",
  },
  {
    name: "role service_role (validly signed)",
    headers: bearer(es256({ role: "service_role" })),
    status: 403,
    code: "insufficient_role",
  },
  {
    name: "role an object",
    headers: bearer(es256({ role: { name: "authenticated" } })),
    status: 401,
    code: "invalid_claims",
  },
  // several issuers
  {
    name: "Clerk iss with Supabase's kid",
    headers: bearer(
      new SignJWT({
        iss: p.ctx.clerk.issuer,
        sub: "user_1",
        azp: p.ctx.appOrigin,
        role: "authenticated",
        exp: now() + 60,
      }).setProtectedHeader({ alg: "ES256", kid }).sign(stackKey),
    ),
    status: 401,
    code: "unknown_key",
    mayFetch: true,
  },
  {
    name: "Supabase iss signed by Clerk's key",
    headers: async () => ({
      authorization: `Bearer ${await providerToken(
        { ...p.ctx.clerk, issuer: supabaseIss },
        claims(),
      )}`,
    }),
    status: 401,
    code: "unknown_key",
    mayFetch: true,
  },
  {
    name: "Clerk token for another app (azp)",
    headers: async () => ({
      authorization: `Bearer ${await providerToken(p.ctx.clerk, {
        sub: "user_1",
        azp: "https://evil.example",
        role: "authenticated",
      })}`,
    }),
    status: 401,
    code: "unauthorized_party",
  },
  {
    name: "Clerk token without azp",
    headers: async () => ({
      authorization: `Bearer ${await providerToken(p.ctx.clerk, {
        sub: "user_1",
        role: "authenticated",
      })}`,
    }),
    status: 401,
    code: "unauthorized_party",
  },
  {
    name: "Logto (exchange-only) token",
    headers: async () => ({
      authorization: `Bearer ${await providerToken(p.ctx.logto, {
        sub: "lg",
        aud: "https://api.edge-auth.test",
      })}`,
    }),
    status: 401,
    code: "untrusted_issuer",
  },
  {
    name: "minted-issuer token with a wrong secret",
    headers: bearer(
      new SignJWT({ ...claims(), iss: `${s.api_url}/functions/v1/token-exchange` })
        .setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode("y".repeat(40))),
    ),
    status: 401,
    code: "invalid_signature",
  },
];

const fetchCount = () => p.stack.jwksServed() + clerkServer.jwksFetches;
const secrets = [s.jwt_secret, s.secret_key, s.service_role_key, String(p.stack.keys.signingKey.d)];

// Warm both functions' key sets for Clerk (their one legitimate cold fetch) before counting.
const warm = await providerToken(p.ctx.clerk, {
  sub: "user_warm",
  azp: p.ctx.appOrigin,
  role: "authenticated",
});
for (const fn of ["me", "posts"]) {
  const r = await fetch(`${s.functions_url}/${fn}`, {
    headers: { authorization: `Bearer ${warm}` },
  });
  assert.equal(r.status, 200, `${fn} warm-up`);
  await r.body?.cancel();
}
let fetchesByMayFetchCases = 0;

Deno.test({
  name: `adversarial: the suite holds at least 60 distinct credentials (${cases.length})`,
  fn() {
    assert.ok(cases.length >= 60);
    assert.equal(new Set(cases.map((c) => c.name)).size, cases.length);
  },
});

for (const c of cases) {
  Deno.test({
    name: `adversarial: ${c.name} -> ${c.status} ${c.code} (me, posts)`,
    ...E2E,
    async fn() {
      const headers = await c.headers();
      const before = fetchCount();
      for (const fn of ["me", "posts"]) {
        const r = await fetch(`${s.functions_url}/${fn}${c.query ?? ""}`, { headers });
        const text = await r.text();
        const body = JSON.parse(text);
        assert.equal(r.status, c.status, `${fn}: ${text}`);
        assert.equal(body.code, c.code, fn);
        assert.equal(r.headers.get("sb-error-code"), c.code);
        if (c.status === 401) {
          const challenge = r.headers.get("www-authenticate") ?? "";
          assert.ok(challenge.startsWith("Bearer"), fn);
          if (c.code !== "missing_credentials") assert.match(challenge, /error="invalid_token"/);
        }
        const token = (headers.authorization ?? "").replace(/^Bearer /i, "");
        if (token.length > 20) assert.ok(!text.includes(token), "the token is never echoed");
        for (const secret of secrets) assert.ok(!text.includes(secret));
      }
      const fetched = fetchCount() - before;
      if (c.mayFetch) fetchesByMayFetchCases += fetched;
      else assert.equal(fetched, 0, "no JWKS fetch for this credential");
    },
  });
}

Deno.test({
  name: "adversarial: unknown-kid cases fetched at most once per issuer (cooldown)",
  ...E2E,
  fn() {
    assert.ok(fetchesByMayFetchCases <= 2, `fetches: ${fetchesByMayFetchCases}`);
  },
});

Deno.test({
  name: "adversarial: nothing secret reached the stack's log",
  ...E2E,
  fn() {
    const all = p.logs.join("\n");
    for (const secret of [...secrets, valid.token]) assert.ok(!all.includes(secret));
    assert.ok(
      !/eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/.test(all),
      "no JWT in the log",
    );
  },
});

// A valid credential still works after the barrage (nothing was poisoned).
Deno.test({
  name: "adversarial: the legitimate user is still served",
  ...E2E,
  async fn() {
    const r = await fetch(`${s.functions_url}/me`, {
      headers: { authorization: `Bearer ${valid.token}` },
    });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).id, valid.sub);
  },
});

void secret;
