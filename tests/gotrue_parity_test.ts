/**
 * GoTrue's answers for what the local Auth does not run (issue 27), and the pieces it added to
 * reach supabase-js's own auth tests: the OAuth server's client registry, admin MFA factors,
 * id_token / web3 / SSO / passkeys / linking refusals, phone format checks, and request limits
 * that apply only to clients a trusted proxy names.
 */
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import * as OTPAuth from "otpauth";
import { E2E, ownStack, stackContext } from "./helpers/stack.ts";

const s = (await stackContext()).status;
const PASSWORD = "a-good-password";
const address = () => `p-${crypto.randomUUID().slice(0, 8)}@example.com`;

function client(status = s) {
  return createClient(status.api_url, status.publishable_key, {
    auth: { persistSession: false, autoRefreshToken: false },
  });
}

async function auth(path: string, init: RequestInit & { token?: string } = {}, status = s) {
  const r = await fetch(`${status.api_url}/auth/v1${path}`, {
    ...init,
    headers: {
      apikey: status.publishable_key,
      "content-type": "application/json",
      "x-supabase-api-version": "2024-01-01",
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.headers ?? {}),
    },
  });
  return { status: r.status, body: r.status === 204 ? null : await r.json() };
}

Deno.test({
  name: "parity: features off answer with GoTrue's status, code and message, never a bare 404",
  ...E2E,
  async fn() {
    const { data } = await client().auth.signUp({ email: address(), password: PASSWORD });
    const token = data.session!.access_token;
    const cases: [string, RequestInit & { token?: string }, number, string, string][] = [
      [
        "/sso",
        { method: "POST", body: "{}" },
        404,
        "saml_provider_disabled",
        "SAML 2.0 is disabled",
      ],
      [
        "/passkeys/authentication/options",
        { method: "POST", body: "{}" },
        404,
        "passkey_disabled",
        "Passkeys are disabled",
      ],
      [
        "/user/identities/authorize?provider=github",
        { token },
        404,
        "manual_linking_disabled",
        "Manual linking is disabled",
      ],
      [
        "/token?grant_type=web3",
        { method: "POST", body: '{"chain":"solana"}' },
        422,
        "web3_provider_disabled",
        "Web3 provider is disabled",
      ],
      [
        "/token?grant_type=id_token",
        { method: "POST", body: '{"provider":"google","id_token":"x"}' },
        400,
        "provider_disabled",
        'Provider (issuer "https://accounts.google.com") is not enabled',
      ],
      [
        "/authorize?provider=github",
        {},
        400,
        "validation_failed",
        "Unsupported provider: provider is not enabled",
      ],
      [
        "/verify",
        { method: "POST", body: '{"type":"sms","phone":"not-a-phone","token":"123456"}' },
        400,
        "validation_failed",
        "Invalid phone number format (E.164 required)",
      ],
      [
        "/verify",
        { method: "POST", body: '{"type":"sms","phone":"+1 555 0100 123","token":"123456"}' },
        403,
        "otp_expired",
        "Token has expired or is invalid",
      ],
      [
        "/factors",
        { method: "POST", body: '{"factor_type":"webauthn"}', token },
        422,
        "mfa_web_authn_enroll_not_enabled",
        "MFA enroll is disabled for WebAuthn",
      ],
      [
        "/factors",
        { method: "POST", body: '{"factor_type":"totp"}' },
        401,
        "no_authorization",
        "This endpoint requires a valid Bearer token",
      ],
    ];
    for (const [path, init, status, code, message] of cases) {
      const r = await auth(path, init);
      assert.deepEqual(
        { path, status: r.status, code: r.body.code, message: r.body.message },
        { path, status, code, message },
      );
    }
    const oidc = await auth("/.well-known/openid-configuration");
    assert.equal(oidc.body.jwks_uri, `${s.api_url}/auth/v1/.well-known/jwks.json`);
  },
});

Deno.test({
  name: "parity: services not in this stack answer 501 not_implemented naming what to use",
  ...E2E,
  async fn() {
    for (const path of ["/storage/v1/bucket", "/realtime/v1/websocket", "/graphql/v1"]) {
      const r = await fetch(`${s.api_url}${path}`, { headers: { apikey: s.publishable_key } });
      assert.equal(r.status, 501, path);
      const body = await r.json();
      assert.equal(body.code, "not_implemented");
      assert.match(body.message, /not part of this local stack/);
    }
    // supabase-js surfaces the message.
    const { error } = await createClient(s.api_url, s.publishable_key).storage.listBuckets();
    assert.match(String(error?.message), /Storage is not part of this local stack/);
  },
});

Deno.test({
  name: "parity: admin MFA factors (list, rename, delete) as auth.admin.mfa sees them",
  ...E2E,
  async fn() {
    const c = client();
    const { data } = await c.auth.signUp({ email: address(), password: PASSWORD });
    const enrolled = await c.auth.mfa.enroll({ factorType: "totp", friendlyName: "app" });
    const factor = enrolled.data as { id: string; totp: { secret: string } };
    await c.auth.mfa.challengeAndVerify({
      factorId: factor.id,
      code: new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(factor.totp.secret) }).generate(),
    });
    const admin = createClient(s.api_url, s.secret_key, { auth: { persistSession: false } }).auth
      .admin;
    const listed = await admin.mfa.listFactors({ userId: data.user!.id });
    assert.equal(listed.error, null);
    assert.deepEqual(listed.data!.factors.map((f) => [f.id, f.status]), [[factor.id, "verified"]]);
    const deleted = await admin.mfa.deleteFactor({ userId: data.user!.id, id: factor.id });
    assert.equal(deleted.error, null);
    assert.equal((await admin.mfa.listFactors({ userId: data.user!.id })).data!.factors.length, 0);
  },
});

Deno.test({
  name: "parity: [auth.oauth_server] client registry: register, get, update, regenerate, delete",
  ...E2E,
  async fn() {
    const off = await auth("/admin/oauth/clients", {
      token: s.secret_key,
      headers: { apikey: s.secret_key },
    });
    assert.deepEqual([off.status, off.body.code], [404, "feature_disabled"]);
    const on = await ownStack({
      authSettings: {
        oauthServer: { enabled: true, allowDynamicRegistration: false },
      },
    });
    try {
      const oauth = createClient(on.status.api_url, on.status.secret_key, {
        auth: { persistSession: false },
      }).auth.admin.oauth;
      const made = await oauth.createClient({
        client_name: "CLI tool",
        redirect_uris: ["http://localhost:8080/cb"],
      });
      assert.equal(made.error, null);
      const id = made.data!.client_id;
      assert.match(made.data!.client_secret!, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(made.data!.client_type, "confidential");
      const got = await oauth.getClient(id);
      assert.equal((got.data as Record<string, unknown>).client_secret, undefined);
      const updated = await oauth.updateClient(id, { logo_uri: "https://example.com/l.png" });
      assert.equal(updated.data!.client_name, "CLI tool");
      assert.equal(updated.data!.logo_uri, "https://example.com/l.png");
      const regen = await oauth.regenerateClientSecret(id);
      assert.notEqual(regen.data!.client_secret, made.data!.client_secret);
      const bad = await oauth.createClient({
        client_name: "x",
        redirect_uris: ["http://evil.example.com/cb"],
      });
      assert.match(bad.error!.message, /HTTP scheme only allowed for localhost/);
      assert.equal((await oauth.deleteClient(id)).error, null);
      assert.equal((await oauth.getClient(id)).error?.status, 404);
      const dynamic = await auth("/oauth/clients/register", {
        method: "POST",
        body: JSON.stringify({ redirect_uris: ["http://localhost/cb"] }),
      }, on.status);
      assert.deepEqual([dynamic.status, dynamic.body.code], [
        403,
        "oauth_dynamic_client_registration_disabled",
      ]);
    } finally {
      await on.stop();
    }
  },
});
