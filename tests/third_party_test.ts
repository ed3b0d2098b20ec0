/**
 * Third-party issuers configured once, as the Supabase CLI configures them (issue 20), and tried
 * offline through local stand-ins (issue 25): `[auth.third_party.clerk|firebase|auth0|...]` in
 * config.toml drives both doors (/rest/v1 and the functions); the entry form AUTH_ISSUERS adds
 * what a section cannot say, from one place; a stand-in mints tokens shaped as the provider's and
 * only its key is trusted for that issuer here.
 */
import assert from "node:assert/strict";
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from "jose";
import { startStack } from "../stack/start.ts";
import { E2E, SUITE_RATE_LIMITS } from "./helpers/stack.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** A scratch supabase/ folder: this project's config.toml (functions named absolutely) + `extra`. */
async function scratch(extra: string, envFile?: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "edge-tpa-" });
  await Deno.mkdir(`${dir}/supabase/functions`, { recursive: true });
  const config = (await Deno.readTextFile(`${ROOT}supabase/config.toml`)).replaceAll(
    '"../',
    `"${ROOT}`,
  );
  await Deno.writeTextFile(`${dir}/supabase/config.toml`, `${config}\n${extra}\n`);
  if (envFile !== undefined) await Deno.writeTextFile(`${dir}/supabase/functions/.env`, envFile);
  return dir;
}

function boot(dir: string) {
  return startStack({
    port: 0,
    dataDir: null,
    keysPath: null,
    configToml: `${dir}/supabase/config.toml`,
    authSettings: { rateLimits: SUITE_RATE_LIMITS },
    log: () => {},
  });
}

async function mint(api: string, secret: string, provider: string, body: Record<string, unknown>) {
  const r = await fetch(`${api}/_local/idp/${provider}/mint`, {
    method: "POST",
    headers: { apikey: secret, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()).access_token as string;
}

Deno.test({
  name:
    "third party: [auth.third_party.clerk] alone is trusted at both doors, through its stand-in",
  ...E2E,
  async fn() {
    const dir = await scratch(
      `[auth.third_party.clerk]\nenabled = true\ndomain = "edge-auth.clerk.accounts.dev"\n`,
    );
    const stack = await boot(dir);
    try {
      const s = stack.status;
      // What a hosted project sets: the production issuer, no stand-in in it.
      assert.deepEqual(stack.issuers.production, [{
        mode: "native",
        roles: ["authenticated"],
        issuer: "https://edge-auth.clerk.accounts.dev",
        provider: "clerk",
        authorized_parties: ["http://127.0.0.1:3000", "https://127.0.0.1:3000"],
      }]);
      const token = await mint(s.api_url, s.secret_key, "clerk", { sub: "user_1" });
      const claims = decodeJwt(token);
      assert.equal(claims.iss, "https://edge-auth.clerk.accounts.dev");
      assert.equal(claims.sub, "user_1");
      assert.equal(claims.azp, "http://127.0.0.1:3000");
      assert.equal(claims.role, "authenticated");
      assert.match(String(claims.sid), /^sess_/);
      assert.equal(decodeProtectedHeader(token).alg, "RS256");

      const created = await fetch(`${s.functions_url}/tasks`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "from the clerk stand-in" }),
      });
      assert.equal(created.status, 201, await created.clone().text());
      assert.equal((await created.json()).user_id, "clerk:user_1");
      const listed = await fetch(`${s.api_url}/rest/v1/tasks?select=name,user_id`, {
        headers: { apikey: s.publishable_key, authorization: `Bearer ${token}` },
      });
      assert.equal(listed.status, 200);
      assert.deepEqual(await listed.json(), [{
        name: "from the clerk stand-in",
        user_id: "clerk:user_1",
      }]);

      // The same claims, iss and kid, signed by any other key: refused at both doors.
      const { privateKey } = await generateKeyPair("RS256");
      const forged = await new SignJWT(claims as Record<string, unknown>)
        .setProtectedHeader(decodeProtectedHeader(token) as { alg: string; kid: string })
        .sign(privateKey);
      const atFunction = await fetch(`${s.functions_url}/tasks`, {
        headers: { authorization: `Bearer ${forged}` },
      });
      assert.equal(atFunction.status, 401);
      await atFunction.body?.cancel();
      const atRest = await fetch(`${s.api_url}/rest/v1/tasks`, {
        headers: { apikey: s.publishable_key, authorization: `Bearer ${forged}` },
      });
      assert.equal(atRest.status, 401);
      await atRest.body?.cancel();
      // A token for another app (azp not one of this app's origins) is refused too.
      const elsewhere = await mint(s.api_url, s.secret_key, "clerk", {
        sub: "user_1",
        claims: { azp: "https://other.app" },
      });
      const refused = await fetch(`${s.api_url}/rest/v1/tasks`, {
        headers: { apikey: s.publishable_key, authorization: `Bearer ${elsewhere}` },
      });
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
    } finally {
      await stack.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "third party: [auth.third_party.firebase]: iss and aud follow project_id",
  ...E2E,
  async fn() {
    const dir = await scratch(
      `[auth.third_party.firebase]\nenabled = true\nproject_id = "edge-auth-test"\n`,
    );
    const stack = await boot(dir);
    try {
      const s = stack.status;
      const token = await mint(s.api_url, s.secret_key, "firebase", { sub: "firebase-uid-1" });
      const claims = decodeJwt(token);
      assert.equal(claims.iss, "https://securetoken.google.com/edge-auth-test");
      assert.equal(claims.aud, "edge-auth-test");
      assert.equal(claims.user_id, "firebase-uid-1");
      const me = await fetch(`${s.functions_url}/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(me.status, 200, await me.clone().text());
      assert.deepEqual(
        (({ id, provider }) => ({ id, provider }))(await me.json()),
        { id: "firebase:firebase-uid-1", provider: "firebase" },
      );
      // Another Firebase project's token (same keys on the real service) is not this project's.
      const other = await mint(s.api_url, s.secret_key, "firebase", {
        sub: "x",
        claims: { aud: "another-project" },
      });
      const refused = await fetch(`${s.functions_url}/me`, {
        headers: { authorization: `Bearer ${other}` },
      });
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
    } finally {
      await stack.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "third party: an audience only you know comes from the entry form, in one place; else no start",
  ...E2E,
  async fn() {
    const auth0 =
      `[auth.third_party.auth0]\nenabled = true\ntenant = "edge-auth"\ntenant_region = "eu"\n`;
    const bare = await scratch(auth0);
    try {
      await assert.rejects(
        boot(bare),
        /\[auth\.third_party\.auth0\]: .*add \{"issuer": "https:\/\/edge-auth\.eu\.auth0\.com\/", "audience": "\.\.\."\} to AUTH_ISSUERS in supabase\/functions\/\.env/,
      );
    } finally {
      await Deno.remove(bare, { recursive: true });
    }
    const supplement = JSON.stringify([{
      issuer: "https://edge-auth.eu.auth0.com/",
      audience: "https://api.edge-auth.test",
    }]);
    const dir = await scratch(auth0, `AUTH_ISSUERS='${supplement}'\n`);
    const stack = await boot(dir);
    try {
      const s = stack.status;
      const token = await mint(s.api_url, s.secret_key, "auth0", { sub: "auth0|abc" });
      assert.equal(decodeJwt(token).iss, "https://edge-auth.eu.auth0.com/");
      const rest = await fetch(`${s.api_url}/rest/v1/tasks`, {
        headers: { apikey: s.publishable_key, authorization: `Bearer ${token}` },
      });
      assert.equal(rest.status, 200, await rest.clone().text());
      await rest.body?.cancel();
      // Two places that disagree: no start, and the reason names both.
      Deno.env.set("AUTH_ISSUERS", "[]");
      await assert.rejects(
        boot(dir),
        /AUTH_ISSUERS differs between .*supabase\/functions\/\.env and the environment of deno task start/,
      );
    } finally {
      Deno.env.delete("AUTH_ISSUERS");
      await stack.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("third party: the CLI's own rules: one provider at a time, a Clerk domain of Clerk's shape", async () => {
  for (
    const [extra, message] of [
      [
        `[auth.third_party.clerk]\nenabled = true\ndomain = "x.clerk.accounts.dev"\n[auth.third_party.firebase]\nenabled = true\nproject_id = "p"\n`,
        /Only one third_party provider allowed to be enabled at a time/,
      ],
      [
        `[auth.third_party.clerk]\nenabled = true\ndomain = "evil.example.com"\n`,
        /clerk has invalid domain/,
      ],
      [
        `[auth.third_party.firebase]\nenabled = true\n`,
        /firebase is enabled but without a project_id/,
      ],
    ] as const
  ) {
    const dir = await scratch(extra);
    try {
      await assert.rejects(boot(dir), message);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test({
  name:
    "third party: a stand-in's key is its own (JWKS without private parts); minting needs the secret key",
  ...E2E,
  async fn() {
    const dir = await scratch(
      `[auth.third_party.clerk]\nenabled = true\ndomain = "edge-auth.clerk.accounts.dev"\n`,
    );
    const stack = await boot(dir);
    try {
      const s = stack.status;
      const jwks = await (await fetch(`${s.api_url}/_local/idp/clerk/jwks`)).json();
      assert.equal(jwks.keys.length, 1);
      assert.equal(jwks.keys[0].d, undefined);
      const noKey = await fetch(`${s.api_url}/_local/idp/clerk/mint`, {
        method: "POST",
        body: "{}",
      });
      assert.equal(noKey.status, 401);
      await noKey.body?.cancel();
      const bad = await fetch(`${s.api_url}/_local/idp/clerk/mint`, {
        method: "POST",
        headers: { apikey: s.secret_key },
        body: JSON.stringify({ sub: "", claims: [] }),
      });
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
    } finally {
      await stack.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
