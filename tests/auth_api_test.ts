/**
 * The local Auth through the unmodified supabase-js auth client (and plain fetch where the
 * wire shape itself is the point): sign-up, password sign-in, refresh rotation, sign-out
 * scopes, the user endpoints, anonymous sign-in, admin, seed users, errors as Auth sends them.
 */
import assert from "node:assert/strict";
import {
  AuthApiError,
  AuthWeakPasswordError,
  createClient,
  type SupabaseClient,
} from "@supabase/supabase-js";
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { startStack } from "../stack/start.ts";
import { loadConfig, withAuth } from "../functions/_shared/mod.ts";
import { adminSql, E2E, stackContext } from "./helpers/stack.ts";
import type { StackStatus } from "../stack/start.ts";
import type { AuthSettings } from "../stack/auth/settings.ts";

const ctx = await stackContext();
const s = ctx.status;

function client(status: StackStatus = s, key = status.publishable_key): SupabaseClient {
  return createClient(status.api_url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
}
const email = () => `u${crypto.randomUUID().slice(0, 8)}@example.com`;
const PASSWORD = "correct-horse-battery";

async function signedUp(status: StackStatus = s) {
  const c = client(status);
  const address = email();
  const { data, error } = await c.auth.signUp({ email: address, password: PASSWORD });
  assert.equal(error, null);
  return { c, email: address, session: data.session!, user: data.user! };
}

async function getUserStatus(token: string, status: StackStatus = s) {
  const r = await fetch(`${status.api_url}/auth/v1/user`, {
    headers: { apikey: status.publishable_key, authorization: `Bearer ${token}` },
  });
  const body = await r.json();
  return { status: r.status, code: body.error_code as string | undefined };
}

// ------------------------------------------------------------------ sign-up and sign-in

Deno.test({
  name: "auth: signUp returns a session whose access token is shaped like Supabase Auth's",
  ...E2E,
  async fn() {
    const c = client();
    const address = email();
    const { data, error } = await c.auth.signUp({
      email: address,
      password: PASSWORD,
      options: { data: { display_name: "Ada" } },
    });
    assert.equal(error, null);
    assert.equal(data.user!.email, address);
    assert.deepEqual(data.user!.user_metadata, { display_name: "Ada" });
    assert.equal(data.user!.identities!.length, 1);
    assert.match(data.session!.refresh_token, /^[a-z0-9]{12}$/);
    const token = data.session!.access_token;
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(s.jwks_url)), {
      issuer: `${s.api_url}/auth/v1`,
      audience: "authenticated",
    });
    assert.equal(decodeProtectedHeader(token).alg, "ES256");
    for (
      const claim of [
        "iss",
        "aud",
        "exp",
        "iat",
        "sub",
        "email",
        "phone",
        "role",
        "app_metadata",
        "user_metadata",
        "aal",
        "amr",
        "session_id",
        "is_anonymous",
      ]
    ) assert.ok(claim in payload, `claim ${claim}`);
    assert.equal(payload.sub, data.user!.id);
    assert.equal(payload.role, "authenticated");
    assert.equal(payload.aal, "aal1");
    assert.equal(payload.is_anonymous, false);
    assert.equal((payload.amr as { method: string }[])[0]!.method, "password");
    assert.equal(payload.exp! - payload.iat!, 3600, "[auth] jwt_expiry");
    assert.deepEqual(payload.app_metadata, { provider: "email", providers: ["email"] });
    // The token works where the app uses it: PostgREST through the gateway and a function.
    const me = await createClient(s.api_url, s.publishable_key, {
      accessToken: () => Promise.resolve(token),
    }).functions.invoke("me", { method: "GET" });
    assert.equal(me.data.id, data.user!.id);
  },
});

Deno.test({
  name: "auth: signUp errors carry Auth's codes (exists, weak password, bad email, no password)",
  ...E2E,
  async fn() {
    const { email: taken } = await signedUp();
    const c = client();
    const dup = await c.auth.signUp({ email: taken, password: PASSWORD });
    assert.ok(dup.error instanceof AuthApiError);
    assert.equal(dup.error.status, 422);
    assert.equal(dup.error.code, "user_already_exists");
    const weak = await c.auth.signUp({ email: email(), password: "12345" });
    assert.ok(weak.error instanceof AuthWeakPasswordError, String(weak.error));
    assert.deepEqual(weak.error.reasons, ["length"]);
    assert.equal(weak.error.status, 422);
    const badEmail = await c.auth.signUp({ email: "not-an-email", password: PASSWORD });
    assert.equal(badEmail.error?.code, "validation_failed");
    assert.equal(badEmail.error?.status, 400);
    const noPassword = await fetch(`${s.api_url}/auth/v1/signup`, {
      method: "POST",
      headers: { apikey: s.publishable_key, "content-type": "application/json" },
      body: JSON.stringify({ email: email() }),
    });
    assert.equal(noPassword.status, 400);
    assert.deepEqual(await noPassword.json(), {
      code: 400,
      error_code: "validation_failed",
      msg: "Signup requires a valid password",
    });
  },
});

Deno.test({
  name: "auth: signInWithPassword; a wrong password and an unknown email are the same 400",
  ...E2E,
  async fn() {
    const { email: address } = await signedUp();
    const c = client();
    const ok = await c.auth.signInWithPassword({
      email: address.toUpperCase(),
      password: PASSWORD,
    });
    assert.equal(ok.error, null);
    assert.equal(ok.data.user!.email, address);
    assert.ok(ok.data.user!.last_sign_in_at);
    for (
      const attempt of [{ email: address, password: "wrong-password" }, {
        email: email(),
        password: PASSWORD,
      }]
    ) {
      const bad = await c.auth.signInWithPassword(attempt);
      assert.ok(bad.error instanceof AuthApiError);
      assert.equal(bad.error.status, 400);
      assert.equal(bad.error.code, "invalid_credentials");
      assert.equal(bad.error.message, "Invalid login credentials");
    }
  },
});

Deno.test({
  name: "auth: a seed.sql user (pgcrypto bcrypt) signs in and reads only their seeded rows",
  ...E2E,
  async fn() {
    const c = client();
    const { data, error } = await c.auth.signInWithPassword({
      email: "ada@example.com",
      password: "ada-password",
    });
    assert.equal(error, null);
    assert.equal(data.user!.user_metadata.display_name, "Ada");
    const user = createClient(s.api_url, s.publishable_key, {
      accessToken: () => Promise.resolve(data.session!.access_token),
    });
    const posts = await user.from("posts").select("title").order("id");
    assert.equal(posts.error, null);
    assert.deepEqual(posts.data!.map((p) => p.title), [
      "Notes on the Analytical Engine",
      "A second post by Ada",
    ]);
    // And the other way: a hash written here checks with pgcrypto in SQL.
    const { email: address } = await signedUp();
    const sql = adminSql(s);
    try {
      const [row] = await sql`
        select extensions.crypt(${PASSWORD}, encrypted_password) = encrypted_password as ok,
               encrypted_password like '$2a$10$%' as shape
        from auth.users where email = ${address}`;
      assert.deepEqual({ ...row }, { ok: true, shape: true });
    } finally {
      await sql.end();
    }
  },
});

// ------------------------------------------------------------------ refresh tokens

Deno.test({
  name: "auth: refresh rotates the token; the old one is single use",
  ...E2E,
  async fn() {
    const { c, session } = await signedUp();
    const first = await c.auth.refreshSession({ refresh_token: session.refresh_token });
    assert.equal(first.error, null);
    assert.notEqual(first.data.session!.refresh_token, session.refresh_token);
    assert.equal(
      decodeJwt(first.data.session!.access_token).session_id,
      decodeJwt(session.access_token).session_id,
    );
    const second = await c.auth.refreshSession({
      refresh_token: first.data.session!.refresh_token,
    });
    assert.equal(second.error, null);
    const unknown = await c.auth.refreshSession({ refresh_token: "abcdefghijkl" });
    assert.equal(unknown.error?.code, "refresh_token_not_found");
    const malformed = await c.auth.refreshSession({ refresh_token: "short" });
    assert.equal(malformed.error?.code, "validation_failed");
  },
});

Deno.test({
  name: "auth: two tabs refreshing one token at once both get the session's new token",
  ...E2E,
  async fn() {
    const { session } = await signedUp();
    const [a, b] = await Promise.all([
      client().auth.refreshSession({ refresh_token: session.refresh_token }),
      client().auth.refreshSession({ refresh_token: session.refresh_token }),
    ]);
    assert.equal(a.error, null);
    assert.equal(b.error, null);
    assert.equal(a.data.session!.refresh_token, b.data.session!.refresh_token);
  },
});

Deno.test({
  name: "auth: a rotated token reused after the reuse interval ends the session (theft)",
  ...E2E,
  async fn() {
    const { session } = await signedUp();
    const c = client();
    const next = await c.auth.refreshSession({ refresh_token: session.refresh_token });
    const third = await c.auth.refreshSession({ refresh_token: next.data.session!.refresh_token });
    assert.equal(third.error, null);
    // Within refresh_token_reuse_interval (10 s) the grandparent is still swapped...
    const sql = adminSql(s);
    try {
      // ...so move its revocation back past the interval instead of waiting.
      await sql`update auth.refresh_tokens set updated_at = now() - interval '1 minute'
                where token = ${session.refresh_token}`;
    } finally {
      await sql.end();
    }
    const stolen = await c.auth.refreshSession({ refresh_token: session.refresh_token });
    assert.ok(stolen.error instanceof AuthApiError);
    assert.equal(stolen.error.code, "refresh_token_already_used");
    assert.equal(stolen.error.status, 400);
    const legit = await c.auth.refreshSession({ refresh_token: third.data.session!.refresh_token });
    assert.ok(legit.error, "the live token died with the session");
    assert.equal((await getUserStatus(third.data.session!.access_token)).code, "session_not_found");
  },
});

// ------------------------------------------------------------------ sign-out

Deno.test({
  name: "auth: signOut scopes local, others and global end exactly those sessions",
  ...E2E,
  async fn() {
    const { email: address } = await signedUp();
    const signIn = async () => {
      const c = client();
      const { data } = await c.auth.signInWithPassword({ email: address, password: PASSWORD });
      await c.auth.setSession(data.session!);
      return { c, token: data.session!.access_token };
    };
    const [a, b, d] = [await signIn(), await signIn(), await signIn()];
    assert.equal((await a.c.auth.signOut({ scope: "local" })).error, null);
    assert.equal((await getUserStatus(a.token)).code, "session_not_found");
    assert.equal((await getUserStatus(b.token)).status, 200);
    assert.equal((await b.c.auth.signOut({ scope: "others" })).error, null);
    assert.equal((await getUserStatus(b.token)).status, 200);
    assert.equal((await getUserStatus(d.token)).code, "session_not_found");
    const e = await signIn();
    assert.equal((await e.c.auth.signOut()).error, null); // global
    assert.equal((await getUserStatus(b.token)).code, "session_not_found");
    assert.equal((await getUserStatus(e.token)).code, "session_not_found");
    const bad = await fetch(`${s.api_url}/auth/v1/logout?scope=everywhere`, {
      method: "POST",
      headers: { apikey: s.publishable_key, authorization: `Bearer ${e.token}` },
    });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error_code, "validation_failed");
  },
});

Deno.test({
  name: "auth: a function in getUser mode refuses a signed-out session at once",
  ...E2E,
  async fn() {
    const env: Record<string, string> = {
      SUPABASE_URL: s.api_url,
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: s.publishable_key }),
    };
    const fn = withAuth(
      { allow: "user", strategy: "getUser", config: loadConfig((name) => env[name]) },
      (_request, ctx) => Response.json({ id: ctx.identity!.id }),
    );
    const { c, session } = await signedUp();
    await c.auth.setSession(session);
    const call = () =>
      fn(
        new Request("http://fn.local/x", {
          headers: { authorization: `Bearer ${session.access_token}` },
        }),
      );
    const before = await call();
    assert.equal(before.status, 200);
    assert.equal((await before.json()).id, session.user.id);
    await c.auth.signOut();
    const after = await call();
    assert.equal(after.status, 401);
    assert.equal((await after.json()).code, "session_not_found");
  },
});

// ------------------------------------------------------------------ the user

Deno.test({
  name: "auth: updateUser changes metadata, email and password (others signed out)",
  ...E2E,
  async fn() {
    const { c, session, email: address } = await signedUp();
    await c.auth.setSession(session);
    const other = client();
    const otherSession =
      (await other.auth.signInWithPassword({ email: address, password: PASSWORD })).data
        .session!;
    const meta = await c.auth.updateUser({ data: { theme: "dark" } });
    assert.equal(meta.error, null);
    assert.equal(meta.data.user!.user_metadata.theme, "dark");
    const same = await c.auth.updateUser({ password: PASSWORD });
    assert.equal(same.error?.code, "same_password");
    assert.equal(same.error?.status, 422);
    const changed = await c.auth.updateUser({ password: "a-new-password" });
    assert.equal(changed.error, null);
    assert.equal((await getUserStatus(otherSession.access_token)).code, "session_not_found");
    assert.equal((await getUserStatus(session.access_token)).status, 200, "this session stays");
    const old = await client().auth.signInWithPassword({ email: address, password: PASSWORD });
    assert.equal(old.error?.code, "invalid_credentials");
    const fresh = await client().auth.signInWithPassword({
      email: address,
      password: "a-new-password",
    });
    assert.equal(fresh.error, null);
    const newAddress = email();
    // As GoTrue: the change waits for the link mailed to the new address (without
    // enable_confirmations one confirmation is enough; tests/email_flows_test.ts has both).
    const moved = await c.auth.updateUser({ email: newAddress });
    assert.equal(moved.error, null);
    assert.equal(moved.data.user!.email, address);
    assert.equal(moved.data.user!.new_email, newAddress);
    const found = await (await fetch(
      `${s.inbox_url}/api/v1/search?query=${encodeURIComponent(`to:${newAddress}`)}`,
    )).json();
    const mail = await (await fetch(`${s.inbox_url}/api/v1/message/${found.messages[0].ID}`))
      .json();
    const link = /https?:\/\/\S+\/auth\/v1\/verify\?\S+/.exec(mail.Text)![0].replace(
      /[)\s].*$/,
      "",
    );
    const followed = await fetch(link, { redirect: "manual" });
    await followed.body?.cancel();
    assert.equal(followed.status, 303);
    const got = await c.auth.getUser();
    assert.equal(got.data.user!.email, newAddress);
  },
});

// ------------------------------------------------------------------ admin

Deno.test({
  name: "auth admin: create, get, list with pagination, ban, unban, delete",
  ...E2E,
  async fn() {
    const admin = client(s, s.secret_key).auth.admin;
    const made = [];
    for (let i = 0; i < 3; i++) {
      const { data, error } = await admin.createUser({
        email: email(),
        password: PASSWORD,
        email_confirm: true,
        user_metadata: { n: i },
        app_metadata: { roles: ["editor"] },
      });
      assert.equal(error, null);
      assert.ok(data.user!.email_confirmed_at);
      assert.deepEqual(data.user!.app_metadata.roles, ["editor"]);
      made.push(data.user!);
    }
    const page1 = await admin.listUsers({ page: 1, perPage: 2 });
    assert.equal(page1.error, null);
    assert.equal(page1.data.users.length, 2);
    const total = (page1.data as unknown as { total: number }).total;
    assert.ok(total >= 5, `total ${total}`);
    assert.equal((page1.data as unknown as { nextPage: number }).nextPage, 2);
    // Newest first, as Auth lists them (other files add users to this stack meanwhile: the
    // order of ours is what is checked, not that nobody came between).
    const all = await admin.listUsers({ page: 1, perPage: 1000 });
    const at = made.map((u) => all.data.users.findIndex((listed) => listed.id === u.id));
    assert.ok(at.every((i) => i >= 0), `all three listed (of ${all.data.users.length})`);
    assert.ok(at[2]! < at[1]! && at[1]! < at[0]!, `newest first: ${at}`);
    const got = await admin.getUserById(made[0]!.id);
    assert.equal(got.data.user!.user_metadata.n, 0);
    const merged = await admin.updateUserById(made[0]!.id, {
      user_metadata: { n: null, theme: "dark" },
      app_metadata: { roles: ["admin"] },
    });
    assert.deepEqual(merged.data.user!.user_metadata, { theme: "dark" }, "null removes a key");
    assert.deepEqual(merged.data.user!.app_metadata.roles, ["admin"]);
    assert.equal(merged.data.user!.app_metadata.provider, "email", "other keys are kept");
    const missing = await admin.getUserById(crypto.randomUUID());
    assert.equal(missing.error?.code, "user_not_found");
    assert.equal(missing.error?.status, 404);

    const victim = made[1]!;
    const signedIn = await client().auth.signInWithPassword({
      email: victim.email!,
      password: PASSWORD,
    });
    const banned = await admin.updateUserById(victim.id, { ban_duration: "24h" });
    assert.equal(banned.error, null);
    assert.ok(new Date(banned.data.user!.banned_until!).getTime() > Date.now() + 23 * 3600e3);
    const refused = await client().auth.signInWithPassword({
      email: victim.email!,
      password: PASSWORD,
    });
    assert.equal(refused.error?.code, "user_banned");
    const refresh = await client().auth.refreshSession({
      refresh_token: signedIn.data.session!.refresh_token,
    });
    assert.equal(refresh.error?.code, "user_banned");
    assert.equal((await getUserStatus(signedIn.data.session!.access_token)).code, "user_banned");
    const badBan = await admin.updateUserById(victim.id, { ban_duration: "a week" });
    assert.equal(badBan.error?.code, "validation_failed");
    await admin.updateUserById(victim.id, { ban_duration: "none" });
    assert.equal(
      (await client().auth.signInWithPassword({ email: victim.email!, password: PASSWORD }))
        .error,
      null,
    );
    assert.equal((await admin.deleteUser(victim.id)).error, null);
    assert.equal(
      (await getUserStatus(signedIn.data.session!.access_token)).code,
      "user_not_found",
    );
    const dup = await admin.createUser({ email: made[0]!.email!, password: PASSWORD });
    assert.equal(dup.error?.code, "email_exists");
  },
});

Deno.test({
  name: "auth admin: the publishable key and a user's token are refused (403 not_admin)",
  ...E2E,
  async fn() {
    const publishable = await client().auth.admin.listUsers();
    assert.equal(publishable.error?.code, "not_admin");
    assert.equal(publishable.error?.status, 403);
    const { session } = await signedUp();
    const r = await fetch(`${s.api_url}/auth/v1/admin/users`, {
      headers: { apikey: s.publishable_key, authorization: `Bearer ${session.access_token}` },
    });
    assert.equal(r.status, 403);
    assert.equal((await r.json()).error_code, "not_admin");
    const legacy = await client(s, s.service_role_key).auth.admin.listUsers({ perPage: 1 });
    assert.equal(legacy.error, null, "the legacy service_role key is an admin key too");
  },
});

// ------------------------------------------------------------------ the wire

Deno.test({
  name: "auth: errors in both of Auth's shapes; bad JSON, huge bodies, unknown grants are 4xx",
  ...E2E,
  async fn() {
    const post = (path: string, body: BodyInit, headers: Record<string, string> = {}) =>
      fetch(`${s.api_url}/auth/v1/${path}`, {
        method: "POST",
        headers: { apikey: s.publishable_key, "content-type": "application/json", ...headers },
        body,
      });
    const v2024 = await post(
      "token?grant_type=password",
      JSON.stringify({ email: email(), password: "x" }),
      { "x-supabase-api-version": "2024-01-01" },
    );
    assert.equal(v2024.headers.get("x-supabase-api-version"), "2024-01-01");
    assert.equal(v2024.headers.get("x-sb-error-code"), "invalid_credentials");
    assert.deepEqual(await v2024.json(), {
      code: "invalid_credentials",
      message: "Invalid login credentials",
    });
    const initial = await post("token?grant_type=password", "{not json");
    assert.equal(initial.status, 400);
    const body = await initial.json();
    assert.equal(body.code, 400);
    assert.equal(body.error_code, "bad_json");
    const grant = await post("token?grant_type=magic", "{}");
    assert.equal(grant.status, 400);
    const huge = await post("signup", JSON.stringify({ email: "x".repeat(2 * 1024 * 1024) }));
    assert.equal(huge.status, 413);
    await huge.body?.cancel();
    const health = await (await fetch(`${s.api_url}/auth/v1/health`, {
      headers: { apikey: s.publishable_key },
    })).json();
    assert.equal(health.name, "GoTrue");
    const settings = await (await fetch(`${s.api_url}/auth/v1/settings`, {
      headers: { apikey: s.publishable_key },
    })).json();
    assert.equal(settings.external.email, true);
    assert.equal(settings.external.anonymous_users, false);
    assert.equal(settings.mailer_autoconfirm, true);
  },
});

Deno.test({
  name: "auth: anonymous sign-in is refused while [auth] enable_anonymous_sign_ins is false",
  ...E2E,
  async fn() {
    const { error } = await client().auth.signInAnonymously();
    assert.ok(error instanceof AuthApiError);
    assert.equal(error.code, "anonymous_provider_disabled");
    assert.equal(error.status, 422);
  },
});

// ------------------------------------------------------------------ other settings, restart

Deno.test({
  name: "auth: other [auth] settings (anonymous on, signup off, confirmations, HS256), restart",
  ...E2E,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "edge-auth-" });
    const keysPath = `${dataDir}/keys.json`;
    const boot = (authSettings: Partial<AuthSettings>) =>
      startStack({
        port: 0,
        dataDir: `${dataDir}/db`,
        keysPath,
        log: () => {},
        authSettings,
      });
    let stack = await boot({ anonymous: true, confirmations: true, signingAlg: "HS256" });
    try {
      const c = client(stack.status);
      const anon = await c.auth.signInAnonymously({ options: { data: { guest: true } } });
      assert.equal(anon.error, null);
      assert.equal(anon.data.user!.is_anonymous, true);
      const claims = decodeJwt(anon.data.session!.access_token);
      assert.equal(claims.is_anonymous, true);
      assert.equal((claims.amr as { method: string }[])[0]!.method, "anonymous");
      assert.equal(decodeProtectedHeader(anon.data.session!.access_token).alg, "HS256");

      // Confirmations on: sign-up answers a user without a session; sign-in waits for it.
      const address = email();
      const up = await c.auth.signUp({ email: address, password: PASSWORD });
      assert.equal(up.error, null);
      assert.equal(up.data.session, null);
      const early = await c.auth.signInWithPassword({ email: address, password: PASSWORD });
      assert.equal(early.error?.code, "email_not_confirmed");
      const admin = client(stack.status, stack.status.secret_key).auth.admin;
      await admin.updateUserById(up.data.user!.id, { email_confirm: true });
      const later = await c.auth.signInWithPassword({ email: address, password: PASSWORD });
      assert.equal(later.error, null);
      await stack.stop();

      // Same data directory and keys: the user, the session and its refresh token survive.
      stack = await boot({ signup: false });
      const again = client(stack.status);
      const refreshed = await again.auth.refreshSession({
        refresh_token: later.data.session!.refresh_token,
      });
      assert.equal(refreshed.error, null);
      assert.equal(
        (await again.auth.signInWithPassword({ email: address, password: PASSWORD })).error,
        null,
      );
      const closed = await again.auth.signUp({ email: email(), password: PASSWORD });
      assert.equal(closed.error?.code, "signup_disabled");
      assert.equal(closed.error?.status, 422);
    } finally {
      await stack.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
