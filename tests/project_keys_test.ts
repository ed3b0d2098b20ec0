/**
 * The keys config.toml names (issue 20): `[auth] jwt_secret`, `signing_keys_path` (a JSON array
 * of private JWKs, as `supabase gen signing-key` writes it) and `jwt_issuer`. The stack signs
 * with the file's first key, publishes and trusts all of them at every door, and accepts an admin
 * token signed by any of them, as GoTrue does.
 */
import assert from "node:assert/strict";
import {
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
} from "jose";
import { startStack } from "../stack/start.ts";
import { E2E } from "./helpers/stack.ts";

const SECRET = "a-project-secret-of-more-than-thirty-two-bytes";
const ISSUER = "http://auth.edge-auth.test/auth/v1";

async function privateJwk(alg: "RS256" | "ES256", kid: string) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg, key_ops: ["sign", "verify"] };
}

Deno.test({
  name: "project keys: jwt_secret, signing_keys_path (RS256 first, ES256 second) and jwt_issuer",
  ...E2E,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "edge-keys-" });
    const rsa = await privateJwk("RS256", "project-rsa-1");
    const ec = await privateJwk("ES256", "project-ec-2");
    await Deno.mkdir(`${dir}/supabase`);
    await Deno.writeTextFile(`${dir}/supabase/signing_keys.json`, JSON.stringify([rsa, ec]));
    const root = new URL("..", import.meta.url).pathname;
    // This project's functions, named from the scratch supabase/ folder.
    const config = (await Deno.readTextFile("supabase/config.toml")).replaceAll('"../', `"${root}`)
      .replace(
        "[auth]\n",
        `[auth]\njwt_secret = "env(PROJECT_KEYS_TEST_SECRET)"\nsigning_keys_path = "./signing_keys.json"\njwt_issuer = "${ISSUER}"\n`,
      );
    await Deno.writeTextFile(`${dir}/supabase/config.toml`, config);
    Deno.env.set("PROJECT_KEYS_TEST_SECRET", SECRET);
    const stack = await startStack({
      port: 0,
      dataDir: null,
      keysPath: null,
      configToml: `${dir}/supabase/config.toml`,
      log: () => {},
    });
    try {
      const s = stack.status;
      assert.equal(s.jwt_secret, SECRET);
      await jwtVerify(s.anon_key, new TextEncoder().encode(SECRET));

      const jwks = await (await fetch(s.jwks_url)).json();
      assert.deepEqual(jwks.keys.map((k: { kid: string }) => k.kid), [
        "project-rsa-1",
        "project-ec-2",
      ]);
      assert.ok(jwks.keys.every((k: { d?: string }) => k.d === undefined), "public halves only");

      // Sign-in: the file's first key signs, with the configured issuer.
      const signIn = await fetch(`${s.api_url}/auth/v1/token?grant_type=password`, {
        method: "POST",
        headers: { apikey: s.publishable_key, "content-type": "application/json" },
        body: JSON.stringify({ email: "ada@example.com", password: "ada-password" }),
      });
      const { access_token: token } = await signIn.json();
      assert.deepEqual(
        { ...decodeProtectedHeader(token), typ: undefined },
        { alg: "RS256", kid: "project-rsa-1", typ: undefined },
      );
      assert.equal(decodeJwt(token).iss, ISSUER);
      // Both doors take it: a function (told the issuer) and /rest/v1.
      const me = await fetch(`${s.functions_url}/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(me.status, 200, await me.clone().text());
      assert.equal((await me.json()).issuer, ISSUER);
      const rest = await fetch(`${s.api_url}/rest/v1/posts?select=title`, {
        headers: { apikey: s.publishable_key, authorization: `Bearer ${token}` },
      });
      assert.equal(rest.status, 200);
      assert.equal((await rest.json()).length, 2, "Ada's two posts");

      // An admin token signed by the second key (no session), as a server or a test suite mints it.
      const now = Math.floor(Date.now() / 1000);
      const admin = await new SignJWT({ role: "supabase_admin" })
        .setProtectedHeader({ alg: "ES256", kid: "project-ec-2" })
        .setIssuedAt(now).setExpirationTime(now + 60)
        .sign(await importJWK({ ...ec, key_ops: undefined }, "ES256"));
      const users = await fetch(`${s.api_url}/auth/v1/admin/users`, {
        headers: { apikey: s.publishable_key, authorization: `Bearer ${admin}` },
      });
      assert.equal(users.status, 200, await users.clone().text());
      assert.ok((await users.json()).users.length >= 2);
      const hsAdmin = await new SignJWT({ role: "service_role" })
        .setProtectedHeader({ alg: "HS256" }).setIssuedAt(now).setExpirationTime(now + 60)
        .sign(new TextEncoder().encode(SECRET));
      const again = await fetch(`${s.api_url}/auth/v1/admin/users?per_page=1`, {
        headers: { apikey: s.publishable_key, authorization: `Bearer ${hsAdmin}` },
      });
      assert.equal(again.status, 200, "and one signed with jwt_secret");
      await again.body?.cancel();
    } finally {
      await stack.stop();
      Deno.env.delete("PROJECT_KEYS_TEST_SECRET");
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("project keys: a bad signing_keys_path or a short jwt_secret stops the start with the key named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edge-keys-" });
  try {
    await Deno.mkdir(`${dir}/supabase`);
    await Deno.writeTextFile(`${dir}/supabase/keys.json`, JSON.stringify([{ kty: "oct", k: "x" }]));
    for (
      const [line, message] of [
        [
          'signing_keys_path = "./keys.json"',
          /auth\.signing_keys_path : key 0 .* must be a private EC P-256 or RSA JWK/,
        ],
        [
          'signing_keys_path = "./missing.json"',
          /auth\.signing_keys_path : .*missing\.json cannot be read/,
        ],
        ['jwt_secret = "too-short"', /auth\.jwt_secret must be at least 32 bytes/],
      ] as const
    ) {
      await Deno.writeTextFile(`${dir}/supabase/config.toml`, `[auth]\n${line}\n`);
      await assert.rejects(
        startStack({
          port: 0,
          dataDir: null,
          keysPath: null,
          configToml: `${dir}/supabase/config.toml`,
          log: () => {},
        }),
        message,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
