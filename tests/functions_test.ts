/**
 * The functions end to end: supabase-js `functions.invoke` -> gateway -> function ->
 * user-scoped client -> real PostgREST -> Postgres RLS.
 */
import assert from "node:assert/strict";
import { FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import { appClient, E2E, providerToken, stackContext, userToken } from "./helpers/stack.ts";

const ctx = await stackContext();
const s = ctx.status;

type Method = "GET" | "POST" | "PATCH" | "DELETE";

/** invoke, returning status and parsed body whether it succeeded or not. */
async function call(
  client: SupabaseClient,
  name: string,
  method: Method = "GET",
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> | null; code: string | null }> {
  const { data, error, response } = await client.functions.invoke(name, {
    method,
    ...(body !== undefined ? { body: body as Record<string, unknown> } : {}),
  });
  if (error) {
    assert.ok(error instanceof FunctionsHttpError, `expected an HTTP error, got ${error}`);
    const res = error.context as Response;
    const parsed = await res.json();
    assert.equal(res.headers.get("sb-error-code"), parsed.code, "sb-error-code repeats the code");
    assert.equal(typeof parsed.message, "string");
    return { status: res.status, body: parsed, code: parsed.code };
  }
  return {
    status: response?.status ?? 0,
    body: data as Record<string, unknown> | null,
    code: null,
  };
}

async function supabaseUser() {
  const u = await userToken(s, { email: `${crypto.randomUUID().slice(0, 8)}@example.com` });
  return { ...u, client: appClient(s, u.token) };
}

async function clerkUser(sub = `user_${crypto.randomUUID().replace(/-/g, "").slice(0, 20)}`) {
  const token = await providerToken(ctx.clerk, {
    sub,
    azp: ctx.appOrigin,
    role: "authenticated",
    sid: "sess_1",
  });
  return { sub, token, client: appClient(s, token) };
}

// ---------------------------------------------------------------- me

Deno.test({
  name: "me: GET returns the caller's identity and a null profile at first",
  ...E2E,
  async fn() {
    const u = await supabaseUser();
    const r = await call(u.client, "me");
    assert.equal(r.status, 200);
    assert.equal(r.body!.id, u.sub);
    assert.equal(r.body!.role, "authenticated");
    assert.equal(r.body!.provider, "supabase");
    assert.equal(r.body!.issuer, `${s.api_url}/auth/v1`);
    assert.equal(r.body!.session_id, u.sessionId);
    assert.equal(r.body!.aal, "aal1");
    assert.equal(r.body!.is_anonymous, false);
    assert.equal(r.body!.profile, null);
  },
});

Deno.test({
  name: "me: PATCH creates then updates only the caller's profile",
  ...E2E,
  async fn() {
    const a = await supabaseUser();
    const b = await supabaseUser();
    const first = await call(a.client, "me", "PATCH", { display_name: "Ada" });
    assert.equal(first.status, 200);
    assert.equal((first.body!.profile as Record<string, unknown>).display_name, "Ada");
    const second = await call(a.client, "me", "PATCH", {
      avatar_url: "https://img.example/ada.png",
    });
    const profile = second.body!.profile as Record<string, unknown>;
    assert.equal(profile.display_name, "Ada", "fields not sent are kept");
    assert.equal(profile.avatar_url, "https://img.example/ada.png");
    assert.equal(profile.user_id, a.sub);
    assert.equal((await call(b.client, "me")).body!.profile, null, "B still has no profile");
  },
});

Deno.test({
  name: "me: PATCH validates its body (unknown field, wrong type, empty, not JSON)",
  ...E2E,
  async fn() {
    const u = await supabaseUser();
    assert.equal(
      (await call(u.client, "me", "PATCH", { user_id: "someone-else" })).code,
      "invalid_body",
    );
    assert.equal((await call(u.client, "me", "PATCH", { display_name: 42 })).code, "invalid_body");
    assert.equal((await call(u.client, "me", "PATCH", {})).code, "invalid_body");
    const raw = await fetch(`${s.functions_url}/me`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${u.token}`, "content-type": "application/json" },
      body: "{not json",
    });
    assert.equal(raw.status, 400);
    assert.equal((await raw.json()).code, "invalid_json");
  },
});

Deno.test({
  name: "me: an anonymous supabase-js client (publishable key only) gets 401 user_token_required",
  ...E2E,
  async fn() {
    const r = await call(appClient(s), "me");
    assert.equal(r.status, 401);
    assert.equal(r.code, "user_token_required");
  },
});

Deno.test({
  name: "me: a native Clerk user is identified, and PostgREST trusts their token for the profile",
  ...E2E,
  async fn() {
    const c = await clerkUser();
    const r = await call(c.client, "me", "PATCH", { display_name: "Clerk user" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    // A user is (issuer, sub): Clerk's ids carry the entry's prefix wherever policies compare.
    assert.equal(r.body!.id, `clerk:${c.sub}`);
    assert.equal(r.body!.provider, "clerk");
    assert.equal((r.body!.profile as Record<string, unknown>).user_id, `clerk:${c.sub}`);
  },
});

Deno.test({
  name: "me: a Clerk token for another app (azp) is 401 unauthorized_party",
  ...E2E,
  async fn() {
    const token = await providerToken(ctx.clerk, {
      sub: "user_x",
      azp: "https://evil.example",
      role: "authenticated",
    });
    assert.equal((await call(appClient(s, token), "me")).code, "unauthorized_party");
  },
});

Deno.test({
  name: "me: a Logto (exchange-mode) token is not accepted directly",
  ...E2E,
  async fn() {
    const token = await providerToken(ctx.logto, {
      sub: "logto-user",
      aud: "https://api.edge-auth.test",
    });
    assert.equal((await call(appClient(s, token), "me")).code, "untrusted_issuer");
  },
});

// ---------------------------------------------------------------- posts

Deno.test({
  name: "posts: create, read, update, delete your own post",
  ...E2E,
  async fn() {
    const u = await supabaseUser();
    const created = await call(u.client, "posts", "POST", { title: "Hello", body: "World" });
    assert.equal(created.status, 201);
    assert.equal(created.body!.user_id, u.sub);
    const id = created.body!.id as number;
    assert.equal((await call(u.client, `posts/${id}`)).body!.title, "Hello");
    const patched = await call(u.client, `posts/${id}`, "PATCH", { title: "Hello again" });
    assert.equal(patched.body!.title, "Hello again");
    assert.equal(patched.body!.body, "World");
    assert.ok(String(patched.body!.updated_at) >= String(created.body!.updated_at));
    const removed = await call(u.client, `posts/${id}`, "DELETE");
    assert.equal(removed.status, 204);
    assert.equal((await call(u.client, `posts/${id}`)).code, "not_found");
  },
});

Deno.test({
  name: "posts: another user's post is indistinguishable from a missing one (404 for every verb)",
  ...E2E,
  async fn() {
    const a = await supabaseUser();
    const b = await supabaseUser();
    const id = (await call(a.client, "posts", "POST", { title: "A only" })).body!.id;
    for (const [method, body] of [["GET"], ["PATCH", { title: "B" }], ["DELETE"]] as const) {
      const r = await call(b.client, `posts/${id}`, method, body);
      assert.equal(r.status, 404, method);
      assert.equal(r.code, "not_found");
    }
    const missing = await call(b.client, "posts/999999999", "GET");
    assert.deepEqual(missing.body, (await call(b.client, `posts/${id}`)).body);
    assert.equal(
      (await call(a.client, `posts/${id}`)).body!.title,
      "A only",
      "A's post is untouched",
    );
    const list = await call(b.client, "posts");
    assert.deepEqual(list.body!.items, []);
  },
});

Deno.test({
  name: "posts: keyset pagination walks every post once, newest first",
  ...E2E,
  async fn() {
    const u = await supabaseUser();
    for (let i = 1; i <= 5; i++) await call(u.client, "posts", "POST", { title: `p${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await call(u.client, `posts?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      assert.equal(r.status, 200);
      seen.push(...(r.body!.items as { title: string }[]).map((p) => p.title));
      cursor = r.body!.next_cursor as string | null;
      pages++;
    } while (cursor && pages < 10);
    assert.deepEqual(seen, ["p5", "p4", "p3", "p2", "p1"]);
    assert.equal(pages, 3);
  },
});

Deno.test({
  name: "posts: bad input gets 400/405 with stable codes",
  ...E2E,
  async fn() {
    const u = await supabaseUser();
    const cases: [string, Method, unknown, number, string][] = [
      ["posts", "POST", { title: "x", user_id: "someone" }, 400, "invalid_body"],
      ["posts", "POST", { body: "no title" }, 400, "invalid_body"],
      ["posts", "POST", { title: "" }, 400, "invalid_body"],
      ["posts", "POST", { title: "x".repeat(201) }, 400, "invalid_body"],
      ["posts?limit=101", "GET", undefined, 400, "bad_request"],
      ["posts?limit=0", "GET", undefined, 400, "bad_request"],
      ["posts?cursor=garbage", "GET", undefined, 400, "bad_request"],
      ["posts/abc", "GET", undefined, 400, "bad_request"],
      ["posts/-1", "GET", undefined, 400, "bad_request"],
      ["posts/1/extra", "GET", undefined, 404, "not_found"],
      ["posts", "DELETE", undefined, 405, "method_not_allowed"],
      ["posts/1", "POST", { title: "x" }, 405, "method_not_allowed"],
      ["posts/1", "PATCH", {}, 400, "invalid_body"],
    ];
    for (const [path, method, body, status, code] of cases) {
      const r = await call(u.client, path, method, body);
      assert.equal(r.status, status, `${method} ${path}`);
      assert.equal(r.code, code, `${method} ${path}`);
    }
  },
});

Deno.test({
  name: "posts: an expired token is 401 token_expired with a WWW-Authenticate challenge",
  ...E2E,
  async fn() {
    const u = await userToken(s, { exp: -120 });
    const r = await fetch(`${s.functions_url}/posts`, {
      headers: { authorization: `Bearer ${u.token}` },
    });
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
    assert.equal((await r.json()).code, "token_expired");
  },
});

// ---------------------------------------------------------------- tasks (third-party users)

Deno.test({
  name: "tasks: a Clerk user adds, completes, lists and deletes tasks; text ids work",
  ...E2E,
  async fn() {
    const c = await clerkUser();
    const added = await call(c.client, "tasks", "POST", { name: "Write tests" });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.equal(added.body!.user_id, `clerk:${c.sub}`);
    assert.equal(added.body!.done, false);
    const done = await call(c.client, `tasks/${added.body!.id}`, "PATCH", { done: true });
    assert.equal(done.body!.done, true);
    const list = await call(c.client, "tasks");
    assert.deepEqual((list.body!.items as { id: number }[]).map((t) => t.id), [added.body!.id]);
    assert.equal((await call(c.client, `tasks/${added.body!.id}`, "DELETE")).status, 204);
  },
});

Deno.test({
  name: "tasks: two Clerk users never see each other's tasks",
  ...E2E,
  async fn() {
    const a = await clerkUser();
    const b = await clerkUser();
    const id = (await call(a.client, "tasks", "POST", { name: "A's task" })).body!.id;
    assert.deepEqual((await call(b.client, "tasks")).body!.items, []);
    assert.equal((await call(b.client, `tasks/${id}`, "PATCH", { done: true })).code, "not_found");
    assert.equal((await call(a.client, `tasks/${id}`)).body!.done, false);
  },
});

Deno.test({
  name: "tasks: a Clerk token goes to /rest/v1, checked by the gateway as the functions check it",
  ...E2E,
  async fn() {
    const c = await clerkUser();
    const { data, error } = await c.client.from("tasks").insert({ name: "direct" }).select()
      .single();
    assert.equal(error, null);
    assert.equal(data.user_id, `clerk:${c.sub}`);
  },
});

// ---------------------------------------------------------------- CORS through the gateway

Deno.test({
  name:
    "cors: a browser-origin 401 is readable (allow-origin on the error) and preflight answers 204",
  ...E2E,
  async fn() {
    const pre = await fetch(`${s.functions_url}/posts`, {
      method: "OPTIONS",
      headers: {
        origin: ctx.appOrigin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, x-client-info, apikey, content-type",
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), ctx.appOrigin);
    await pre.body?.cancel();
    const r = await fetch(`${s.functions_url}/posts`, { headers: { origin: ctx.appOrigin } });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get("access-control-allow-origin"), ctx.appOrigin);
    assert.match(r.headers.get("access-control-expose-headers") ?? "", /sb-error-code/);
    await r.body?.cancel();
  },
});
