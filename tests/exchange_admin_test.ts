/**
 * token-exchange (a Logto-like issuer on loopback, `mode: "exchange"`) and admin-posts
 * (secret key or an M2M token with `posts:admin`), end to end through the local stack.
 */
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { decodeJwt, decodeProtectedHeader } from "jose";
import {
  adminSql,
  appClient,
  E2E,
  LOGTO_AUDIENCE,
  providerToken,
  stackContext,
  userToken,
} from "./helpers/stack.ts";

const ctx = await stackContext();
const s = ctx.status;

async function post(path: string, headers: Record<string, string>, body?: unknown) {
  const r = await fetch(`${s.functions_url}/${path}`, {
    method: "POST",
    headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, body: await r.json(), headers: r.headers };
}

async function get(path: string, headers: Record<string, string>) {
  const r = await fetch(`${s.functions_url}/${path}`, { headers });
  return { status: r.status, body: await r.json() };
}

const logtoUser = (claims: Record<string, unknown> = {}) =>
  providerToken(ctx.logto, {
    sub: `lg_${crypto.randomUUID().slice(0, 12)}`,
    aud: LOGTO_AUDIENCE,
    scope: "openid profile",
    ...claims,
  });

const logtoMachine = (scope: string) =>
  providerToken(ctx.logto, {
    sub: "m2m-app-1",
    client_id: "m2m-app-1",
    aud: LOGTO_AUDIENCE,
    scope,
  });

// ---------------------------------------------------------------- token-exchange

Deno.test({
  name: "token-exchange: a Logto user gets a short-lived project token with the claims RLS needs",
  ...E2E,
  async fn() {
    const provider = await logtoUser({ organization_id: "org_7" });
    const sub = decodeJwt(provider).sub;
    const r = await post("token-exchange", { authorization: `Bearer ${provider}` });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.token_type, "bearer");
    assert.equal(r.headers.get("cache-control"), "no-store");
    assert.ok(r.body.expires_in > 0 && r.body.expires_in <= 300);
    const claims = decodeJwt(r.body.access_token);
    assert.equal(claims.sub, `logto:${sub}`, "minted ids carry the issuer's prefix");
    assert.equal(claims.idp_sub, sub);
    assert.equal(claims.role, "authenticated");
    assert.equal(claims.aud, "authenticated");
    assert.equal(claims.iss, `${s.api_url}/functions/v1/token-exchange`);
    assert.equal(claims.idp, "logto");
    assert.equal(claims.scope, "profile", "only scopes in TOKEN_EXCHANGE_SCOPES pass");
    assert.equal(claims.org_id, "org_7");
    assert.equal(claims.exp, r.body.expires_at);
    assert.equal(decodeProtectedHeader(r.body.access_token).alg, "HS256");
  },
});

Deno.test({
  name: "token-exchange: copies an allowlist only (no unverified email, no aal, no session)",
  ...E2E,
  async fn() {
    const forged = {
      email: "ceo@example.com",
      email_verified: false,
      aal: "aal2",
      amr: [{ method: "totp" }],
      session_id: crypto.randomUUID(),
      is_anonymous: false,
      role: "service_role",
      scope: "openid posts:admin",
    };
    const r = await post("token-exchange", { authorization: `Bearer ${await logtoUser(forged)}` });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const claims = decodeJwt(r.body.access_token);
    for (const name of ["email", "aal", "amr", "session_id", "is_anonymous", "scope"]) {
      assert.equal(claims[name], undefined, `${name} must not be copied`);
    }
    assert.equal(claims.role, "authenticated");

    const verified = await post("token-exchange", {
      authorization: `Bearer ${await logtoUser({ email: "a@example.com", email_verified: true })}`,
    });
    assert.equal(decodeJwt(verified.body.access_token).email, "a@example.com");
  },
});

Deno.test({
  name: "token-exchange: the minted token works with posts (RLS by the Logto id) and me",
  ...E2E,
  async fn() {
    const minted =
      (await post("token-exchange", { authorization: `Bearer ${await logtoUser()}` })).body
        .access_token;
    const sub = decodeJwt(minted).sub;
    const client = appClient(s, minted);
    const created = await client.functions.invoke("posts", {
      method: "POST",
      body: { title: "from Logto" },
    });
    assert.equal(created.error, null);
    assert.equal(created.data.user_id, sub);
    const me = await client.functions.invoke("me", { method: "GET" });
    assert.equal(me.data.provider, "logto");
    assert.equal(me.data.id, sub);
    const other = appClient(
      s,
      (await post("token-exchange", { authorization: `Bearer ${await logtoUser()}` })).body
        .access_token,
    );
    const list = await other.functions.invoke("posts", { method: "GET" });
    assert.deepEqual(list.data.items, [], "another Logto user sees nothing");
  },
});

Deno.test({
  name: "token-exchange: the minted token never outlives the provider token",
  ...E2E,
  async fn() {
    const now = Math.floor(Date.now() / 1000);
    const provider = await logtoUser({ exp: now + 45 });
    const r = await post("token-exchange", { authorization: `Bearer ${provider}` });
    assert.equal(r.body.expires_at, now + 45);
    assert.ok(r.body.expires_in <= 45);
  },
});

Deno.test({
  name: "token-exchange: M2M tokens are refused (403 exchange_not_allowed)",
  ...E2E,
  async fn() {
    const r = await post("token-exchange", {
      authorization: `Bearer ${await logtoMachine("posts:admin")}`,
    });
    assert.equal(r.status, 403);
    assert.equal(r.body.code, "exchange_not_allowed");
  },
});

Deno.test({
  name: "token-exchange: wrong audience, expired, Supabase and Clerk tokens, GET: all refused",
  ...E2E,
  async fn() {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<string>, number, string][] = [
      ["other audience", logtoUser({ aud: "https://other.example" }), 401, "invalid_audience"],
      ["expired", logtoUser({ iat: now - 7200, exp: now - 3600 }), 401, "token_expired"],
      ["Supabase user", userToken(s).then((u) => u.token), 401, "untrusted_issuer"],
      [
        "Clerk (native) user",
        providerToken(ctx.clerk, { sub: "user_1", azp: "x", role: "authenticated" }),
        401,
        "untrusted_issuer",
      ],
    ];
    for (const [label, token, status, code] of cases) {
      const r = await post("token-exchange", { authorization: `Bearer ${await token}` });
      assert.equal(r.status, status, label);
      assert.equal(r.body.code, code, label);
    }
    const wrongMethod = await get("token-exchange", {
      authorization: `Bearer ${await logtoUser()}`,
    });
    assert.equal(wrongMethod.status, 405);
    const none = await post("token-exchange", {});
    assert.equal(none.body.code, "missing_credentials");
  },
});

// ---------------------------------------------------------------- admin-posts

Deno.test({
  name: "admin-posts: the secret key exports every user's posts (RLS bypassed on purpose)",
  ...E2E,
  async fn() {
    const a = await userToken(s);
    const b = await userToken(s);
    await appClient(s, a.token).from("posts").insert({ title: "a1" });
    await appClient(s, b.token).from("posts").insert({ title: "b1" });
    const admin = createClient(s.api_url, s.secret_key, { auth: { persistSession: false } });
    type Page = { items: { user_id: string }[]; next_cursor: string | null };
    const owners = new Set<string>();
    let cursor: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const path: string = `admin-posts?limit=50${cursor ? `&cursor=${cursor}` : ""}`;
      const result = await admin.functions.invoke<Page>(path, { method: "GET" });
      assert.equal(result.error, null);
      const page = result.data!;
      for (const p of page.items) owners.add(p.user_id);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    assert.ok(owners.has(a.sub) && owners.has(b.sub), "posts of both users are exported");
  },
});

Deno.test({
  name: "admin-posts: an M2M token needs the posts:admin scope",
  ...E2E,
  async fn() {
    const ok = await get("admin-posts?limit=1", {
      authorization: `Bearer ${await logtoMachine("posts:admin posts:read")}`,
    });
    assert.equal(ok.status, 200);
    const noScope = await get("admin-posts?limit=1", {
      authorization: `Bearer ${await logtoMachine("posts:read")}`,
    });
    assert.equal(noScope.status, 403);
    assert.equal(noScope.body.code, "insufficient_scope");
  },
});

Deno.test({
  name: "admin-posts: users, the publishable key and nobody are refused",
  ...E2E,
  async fn() {
    const u = await userToken(s);
    assert.equal(
      (await get("admin-posts", { authorization: `Bearer ${u.token}` })).body.code,
      "forbidden",
    );
    assert.equal((await get("admin-posts", { apikey: s.publishable_key })).body.code, "forbidden");
    assert.equal((await get("admin-posts", {})).body.code, "missing_credentials");
    assert.equal(
      (await get("admin-posts", { apikey: "sb_secret_not_the_real_one_xx" })).body.code,
      "invalid_api_key",
    );
  },
});

Deno.test({
  name: "admin-posts: import is validated and all-or-nothing",
  ...E2E,
  async fn() {
    const owner = await userToken(s);
    const sql = adminSql(s);
    try {
      const count = async () =>
        Number(
          (await sql`select count(*) from public.posts where user_id = ${owner.sub}`)[0]!.count,
        );
      const bad = await post("admin-posts/import", { apikey: s.secret_key }, {
        posts: [{ user_id: owner.sub, title: "ok" }, { user_id: owner.sub, title: "" }],
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, "invalid_body");
      assert.match(bad.body.message, /^posts\[1\]/);
      assert.equal(await count(), 0, "nothing of a rejected batch is written");
      const extra = await post("admin-posts/import", { apikey: s.secret_key }, {
        posts: [{ user_id: owner.sub, title: "x", id: 5 }],
      });
      assert.equal(extra.body.code, "invalid_body");
      const good = await post("admin-posts/import", { apikey: s.secret_key }, {
        posts: Array.from(
          { length: 25 },
          (_, i) => ({ user_id: owner.sub, title: `imported ${i}` }),
        ),
      });
      assert.equal(good.status, 201);
      assert.equal(good.body.imported, 25);
      assert.equal(await count(), 25);
      const mine = await appClient(s, owner.token).functions.invoke("posts?limit=100", {
        method: "GET",
      });
      assert.equal(mine.data.items.length, 25, "the owner sees the imported posts through RLS");
    } finally {
      await sql.end();
    }
  },
});
