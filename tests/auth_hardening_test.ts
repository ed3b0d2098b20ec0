/**
 * The local Auth where it used to differ from GoTrue in ways an attacker could use (issue 22):
 * sessions that outlived an admin password reset, banned users' tokens still accepted, no rate
 * limits, a sign-up answer that told taken addresses apart, app_metadata quietly ignored,
 * anonymous users given passwords without an address, admin tokens of ended sessions, NUL bytes
 * answered 500, and the admin list's `filter` ignored.
 */
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { adminSql, E2E, stackContext, userToken } from "./helpers/stack.ts";
import { startStack } from "../stack/start.ts";

const s = (await stackContext()).status;
const PASSWORD = "a-good-password";

function client(status = s, key = status.publishable_key) {
  return createClient(status.api_url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
}
const admin = () => client(s, s.secret_key).auth.admin;
const email = () => `h-${crypto.randomUUID().slice(0, 8)}@example.com`;

async function signedIn(status = s) {
  const address = email();
  const c = client(status);
  const up = await c.auth.signUp({ email: address, password: PASSWORD });
  assert.equal(up.error, null);
  return { c, address, session: up.data.session!, id: up.data.user!.id };
}

function auth(path: string, init: RequestInit & { token?: string } = {}, status = s) {
  return fetch(`${status.api_url}/auth/v1${path}`, {
    ...init,
    headers: {
      apikey: status.publishable_key,
      "content-type": "application/json",
      "x-supabase-api-version": "2024-01-01",
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.headers ?? {}),
    },
  });
}

Deno.test({
  name:
    "auth hardening: an admin password reset signs the user out everywhere (GoTrue's UpdatePassword)",
  ...E2E,
  async fn() {
    const { c, session, id } = await signedIn();
    const other = await client().auth.signInWithPassword({
      email: session.user.email!,
      password: PASSWORD,
    });
    assert.equal(other.error, null);
    const { error } = await admin().updateUserById(id, { password: "a-new-password-1" });
    assert.equal(error, null);
    for (const token of [session.access_token, other.data.session!.access_token]) {
      const r = await auth("/user", { token });
      assert.equal(r.status, 403);
      assert.equal((await r.json()).code, "session_not_found");
    }
    const refreshed = await c.auth.refreshSession({ refresh_token: session.refresh_token });
    assert.notEqual(refreshed.error, null, "its refresh tokens are gone too");
  },
});

Deno.test({
  name:
    "auth hardening: a banned user's token is refused on every authenticated route (403 user_banned)",
  ...E2E,
  async fn() {
    const { session, id } = await signedIn();
    assert.equal((await admin().updateUserById(id, { ban_duration: "24h" })).error, null);
    const attempts: [string, RequestInit][] = [
      ["/user", { method: "GET" }],
      ["/user", { method: "PUT", body: JSON.stringify({ password: "another-password-2" }) }],
      ["/user", { method: "PUT", body: JSON.stringify({ email: email() }) }],
      ["/logout", { method: "POST" }],
    ];
    for (const [path, init] of attempts) {
      const r = await auth(path, { ...init, token: session.access_token });
      assert.equal(r.status, 403, `${init.method} ${path}`);
      assert.equal((await r.json()).code, "user_banned");
    }
    const [row] = await adminSql(s)`select email from auth.users where id = ${id}`;
    assert.equal(row!.email, session.user.email, "nothing was changed");
  },
});

Deno.test({
  name: "auth hardening: PUT /user refuses app_metadata (403 not_admin) and NUL bytes (400)",
  ...E2E,
  async fn() {
    const { session } = await signedIn();
    const r = await auth("/user", {
      method: "PUT",
      token: session.access_token,
      body: JSON.stringify({ app_metadata: { role: "admin" } }),
    });
    assert.equal(r.status, 403);
    assert.deepEqual(await r.json(), {
      code: "not_admin",
      message: "Updating app_metadata requires admin privileges",
    });
    for (
      const [path, body] of [
        ["/token?grant_type=password", { email: "a\u0000@example.com", password: PASSWORD }],
        ["/token?grant_type=refresh_token", { refresh_token: "abcdefghijkl\u0000" }],
        ["/signup", { email: "nul\u0000@example.com", password: PASSWORD }],
      ] as const
    ) {
      const nul = await auth(path, { method: "POST", body: JSON.stringify(body) });
      assert.equal(nul.status, 400, path);
      await nul.body?.cancel();
    }
  },
});

Deno.test({
  name:
    "auth hardening: an admin token naming an ended session is refused; the list honours `filter`",
  ...E2E,
  async fn() {
    const { id, session } = await signedIn();
    // An admin user (role service_role in the token) whose session then ends.
    const sub = crypto.randomUUID();
    const adminUser = await userToken(s, { sub, role: "service_role" });
    const ok = await auth("/admin/users?per_page=1", { token: adminUser.token });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    await adminSql(s)`delete from auth.sessions where id = ${adminUser.sessionId}`;
    const ended = await auth("/admin/users?per_page=1", { token: adminUser.token });
    assert.equal(ended.status, 403);
    assert.equal((await ended.json()).code, "session_not_found");

    const found = await admin().listUsers({ page: 1, perPage: 50 });
    assert.equal(found.error, null);
    const filtered = await fetch(
      `${s.api_url}/auth/v1/admin/users?filter=${
        encodeURIComponent(session.user.email!.slice(0, 10))
      }`,
      { headers: { apikey: s.secret_key, authorization: `Bearer ${s.secret_key}` } },
    );
    const users = (await filtered.json()).users as { id: string }[];
    assert.deepEqual(users.map((u) => u.id), [id]);
  },
});

/** A confirmed user as a seed.sql makes one: pgcrypto's bcrypt at `cost`, PASSWORD. */
async function seedUser(sql: ReturnType<typeof adminSql>, address: string, cost: number) {
  await sql`
    insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
      email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
      confirmation_token, email_change, email_change_token_new, recovery_token)
    values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated',
      'authenticated', ${address}, crypt(${PASSWORD}, gen_salt('bf', ${cost})), now(),
      '{"provider":"email","providers":["email"]}', '{}', now(), now(), '', '', '', '')`;
}

Deno.test({
  name: "auth hardening: a seeded (pgcrypto, cost 6) hash is redone at Auth's cost on sign-in",
  ...E2E,
  async fn() {
    const sql = adminSql(s);
    try {
      const address = email();
      await seedUser(sql, address, 6); // pgcrypto's default cost
      const [before] =
        await sql`select encrypted_password as h from auth.users where email = ${address}`;
      assert.match(before!.h, /^\$2a\$06\$/);
      const signIn = await client().auth.signInWithPassword({ email: address, password: PASSWORD });
      assert.equal(signIn.error, null);
      const [after] =
        await sql`select encrypted_password as h from auth.users where email = ${address}`;
      assert.match(after!.h, /^\$2a\$10\$/);
      assert.equal(
        (await client().auth.signInWithPassword({ email: address, password: PASSWORD })).error,
        null,
        "the new hash checks",
      );
    } finally {
      await sql.end();
    }
  },
});

// ------------------------------------------------------------------ a stack with the defaults

const own = await startStack({
  port: 0,
  dataDir: null,
  keysPath: null,
  log: () => {},
  authSettings: { anonymous: true, confirmations: true },
  // Auth's request limits apply to clients a trusted proxy names (as GoTrue's need its gateway
  // to name them): these tests come "through" a proxy on loopback.
  functionEnv: { GATEWAY_TRUSTED_PROXIES: "127.0.0.1" },
});
globalThis.addEventListener("unload", () => void own.stop());
const o = own.status;

Deno.test({
  name:
    "auth hardening: a wrong password for a cheap seeded hash fails no faster than an unknown address",
  ...E2E,
  async fn() {
    const sql = adminSql(o);
    try {
      const address = email();
      // Cost 4: one check takes ~1 ms where Auth's cost 10 takes ~60-90 ms here.
      await seedUser(sql, address, 4);
      const timed = async (who: string) => {
        const t0 = performance.now();
        const r = await client(o).auth.signInWithPassword({ email: who, password: "wrong-one" });
        assert.equal(r.error?.code, "invalid_credentials");
        return performance.now() - t0;
      };
      await timed(email()); // the first failure also makes the decoy hash
      // On this file's own stack, so that no other file's sign-ins queue for its bcrypt workers;
      // interleaved, and the fastest of three each: a busy moment slows one attempt, not a side.
      let unknown = Infinity, cheap = Infinity;
      for (let round = 0; round < 3; round++) {
        unknown = Math.min(unknown, await timed(email()));
        cheap = Math.min(cheap, await timed(address));
      }
      // Without the full-cost check the cheap hash answers ~50x faster; with it, as slowly
      // (give or take the machine's noise).
      assert.ok(
        cheap >= unknown * 0.6,
        `cheap hash ${cheap.toFixed(0)} ms vs unknown ${unknown.toFixed(0)} ms`,
      );
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name: "auth hardening: with confirmations, signing up a taken address answers like a new one",
  ...E2E,
  async fn() {
    const address = email();
    const data = { plan: "pro" };
    const first = await client(o, o.secret_key).auth.admin.createUser({
      email: address,
      password: PASSWORD,
      email_confirm: true,
    });
    assert.equal(first.error, null);
    const again = await client(o).auth.signUp({
      email: address,
      password: PASSWORD,
      options: { data },
    });
    assert.equal(again.error, null);
    assert.notEqual(again.data.user!.id, first.data.user!.id, "a made-up id");
    assert.deepEqual(again.data.user!.identities, [], "GoTrue's sanitized user has none");
    assert.equal(
      again.data.user!.user_metadata.plan,
      "pro",
      "the request's metadata, as a real one",
    );
    assert.equal(again.data.session, null);
  },
});

Deno.test({
  name: "auth hardening: an anonymous user may not set a password without an email (422)",
  ...E2E,
  async fn() {
    const anon = await client(o).auth.signInAnonymously();
    assert.equal(anon.error, null);
    const r = await auth("/user", {
      method: "PUT",
      token: anon.data.session!.access_token,
      body: JSON.stringify({ password: PASSWORD }),
    }, o);
    assert.equal(r.status, 422);
    assert.deepEqual(await r.json(), {
      code: "validation_failed",
      message: "Updating password of an anonymous user without an email or phone is not allowed",
    });
  },
});

Deno.test({
  name: "auth hardening: [auth.rate_limit] at the CLI's defaults: 429 per route and named client",
  ...E2E,
  async fn() {
    // Without a client address (no trusted proxy named one) no limit applies, as with
    // `supabase start`: 40 wrong passwords at once are all answered.
    const unlimited = await Promise.all(
      Array.from({ length: 40 }, () =>
        auth("/token?grant_type=password", {
          method: "POST",
          body: JSON.stringify({ email: "nobody@example.com", password: "wrong-password" }),
        }, o).then(async (r) => (await r.body?.cancel(), r.status))),
    );
    assert.deepEqual(new Set(unlimited), new Set([400]));
    // The password grant counts against token_refresh (150 per 5 min, a burst of 30): 40 at once
    // from one client a trusted proxy names.
    const viaProxy = { "x-forwarded-for": "203.0.113.7" };
    const answers = await Promise.all(
      Array.from({ length: 40 }, () =>
        auth("/token?grant_type=password", {
          method: "POST",
          headers: viaProxy,
          body: JSON.stringify({ email: "nobody@example.com", password: "wrong-password" }),
        }, o).then(async (r) => ({
          status: r.status,
          body: await r.json(),
          code: r.headers.get("x-sb-error-code"),
        }))),
    );
    const served = answers.filter((a) => a.status === 400).length;
    const limited = answers.filter((a) => a.status === 429);
    assert.ok(
      served >= 30 && served <= 32,
      `the burst of 30 is served (and what refilled): ${served}`,
    );
    assert.equal(served + limited.length, 40);
    assert.deepEqual(limited[0]!.body, {
      code: "over_request_rate_limit",
      message: "Request rate limit reached",
    });
    assert.equal(limited[0]!.code, "over_request_rate_limit");
    // Another route has its own bucket: sign-ups are still served.
    const proxied = () =>
      createClient(o.api_url, o.publishable_key, {
        auth: { persistSession: false, autoRefreshToken: false },
        global: { headers: viaProxy },
      });
    const up = await proxied().auth.signUp({ email: email(), password: PASSWORD });
    assert.equal(up.error, null);
    // Anonymous sign-ins: anonymous_users (30 per hour, a burst of 30), 35 at once.
    const anonymous = await Promise.all(
      Array.from({ length: 35 }, () => proxied().auth.signInAnonymously()),
    );
    const refused = anonymous.filter((r) => r.error);
    assert.ok(refused.length >= 5, `${refused.length} of 35 refused`);
    assert.ok(refused.every((r) => r.error!.code === "over_request_rate_limit"));
  },
});
