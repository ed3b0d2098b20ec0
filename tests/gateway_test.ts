/**
 * The gateway routes and gates as a hosted project's Kong does (issue 22): the path decides the
 * route whatever the Host header says, /auth/v1 wants a project key (but where Kong opens it)
 * and caps bodies as they stream, browsers get CORS at /rest/v1 even when refused, the bearer
 * decides the role, `?apikey=` works and stays hidden, and open connections are capped.
 */
import assert from "node:assert/strict";
import { E2E, stackContext } from "./helpers/stack.ts";
import { startStack } from "../stack/start.ts";

const ctx = await stackContext();
const s = ctx.status;
const port = Number(new URL(s.api_url).port);

/** One HTTP/1.1 exchange written by hand; the status line and body of the answer. */
async function raw(text: string, to = port): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: to });
  try {
    await conn.write(new TextEncoder().encode(text));
    let answer = "";
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      answer += new TextDecoder().decode(buffer.subarray(0, n));
      const head = answer.indexOf("\r\n\r\n");
      const length = /content-length: (\d+)/i.exec(answer)?.[1];
      if (head !== -1 && length !== undefined && answer.length >= head + 4 + Number(length)) break;
    }
    return {
      status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0),
      body: answer.slice(answer.indexOf("\r\n\r\n") + 4),
    };
  } finally {
    conn.close();
  }
}

Deno.test({
  name: "gateway: a Host header cannot steer a request to another route",
  ...E2E,
  async fn() {
    for (const host of ["x/_local/db/reset?", "127.0.0.1/rest/v1/posts?x=", "a b", "x\\y"]) {
      const r = await raw(
        `POST /functions/v1/me HTTP/1.1\r\nHost: ${host}\r\napikey: ${s.secret_key}\r\n` +
          "content-length: 0\r\nconnection: close\r\n\r\n",
      );
      assert.equal(r.status, 400, `Host: ${host}`);
      assert.match(r.body, /"code":"bad_request"/);
    }
    const ok = await raw(
      `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nconnection: close\r\n\r\n`,
    );
    assert.equal(ok.status, 200);
  },
});

Deno.test({
  name: "gateway: /auth/v1 wants a project key, except verify, callback, authorize and the JWKS",
  ...E2E,
  async fn() {
    const none = await fetch(`${s.api_url}/auth/v1/signup`, { method: "POST", body: "{}" });
    assert.equal(none.status, 401);
    assert.deepEqual(await none.json(), {
      message: "No API key found in request",
      hint: "No `apikey` request header or url param was found.",
    });
    assert.equal(none.headers.get("access-control-allow-origin"), "*");
    const wrong = await fetch(`${s.api_url}/auth/v1/settings`, {
      headers: { apikey: "sb_publishable_not_ours_at_all" },
    });
    assert.equal(wrong.status, 401);
    assert.equal((await wrong.json()).message, "Invalid API key");
    for (const open of ["/.well-known/jwks.json", "/verify", "/callback", "/authorize"]) {
      const r = await fetch(`${s.api_url}/auth/v1${open}`);
      assert.notEqual(r.status, 401, `${open} is open`);
      await r.body?.cancel();
    }
    const byQuery = await fetch(`${s.api_url}/auth/v1/settings?apikey=${s.publishable_key}`);
    assert.equal(byQuery.status, 200, "a key in the query string, as Kong reads it");
    await byQuery.body?.cancel();
  },
});

Deno.test({
  name: "gateway: /auth/v1 caps a chunked body as it streams (1 MiB), before Auth reads it whole",
  ...E2E,
  async fn() {
    let sent = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 64 * 1024 * 1024) return c.close();
        sent += chunk.byteLength;
        c.enqueue(chunk);
      },
    });
    const r = await fetch(`${s.api_url}/auth/v1/signup`, {
      method: "POST",
      headers: { apikey: s.publishable_key, "content-type": "application/json" },
      body,
    }).catch((error: Error) => ({ status: 0, error }));
    if ("error" in r) {
      // The gateway may close the upload once the answer has gone; either way not all of it was read.
      assert.ok(sent < 64 * 1024 * 1024, "the upload was cut off");
    } else {
      assert.equal(r.status, 413);
      await r.body?.cancel();
    }
    assert.ok(sent < 16 * 1024 * 1024, `read ${sent} bytes of an endless body`);
  },
});

Deno.test({
  name: "gateway: /rest/v1 answers a browser's preflight without a key, and refusals carry CORS",
  ...E2E,
  async fn() {
    const preflight = await fetch(`${s.api_url}/rest/v1/posts`, {
      method: "OPTIONS",
      headers: {
        origin: ctx.appOrigin,
        "access-control-request-method": "GET",
        "access-control-request-headers": "apikey, authorization, x-client-info",
      },
    });
    assert.equal(preflight.status, 200);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
    assert.match(preflight.headers.get("access-control-allow-headers")!, /apikey/);
    await preflight.body?.cancel();
    const refused = await fetch(`${s.api_url}/rest/v1/posts`, {
      headers: { origin: ctx.appOrigin },
    });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("access-control-allow-origin"), "*");
    await refused.body?.cancel();
  },
});

Deno.test({
  name: "gateway: the bearer decides the role (a secret apikey with the anon JWT is anon)",
  ...E2E,
  async fn() {
    const asAnon = await fetch(`${s.api_url}/rest/v1/posts?select=id`, {
      headers: { apikey: s.secret_key, authorization: `Bearer ${s.anon_key}` },
    });
    assert.equal(asAnon.status, 401, "anon may not read posts");
    await asAnon.body?.cancel();
    const asService = await fetch(`${s.api_url}/rest/v1/posts?select=id&limit=1`, {
      headers: { apikey: s.publishable_key, authorization: `Bearer ${s.service_role_key}` },
    });
    assert.equal(asService.status, 200);
    await asService.body?.cancel();
  },
});

Deno.test({
  name: "gateway: ?apikey= is accepted at /rest/v1 and hidden from PostgREST",
  ...E2E,
  async fn() {
    const r = await fetch(`${s.api_url}/rest/v1/posts?select=id&limit=1&apikey=${s.secret_key}`);
    assert.equal(r.status, 200, await r.clone().text());
    assert.ok(Array.isArray(await r.json()), "PostgREST did not take apikey for a column filter");
  },
});

Deno.test({
  name: "gateway: open connections are capped; one more is refused with 503, not a crash",
  ...E2E,
  async fn() {
    const stack = await startStack({
      port: 0,
      dataDir: null,
      keysPath: null,
      functionEnv: { GATEWAY_MAX_CONNECTIONS: "20" },
      log: () => {},
    });
    const held: Deno.Conn[] = [];
    try {
      const p = Number(new URL(stack.status.api_url).port);
      for (let i = 0; i < 20; i++) {
        held.push(await Deno.connect({ hostname: "127.0.0.1", port: p }));
      }
      for (let i = 0; i < 50 && stack.openConnections() < 20; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(stack.openConnections(), 20);
      const refused = await raw("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", p);
      assert.equal(refused.status, 503);
      assert.match(refused.body, /"code":"too_many_connections"/);
      for (const conn of held.splice(0, 5)) conn.close();
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 20));
        status =
          (await raw("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nconnection: close\r\n\r\n", p))
            .status;
      }
      assert.equal(status, 200, "served again once connections closed");
    } finally {
      for (const conn of held) conn.close();
      await stack.stop();
    }
  },
});
