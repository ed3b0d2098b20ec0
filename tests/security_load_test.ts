/**
 * Load without leaks: 2,000 requests from 20 users, 50 at a time (40 full rounds of
 * concurrent requests), mixing valid, expired and forged tokens over every verb of `posts`,
 * including probes at other users' posts. Afterwards: no user ever saw another's row, every
 * acknowledged write is there exactly once, nothing answered 5xx. LOAD_SCALE=<n> multiplies
 * the requests (CI runs 3: 6,000); throughput is measured by `deno task bench`, not here.
 */
import assert from "node:assert/strict";
import { adminSql, E2E, envScale, stackContext, userToken } from "./helpers/stack.ts";
import { b64url } from "./helpers/keys.ts";

const TOTAL = 2_000 * envScale("LOAD_SCALE");
const USERS = 20;
const CONCURRENCY = 50;

Deno.test({
  name:
    `load: ${TOTAL} requests, ${USERS} users, ${CONCURRENCY} concurrent: no leaks, no lost writes, no 5xx`,
  ...E2E,
  async fn() {
    const { status: s } = await stackContext();
    const users = await Promise.all(Array.from({ length: USERS }, async (_, i) => {
      const u = await userToken(s, { email: `load${i}@example.com` });
      const expired = (await userToken(s, { sub: u.sub, exp: -120 })).token;
      const [h, , sig] = u.token.split(".");
      const payload = JSON.parse(
        atob(u.token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/")),
      );
      const forged = `${h}.${
        b64url(JSON.stringify({ ...payload, sub: crypto.randomUUID() }))
      }.${sig}`;
      return {
        ...u,
        expired,
        forged,
        live: new Set<number>(),
        created: new Set<number>(),
        deleted: new Set<number>(),
      };
    }));

    const counts = new Map<string, number>();
    const problems: string[] = [];
    let seq = 0;
    const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
    const someId = (set: Set<number>) => (set.size ? pick([...set]) : 999_999_999);

    async function one(): Promise<void> {
      const u = pick(users);
      const other = pick(users.filter((x) => x !== u));
      const roll = Math.random();
      const kind = roll < 0.1 ? "expired" : roll < 0.2 ? "forged" : "valid";
      const token = kind === "expired" ? u.expired : kind === "forged" ? u.forged : u.token;
      const verbRoll = Math.random();
      const probeOther = Math.random() < 0.3;
      const targetSet = probeOther ? other.live : u.live;
      let method = "GET", path = "posts", body: unknown;
      if (verbRoll < 0.3) {
        method = "POST";
        body = { title: `u-${u.sub.slice(0, 8)}-${seq++}` };
      } else if (verbRoll < 0.55) {
        path = "posts?limit=50";
      } else if (verbRoll < 0.7) {
        path = `posts/${someId(targetSet)}`;
      } else if (verbRoll < 0.85) {
        method = "PATCH";
        path = `posts/${someId(targetSet)}`;
        body = { title: probeOther ? "HIJACKED" : "edited" };
      } else {
        method = "DELETE";
        path = `posts/${someId(targetSet)}`;
      }
      const r = await fetch(`${s.functions_url}/${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await r.text();
      const key = `${kind} ${method} ${r.status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (r.status >= 500) problems.push(`${method} ${path} -> ${r.status} ${text}`);
      if (kind === "expired" && r.status !== 401) problems.push(`expired token got ${r.status}`);
      if (kind === "forged" && r.status !== 401) problems.push(`forged token got ${r.status}`);
      if (kind !== "valid") return;
      if (r.status === 200 || r.status === 201) {
        const data = JSON.parse(text);
        const rows = Array.isArray(data.items) ? data.items : [data];
        for (const row of rows) {
          if (row.user_id !== u.sub) problems.push(`user ${u.sub} saw a row of ${row.user_id}`);
        }
      }
      if (probeOther && method !== "POST" && !path.startsWith("posts?") && r.status !== 404) {
        problems.push(`${method} on another user's post answered ${r.status}`);
      }
      if (method === "POST") {
        if (r.status !== 201) problems.push(`POST answered ${r.status}`);
        else {
          const id = JSON.parse(text).id as number;
          u.created.add(id);
          u.live.add(id);
        }
      }
      if (method === "DELETE" && r.status === 204 && !probeOther) {
        const id = Number(path.split("/")[1]);
        u.deleted.add(id);
        u.live.delete(id);
      }
    }

    const started = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < TOTAL) {
        next++;
        await one();
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `load: ${TOTAL} requests in ${seconds.toFixed(1)} s (${Math.round(TOTAL / seconds)}/s)`,
    );
    console.log(`load: ${JSON.stringify(Object.fromEntries([...counts].sort()))}`);
    assert.deepEqual(problems.slice(0, 10), []);

    const sql = adminSql(s);
    try {
      for (const u of users) {
        const rows =
          await sql`select id, title from public.posts where user_id = ${u.sub} order by id`;
        const ids = rows.map((r) => Number(r.id));
        const expected = [...u.created].filter((id) => !u.deleted.has(id)).sort((a, b) => a - b);
        assert.deepEqual(
          ids,
          expected,
          `user ${u.sub}: rows in the database = acknowledged creates - deletes`,
        );
        assert.ok(rows.every((r) => r.title !== "HIJACKED"), "no cross-user PATCH landed");
      }
    } finally {
      await sql.end();
    }
  },
});
