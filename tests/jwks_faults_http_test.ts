/**
 * JWKS faults as a caller sees them: a function built with withAuth, served over HTTP on
 * 127.0.0.1, trusting a controllable issuer on loopback. Time moves by an injected clock.
 */
import assert from "node:assert/strict";
import { json, loadConfig, withAuth } from "../functions/_shared/mod.ts";
import { type IssuerServer, ManualClock, startIssuer } from "./helpers/issuer_server.ts";
import { makeKey, sign, type TestKey } from "./helpers/keys.ts";

const AZP = "https://app.example.com";

interface Rig {
  issuer: IssuerServer;
  key: TestKey;
  clock: ManualClock;
  url: string;
  token(claims?: Record<string, unknown>, kid?: string, key?: TestKey): Promise<string>;
  get(token: string): Promise<{ status: number; code: string | null }>;
  close(): Promise<void>;
}

async function rig(env: Record<string, string> = {}): Promise<Rig> {
  const key = await makeKey("ES256", "k1");
  const issuer = startIssuer({ keys: [key.publicJwk] });
  const clock = new ManualClock();
  const config = loadConfig((name) =>
    ({
      SUPABASE_URL: "http://127.0.0.1:9", // never contacted: only the third-party issuer is used
      SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: "sb_publishable_rig_rig_rig_rig" }),
      AUTH_ISSUERS: JSON.stringify([{
        issuer: issuer.issuer,
        jwks_url: issuer.jwksUrl,
        mode: "native",
        authorized_parties: [AZP],
        algorithms: ["ES256"],
      }]),
      AUTH_JWKS_TIMEOUT_MS: "300",
      ...env,
    } as Record<string, string>)[name]
  );
  const handler = withAuth(
    { allow: "user", roles: null, config, now: clock.now },
    (_req, ctx) => json({ id: ctx.identity!.id }),
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const url = `http://127.0.0.1:${server.addr.port}/functions/v1/fn`;
  return {
    issuer,
    key,
    clock,
    url,
    token: (claims = {}, kid, signer = key) =>
      sign(
        {
          iss: issuer.issuer,
          sub: "user_1",
          azp: AZP,
          role: "authenticated",
          exp: clock.sec + 3600,
          ...claims,
        },
        signer,
        {
          ...(kid ? { kid } : {}),
        },
      ),
    async get(token) {
      const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      const body = await r.json();
      if (r.status >= 400) assert.equal(r.headers.get("sb-error-code"), body.code);
      return { status: r.status, code: r.status >= 400 ? body.code : null };
    },
    async close() {
      await server.shutdown();
      await issuer.close();
    },
  };
}

Deno.test("faults/http: issuer down at cold start -> 503 jwks_unavailable", async () => {
  const r = await rig();
  try {
    r.issuer.fault = "down";
    assert.deepEqual(await r.get(await r.token()), { status: 503, code: "jwks_unavailable" });
  } finally {
    await r.close();
  }
});

Deno.test("faults/http: down after warm-up -> stale keys within the window, then 503", async () => {
  const r = await rig({ AUTH_JWKS_MAX_AGE_SECONDS: "600" });
  try {
    assert.equal((await r.get(await r.token())).status, 200);
    r.issuer.fault = "down";
    r.clock.advance(700); // expired set; refresh fails; 15 min stale window applies
    assert.equal((await r.get(await r.token({ jti: "a" }))).status, 200);
    r.clock.advance(900); // past max age + stale window
    assert.deepEqual(await r.get(await r.token({ jti: "b" })), {
      status: 503,
      code: "jwks_unavailable",
    });
  } finally {
    await r.close();
  }
});

for (
  const [fault, label] of [
    ["slow", "slower than AUTH_JWKS_TIMEOUT_MS"],
    ["huge", "a multi-megabyte body"],
    ["malformed", "malformed JSON"],
    ["redirect", "a redirect"],
  ] as const
) {
  Deno.test(`faults/http: ${label} -> 503, one fetch`, async () => {
    const r = await rig();
    try {
      r.issuer.fault = fault;
      r.issuer.slowMs = 2_000;
      assert.deepEqual(await r.get(await r.token()), { status: 503, code: "jwks_unavailable" });
      assert.equal(r.issuer.jwksFetches, 1);
    } finally {
      await r.close();
    }
  });
}

Deno.test("faults/http: 100 concurrent cold requests cause one JWKS fetch", async () => {
  const r = await rig();
  try {
    r.issuer.fault = "slow";
    r.issuer.slowMs = 100;
    const tokens = await Promise.all(
      Array.from({ length: 100 }, (_, i) => r.token({ sub: `user_${i}` })),
    );
    const results = await Promise.all(tokens.map((t) => r.get(t)));
    assert.ok(results.every((x) => x.status === 200));
    assert.equal(r.issuer.jwksFetches, 1);
  } finally {
    await r.close();
  }
});

Deno.test("faults/http: 1,000 unknown kids -> 401 unknown_key, fetches bounded by the cooldown", async () => {
  const r = await rig();
  try {
    await r.get(await r.token());
    r.clock.advance(31);
    const forged = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => r.token({}, `made-up-${i}`)),
    );
    const results = [];
    for (let i = 0; i < forged.length; i += 100) {
      results.push(...await Promise.all(forged.slice(i, i + 100).map((t) => r.get(t))));
    }
    assert.ok(results.every((x) => x.status === 401 && x.code === "unknown_key"));
    assert.equal(r.issuer.jwksFetches, 2, "one cold fetch + one refetch in the cooldown window");
  } finally {
    await r.close();
  }
});

Deno.test("faults/http: rotation: a new kid works after the cooldown; a removed key fails after max age", async () => {
  const r = await rig({ AUTH_JWKS_MAX_AGE_SECONDS: "600", AUTH_JWKS_COOLDOWN_SECONDS: "30" });
  try {
    assert.equal((await r.get(await r.token())).status, 200);
    const next = await makeKey("ES256", "k2");
    r.issuer.keys = [r.key.publicJwk, next.publicJwk];
    r.clock.advance(31);
    assert.equal((await r.get(await r.token({}, undefined, next))).status, 200, "new kid accepted");
    r.issuer.keys = [next.publicJwk];
    assert.equal(
      (await r.get(await r.token({ jti: "still" }))).status,
      200,
      "old key valid until the set is refreshed",
    );
    r.clock.advance(601);
    assert.deepEqual(await r.get(await r.token({ jti: "late" })), {
      status: 401,
      code: "unknown_key",
    });
  } finally {
    await r.close();
  }
});

Deno.test("faults/http: a plain-http JWKS URL to a non-loopback host fails closed naming the variable", async () => {
  const config = () =>
    loadConfig((name) =>
      ({
        SUPABASE_URL: "http://127.0.0.1:9",
        AUTH_ISSUERS: JSON.stringify([{
          issuer: "https://idp.example.com",
          jwks_url: "http://keys.example.com/jwks",
          mode: "native",
          audience: "api",
        }]),
      } as Record<string, string>)[name]
    );
  const original = console.error;
  console.error = () => {};
  try {
    const r = await withAuth({ allow: "user", config }, () => json({}))(new Request("http://x/fn"));
    const body = await r.json();
    assert.equal(r.status, 500);
    assert.equal(body.code, "server_misconfigured");
    assert.match(body.message, /AUTH_ISSUERS\[0\]\.jwks_url/);
  } finally {
    console.error = original;
  }
});

Deno.test("faults/http: the secret strategy without SB_JWT_SECRET fails closed naming it", async () => {
  const config = () =>
    loadConfig((name) => ({ SUPABASE_URL: "http://127.0.0.1:9" } as Record<string, string>)[name]);
  const original = console.error;
  console.error = () => {};
  try {
    const r = await withAuth({ allow: "user", strategy: "secret", config }, () => json({}))(
      new Request("http://x/fn"),
    );
    const body = await r.json();
    assert.equal(r.status, 500);
    assert.match(body.message, /SB_JWT_SECRET/);
  } finally {
    console.error = original;
  }
});
