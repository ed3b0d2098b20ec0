/**
 * Verification and in-process request cost, side by side with the anchors on the same
 * keys and tokens: raw WebCrypto (the floor), jose `jwtVerify`, supabase-js
 * `auth.getClaims(token, {jwks})`, and `@supabase/server`'s `withSupabase({auth: "user"})`.
 * Run through `deno task bench` (bench/run.ts), which also measures HTTP and cold start.
 */
import { createClient } from "@supabase/supabase-js";
import { withSupabase } from "@supabase/server";
import { exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from "jose";
import { json, loadConfig, withAuth } from "../functions/_shared/mod.ts";
import { TokenVerifier } from "../functions/_shared/parts.ts";

const URL_ = "http://127.0.0.1:54321";
const ISSUER = `${URL_}/auth/v1`;
const SECRET = "bench-legacy-jwt-secret-0123456789abcdef";
const PUBLISHABLE = "sb_publishable_bench_bench_bench_bench";
const SECRET_KEY = "sb_secret_bench_bench_bench_bench_bench";

type Alg = "ES256" | "RS256" | "EdDSA" | "HS256";
const algs: Alg[] = ["ES256", "RS256", "EdDSA", "HS256"];
const now = Math.floor(Date.now() / 1000);
const claims = (sub: string) => ({
  iss: ISSUER,
  aud: "authenticated",
  sub,
  role: "authenticated",
  email: "bench@example.com",
  session_id: "2b1f6c3e-9d0a-4e6b-8f7c-5a4d3c2b1a00",
  iat: now,
  exp: now + 3600,
});

const keys = new Map<
  Alg,
  { sign: CryptoKey | Uint8Array; verify: CryptoKey | Uint8Array; jwk?: JWK }
>();
for (const alg of algs) {
  if (alg === "HS256") {
    const k = new TextEncoder().encode(SECRET);
    keys.set(alg, { sign: k, verify: k });
    continue;
  }
  const pair = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}),
  });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: `bench-${alg}`, alg, use: "sig" };
  keys.set(alg, { sign: pair.privateKey, verify: pair.publicKey, jwk });
}
const jwks = { keys: [...keys.values()].flatMap((k) => (k.jwk ? [k.jwk] : [])) };

function sign(alg: Alg, sub: string): Promise<string> {
  const header = alg === "HS256" ? { alg, typ: "JWT" } : { alg, typ: "JWT", kid: `bench-${alg}` };
  return new SignJWT(claims(sub)).setProtectedHeader(header).sign(keys.get(alg)!.sign);
}

const tokens = new Map<Alg, string>();
for (const alg of algs) tokens.set(alg, await sign(alg, "8c6f4a8e-4a4e-4c7b-9f5e-0d4c1b2a3f10"));
const FRESH = 4000; // more than the token cache holds: each use is a first-seen token
const freshTokens: string[] = [];
for (let i = 0; i < FRESH; i++) freshTokens.push(await sign("ES256", crypto.randomUUID()));
let freshIndex = 0;
const nextFresh = () => freshTokens[freshIndex++ % FRESH]!;

const supabase = {
  url: URL_,
  issuer: ISSUER,
  apiKey: PUBLISHABLE,
  jwks,
  fetchJwks: false,
  jwtSecret: new TextEncoder().encode(SECRET),
};
const cached = new TokenVerifier({ strategy: "auto", supabase });
const uncached = new TokenVerifier({ strategy: "auto", supabase, tokenCacheSize: 0 });

// The floor: one WebCrypto signature check on already-decoded bytes.
const floors = new Map<Alg, () => Promise<boolean>>();
for (const alg of algs) {
  const token = tokens.get(alg)!;
  const dot = token.lastIndexOf(".");
  const data = new TextEncoder().encode(token.slice(0, dot));
  const sigB64 = token.slice(dot + 1).replace(/-/g, "+").replace(/_/g, "/");
  const sig = Uint8Array.from(
    atob(sigB64 + "===".slice((sigB64.length + 3) % 4)),
    (c) => c.charCodeAt(0),
  );
  const params = alg === "ES256"
    ? { name: "ECDSA", hash: "SHA-256" }
    : alg === "RS256"
    ? { name: "RSASSA-PKCS1-v1_5" }
    : alg === "EdDSA"
    ? { name: "Ed25519" }
    : { name: "HMAC" };
  const key = alg === "HS256"
    ? await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(SECRET),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["verify"],
    )
    : keys.get(alg)!.verify as CryptoKey;
  floors.set(alg, () => crypto.subtle.verify(params, key, sig, data));
}

const joseKeys = new Map<Alg, CryptoKey | Uint8Array>();
for (const alg of algs) {
  joseKeys.set(
    alg,
    alg === "HS256" ? keys.get(alg)!.verify : await importJWK(keys.get(alg)!.jwk!, alg),
  );
}

for (const alg of algs) {
  const token = tokens.get(alg)!;
  await cached.verify(token); // warm: imported keys and one cache entry
  await uncached.verify(token);
  Deno.bench({
    name: `WebCrypto verify (floor)`,
    group: `verify ${alg}`,
    fn: async () => void await floors.get(alg)!(),
  });
  Deno.bench({
    name: `jose jwtVerify`,
    group: `verify ${alg}`,
    fn: async () => void await jwtVerify(token, joseKeys.get(alg)!, { algorithms: [alg] }),
  });
  Deno.bench({
    name: `ours, uncached`,
    group: `verify ${alg}`,
    fn: async () => void await uncached.verify(token),
  });
  Deno.bench({
    name: `ours, cached (async verify)`,
    group: `verify ${alg}`,
    fn: async () => void await cached.verify(token),
  });
  Deno.bench({
    name: `ours, cached (lookup: the wrapper's path)`,
    group: `verify ${alg}`,
    baseline: true,
    fn: () => {
      if (!cached.lookup(token)) throw new Error("miss");
    },
  });
}

// Reference for "cached within 2x of a Map lookup plus an exp check".
const reference = new Map([[tokens.get("ES256")!, { exp: now + 3600 }]]);
Deno.bench({
  name: "Map lookup + exp check (reference)",
  group: "verify ES256",
  fn: () => {
    const hit = reference.get(tokens.get("ES256")!);
    if (!hit || hit.exp * 1000 <= Date.now()) throw new Error("miss");
  },
});

// supabase-js getClaims with the same JWKS (ES256).
const anchorClient = createClient(URL_, PUBLISHABLE, {
  auth: { persistSession: false, autoRefreshToken: false },
});
Deno.bench({
  name: "supabase-js auth.getClaims(token, {jwks})",
  group: "verify ES256",
  fn: async () => {
    const { error } = await anchorClient.auth.getClaims(tokens.get("ES256")!, {
      jwks: jwks as never,
    });
    if (error) throw error;
  },
});

// Whole handlers, in process: the same trivial work (answer the caller's id).
const env = {
  url: URL_,
  publishableKeys: { default: PUBLISHABLE },
  secretKeys: { default: SECRET_KEY },
  jwks,
};
const anchorHandler = withSupabase(
  { auth: "user", env },
  (_req, ctx) => Promise.resolve(Response.json({ id: ctx.userClaims?.id })),
);
const config = loadConfig((name) =>
  ({
    SUPABASE_URL: URL_,
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE }),
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET_KEY }),
    SUPABASE_JWKS: JSON.stringify(jwks),
    AUTH_TOKEN_CACHE_SIZE: "1000",
  } as Record<string, string>)[name]
);
const ourHandler = withAuth(
  { allow: "user", config },
  (_req, ctx) => json({ id: ctx.identity!.id }),
);
const request = (token: string) =>
  new Request(`${URL_}/functions/v1/me`, {
    headers: { authorization: `Bearer ${token}`, apikey: PUBLISHABLE },
  });

for (
  const [name, handler] of [["@supabase/server withSupabase", anchorHandler], [
    "ours withAuth",
    ourHandler,
  ]] as const
) {
  const r = await handler(request(tokens.get("ES256")!));
  if (r.status !== 200) throw new Error(`${name} warm-up answered ${r.status}: ${await r.text()}`);
  await r.body?.cancel();
}

Deno.bench({
  name: "@supabase/server withSupabase",
  group: "request, repeated token",
  fn: async () => void await (await anchorHandler(request(tokens.get("ES256")!))).arrayBuffer(),
});
Deno.bench({
  name: "ours withAuth",
  group: "request, repeated token",
  baseline: true,
  fn: async () => void await (await ourHandler(request(tokens.get("ES256")!))).arrayBuffer(),
});
Deno.bench({
  name: "@supabase/server withSupabase",
  group: "request, first-seen token",
  fn: async () => void await (await anchorHandler(request(nextFresh()))).arrayBuffer(),
});
Deno.bench({
  name: "ours withAuth",
  group: "request, first-seen token",
  baseline: true,
  fn: async () => void await (await ourHandler(request(nextFresh()))).arrayBuffer(),
});
