/** JwksKeySet against a real JWKS server on 127.0.0.1, with an injected clock. */
import assert from "node:assert/strict";
import { JwksKeySet, type JwksOptions } from "../functions/_shared/parts.ts";
import { ManualClock, startIssuer } from "./helpers/issuer_server.ts";
import { makeKey } from "./helpers/keys.ts";
import { rejects } from "./helpers/verifier_fixture.ts";

const quiet = () => {};

async function setup(options: Partial<JwksOptions> = {}) {
  const key = await makeKey("ES256", "k1");
  const server = startIssuer({ keys: [key.publicJwk] });
  const clock = new ManualClock();
  const set = new JwksKeySet({
    url: new URL(server.jwksUrl),
    now: clock.now,
    warn: quiet,
    cooldownMs: 30_000,
    maxAgeMs: 600_000,
    staleIfErrorMs: 300_000,
    errorBackoffMs: 2_000,
    timeoutMs: 500,
    ...options,
  });
  return { key, server, clock, set };
}

Deno.test("jwks: a known kid is found and imported as a CryptoKey", async () => {
  const { server, set } = await setup();
  try {
    const entry = await set.getKey("k1", "ES256");
    const key = await JwksKeySet.cryptoKey(entry, "ES256");
    assert.equal(key.type, "public");
    assert.equal(server.jwksFetches, 1);
  } finally {
    await server.close();
  }
});

Deno.test("jwks: 100 concurrent cold requests cause exactly one fetch", async () => {
  const { server, set } = await setup();
  try {
    server.fault = "slow";
    server.slowMs = 50;
    await Promise.all(Array.from({ length: 100 }, () => set.getKey("k1", "ES256")));
    assert.equal(server.jwksFetches, 1);
  } finally {
    await server.close();
  }
});

Deno.test("jwks: warm cache answers without fetching", async () => {
  const { server, set } = await setup();
  try {
    await set.getKey("k1", "ES256");
    for (let i = 0; i < 50; i++) await set.getKey("k1", "ES256");
    assert.equal(server.jwksFetches, 1);
  } finally {
    await server.close();
  }
});

Deno.test("jwks: a flood of 1,000 unknown kids is bounded by the cooldown", async () => {
  const { server, set, clock } = await setup();
  try {
    await set.getKey("k1", "ES256");
    clock.advance(31); // past the cooldown: one refetch is allowed
    const codes = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => rejects(set.getKey(`unknown-${i}`, "ES256"))),
    );
    assert.ok(codes.every((c) => c === "unknown_key"));
    assert.equal(server.jwksFetches, 2);
    for (let i = 0; i < 100; i++) await rejects(set.getKey(`again-${i}`, "ES256"));
    assert.equal(server.jwksFetches, 2, "within the cooldown no further fetch happens");
  } finally {
    await server.close();
  }
});

Deno.test("jwks: a rotated-in key is picked up after the cooldown", async () => {
  const { server, set, clock } = await setup();
  try {
    await set.getKey("k1", "ES256");
    const next = await makeKey("ES256", "k2");
    server.keys = [...server.keys, next.publicJwk];
    clock.advance(5);
    assert.equal(await rejects(set.getKey("k2", "ES256")), "unknown_key", "inside the cooldown");
    clock.advance(30);
    const entry = await set.getKey("k2", "ES256");
    assert.equal(entry.kid, "k2");
  } finally {
    await server.close();
  }
});

Deno.test("jwks: a key removed from the set is retired after max age and then rejected", async () => {
  const { server, set, clock } = await setup();
  try {
    const entry = await set.getKey("k1", "ES256");
    const next = await makeKey("ES256", "k2");
    server.keys = [next.publicJwk];
    clock.advance(601);
    assert.equal(await rejects(set.getKey("k1", "ES256")), "unknown_key");
    assert.equal(entry.retired, true);
  } finally {
    await server.close();
  }
});

Deno.test("jwks: down at cold start fails closed with 503", async () => {
  const { server, set } = await setup();
  try {
    server.fault = "down";
    assert.equal(await rejects(set.getKey("k1", "ES256")), "jwks_unavailable");
  } finally {
    await server.close();
  }
});

Deno.test("jwks: down after warm-up serves stale keys within the window, then 503", async () => {
  const { server, set, clock } = await setup();
  try {
    await set.getKey("k1", "ES256");
    server.fault = "down";
    clock.advance(601); // expired: refresh fails, stale keys still serve
    assert.equal((await set.getKey("k1", "ES256")).kid, "k1");
    clock.advance(250); // still inside max age + 300 s stale window
    assert.equal((await set.getKey("k1", "ES256")).kid, "k1");
    clock.advance(60); // 911 s > 600 + 300
    assert.equal(await rejects(set.getKey("k1", "ES256")), "jwks_unavailable");
  } finally {
    await server.close();
  }
});

Deno.test("jwks: after a failure, retries wait for the error backoff", async () => {
  const { server, set, clock } = await setup();
  try {
    server.fault = "down";
    await rejects(set.getKey("k1", "ES256"));
    for (let i = 0; i < 20; i++) await rejects(set.getKey("k1", "ES256"));
    assert.equal(server.jwksFetches, 1);
    server.fault = "none";
    clock.advance(3);
    assert.equal((await set.getKey("k1", "ES256")).kid, "k1");
    assert.equal(server.jwksFetches, 2);
  } finally {
    await server.close();
  }
});

Deno.test("jwks: recovers after an outage", async () => {
  const { server, set, clock } = await setup();
  try {
    await set.getKey("k1", "ES256");
    server.fault = "down";
    clock.advance(1000);
    assert.equal(await rejects(set.getKey("k1", "ES256")), "jwks_unavailable");
    server.fault = "none";
    clock.advance(3);
    assert.equal((await set.getKey("k1", "ES256")).kid, "k1");
  } finally {
    await server.close();
  }
});

for (
  const [fault, label] of [
    ["slow", "slower than the timeout"],
    ["huge", "a multi-megabyte body"],
    ["malformed", "a truncated JSON body"],
    ["not-a-set", "JSON that is not a JWK Set"],
    ["redirect", "a redirect"],
  ] as const
) {
  Deno.test(`jwks: ${label} is refused (503 at cold start)`, async () => {
    const { server, set } = await setup({ timeoutMs: 200, maxBytes: 64 * 1024 });
    try {
      server.fault = fault;
      server.slowMs = 1_000;
      assert.equal(await rejects(set.getKey("k1", "ES256")), "jwks_unavailable");
      assert.equal(server.jwksFetches, 1);
    } finally {
      await server.close();
    }
  });
}

Deno.test("jwks: plain http to a non-loopback host is never fetched", async () => {
  let fetched = 0;
  const set = new JwksKeySet({
    url: new URL("http://jwks.example.com/keys"),
    warn: quiet,
    fetch: () => {
      fetched++;
      return Promise.resolve(new Response("{}"));
    },
  });
  assert.equal(await rejects(set.getKey("k1", "ES256")), "jwks_unavailable");
  assert.equal(fetched, 0);
});

Deno.test("jwks: a token without kid is refused without fetching", async () => {
  const { server, set } = await setup();
  try {
    assert.equal(await rejects(set.getKey(undefined, "ES256")), "unknown_key");
    assert.equal(server.jwksFetches, 0);
  } finally {
    await server.close();
  }
});

Deno.test("jwks: inline keys answer without any fetch", async () => {
  const key = await makeKey("RS256", "inline-1");
  const set = new JwksKeySet({ initial: { keys: [key.publicJwk] }, warn: quiet });
  assert.equal((await set.getKey("inline-1", "RS256")).kid, "inline-1");
  assert.equal(await rejects(set.getKey("other", "RS256")), "unknown_key");
});

Deno.test("jwks: alg must fit the key type (ES256 token against an RSA key)", async () => {
  const key = await makeKey("RS256", "r1");
  const set = new JwksKeySet({ initial: [key.publicJwk], warn: quiet });
  assert.equal(await rejects(set.getKey("r1", "ES256")), "unsupported_algorithm");
});

Deno.test("jwks: alg must match the key's own alg (PS256 token, RS256 key)", async () => {
  const key = await makeKey("RS256", "r1");
  const set = new JwksKeySet({ initial: [key.publicJwk], warn: quiet });
  assert.equal(await rejects(set.getKey("r1", "PS256")), "unsupported_algorithm");
});

Deno.test("jwks: curve must match the alg (ES384 token, P-256 key)", async () => {
  const key = await makeKey("ES256", "e1");
  const { alg: _alg, ...noAlg } = key.publicJwk;
  const set = new JwksKeySet({ initial: [noAlg], warn: quiet });
  assert.equal(await rejects(set.getKey("e1", "ES384")), "unsupported_algorithm");
});

const unusable: [string, (jwk: Record<string, unknown>) => Record<string, unknown>][] = [
  ["a private key", (j) => ({ ...j, d: "AAAA" })],
  ["use enc", (j) => ({ ...j, use: "enc" })],
  ["key_ops without verify", (j) => ({ ...j, key_ops: ["encrypt"] })],
  ["no kid", (j) => ({ ...j, kid: undefined })],
  ["a symmetric key", () => ({ kty: "oct", k: "c2VjcmV0", kid: "k1" })],
];
for (const [name, mutate] of unusable) {
  Deno.test(`jwks: ${name} is never used for verification`, async () => {
    const key = await makeKey("ES256", "k1");
    const warnings: string[] = [];
    const set = new JwksKeySet({
      initial: [mutate({ ...key.publicJwk })],
      warn: (m) => warnings.push(m),
    });
    assert.equal(await rejects(set.getKey("k1", "ES256")), "unknown_key");
    assert.equal(warnings.length, 1);
    assert.ok(!warnings[0]!.includes("AAAA"), "key material never reaches a log line");
  });
}

Deno.test("jwks: RSA keys under 2048 bits are refused", async () => {
  const { publicKey } = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 1024,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  const jwk = { ...(await crypto.subtle.exportKey("jwk", publicKey)), kid: "weak" };
  const set = new JwksKeySet({ initial: [jwk], warn: quiet });
  assert.equal(await rejects(set.getKey("weak", "RS256")), "unknown_key");
});

Deno.test("jwks: warnings name the URL but never a token or key value", async () => {
  const warnings: string[] = [];
  const { server, set } = await setup({ warn: (m) => warnings.push(m) });
  try {
    server.fault = "down";
    await rejects(set.getKey("k1", "ES256"));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /jwks: refresh failed: .*503/);
  } finally {
    await server.close();
  }
});
