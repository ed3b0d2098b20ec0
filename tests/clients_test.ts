/** User-scoped supabase-js clients: reused per exact token, never past its expiry, bounded. */
import assert from "node:assert/strict";
import { USER_CLIENT_CACHE_SIZE, userClient } from "../functions/_shared/clients.ts";

const config = () => ({ supabaseUrl: "http://127.0.0.1:9", publicApiKey: "sb_publishable_test" });
const inAnHour = Date.now() / 1000 + 3600;

/** The Authorization header a client would send, read through its own fetch. */
async function sentAuthorization(client: ReturnType<typeof userClient>): Promise<string | null> {
  const seen: (string | null)[] = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    seen.push(new Request(input, init).headers.get("authorization"));
    return Promise.resolve(Response.json([]));
  };
  try {
    await client.from("posts").select("id");
  } finally {
    globalThis.fetch = realFetch;
  }
  return seen[0] ?? null;
}

Deno.test("clients: one token's requests share a client that sends that token", async () => {
  const c = config();
  const a = userClient(c, "token-a", inAnHour);
  assert.equal(userClient(c, "token-a", inAnHour), a);
  const b = userClient(c, "token-b", inAnHour);
  assert.notEqual(b, a);
  assert.equal(await sentAuthorization(a), "Bearer token-a");
  assert.equal(await sentAuthorization(b), "Bearer token-b");
});

Deno.test("clients: an expired token's client is not reused", () => {
  const c = config();
  const expired = Date.now() / 1000 - 1;
  const first = userClient(c, "token-old", expired);
  assert.notEqual(userClient(c, "token-old", expired), first);
});

Deno.test("clients: configurations do not share clients", () => {
  assert.notEqual(
    userClient(config(), "token-a", inAnHour),
    userClient(config(), "token-a", inAnHour),
  );
});

Deno.test("clients: at most USER_CLIENT_CACHE_SIZE are kept, the least recently used goes first", () => {
  const c = config();
  const first = userClient(c, "token-0", inAnHour);
  const second = userClient(c, "token-1", inAnHour);
  for (let i = 2; i < USER_CLIENT_CACHE_SIZE; i++) userClient(c, `token-${i}`, inAnHour);
  assert.equal(userClient(c, "token-0", inAnHour), first); // used again: now the newest
  userClient(c, "token-new", inAnHour); // one over the bound: token-1 is the oldest
  assert.equal(userClient(c, "token-0", inAnHour), first);
  assert.notEqual(userClient(c, "token-1", inAnHour), second);
});

Deno.test("clients: API-key callers (no token) share one anon client per configuration", async () => {
  const c = config();
  const anon = userClient(c, null);
  assert.equal(userClient(c, null), anon);
  assert.equal(await sentAuthorization(anon), "Bearer sb_publishable_test");
});
