/**
 * withAuth, in process: the error contract, CORS, API keys, no downgrade from a bad JWT,
 * guards, and configuration errors. Keys are checked against a real JWKS on loopback.
 */
import assert from "node:assert/strict";
import { type FunctionOptions, json, loadConfig, withAuth } from "../functions/_shared/mod.ts";
import { fixture } from "./helpers/verifier_fixture.ts";
import { HS_SECRET, sign, supabaseClaims } from "./helpers/keys.ts";

const PUBLISHABLE = "sb_publishable_0123456789abcdefABCDEF";
const SECRET = "sb_secret_0123456789abcdefABCDEFghij";
const OTHER_SECRET = "sb_secret_ffffffffffffffffffffffffffff";

async function harness(options: Omit<FunctionOptions, "config">, env: Record<string, string> = {}) {
  const f = await fixture();
  const config = () =>
    loadConfig((name) =>
      ({
        SUPABASE_URL: f.supabase.url,
        SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE }),
        SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET }),
        SB_JWT_SECRET: HS_SECRET,
        AUTH_CORS_ORIGINS: "https://app.example.com",
        AUTH_ISSUERS: JSON.stringify([{
          issuer: f.clerk.issuer,
          jwks_url: f.clerk.jwksUrl,
          mode: "native",
          provider: "clerk",
          authorized_parties: ["https://app.example.com"],
          machine: { claim: "gty", value: "client-credentials" },
        }]),
        ...env,
      } as Record<string, string>)[name]
    );
  const handler = withAuth({ ...options, config }, (_req, ctx) =>
    json({
      kind: ctx.caller.kind,
      id: ctx.identity?.id ?? null,
      path: ctx.path,
    }));
  const call = (init: { method?: string; headers?: Record<string, string>; path?: string } = {}) =>
    handler(
      new Request(`http://127.0.0.1/functions/v1/fn${init.path ?? ""}`, {
        method: init.method ?? "GET",
        headers: init.headers ?? {},
      }),
    );
  const userToken = (overrides: Record<string, unknown> = {}) =>
    sign(supabaseClaims(f.supabase.issuer, Math.floor(Date.now() / 1000), overrides), f.keys.es);
  return { f, call, userToken };
}

async function body(response: Response): Promise<Record<string, unknown>> {
  return await response.json();
}

async function expectError(response: Response, status: number, code: string): Promise<void> {
  const b = await body(response);
  assert.equal(response.status, status, `status for ${code}: ${JSON.stringify(b)}`);
  assert.equal(b.code, code);
  assert.equal(typeof b.message, "string");
  assert.equal(response.headers.get("sb-error-code"), code);
  assert.match(response.headers.get("content-type") ?? "", /application\/json/);
}

Deno.test("handler: a verified user reaches the handler with identity and sub-path", async () => {
  const { f, call, userToken } = await harness({ allow: "user" });
  try {
    const r = await call({
      headers: { authorization: `Bearer ${await userToken()}` },
      path: "/42/x",
    });
    assert.equal(r.status, 200);
    const b = await body(r);
    assert.equal(b.kind, "user");
    assert.equal(b.id, "8c6f4a8e-4a4e-4c7b-9f5e-0d4c1b2a3f10");
    assert.deepEqual(b.path, ["42", "x"]);
  } finally {
    await f.close();
  }
});

Deno.test("handler: no credentials is 401 missing_credentials with a bare Bearer challenge", async () => {
  const { f, call } = await harness({ allow: "user" });
  try {
    const r = await call();
    assert.equal(r.headers.get("www-authenticate"), 'Bearer realm="supabase"');
    await expectError(r, 401, "missing_credentials");
  } finally {
    await f.close();
  }
});

Deno.test("handler: a bad token is 401 with RFC 6750 invalid_token", async () => {
  const { f, call } = await harness({ allow: "user" });
  try {
    const r = await call({ headers: { authorization: "Bearer a.b.c" } });
    assert.match(
      r.headers.get("www-authenticate") ?? "",
      /^Bearer realm="supabase", error="invalid_token", error_description="/,
    );
    await expectError(r, 401, "malformed_token");
  } finally {
    await f.close();
  }
});

Deno.test("handler: an expired token is 401 token_expired with a hint", async () => {
  const { f, call, userToken } = await harness({ allow: "user" });
  try {
    const now = Math.floor(Date.now() / 1000);
    const r = await call({
      headers: { authorization: `Bearer ${await userToken({ iat: now - 7200, exp: now - 3600 })}` },
    });
    const b = await r.clone().json();
    assert.match(String(b.hint), /Refresh/);
    await expectError(r, 401, "token_expired");
  } finally {
    await f.close();
  }
});

Deno.test("handler: a bad JWT never falls back to the publishable key", async () => {
  const { f, call, userToken } = await harness({ allow: ["user", "publishable"] });
  try {
    const expired = await userToken({ exp: Math.floor(Date.now() / 1000) - 3600 });
    const r = await call({ headers: { authorization: `Bearer ${expired}`, apikey: PUBLISHABLE } });
    await expectError(r, 401, "token_expired");
    const ok = await call({ headers: { apikey: PUBLISHABLE } });
    assert.equal((await body(ok)).kind, "publishable");
  } finally {
    await f.close();
  }
});

Deno.test("handler: a bad JWT never falls back to anonymous access", async () => {
  const { f, call } = await harness({ allow: ["user", "none"] });
  try {
    await expectError(
      await call({ headers: { authorization: "Bearer x.y.z" } }),
      401,
      "malformed_token",
    );
    assert.equal((await body(await call())).kind, "none");
  } finally {
    await f.close();
  }
});

Deno.test("handler: supabase-js's anonymous shape (key in both slots) is a publishable caller", async () => {
  const { f, call } = await harness({ allow: ["user", "publishable"] });
  try {
    const r = await call({
      headers: { authorization: `Bearer ${PUBLISHABLE}`, apikey: PUBLISHABLE },
    });
    assert.equal((await body(r)).kind, "publishable");
  } finally {
    await f.close();
  }
});

Deno.test("handler: an API key in the bearer slot of a user-only function is user_token_required", async () => {
  const { f, call } = await harness({ allow: "user" });
  try {
    await expectError(
      await call({ headers: { authorization: `Bearer ${PUBLISHABLE}`, apikey: PUBLISHABLE } }),
      401,
      "user_token_required",
    );
  } finally {
    await f.close();
  }
});

Deno.test("handler: different keys in apikey and bearer are refused", async () => {
  const { f, call } = await harness({ allow: ["secret"] });
  try {
    await expectError(
      await call({ headers: { authorization: `Bearer ${PUBLISHABLE}`, apikey: SECRET } }),
      401,
      "invalid_api_key",
    );
  } finally {
    await f.close();
  }
});

Deno.test("handler: the secret key opens a secret-only function", async () => {
  const { f, call } = await harness({ allow: "secret" });
  try {
    const r = await call({ headers: { apikey: SECRET } });
    assert.equal((await body(r)).kind, "secret");
    const viaBearer = await call({ headers: { authorization: `Bearer ${SECRET}` } });
    assert.equal((await body(viaBearer)).kind, "secret");
  } finally {
    await f.close();
  }
});

Deno.test("handler: a wrong secret key is 401 invalid_api_key", async () => {
  const { f, call } = await harness({ allow: "secret" });
  try {
    await expectError(await call({ headers: { apikey: OTHER_SECRET } }), 401, "invalid_api_key");
  } finally {
    await f.close();
  }
});

Deno.test("handler: the publishable key cannot open a secret-only function (403)", async () => {
  const { f, call } = await harness({ allow: "secret" });
  try {
    await expectError(await call({ headers: { apikey: PUBLISHABLE } }), 403, "forbidden");
  } finally {
    await f.close();
  }
});

Deno.test("handler: a user token cannot open a secret-only function", async () => {
  const { f, call, userToken } = await harness({ allow: "secret" });
  try {
    const r = await call({ headers: { authorization: `Bearer ${await userToken()}` } });
    await expectError(r, 401, "invalid_api_key");
  } finally {
    await f.close();
  }
});

Deno.test("handler: a present but unknown apikey next to a valid token is refused", async () => {
  const { f, call, userToken } = await harness({ allow: "user" });
  try {
    const r = await call({
      headers: {
        authorization: `Bearer ${await userToken()}`,
        apikey: "sb_publishable_nope_nope_nope",
      },
    });
    await expectError(r, 401, "invalid_api_key");
  } finally {
    await f.close();
  }
});

Deno.test("handler: legacy service_role JWT key works as a secret key", async () => {
  const legacy =
    "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIiwiaXNzIjoic3VwYWJhc2UifQ.c2lnbmF0dXJlX3NpZ25hdHVyZQ";
  const { f, call } = await harness({ allow: "secret" }, { SUPABASE_SERVICE_ROLE_KEY: legacy });
  try {
    assert.equal(
      (await body(await call({ headers: { authorization: `Bearer ${legacy}` } }))).kind,
      "secret",
    );
  } finally {
    await f.close();
  }
});

Deno.test("handler: role guard (anon-role token) is 403 insufficient_role with scope challenge", async () => {
  const { f, call, userToken } = await harness({ allow: "user" });
  try {
    const r = await call({
      headers: { authorization: `Bearer ${await userToken({ role: "anon" })}` },
    });
    assert.match(r.headers.get("www-authenticate") ?? "", /error="insufficient_scope"/);
    await expectError(r, 403, "insufficient_role");
  } finally {
    await f.close();
  }
});

Deno.test("handler: aal guard requires MFA", async () => {
  const { f, call, userToken } = await harness({ allow: "user", aal: "aal2" });
  try {
    await expectError(
      await call({ headers: { authorization: `Bearer ${await userToken()}` } }),
      403,
      "insufficient_aal",
    );
    const r = await call({
      headers: { authorization: `Bearer ${await userToken({ aal: "aal2" })}` },
    });
    assert.equal(r.status, 200);
  } finally {
    await f.close();
  }
});

Deno.test("handler: scope guard", async () => {
  const { f, call, userToken } = await harness({ allow: "user", scopes: ["posts:write"] });
  try {
    await expectError(
      await call({ headers: { authorization: `Bearer ${await userToken()}` } }),
      403,
      "insufficient_scope",
    );
    const r = await call({
      headers: { authorization: `Bearer ${await userToken({ scope: "posts:write" })}` },
    });
    assert.equal(r.status, 200);
  } finally {
    await f.close();
  }
});

Deno.test("handler: claims guard", async () => {
  const { f, call, userToken } = await harness({ allow: "user", claims: { is_anonymous: false } });
  try {
    await expectError(
      await call({
        headers: { authorization: `Bearer ${await userToken({ is_anonymous: true })}` },
      }),
      403,
      "claim_mismatch",
    );
  } finally {
    await f.close();
  }
});

Deno.test("handler: a Clerk user reaches a user function (third-party, native)", async () => {
  const { f, call } = await harness({ allow: "user" });
  try {
    const now = Math.floor(Date.now() / 1000);
    const token = await sign({
      iss: f.clerk.issuer,
      sub: "user_2x",
      azp: "https://app.example.com",
      role: "authenticated",
      exp: now + 60,
    }, f.keys.clerk);
    const r = await call({ headers: { authorization: `Bearer ${token}` } });
    assert.equal((await body(r)).id, "clerk:user_2x");
  } finally {
    await f.close();
  }
});

Deno.test("handler: a machine token is refused by a user-only function", async () => {
  const { f, call } = await harness({ allow: "user" });
  try {
    const now = Math.floor(Date.now() / 1000);
    const token = await sign({
      iss: f.clerk.issuer,
      sub: "client_1",
      gty: "client-credentials",
      azp: "https://app.example.com",
      exp: now + 60,
    }, f.keys.clerk);
    await expectError(
      await call({ headers: { authorization: `Bearer ${token}` } }),
      403,
      "forbidden",
    );
  } finally {
    await f.close();
  }
});

Deno.test("handler: 405 with Allow for methods the function does not serve", async () => {
  const { f, call } = await harness({ allow: "none", methods: ["GET"] });
  try {
    const r = await call({ method: "DELETE" });
    assert.equal(r.headers.get("allow"), "GET, OPTIONS");
    await expectError(r, 405, "method_not_allowed");
  } finally {
    await f.close();
  }
});

// ---------------------------------------------------------------- CORS

Deno.test("cors: preflight from an allowed origin is 204 before any auth", async () => {
  const { f, call } = await harness({ allow: "user" });
  try {
    const r = await call({
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get("access-control-allow-origin"), "https://app.example.com");
    assert.match(
      r.headers.get("access-control-allow-headers") ?? "",
      /authorization, x-client-info, apikey, content-type/,
    );
    assert.match(r.headers.get("vary") ?? "", /Origin/);
  } finally {
    await f.close();
  }
});

Deno.test("cors: preflight from another origin is refused without allow-origin", async () => {
  const { f, call } = await harness({ allow: "user" });
  try {
    const r = await call({ method: "OPTIONS", headers: { origin: "https://evil.example.com" } });
    assert.equal(r.headers.get("access-control-allow-origin"), null);
    await expectError(r, 403, "origin_not_allowed");
  } finally {
    await f.close();
  }
});

Deno.test("cors: a 401 carries allow-origin and exposes sb-error-code", async () => {
  const { f, call } = await harness({ allow: "user" });
  try {
    const r = await call({ headers: { origin: "https://app.example.com" } });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get("access-control-allow-origin"), "https://app.example.com");
    assert.match(r.headers.get("access-control-expose-headers") ?? "", /sb-error-code/);
    assert.match(r.headers.get("vary") ?? "", /Origin/);
    await r.body?.cancel();
  } finally {
    await f.close();
  }
});

Deno.test("cors: wildcard policy answers *", async () => {
  const { f, call } = await harness({ allow: "none" }, { AUTH_CORS_ORIGINS: "*" });
  try {
    const r = await call({ headers: { origin: "https://anything.example" } });
    assert.equal(r.headers.get("access-control-allow-origin"), "*");
    await r.body?.cancel();
  } finally {
    await f.close();
  }
});

// ---------------------------------------------------------------- misconfiguration and leaks

for (
  const [variable, value] of [
    ["SB_JWT_SECRET", "too-short"],
    ["SB_JWT_SECRET", ""],
    ["AUTH_ISSUERS", "{not json"],
    ["AUTH_ISSUERS", '[{"issuer":"http://idp.example.com","mode":"native","audience":"x"}]'],
    ["SUPABASE_PUBLISHABLE_KEYS", "[1,2]"],
    ["AUTH_CLOCK_SKEW_SECONDS", "-5"],
    ["SUPABASE_URL", ""],
  ]
) {
  Deno.test(`config: bad ${variable} fails closed with a 500 naming it`, async () => {
    const { f, call } = await harness({ allow: "user" }, { [variable]: value });
    const errors: string[] = [];
    const original = console.error;
    console.error = (m: string) => errors.push(m);
    try {
      const r = await call({ headers: { authorization: "Bearer a.b.c" } });
      const b = await r.clone().json();
      assert.ok(`${b.message} ${b.hint}`.includes(variable), JSON.stringify(b));
      if (value.length > 3) {
        assert.ok(!JSON.stringify(b).includes(value), "the value is never echoed");
      }
      await expectError(r, 500, "server_misconfigured");
    } finally {
      console.error = original;
      await f.close();
    }
  });
}

Deno.test("leaks: tokens and keys never appear in error bodies or headers", async () => {
  const { f, call, userToken } = await harness({ allow: "user" });
  try {
    const token = await userToken({ exp: Math.floor(Date.now() / 1000) - 3600 });
    const responses = await Promise.all([
      call({ headers: { authorization: `Bearer ${token}` } }),
      call({ headers: { authorization: `Bearer ${token}`, apikey: OTHER_SECRET } }),
      call({ headers: { apikey: OTHER_SECRET } }),
    ]);
    for (const r of responses) {
      const text = await r.text() + JSON.stringify([...r.headers]);
      for (const secret of [token, OTHER_SECRET, SECRET, PUBLISHABLE, HS_SECRET]) {
        assert.ok(!text.includes(secret));
      }
    }
  } finally {
    await f.close();
  }
});

Deno.test("errors: a 500 names its request id, the one its single log line carries", async () => {
  const f = await fixture();
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  try {
    const config = () =>
      loadConfig((name) =>
        ({
          SUPABASE_URL: f.supabase.url,
          SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE }),
          SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET }),
        } as Record<string, string>)[name]
      );
    const handler = withAuth({ allow: "secret", config }, () => {
      throw new Error("the database went away");
    });
    const request = (id?: string) =>
      new Request("http://127.0.0.1/functions/v1/fn", {
        headers: { apikey: SECRET, ...(id ? { "sb-request-id": id } : {}) },
      });
    const given = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
    const r = await handler(request(given));
    assert.equal(r.status, 500);
    const answer = await body(r);
    assert.equal(answer.code, "internal_error");
    assert.equal(answer.request_id, given);
    assert.equal(r.headers.get("sb-request-id"), given);
    const logged = lines.filter((l) => l.includes(given));
    assert.equal(logged.length, 1);
    const entry = JSON.parse(logged[0]!);
    assert.equal(entry.cause, "Error: the database went away");
    assert.match(entry.stack, /handler_test\.ts/);
    // Without the gateway's id, one is made up, and still the same in log and answer.
    const own = await body(await handler(request()));
    assert.match(String(own.request_id), /^[0-9a-f-]{36}$/);
    assert.ok(lines.some((l) => l.includes(String(own.request_id))));
  } finally {
    console.error = original;
    await f.close();
  }
});
