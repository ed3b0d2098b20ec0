/**
 * The embedded PostgreSQL server (issue 21): a real server of `[db] major_version`, each client
 * in a backend of its own, passwords checked, no way up from `authenticator` or `postgres`, and
 * a client that misbehaves harms only itself. Each finding against the old PGlite socket server
 * is a case here. The stack is this module's own: the misbehaving clients disturb no other test.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import postgres from "postgres";
import { parse } from "smol-toml";
import { E2E, privateStack, userToken } from "./helpers/stack.ts";
import { splitStatements } from "../stack/db/sql_split.ts";
import { openDatabase } from "../stack/db/database.ts";

const p = await privateStack();
globalThis.addEventListener("unload", () => void p.stop());
const s = p.ctx.status;
const db = p.stack.db;
const config = parse(await Deno.readTextFile("supabase/config.toml")) as {
  db: { major_version: number };
};

type Sql = ReturnType<typeof postgres>;
function connect(url: string, options: Record<string, unknown> = {}): Sql {
  return postgres(url, { max: 1, prepare: false, onnotice: () => {}, ...options });
}
function as(user: string, password: string): string {
  const url = new URL(s.db_url);
  url.username = user;
  url.password = encodeURIComponent(password);
  return url.href;
}
async function restOk(token?: string): Promise<number> {
  const r = await fetch(`${s.api_url}/rest/v1/posts?select=id&limit=1`, {
    // Anon may not read posts (401 by design): without a user token, ask as the server would.
    headers: token
      ? { apikey: s.publishable_key, authorization: `Bearer ${token}` }
      : { apikey: s.secret_key },
    signal: AbortSignal.timeout(5_000),
  });
  await r.body?.cancel();
  return r.status;
}
async function refused(url: string): Promise<string> {
  const sql = connect(url, { connect_timeout: 5 });
  try {
    await sql`select 1`;
    return "connected";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

Deno.test({
  name: "database: a native PostgreSQL of [db] major_version; two clients, two backends",
  ...E2E,
  async fn() {
    const a = connect(s.db_url);
    const b = connect(s.db_url);
    try {
      const [{ version, num }] = await a`
        select version(), current_setting('server_version_num')::int as num`;
      assert.match(version, new RegExp(`^PostgreSQL ${config.db.major_version}\\.\\d+ on `));
      assert.equal(Math.floor(num / 10000), config.db.major_version);
      const [[pa], [pb]] = await Promise.all([
        a`select pg_backend_pid() as pid`,
        b`select pg_backend_pid() as pid`,
      ]);
      assert.notEqual(pa!.pid, pb!.pid);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  },
});

Deno.test({
  name: "database: crypt(pw, gen_salt('bf')) works unqualified in any new session, as on hosted",
  ...E2E,
  async fn() {
    const sql = connect(s.db_url);
    try {
      const [{ hash }] = await sql`select crypt('x', gen_salt('bf')) as hash`;
      assert.match(hash, /^\$2a\$06\$/);
      const [{ ok, wrong }] = await sql`
        select crypt('x', ${hash}) = ${hash} as ok, crypt('y', ${hash}) = ${hash} as wrong`;
      assert.deepEqual({ ok, wrong }, { ok: true, wrong: false });
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name:
    "database: one client's session state never reaches another (role, path, timeouts, temp, prepared)",
  ...E2E,
  async fn() {
    const a = connect(s.db_url);
    try {
      await a.unsafe(`
        set role anon;
        set search_path to pg_catalog;
        set statement_timeout = '5min';
        prepare leaked as select 1;
        reset role;
        create temp table leaked_temp (n int);
        set role anon;`).simple();
      // The local Auth (its own pool) and new clients see none of it.
      const signIn = await fetch(`${s.api_url}/auth/v1/token?grant_type=password`, {
        method: "POST",
        headers: { apikey: s.publishable_key, "content-type": "application/json" },
        body: JSON.stringify({ email: "ada@example.com", password: "ada-password" }),
      });
      assert.equal(signIn.status, 200, "sign-in still works");
      await signIn.body?.cancel();
      const b = connect(s.db_url);
      try {
        const [row] = await b`
          select current_user as who, current_setting('statement_timeout') as timeout,
                 current_setting('search_path') as path,
                 to_regclass('leaked_temp') is null as no_temp`;
        assert.deepEqual(row, {
          who: "postgres",
          timeout: "0",
          path: '"$user", public, extensions',
          no_temp: true,
        });
        await assert.rejects(
          b.unsafe("execute leaked"),
          /prepared statement "leaked" does not exist/,
        );
      } finally {
        await b.end();
      }
      assert.equal(await restOk(), 200);
    } finally {
      await a.end();
    }
  },
});

Deno.test({
  name: "database: a client idling in a transaction stalls nobody; its own timeout ends only it",
  ...E2E,
  async fn() {
    const held = connect(s.db_url);
    const u = await userToken(s);
    try {
      const outcome = held.begin(async (tx) => {
        await tx`set local idle_in_transaction_session_timeout = 700`;
        await tx`select 1`;
        // While it idles in BEGIN, everyone else is served.
        const started = performance.now();
        const statuses = await Promise.all(Array.from({ length: 10 }, () => restOk(u.token)));
        assert.deepEqual(statuses, Array(10).fill(200));
        assert.ok(performance.now() - started < 4_000, "no request waited on the idle transaction");
        await new Promise((r) => setTimeout(r, 1_500));
        await tx`select 1`; // the server ended this session meanwhile
      });
      // The server ended that session (as PostgreSQL does), and only that one.
      await assert.rejects(outcome, /terminat|idle-in-transaction|closed|ended|ECONNRESET/i);
      assert.equal(await restOk(u.token), 200);
    } finally {
      await held.end({ timeout: 1 });
    }
  },
});

Deno.test({
  name:
    "database: statement_timeout is enforced, and PostgREST applies the API roles' own timeouts",
  ...E2E,
  async fn() {
    const authenticator = connect(db.postgrestUri);
    const admin = connect(db.adminUrl);
    try {
      const [{ timeout }] =
        await authenticator`select current_setting('statement_timeout') as timeout`;
      assert.equal(timeout, "8s");
      await authenticator`set statement_timeout = '100ms'`;
      await assert.rejects(
        authenticator`select pg_sleep(2)`,
        (e: { code?: string }) => e.code === "57014",
      );

      await admin.unsafe(`
        create or replace function public.probe_statement_timeout() returns text
        language sql as $$ select current_setting('statement_timeout') $$;
        grant execute on function public.probe_statement_timeout() to anon, authenticated;
        notify pgrst, 'reload schema';`).simple();
      const u = await userToken(s);
      const rpc = async (token?: string) => {
        for (let i = 0; i < 50; i++) {
          const r = await fetch(`${s.api_url}/rest/v1/rpc/probe_statement_timeout`, {
            method: "POST",
            headers: {
              apikey: s.publishable_key,
              "content-type": "application/json",
              ...(token ? { authorization: `Bearer ${token}` } : {}),
            },
            body: "{}",
          });
          if (r.status === 200) return await r.json();
          await r.body?.cancel();
          await new Promise((r) => setTimeout(r, 100)); // the schema cache is reloading
        }
        throw new Error("rpc never answered 200");
      };
      assert.equal(await rpc(), "3s", "anon");
      assert.equal(await rpc(u.token), "8s", "authenticated");
    } finally {
      await admin`drop function if exists public.probe_statement_timeout()`;
      await Promise.all([authenticator.end(), admin.end()]);
    }
  },
});

Deno.test({
  name: "database: wrong passwords and NOLOGIN roles are refused",
  ...E2E,
  async fn() {
    assert.equal(await refused(as("postgres", "not-the-password")), "28P01");
    assert.equal(await refused(as("supabase_admin", "postgres")), "28P01");
    assert.equal(await refused(as("authenticator", "postgres")), "28P01");
    for (const role of ["anon", "authenticated", "service_role"]) {
      assert.match(await refused(as(role, "")), /^28/, `${role} cannot log in`);
    }
    assert.equal(await refused(s.db_url), "connected", "the CLI's postgres/postgres works");
  },
});

Deno.test({
  name: "database: no way up from authenticator or postgres, and PostgREST cannot be told to try",
  ...E2E,
  async fn() {
    const sql = connect(db.postgrestUri);
    try {
      for (
        const attempt of [
          "set session authorization postgres",
          "set session authorization supabase_admin",
          "set role postgres",
          "set role supabase_admin",
          "select set_config('session_authorization', 'postgres', false)",
          "select set_config('role', 'supabase_admin', false)",
        ]
      ) {
        await assert.rejects(sql.unsafe(attempt), /permission denied/, attempt);
      }
      await sql`reset session authorization`;
      const [row] = await sql`select session_user as s, current_user as c`;
      assert.deepEqual(row, { s: "authenticator", c: "authenticator" });
    } finally {
      await sql.end();
    }
    const pg = connect(s.db_url);
    try {
      await assert.rejects(
        pg`alter role postgres superuser`,
        /permission denied|must be superuser/,
      );
      await assert.rejects(pg`set session authorization supabase_admin`, /permission denied/);
    } finally {
      await pg.end();
    }
    // Straight to PostgREST (not through the gateway's role allowlist): a token naming
    // `postgres`, signed with the project's own secret, still cannot make it switch.
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ role: "postgres", sub: "x" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(new TextEncoder().encode(s.jwt_secret));
    const r = await fetch(`${p.stack.postgrestUrl}/posts`, {
      headers: { authorization: `Bearer ${forged}` },
    });
    const body = await r.text();
    assert.ok(r.status >= 400, `PostgREST answered ${r.status}`);
    assert.match(body, /permission denied to set role/);
  },
});

Deno.test({
  name: "database: an oversized startup packet is refused by the server and the stack serves on",
  ...E2E,
  async fn() {
    const port = Number(new URL(s.db_url).port);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const packet = new Uint8Array(8);
    new DataView(packet.buffer).setUint32(0, 700 * 1024 * 1024);
    new DataView(packet.buffer).setUint32(4, 196608); // protocol 3.0
    await conn.write(packet);
    const buffer = new Uint8Array(64);
    const read = await conn.read(buffer).catch(() => null);
    conn.close();
    assert.ok(read === null || read === 0 || buffer[0] === "E".charCodeAt(0), "closed or an error");
    assert.equal(await restOk(), 200);
  },
});

Deno.test({
  name: "database: owners as on a hosted project; migrations recorded as the Supabase CLI does",
  ...E2E,
  async fn() {
    const sql = connect(db.adminUrl);
    try {
      const owners = await sql`
        select n.nspname as schema, pg_get_userbyid(n.nspowner) as owner
        from pg_namespace n where n.nspname in ('auth', 'extensions', 'public', 'private')
        order by 1`;
      assert.deepEqual([...owners], [
        { schema: "auth", owner: "supabase_admin" },
        { schema: "extensions", owner: "supabase_admin" },
        { schema: "private", owner: "postgres" },
        { schema: "public", owner: "pg_database_owner" },
      ]);
      const [users] =
        await sql`select tableowner from pg_tables where schemaname = 'auth' and tablename = 'users'`;
      assert.equal(users!.tableowner, "supabase_auth_admin");
      const [posts] =
        await sql`select tableowner from pg_tables where schemaname = 'public' and tablename = 'posts'`;
      assert.equal(posts!.tableowner, "postgres");
      const [ext] = await sql`
        select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
        where e.extname = 'pgcrypto'`;
      assert.equal(ext!.nspname, "extensions");

      const recorded = await sql`
        select version, name, statements from supabase_migrations.schema_migrations order by 1`;
      const files = [...Deno.readDirSync("supabase/migrations")].map((e) => e.name).sort();
      assert.equal(recorded.length, files.length);
      for (const [i, file] of files.entries()) {
        const [, version, name] = /^(\d+)_(.*)\.sql$/.exec(file)!;
        assert.equal(recorded[i]!.version, version);
        assert.equal(recorded[i]!.name, name);
        const text = await Deno.readTextFile(`supabase/migrations/${file}`);
        assert.deepEqual(recorded[i]!.statements, splitStatements(text), file);
        assert.ok(recorded[i]!.statements.length > 0);
      }
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name:
    "database: [db] major_version = 17 gets PostgreSQL 17, bootstrapped and migrated the same way",
  ...E2E,
  async fn() {
    const other = await openDatabase({
      dataDir: null,
      majorVersion: 17,
      authenticatorPassword: crypto.randomUUID(),
      log: () => {},
    });
    try {
      assert.match(other.serverVersion, /^17\./);
      const [row] = await other.sql`
        select count(*)::int as migrations,
               (select count(*)::int from auth.users) as seeded_users
        from supabase_migrations.schema_migrations`;
      assert.equal(row!.migrations, [...Deno.readDirSync("supabase/migrations")].length);
      assert.equal(row!.seeded_users, 2);
    } finally {
      await other.close();
    }
  },
});
