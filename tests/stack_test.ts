/**
 * The local stack itself: bootstrap, migrations, RLS through the real PostgREST, the local
 * Auth stand-in, the gateway's key handling, and the CLI session the README shows.
 */
import assert from "node:assert/strict";
import { bootstrap, openDatabase } from "../stack/db/database.ts";
import { adminSql, appClient, E2E, stackContext, userToken } from "./helpers/stack.ts";

const ctx = await stackContext();
const s = ctx.status;

Deno.test({
  name: "stack: bootstrap is idempotent and migrations apply once, in file order",
  ...E2E,
  async fn() {
    const db = await openDatabase({ dataDir: null, authenticatorPassword: "test-password" });
    try {
      const again = await bootstrap(db, { authenticatorPassword: "test-password" });
      assert.deepEqual(again.applied, [], "a second bootstrap applies nothing");
      const recorded =
        (await db.sql`select version from supabase_migrations.schema_migrations order by version`)
          .map((r) => r.version);
      const files = [...Deno.readDirSync("supabase/migrations")].map((e) => e.name.split("_")[0])
        .sort();
      assert.deepEqual(recorded, files);
      const roles = (await db
        .sql`select rolname from pg_roles where rolname in ('anon','authenticated','service_role','authenticator') order by 1`)
        .map((r) => r.rolname);
      assert.deepEqual(roles, ["anon", "authenticated", "authenticator", "service_role"]);
    } finally {
      await db.close();
    }
  },
});

Deno.test({
  name: "stack: migrations create nothing in schema auth (hosted Supabase refuses that)",
  ...E2E,
  async fn() {
    const sql = adminSql(s);
    try {
      const fns =
        (await sql`select proname from pg_proc where pronamespace = 'auth'::regnamespace order by 1`)
          .map((r) => r.proname);
      assert.deepEqual(fns, ["email", "jwt", "role", "uid"]);
      const [{ helper }] =
        await sql`select to_regprocedure('public.requesting_user_id()') is not null as helper`;
      assert.equal(helper, true);
    } finally {
      await sql.end();
    }
  },
});

for (const table of ["posts", "tasks", "profiles"] as const) {
  Deno.test({
    name: `stack: RLS on ${table} keeps two users apart and shuts anon out (through PostgREST)`,
    ...E2E,
    async fn() {
      const a = await userToken(s);
      const b = await userToken(s);
      const asA = appClient(s, a.token);
      const asB = appClient(s, b.token);
      const row: Record<string, string> = table === "posts"
        ? { title: "A's" }
        : table === "tasks"
        ? { name: "A's" }
        : { display_name: "A" };
      const created = await asA.from(table).insert(row).select().single();
      assert.equal(created.error, null);
      assert.equal(created.data.user_id, a.sub, "user_id comes from the token");

      const seenByB = await asB.from(table).select();
      assert.equal(seenByB.error, null);
      assert.ok(!seenByB.data!.some((r) => r.user_id === a.sub), "B never sees A's rows");

      const key = table === "profiles" ? "user_id" : "id";
      const value = created.data[key];
      const change: Record<string, string> = table === "posts"
        ? { title: "B was here" }
        : table === "tasks"
        ? { name: "B was here" }
        : { display_name: "B" };
      const updated = await asB.from(table).update(change).eq(key, value).select();
      assert.deepEqual(updated.data, [], "B cannot change A's row");
      const deleted = await asB.from(table).delete().eq(key, value).select();
      assert.deepEqual(deleted.data, [], "B cannot delete A's row");

      const anon = await appClient(s).from(table).select();
      assert.notEqual(anon.error, null, "anon has no access");
      const mine = await asA.from(table).select().eq(key, value).single();
      assert.equal(mine.error, null);
    },
  });
}

Deno.test({
  name: "stack: a user cannot write a row under someone else's user_id",
  ...E2E,
  async fn() {
    const a = await userToken(s);
    const r = await appClient(s, a.token).from("posts").insert({
      title: "spoof",
      user_id: crypto.randomUUID(),
    });
    assert.equal(r.error?.code, "42501");
  },
});

Deno.test({
  name: "stack: the secret key acts as service_role and sees every user's rows",
  ...E2E,
  async fn() {
    const a = await userToken(s);
    await appClient(s, a.token).from("posts").insert({ title: "for the admin" });
    const admin = await fetch(`${s.api_url}/rest/v1/posts?user_id=eq.${a.sub}`, {
      headers: { apikey: s.secret_key },
    });
    assert.equal(admin.status, 200);
    assert.equal((await admin.json()).length, 1);
  },
});

Deno.test({
  name: "stack: both token algorithms (ES256, HS256) work at PostgREST and /auth/v1/user",
  ...E2E,
  async fn() {
    for (const alg of ["ES256", "HS256"] as const) {
      const u = await userToken(s, { alg });
      const header = JSON.parse(atob(u.token.split(".")[0]!));
      assert.equal(header.alg, alg);
      const rest = await fetch(`${s.api_url}/rest/v1/posts`, {
        headers: { apikey: s.publishable_key, authorization: `Bearer ${u.token}` },
      });
      assert.equal(rest.status, 200, alg);
      // Where the time went: the gateway's token rule, then PostgREST's own phases.
      const timing = rest.headers.get("server-timing") ?? "";
      assert.match(timing, /^gateway;desc="token rule";dur=\d+\.\d+, /, alg);
      assert.match(timing, /jwt;dur=/, alg);
      await rest.body?.cancel();
      const user = await fetch(`${s.api_url}/auth/v1/user`, {
        headers: { apikey: s.publishable_key, authorization: `Bearer ${u.token}` },
      });
      assert.equal((await user.json()).id, u.sub, alg);
    }
  },
});

async function getUser(token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${s.api_url}/auth/v1/user`, {
    headers: { apikey: s.publishable_key, authorization: `Bearer ${token}` },
  });
  return { status: r.status, body: await r.json() };
}

Deno.test({
  name: "stack auth: /user rejects a signed-out session with Auth's error shape",
  ...E2E,
  async fn() {
    const u = await userToken(s);
    assert.equal((await getUser(u.token)).status, 200);
    const out = await fetch(`${s.api_url}/auth/v1/logout`, {
      method: "POST",
      headers: { apikey: s.publishable_key, authorization: `Bearer ${u.token}` },
    });
    assert.equal(out.status, 204);
    const after = await getUser(u.token);
    assert.equal(after.status, 403);
    assert.equal(after.body.error_code, "session_not_found");
    assert.equal(typeof after.body.msg, "string");
  },
});

Deno.test({
  name: "stack auth: /user rejects deleted and banned users, and forged or expired tokens",
  ...E2E,
  async fn() {
    const sql = adminSql(s);
    try {
      const banned = await userToken(s);
      await sql`update auth.users set banned_until = now() + interval '1 day' where id = ${banned.sub}`;
      assert.equal((await getUser(banned.token)).body.error_code, "user_banned");
      const gone = await userToken(s);
      await sql`update auth.users set deleted_at = now() where id = ${gone.sub}`;
      assert.equal((await getUser(gone.token)).body.error_code, "user_not_found");
      const expired = await userToken(s, { exp: -60 });
      assert.equal((await getUser(expired.token)).body.error_code, "bad_jwt");
      const u = await userToken(s);
      const forged = u.token.slice(0, -4) + (u.token.endsWith("AAAA") ? "BBBB" : "AAAA");
      assert.equal((await getUser(forged)).body.error_code, "bad_jwt");
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name: "stack gateway: API key rules at /rest/v1 and unknown functions",
  ...E2E,
  async fn() {
    const none = await fetch(`${s.api_url}/rest/v1/posts`);
    assert.equal(none.status, 401);
    await none.body?.cancel();
    const wrong = await fetch(`${s.api_url}/rest/v1/posts`, {
      headers: { apikey: "sb_publishable_wrong_wrong_wrong" },
    });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const missing = await fetch(`${s.functions_url}/no-such-function`);
    assert.equal(missing.status, 404);
    // The platform's answer, which lists no other function.
    assert.equal(missing.headers.get("sb-error-code"), "NOT_FOUND");
    assert.deepEqual(await missing.json(), {
      code: "NOT_FOUND",
      message: "Requested function was not found",
    });
  },
});

Deno.test({
  name: "stack gateway: JWKS publishes only the public signing key",
  ...E2E,
  async fn() {
    const jwks = await (await fetch(s.jwks_url)).json();
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].kty, "EC");
    assert.equal(jwks.keys[0].d, undefined);
    assert.ok(!JSON.stringify(jwks).includes(s.jwt_secret));
  },
});

Deno.test({
  name: "stack: concurrent clients on the database never see each other's portals or transactions",
  ...E2E,
  async fn() {
    const clients = Array.from({ length: 4 }, () => adminSql(s));
    const u = await userToken(s);
    try {
      const queries = clients.flatMap((sql, c) =>
        Array.from({ length: 100 }, async (_, i) => {
          const [row] = await sql`select ${c * 1000 + i}::int as n, ${"client-" + c}::text as who`;
          assert.equal(row!.n, c * 1000 + i);
          assert.equal(row!.who, `client-${c}`);
        })
      );
      const transactions = clients.map((sql, c) =>
        sql.begin(async (tx) => {
          await tx`create temp table if not exists t_${
            tx.unsafe(String(c))
          } (n int) on commit drop`;
          await tx`insert into ${tx.unsafe(`t_${c}`)} values (${c})`;
          const [row] = await tx`select n from ${tx.unsafe(`t_${c}`)}`;
          assert.equal(row!.n, c);
        })
      );
      const rest = Array.from({ length: 50 }, async () => {
        const r = await fetch(`${s.api_url}/rest/v1/posts?select=id&limit=1`, {
          headers: { apikey: s.publishable_key, authorization: `Bearer ${u.token}` },
        });
        assert.equal(r.status, 200);
        await r.body?.cancel();
      });
      // Answers far larger than a socket write, pipelined on one connection: each must
      // arrive whole and in order (no answer cut into another).
      const large = clients.flatMap((sql, c) =>
        Array.from({ length: 6 }, async (_, i) => {
          const letter = String.fromCharCode(65 + c * 6 + i);
          const [row] = await sql`select repeat(${letter}::text, 1500000) as s`;
          assert.equal(row!.s.length, 1_500_000);
          assert.ok(/^(.)\1*$/.test(row!.s) && row!.s[0] === letter, `answer for ${letter}`);
        })
      );
      await Promise.all([...queries, ...transactions, ...rest, ...large]);
    } finally {
      await Promise.all(clients.map((sql) => sql.end()));
    }
  },
});
