/**
 * DATABASE_URL mode: the same stack on a real PostgreSQL server. `.ci/run` starts the
 * machine's PostgreSQL 15 and sets TEST_DATABASE_URL; without it these tests are skipped
 * and say why.
 */
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { startStack } from "../stack/start.ts";
import { appClient, startProviders, userToken } from "./helpers/stack.ts";
import {
  foreignTokensAreRefused,
  idsCarryTheirIssuer,
  rolesAreAllowlisted,
} from "./helpers/trust_cases.ts";

const url = Deno.env.get("TEST_DATABASE_URL");
if (!url) {
  console.log(
    "stack_postgres_test: skipped, TEST_DATABASE_URL is not set (.ci/run sets it when PostgreSQL 15 is installed)",
  );
}

Deno.test({
  name:
    "stack/postgres: boots on PostgreSQL 15 (reset), RLS and the issuer entries hold through /rest/v1, restart applies nothing twice",
  ignore: !url,
  async fn() {
    // Functions are imported once per process (until they run in workers): this test's first
    // stack is the one they are configured for, so the function checks all happen on it.
    const providers = await startProviders();
    let stack = await startStack({
      databaseUrl: url!,
      reset: true,
      port: 0,
      keysPath: null,
      functionEnv: providers.functionEnv,
      log: () => {},
    });
    try {
      assert.equal(stack.db.kind, "external");
      const [{ version }] = await stack.db
        .sql`select current_setting('server_version_num')::int as version`;
      assert.ok(version >= 150000, `server is PostgreSQL ${version}`);
      const s = stack.status;
      const a = await userToken(s);
      const b = await userToken(s);
      const inserted = await appClient(s, a.token).from("posts").insert({ title: "on pg15" })
        .select().single();
      assert.equal(inserted.error, null);
      assert.equal(inserted.data.user_id, a.sub);
      assert.equal(inserted.data.title, "on pg15");
      assert.deepEqual((await appClient(s, b.token).from("posts").select()).data, []);
      const me = await appClient(s, a.token).functions.invoke("me", { method: "GET" });
      assert.equal(me.data.id, a.sub);

      // The local Auth on PostgreSQL: pgcrypto-seeded user, sign-in, refresh, sign-up.
      const auth = createClient(s.api_url, s.publishable_key, {
        auth: { persistSession: false, autoRefreshToken: false },
      }).auth;
      const ada = await auth.signInWithPassword({
        email: "ada@example.com",
        password: "ada-password",
      });
      assert.equal(ada.error, null);
      const refreshed = await auth.refreshSession({
        refresh_token: ada.data.session!.refresh_token,
      });
      assert.equal(refreshed.error, null);
      const fresh = await auth.signUp({ email: "pg-user@example.com", password: "pg-password" });
      assert.equal(fresh.error, null);

      const ctx = { ...providers, status: s };
      await foreignTokensAreRefused(ctx);
      await rolesAreAllowlisted(ctx);
      await idsCarryTheirIssuer(ctx);
      const [login] = await stack.db.sql`
        select rolsuper, rolbypassrls from pg_roles where rolname = 'authenticator'`;
      assert.deepEqual(login, { rolsuper: false, rolbypassrls: false });
      await stack.stop();

      stack = await startStack({ databaseUrl: url!, port: 0, keysPath: null, log: () => {} });
      const rows = await stack.db
        .sql`select count(*)::int as n from supabase_migrations.schema_migrations`;
      const files = [...Deno.readDirSync("supabase/migrations")].length;
      assert.equal(rows[0]!.n, files, "each migration recorded once");
      const kept = await stack.db.sql`select title from public.posts`;
      assert.deepEqual(
        kept.map((r) => r.title).sort(),
        [
          "Notes on the Analytical Engine",
          "A second post by Ada",
          "Compilers",
          "on pg15",
          "only mine",
        ]
          .sort(),
        "data survives a restart without --reset",
      );
    } finally {
      await stack.stop();
      await Promise.all(providers.servers.map((server) => server.close()));
    }
  },
});
