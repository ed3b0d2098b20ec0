/**
 * TokenVerifier: every strategy, real signatures (ES256, RS256, EdDSA, HS256), claims at
 * their edges with an injected clock, several issuers, and the security bar's attacks.
 */
import assert from "node:assert/strict";
import { exportSPKI, SignJWT } from "jose";
import { fixture, rejects, withFixture } from "./helpers/verifier_fixture.ts";
import { b64url, makeKey, sign, supabaseClaims } from "./helpers/keys.ts";
import { TokenVerifier } from "../functions/_shared/parts.ts";

const UID = "8c6f4a8e-4a4e-4c7b-9f5e-0d4c1b2a3f10";
const SESSION = "2b1f6c3e-9d0a-4e6b-8f7c-5a4d3c2b1a00";

// ---------------------------------------------------------------- accepted tokens

for (const which of ["es", "rs", "ed"] as const) {
  withFixture(
    `verify/jwks: accepts a Supabase ${which.toUpperCase()} token and normalizes it`,
    async (f) => {
      const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys[which]);
      const id = await f.verifier("jwks").verify(token);
      assert.equal(id.id, UID);
      assert.equal(id.kind, "user");
      assert.equal(id.role, "authenticated");
      assert.equal(id.email, "ada@example.com");
      assert.equal(id.provider, "supabase");
      assert.equal(id.issuer, f.supabase.issuer);
      assert.equal(id.sessionId, "2b1f6c3e-9d0a-4e6b-8f7c-5a4d3c2b1a00");
      assert.equal(id.aal, "aal1");
      assert.equal(id.isAnonymous, false);
      assert.equal(f.supabase.userCalls, 0);
    },
  );
}

withFixture("verify/secret: accepts a legacy HS256 token locally", async (f) => {
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), "HS256");
  assert.equal((await f.verifier("secret").verify(token)).id, UID);
  assert.equal(f.supabase.jwksFetches + f.supabase.userCalls, 0);
});

withFixture("verify/auto: HS256 with a secret configured stays local", async (f) => {
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), "HS256");
  await f.verifier("auto").verify(token);
  assert.equal(f.supabase.userCalls, 0);
});

withFixture("verify/auto: HS256 without a secret asks Supabase Auth", async (f) => {
  f.supabase.users.set(UID, { id: UID });
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), "HS256");
  const v = f.verifier("auto", {
    supabase: {
      url: f.supabase.url,
      issuer: f.supabase.issuer,
      apiKey: "sb_publishable_test_key_0123456789",
    },
    now: Date.now,
  });
  assert.equal((await v.verify(token)).id, UID);
  assert.equal(f.supabase.userCalls, 1);
});

withFixture("verify/auto: ES256 is verified locally with no Auth call", async (f) => {
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.es);
  await f.verifier("auto").verify(token);
  assert.equal(f.supabase.userCalls, 0);
  assert.equal(f.supabase.jwksFetches, 1);
});

withFixture("verify/jwks: HS256 is refused even when a secret exists", async (f) => {
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), "HS256");
  assert.equal(await rejects(f.verifier("jwks").verify(token)), "unsupported_algorithm");
});

withFixture("verify/secret: asymmetric Supabase tokens are refused", async (f) => {
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.es);
  assert.equal(await rejects(f.verifier("secret").verify(token)), "unsupported_algorithm");
});

// ---------------------------------------------------------------- getUser (fake Auth on loopback)

async function getUserCase(
  prepare: (f: Awaited<ReturnType<typeof fixture>>) => void,
  claims: Record<string, unknown> = {},
): Promise<{ code: string; calls: number }> {
  const f = await fixture();
  try {
    f.supabase.users.set(UID, { id: UID, email: "ada@example.com" });
    prepare(f);
    const token = await sign(
      supabaseClaims(f.supabase.issuer, Math.floor(Date.now() / 1000), claims),
      f.keys.es,
    );
    const v = f.verifier("getUser", { now: Date.now });
    const code = await rejects(v.verify(token));
    return { code, calls: f.supabase.userCalls };
  } finally {
    await f.close();
  }
}

Deno.test("verify/getUser: a live user and session are accepted", async () => {
  assert.deepEqual(await getUserCase(() => {}), { code: "accepted", calls: 1 });
});

Deno.test("verify/getUser: a signed-out session is rejected (session_not_found)", async () => {
  const r = await getUserCase((f) => f.supabase.signedOutSessions.add(SESSION));
  assert.deepEqual(r, { code: "session_not_found", calls: 1 });
});

Deno.test("verify/getUser: a deleted user is rejected (user_not_found)", async () => {
  assert.equal((await getUserCase((f) => f.supabase.users.clear())).code, "user_not_found");
});

Deno.test("verify/getUser: a banned user is rejected (user_banned)", async () => {
  const r = await getUserCase((f) => f.supabase.users.set(UID, { id: UID, banned: true }));
  assert.equal(r.code, "user_banned");
});

Deno.test("verify/getUser: Auth answering 502 is 503 auth_unavailable", async () => {
  assert.equal((await getUserCase((f) => (f.supabase.authDown = true))).code, "auth_unavailable");
});

Deno.test("verify/getUser: an expired token is token_expired", async () => {
  const now = Math.floor(Date.now() / 1000);
  const r = await getUserCase(() => {}, { iat: now - 7200, exp: now - 3600 });
  assert.equal(r.code, "token_expired");
});

Deno.test("verify/getUser: Auth unreachable is 503 auth_unavailable", async () => {
  const f = await fixture();
  const { port } = (() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const addr = l.addr as Deno.NetAddr;
    l.close();
    return addr;
  })();
  try {
    const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.es);
    const v = f.verifier("getUser", {
      supabase: {
        url: `http://127.0.0.1:${port}`,
        issuer: f.supabase.issuer,
        apiKey: "sb_publishable_test_key_0123456789",
      },
    });
    assert.equal(await rejects(v.verify(token)), "auth_unavailable");
  } finally {
    await f.close();
  }
});

withFixture("verify/getUser: every call asks Auth unless caching is opted in", async (f) => {
  f.supabase.users.set(UID, { id: UID });
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.es);
  const plain = f.verifier("getUser");
  await plain.verify(token);
  await plain.verify(token);
  assert.equal(f.supabase.userCalls, 2);
  const cached = f.verifier("getUser", { getUserCacheTtlMs: 5_000 });
  await cached.verify(token);
  await cached.verify(token);
  assert.equal(f.supabase.userCalls, 3);
  f.clock.advance(6);
  await cached.verify(token);
  assert.equal(f.supabase.userCalls, 4, "the opt-in cache expires after its TTL");
});

withFixture("verify/getUser: garbage tokens never reach Auth", async (f) => {
  const v = f.verifier("getUser");
  for (const t of ["x", "a.b.c", `${b64url('{"alg":"none"}')}.${b64url("{}")}.`]) {
    assert.notEqual(await rejects(v.verify(t)), "accepted");
  }
  assert.equal(f.supabase.userCalls, 0);
});

// ---------------------------------------------------------------- signatures

withFixture("verify/signature: a tampered payload is rejected", async (f) => {
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.es);
  const [h, , s] = token.split(".");
  const forged = `${h}.${
    b64url(
      JSON.stringify(supabaseClaims(f.supabase.issuer, f.clock.sec, { role: "service_role" })),
    )
  }.${s}`;
  assert.equal(await rejects(f.verifier("jwks").verify(forged)), "invalid_signature");
});

withFixture("verify/signature: a flipped signature byte is rejected", async (f) => {
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.rs);
  const i = token.lastIndexOf(".") + 10;
  const flipped = token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
  assert.equal(await rejects(f.verifier("jwks").verify(flipped)), "invalid_signature");
});

withFixture("verify/signature: a truncated ES256 signature is rejected", async (f) => {
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.es);
  const truncated = token.slice(0, token.length - 20);
  assert.equal(await rejects(f.verifier("jwks").verify(truncated)), "invalid_signature");
});

withFixture(
  "verify/signature: a token signed by another key under the same kid is rejected",
  async (f) => {
    const impostor = await makeKey("ES256", "sb-es");
    const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), impostor);
    assert.equal(await rejects(f.verifier("jwks").verify(token)), "invalid_signature");
  },
);

withFixture("verify/signature: ECDSA r=0,s=0 ('psychic signature') is rejected", async (f) => {
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.es);
  const zero = b64url(new Uint8Array(64));
  const forged = token.slice(0, token.lastIndexOf(".") + 1) + zero;
  assert.equal(await rejects(f.verifier("jwks").verify(forged)), "invalid_signature");
});

withFixture(
  "verify/confusion: HS256 signed with the RSA public key as secret is refused (jwks)",
  async (f) => {
    const pem = await exportSPKI(
      await crypto.subtle.importKey(
        "jwk",
        f.keys.rs.publicJwk as JsonWebKey,
        { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
        true,
        ["verify"],
      ),
    );
    const forged = await new SignJWT(supabaseClaims(f.supabase.issuer, f.clock.sec))
      .setProtectedHeader({ alg: "HS256", kid: "sb-rs" })
      .sign(new TextEncoder().encode(pem));
    assert.equal(await rejects(f.verifier("jwks").verify(forged)), "unsupported_algorithm");
    assert.equal(await rejects(f.verifier("auto").verify(forged)), "invalid_signature");
  },
);

withFixture(
  "verify/confusion: HS256 signed with the public JWK JSON as secret is refused",
  async (f) => {
    const forged = await new SignJWT(supabaseClaims(f.supabase.issuer, f.clock.sec))
      .setProtectedHeader({ alg: "HS256", kid: "sb-es" })
      .sign(new TextEncoder().encode(JSON.stringify(f.keys.es.publicJwk)));
    assert.equal(await rejects(f.verifier("secret").verify(forged)), "invalid_signature");
  },
);

withFixture("verify/confusion: an RS256 header pointing at an EC key is refused", async (f) => {
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.rs, {
    kid: "sb-es",
  });
  assert.equal(await rejects(f.verifier("jwks").verify(token)), "unsupported_algorithm");
});

// ---------------------------------------------------------------- issuers

withFixture("verify/issuers: an unknown issuer is refused with no fetch anywhere", async (f) => {
  const token = await sign(
    supabaseClaims("https://evil.example.com/auth/v1", f.clock.sec),
    f.keys.es,
  );
  assert.equal(await rejects(f.verifier("auto").verify(token)), "untrusted_issuer");
  assert.equal(f.supabase.jwksFetches + f.clerk.jwksFetches + f.auth0.jwksFetches, 0);
});

for (
  const [label, mutate] of [
    ["trailing slash", (s: string) => `${s}/`],
    ["upper case", (s: string) => s.toUpperCase()],
    ["missing", (_s: string) => undefined],
    ["a number", (_s: string) => 42],
  ] as const
) {
  withFixture(`verify/issuers: iss must match exactly (${label})`, async (f) => {
    const token = await sign(
      supabaseClaims(f.supabase.issuer, f.clock.sec, { iss: mutate(f.supabase.issuer) }),
      f.keys.es,
    );
    assert.equal(await rejects(f.verifier("jwks").verify(token)), "untrusted_issuer");
  });
}

withFixture("verify/issuers: a kid from the wrong issuer's set is unknown", async (f) => {
  const claims = {
    iss: f.clerk.issuer,
    sub: "user_2abc",
    azp: "https://app.example.com",
    exp: f.clock.sec + 60,
    role: "authenticated",
  };
  const token = await sign(claims, f.keys.rs); // Supabase's RS key, presented as Clerk's
  assert.equal(await rejects(f.verifier("jwks").verify(token)), "unknown_key");
});

withFixture(
  "verify/issuers: an algorithm outside the issuer's allowlist costs no fetch",
  async (f) => {
    const claims = {
      iss: f.clerk.issuer,
      sub: "user_2abc",
      azp: "https://app.example.com",
      exp: f.clock.sec + 60,
    };
    const token = await sign(claims, f.keys.es);
    assert.equal(await rejects(f.verifier("jwks").verify(token)), "unsupported_algorithm");
    assert.equal(f.clerk.jwksFetches, 0);
  },
);

withFixture("verify/clerk: a native Clerk token with an allowed azp is accepted", async (f) => {
  const claims = {
    iss: f.clerk.issuer,
    sub: "user_2abcDEF",
    azp: "https://app.example.com",
    role: "authenticated",
    sid: "sess_123",
    o: { id: "org_42", rol: "admin" },
    iat: f.clock.sec,
    exp: f.clock.sec + 60,
  };
  const id = await f.verifier("jwks").verify(await sign(claims, f.keys.clerk));
  assert.equal(id.id, "clerk:user_2abcDEF");
  assert.equal(id.subject, "user_2abcDEF");
  assert.equal(id.provider, "clerk");
  assert.equal(id.org, "org_42");
  // Only Supabase Auth vouches for session ids; Clerk's stays in the raw claims.
  assert.equal(id.sessionId, null);
  assert.equal(id.claims.sid, "sess_123");
});

for (const azp of ["https://evil.example.com", undefined]) {
  withFixture(`verify/clerk: azp ${azp ?? "missing"} is unauthorized_party`, async (f) => {
    const claims = { iss: f.clerk.issuer, sub: "user_2abc", azp, exp: f.clock.sec + 60 };
    assert.equal(
      await rejects(f.verifier("jwks").verify(await sign(claims, f.keys.clerk))),
      "unauthorized_party",
    );
  });
}

withFixture("verify/auth0: keys are found through OIDC discovery, fetched once", async (f) => {
  const v = f.verifier("jwks");
  for (let i = 0; i < 5; i++) {
    const claims = {
      iss: f.auth0.issuer,
      sub: `auth0|${i}`,
      aud: ["https://api.example.com", "https://x/userinfo"],
      role: "authenticated",
      exp: f.clock.sec + 60,
    };
    assert.equal((await v.verify(await sign(claims, f.keys.auth0))).id, `auth0:auth0|${i}`);
  }
  assert.equal(f.auth0.discoveryFetches, 1);
  assert.equal(f.auth0.jwksFetches, 1);
});

withFixture("verify/auth0: a token for another API is invalid_audience", async (f) => {
  const claims = {
    iss: f.auth0.issuer,
    sub: "auth0|1",
    aud: "https://other-api.example.com",
    exp: f.clock.sec + 60,
  };
  assert.equal(
    await rejects(f.verifier("jwks").verify(await sign(claims, f.keys.auth0))),
    "invalid_audience",
  );
});

withFixture("verify/auth0: a client-credentials token is a machine with scopes", async (f) => {
  const claims = {
    iss: f.auth0.issuer,
    sub: "abc123@clients",
    aud: "https://api.example.com",
    gty: "client-credentials",
    scope: "posts:admin posts:read",
    exp: f.clock.sec + 60,
  };
  const id = await f.verifier("jwks").verify(await sign(claims, f.keys.auth0));
  assert.equal(id.kind, "machine");
  assert.deepEqual([...id.scopes], ["posts:admin", "posts:read"]);
});

withFixture(
  "verify/issuers: exchange-mode issuers are not trusted by ordinary functions",
  async (f) => {
    const spec = { ...f.auth0Spec, mode: "exchange" as const };
    const v = f.verifier("jwks", { issuers: [spec] });
    const claims = {
      iss: f.auth0.issuer,
      sub: "u",
      aud: "https://api.example.com",
      exp: f.clock.sec + 60,
    };
    assert.equal(await rejects(v.verify(await sign(claims, f.keys.auth0))), "untrusted_issuer");
    const exchange = f.verifier("jwks", { issuers: [spec], acceptModes: ["exchange"] });
    assert.equal((await exchange.verify(await sign(claims, f.keys.auth0))).id, "auth0:u");
  },
);

// ---------------------------------------------------------------- claims at their edges

const claimCases: [string, (now: number) => Record<string, unknown>, string][] = [
  ["exp missing", () => ({ exp: undefined }), "invalid_claims"],
  ["exp a string", (n) => ({ exp: String(n + 60) }), "invalid_claims"],
  ["expired long ago", (n) => ({ iat: n - 7200, exp: n - 3600 }), "token_expired"],
  ["expired 31 s ago (skew 30)", (n) => ({ exp: n - 31 }), "token_expired"],
  ["expired 29 s ago (within skew)", (n) => ({ exp: n - 29 }), "accepted"],
  ["nbf 60 s ahead", (n) => ({ nbf: n + 60 }), "token_not_yet_valid"],
  ["nbf 20 s ahead (within skew)", (n) => ({ nbf: n + 20 }), "accepted"],
  ["nbf a string", (n) => ({ nbf: String(n) }), "invalid_claims"],
  ["iat 60 s ahead", (n) => ({ iat: n + 60 }), "token_issued_in_future"],
  ["iat 20 s ahead (within skew)", (n) => ({ iat: n + 20 }), "accepted"],
  ["iat a string", (n) => ({ iat: String(n) }), "invalid_claims"],
  ["aud other", () => ({ aud: "anon" }), "invalid_audience"],
  ["aud missing", () => ({ aud: undefined }), "invalid_audience"],
  ["aud array containing authenticated", () => ({ aud: ["x", "authenticated"] }), "accepted"],
  ["sub missing", () => ({ sub: undefined }), "invalid_claims"],
  ["sub empty", () => ({ sub: "" }), "invalid_claims"],
  ["sub a number", () => ({ sub: 42 }), "invalid_claims"],
  ["role an object", () => ({ role: { name: "service_role" } }), "invalid_claims"],
  ["exp 1e300 (never expires)", () => ({ exp: 1e300 }), "invalid_claims"],
  ["exp two years ahead", (n) => ({ exp: n + 2 * 366 * 86400 }), "invalid_claims"],
  ["exp 300 days ahead", (n) => ({ exp: n + 300 * 86400 }), "accepted"],
];
for (const [label, overrides, expected] of claimCases) {
  withFixture(`verify/claims: ${label} -> ${expected}`, async (f) => {
    const token = await sign(
      supabaseClaims(f.supabase.issuer, f.clock.sec, overrides(f.clock.sec)),
      f.keys.es,
    );
    assert.equal(await rejects(f.verifier("jwks").verify(token)), expected);
  });
}

withFixture("verify/claims: a missing role becomes anon (what PostgREST would do)", async (f) => {
  const token = await sign(
    supabaseClaims(f.supabase.issuer, f.clock.sec, { role: undefined }),
    f.keys.es,
  );
  assert.equal((await f.verifier("jwks").verify(token)).role, "anon");
});

withFixture(
  "verify/claims: the skew is configurable (0 s rejects a token 1 s past exp)",
  async (f) => {
    const token = await sign(
      supabaseClaims(f.supabase.issuer, f.clock.sec, { exp: f.clock.sec - 1 }),
      f.keys.es,
    );
    assert.equal(
      await rejects(f.verifier("jwks", { clockSkewSeconds: 0 }).verify(token)),
      "token_expired",
    );
  },
);

// ---------------------------------------------------------------- cache

withFixture("verify/cache: a repeated token is served from the cache", async (f) => {
  const v = f.verifier("jwks");
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.es);
  const first = await v.verify(token);
  const second = await v.verify(token);
  assert.equal(second, first, "the very same identity object comes back");
  assert.equal(v.cacheSize, 1);
});

withFixture("verify/cache: a cached token still expires on time", async (f) => {
  const v = f.verifier("jwks");
  const token = await sign(
    supabaseClaims(f.supabase.issuer, f.clock.sec, { exp: f.clock.sec + 60 }),
    f.keys.es,
  );
  await v.verify(token);
  f.clock.advance(91); // 60 s lifetime + 30 s skew
  assert.equal(await rejects(v.verify(token)), "token_expired");
});

withFixture("verify/cache: size 0 disables it", async (f) => {
  const v = f.verifier("jwks", { tokenCacheSize: 0 });
  await v.verify(await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.es));
  assert.equal(v.cacheSize, 0);
});

withFixture("verify/cache: it is bounded (LRU)", async (f) => {
  const v = f.verifier("jwks", { tokenCacheSize: 3 });
  for (let i = 0; i < 5; i++) {
    await v.verify(
      await sign(supabaseClaims(f.supabase.issuer, f.clock.sec, { jti: String(i) }), f.keys.es),
    );
  }
  assert.equal(v.cacheSize, 3);
});

withFixture(
  "verify/cache: tokens verified by a key that left the JWKS are re-verified and refused",
  async (f) => {
    const v = f.verifier("jwks");
    const byEs = await sign(
      supabaseClaims(f.supabase.issuer, f.clock.sec, { exp: f.clock.sec + 7200 }),
      f.keys.es,
    );
    await v.verify(byEs);
    f.supabase.keys = [f.keys.rs.publicJwk]; // ES key rotated out
    f.clock.advance(601);
    await v.verify(await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.rs)); // triggers the refresh
    assert.equal(await rejects(v.verify(byEs)), "unknown_key");
  },
);

withFixture("verify/cache: a different encoding of a token is verified on its own", async (f) => {
  const v = f.verifier("jwks");
  const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec), f.keys.es);
  await v.verify(token);
  const [h, p, s] = token.split(".");
  // Same header JSON re-encoded with different whitespace: a different string, not a cache hit.
  const header = JSON.stringify(
    JSON.parse(atob(h!.replace(/-/g, "+").replace(/_/g, "/"))),
    null,
    1,
  );
  assert.equal(await rejects(v.verify(`${b64url(header)}.${p}.${s}`)), "invalid_signature");
});

// ---------------------------------------------------------------- misconfiguration

Deno.test("verify/config: a secret under 32 bytes fails closed at construction", () => {
  const supabase = {
    url: "http://127.0.0.1:1",
    issuer: "http://127.0.0.1:1/auth/v1",
    jwtSecret: new TextEncoder().encode("short"),
  };
  assert.throws(() => new TokenVerifier({ strategy: "secret", supabase }), /at least 32 bytes/);
});

withFixture(
  "verify/jwks: the fully specified alg name Ed25519 verifies against a key published as EdDSA",
  async (f) => {
    assert.equal(f.keys.ed.publicJwk.alg, "EdDSA");
    const token = await new SignJWT(supabaseClaims(f.supabase.issuer, f.clock.sec))
      .setProtectedHeader({ alg: "Ed25519", kid: f.keys.ed.kid })
      .sign(f.keys.ed.privateKey);
    assert.equal((await f.verifier("jwks").verify(token)).id, UID);
  },
);

// ---------------------------------------------------------------- what a role claim may name

Deno.test("verify/getUser: a token for another audience is refused before any call to Auth", async () => {
  const r = await getUserCase(() => {}, { aud: "some-other-project" });
  assert.deepEqual(r, { code: "invalid_audience", calls: 0 });
});

const clerkUser = (f: Awaited<ReturnType<typeof fixture>>, claims: Record<string, unknown>) =>
  sign({
    iss: f.clerk.issuer,
    sub: "user_2abc",
    azp: "https://app.example.com",
    exp: f.clock.sec + 60,
    ...claims,
  }, f.keys.clerk);

for (const role of ["service_role", "postgres", "supabase_admin", "anon"]) {
  withFixture(`verify/roles: a third-party token naming "${role}" is refused`, async (f) => {
    const token = await clerkUser(f, { role });
    assert.equal(await rejects(f.verifier("jwks").verify(token)), "role_not_allowed");
  });
}

withFixture("verify/roles: anon only where the issuer entry lists it", async (f) => {
  const token = await clerkUser(f, { role: "anon" });
  const spec = { ...f.clerkSpec, roles: ["authenticated", "anon"] };
  const v = f.verifier("jwks", { issuers: [spec] });
  assert.equal((await v.verify(token)).role, "anon");
});

withFixture("verify/roles: a third-party user token without a role is refused", async (f) => {
  const token = await clerkUser(f, {});
  assert.equal(await rejects(f.verifier("jwks").verify(token)), "role_not_allowed");
});

withFixture("verify/roles: project tokens may not name a database role", async (f) => {
  for (const role of ["postgres", "supabase_admin", "authenticator"]) {
    const token = await sign(supabaseClaims(f.supabase.issuer, f.clock.sec, { role }), f.keys.es);
    assert.equal(await rejects(f.verifier("jwks").verify(token)), "role_not_allowed", role);
  }
  const service = await sign(
    supabaseClaims(f.supabase.issuer, f.clock.sec, { role: "service_role" }),
    f.keys.es,
  );
  assert.equal((await f.verifier("jwks").verify(service)).role, "service_role");
});

withFixture(
  "verify/roles: a machine without a role passes a function, not the database",
  async (f) => {
    const claims = {
      iss: f.auth0.issuer,
      sub: "abc123@clients",
      aud: "https://api.example.com",
      gty: "client-credentials",
      exp: f.clock.sec + 60,
    };
    const token = await sign(claims, f.keys.auth0);
    assert.equal((await f.verifier("jwks").verify(token)).kind, "machine");
    const forDb = f.verifier("jwks", { forDatabase: true });
    assert.equal(await rejects(forDb.verify(token)), "role_not_allowed");
  },
);
