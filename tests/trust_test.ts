/**
 * Trust no more than the issuer entry says, at /rest/v1 as at the functions (issue 13), on
 * the embedded PostgreSQL stack. The same token questions run on a DATABASE_URL server in
 * stack_postgres_test.ts.
 */
import assert from "node:assert/strict";
import { adminSql, E2E, providerToken, stackContext, userToken } from "./helpers/stack.ts";
import {
  acmeToken,
  assertRefused,
  fn,
  foreignTokensAreRefused,
  idsCarryTheirIssuer,
  rest,
  rolesAreAllowlisted,
} from "./helpers/trust_cases.ts";

const ctx = await stackContext();
const s = ctx.status;

Deno.test({
  name: "trust: a configured issuer's keys, for another audience or issuer, open nothing",
  ...E2E,
  fn: () => foreignTokensAreRefused(ctx),
});

Deno.test({
  name: "trust: role claims outside the issuer's allowlist are 401 role_not_allowed, no DB error",
  ...E2E,
  fn: () => rolesAreAllowlisted(ctx),
});

Deno.test({
  name: "trust: a third-party sub equal to a Supabase user's uuid is a different user",
  ...E2E,
  fn: () => idsCarryTheirIssuer(ctx),
});

Deno.test({
  name: "trust: two issuers' users with one sub are two users, each with its prefix",
  ...E2E,
  async fn() {
    const sub = `shared_${crypto.randomUUID().slice(0, 8)}`;
    const clerk = await providerToken(ctx.clerk, {
      sub,
      azp: ctx.appOrigin,
      role: "authenticated",
    });
    const acme = await acmeToken(ctx, { sub });
    const made = await rest(ctx, "tasks", clerk, { method: "POST", body: { name: "clerk's" } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal((made.body as { user_id: string }[])[0]!.user_id, `clerk:${sub}`);
    assert.deepEqual((await rest(ctx, "tasks?select=id", acme)).body, []);
    // Writing a row under another issuer's id is refused by the policy.
    const forged = await rest(ctx, "tasks", acme, {
      method: "POST",
      body: { name: "forged", user_id: `clerk:${sub}` },
    });
    assert.equal(forged.status, 403, JSON.stringify(forged.body));
  },
});

Deno.test({
  name: "trust: a role-less third-party token is not a user (anon is not in its entry)",
  ...E2E,
  async fn() {
    const token = await acmeToken(ctx, { role: undefined });
    assertRefused(await rest(ctx, "posts?select=id", token), 401, "role_not_allowed", "/rest/v1");
    assertRefused(await fn(ctx, "me", token), 401, "role_not_allowed", "me");
  },
});

// ------------------------------------------------------------ machines: explicit rules only

Deno.test({
  name: "trust: a Clerk sub ending in @clients is a person; admin-posts refuses it",
  ...E2E,
  async fn() {
    const token = await providerToken(ctx.clerk, {
      sub: "abc@clients",
      azp: ctx.appOrigin,
      role: "authenticated",
      scope: "posts:admin",
      gty: "client-credentials",
    });
    const r = await fn(ctx, "admin-posts", token);
    assert.equal(r.status, 403, JSON.stringify(r.body));
  },
});

Deno.test({
  name: "trust: a machine by its issuer's explicit rule, with posts:admin, may export",
  ...E2E,
  async fn() {
    const machine = (claims: Record<string, unknown>) =>
      acmeToken(ctx, { sub: "svc-1", role: undefined, ...claims });
    const ok = await fn(
      ctx,
      "admin-posts?limit=1",
      await machine({ gty: "client-credentials", scope: "posts:admin" }),
    );
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const noScope = await fn(ctx, "admin-posts", await machine({ gty: "client-credentials" }));
    assert.equal(noScope.code, "insufficient_scope");
    // The same claims without the rule's `gty` make a person, who may not.
    const person = await fn(
      ctx,
      "admin-posts",
      await machine({ role: "authenticated", scope: "posts:admin" }),
    );
    assert.equal(person.status, 403, JSON.stringify(person.body));
    // A machine token is no key to the database: no role it may name there.
    const atRest = await rest(
      ctx,
      "posts?select=id",
      await machine({ gty: "client-credentials", scope: "posts:admin" }),
    );
    assertRefused(atRest, 401, "role_not_allowed", "machine at /rest/v1");
  },
});

// ------------------------------------------------------------ request bodies

const OVER = 11 * 1024 * 1024; // the default cap is 10 MiB

/** POST a body as a signed-in user, as an app would. */
function postAsUser(url: string, token: string, body: BodyInit): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: {
      apikey: s.publishable_key,
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
    },
    body,
  });
}

Deno.test({
  name: "trust: a body over the cap is 413 before it is read (declared length), both paths",
  ...E2E,
  async fn() {
    const { token } = await userToken(s);
    for (const url of [`${s.api_url}/rest/v1/posts`, `${s.functions_url}/posts`]) {
      const r = await postAsUser(url, token, new Uint8Array(OVER));
      const body = await r.json();
      assert.equal(r.status, 413, url);
      assert.equal(body.code, "payload_too_large");
      assert.equal(r.headers.get("sb-error-code"), "payload_too_large");
    }
  },
});

Deno.test({
  name: "trust: a streamed body (no content-length) is counted and cut at the cap, both paths",
  ...E2E,
  async fn() {
    const { token } = await userToken(s);
    for (const url of [`${s.api_url}/rest/v1/posts`, `${s.functions_url}/posts`]) {
      let sent = 0;
      const chunk = new Uint8Array(1024 * 1024).fill(0x20);
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent >= OVER) return c.close();
          sent += chunk.byteLength;
          c.enqueue(chunk);
        },
      });
      const r = await postAsUser(url, token, body);
      const answer = await r.json();
      assert.equal(r.status, 413, `${url}: ${JSON.stringify(answer)}`);
      assert.equal(answer.code, "payload_too_large");
    }
  },
});

// ------------------------------------------------------------ the database login

Deno.test({
  name: "trust: PostgREST's login role is no superuser and can become only the three API roles",
  ...E2E,
  async fn() {
    const sql = adminSql(s);
    try {
      const [login] = await sql`
        select rolsuper, rolcreaterole, rolbypassrls from pg_roles where rolname = 'authenticator'`;
      assert.deepEqual(login, { rolsuper: false, rolcreaterole: false, rolbypassrls: false });
      const granted = await sql`
        select r.rolname from pg_auth_members m
        join pg_roles r on r.oid = m.roleid
        join pg_roles u on u.oid = m.member
        where u.rolname = 'authenticator' order by 1`;
      assert.deepEqual(granted.map((g) => g.rolname), ["anon", "authenticated", "service_role"]);
      // db_url's role is `postgres`, as on a hosted project: not a superuser, and it cannot
      // become one. (authenticator's own session is tried in database_test.ts.)
      const [me] = await sql`select rolsuper from pg_roles where rolname = current_user`;
      assert.equal(me!.rolsuper, false);
      await assert.rejects(
        sql.begin(async (tx) => {
          await tx`set local role supabase_admin`;
        }),
        /permission denied to set role "supabase_admin"/,
      );
    } finally {
      await sql.end();
    }
  },
});
