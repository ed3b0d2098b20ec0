/**
 * What a token may do at /rest/v1 and at the functions, asked of a running stack through real
 * HTTP. Shared by tests/trust_test.ts (embedded PostgreSQL) and tests/stack_postgres_test.ts
 * (DATABASE_URL), so both databases answer the same questions.
 */
import assert from "node:assert/strict";
import { ACME_AUDIENCE, providerToken, type StackContext, userToken } from "./stack.ts";

export interface Answer {
  status: number;
  body: unknown;
  code: string | null;
}

/** GET/POST/DELETE at /rest/v1 as a client app would send it (publishable key + bearer). */
export async function rest(
  ctx: StackContext,
  path: string,
  token: string,
  init: { method?: string; body?: unknown } = {},
): Promise<Answer> {
  const r = await fetch(`${ctx.status.api_url}/rest/v1/${path}`, {
    method: init.method ?? "GET",
    headers: {
      apikey: ctx.status.publishable_key,
      authorization: `Bearer ${token}`,
      ...(init.body !== undefined
        ? { "content-type": "application/json", prefer: "return=representation" }
        : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  return answer(r);
}

/** A function, called with a bearer token. */
export async function fn(
  ctx: StackContext,
  path: string,
  token: string,
  method = "GET",
): Promise<Answer> {
  const r = await fetch(`${ctx.status.functions_url}/${path}`, {
    method,
    headers: { apikey: ctx.status.publishable_key, authorization: `Bearer ${token}` },
  });
  return answer(r);
}

async function answer(r: Response): Promise<Answer> {
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* not JSON: kept as text */ }
  const code = typeof body === "object" && body !== null && "code" in body
    ? String((body as { code: unknown }).code)
    : null;
  return { status: r.status, body, code };
}

/** A token from the loopback OIDC issuer `acme` (audience proj-a), valid unless overridden. */
export function acmeToken(ctx: StackContext, claims: Record<string, unknown> = {}) {
  return providerToken(ctx.acme, {
    sub: `acme_${crypto.randomUUID().slice(0, 8)}`,
    aud: ACME_AUDIENCE,
    role: "authenticated",
    ...claims,
  });
}

/** Refused with `status` and `code` in the error contract, and no database error inside. */
export function assertRefused(a: Answer, status: number, code: string, what: string): void {
  assert.equal(a.status, status, `${what}: ${JSON.stringify(a.body)}`);
  assert.equal(a.code, code, `${what}: ${JSON.stringify(a.body)}`);
  const body = a.body as Record<string, unknown>;
  assert.equal(typeof body.message, "string", `${what}: error contract`);
  assert.ok(!/^[0-9A-Z]{5}$/.test(String(body.code)), `${what}: a raw SQLSTATE reached the client`);
}

/**
 * Tokens a configured issuer's keys sign but its entry does not allow are refused at
 * /rest/v1 and at the functions alike (the Firebase case: one key set, many projects).
 */
export async function foreignTokensAreRefused(ctx: StackContext): Promise<void> {
  const cases: [string, Promise<string>, string][] = [
    ["another audience", acmeToken(ctx, { aud: "proj-b" }), "invalid_audience"],
    ["no audience", acmeToken(ctx, { aud: undefined }), "invalid_audience"],
    [
      "another iss, same keys",
      acmeToken(ctx, { iss: `${ctx.acme.issuer}-other` }),
      "untrusted_issuer",
    ],
  ];
  for (const [what, pending, code] of cases) {
    const token = await pending;
    assertRefused(await rest(ctx, "posts?select=id", token), 401, code, `/rest/v1 ${what}`);
    assertRefused(await fn(ctx, "posts", token), 401, code, `posts ${what}`);
  }
  // The same issuer, inside its entry, is let in: the refusals above are about the entry.
  const good = await acmeToken(ctx);
  assert.equal((await rest(ctx, "posts?select=id", good)).status, 200);
  assert.equal((await fn(ctx, "posts", good)).status, 200);
}

/** No token reaches the database as a role its issuer may not name. */
export async function rolesAreAllowlisted(ctx: StackContext): Promise<void> {
  for (const role of ["service_role", "postgres", "supabase_admin", "authenticator", "nobody"]) {
    const third = await acmeToken(ctx, { role });
    assertRefused(await rest(ctx, "posts?select=id", third), 401, "role_not_allowed", role);
    assertRefused(
      await rest(ctx, "posts?id=gt.0", third, { method: "DELETE" }),
      401,
      "role_not_allowed",
      `DELETE as ${role}`,
    );
    assertRefused(await fn(ctx, "posts", third), 401, "role_not_allowed", `posts as ${role}`);
  }
  // The project's own keys may name service_role, never a database superuser.
  for (const role of ["postgres", "supabase_admin", "authenticator"]) {
    const own = (await userToken(ctx.status, { role })).token;
    assertRefused(await rest(ctx, "posts?select=id", own), 401, "role_not_allowed", `own ${role}`);
  }
}

/** A third-party `sub` equal to a Supabase user's uuid is another user: it sees nothing. */
export async function idsCarryTheirIssuer(ctx: StackContext): Promise<void> {
  const owner = await userToken(ctx.status);
  const created = await rest(ctx, "posts", owner.token, {
    method: "POST",
    body: { title: "only mine" },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const twin = await acmeToken(ctx, { sub: owner.sub });
  assert.deepEqual((await rest(ctx, "posts?select=id", twin)).body, []);
  const listed = await fn(ctx, "posts", twin);
  assert.equal(listed.status, 200);
  assert.deepEqual((listed.body as { items: unknown[] }).items, []);
  const me = await fn(ctx, "me", twin);
  assert.equal((me.body as { id: string }).id, `acme:${owner.sub}`, JSON.stringify(me.body));
}
