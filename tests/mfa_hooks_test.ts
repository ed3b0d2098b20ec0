/**
 * MFA to aal2 and Auth hooks (issue 24), with the unmodified supabase-js client: a TOTP factor
 * enrolled and verified with codes from a TOTP library (otpauth), the aal the functions see and
 * guard on, and the project's custom access token hook (migration ..._user_roles_hook) in
 * every token; then each hook kind, over pg-functions and signed HTTP, with its failures.
 */
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import * as OTPAuth from "otpauth";
import { Webhook } from "standardwebhooks";
import { adminSql, E2E, ownStack, stackContext } from "./helpers/stack.ts";
import type { StackStatus } from "../stack/start.ts";
import { DEFAULT_MFA_SETTINGS } from "../stack/auth/settings.ts";
import { freePort } from "../stack/db/ports.ts";

const s = (await stackContext()).status;
const PASSWORD = "a-good-password";
const address = (tag = "mfa") => `${tag}-${crypto.randomUUID().slice(0, 8)}@example.com`;

function client(status: StackStatus = s) {
  return createClient(status.api_url, status.publishable_key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
}

async function signedIn(status: StackStatus = s, email = address()) {
  const c = client(status);
  const up = await c.auth.signUp({ email, password: PASSWORD });
  assert.equal(up.error, null);
  return { c, email, session: up.data.session! };
}

function claims(token: string) {
  return JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/")));
}

async function me(token: string, path = "") {
  const r = await fetch(`${s.functions_url}/me${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: r.status, body: await r.json() };
}

function totp(secret: string) {
  return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 });
}

Deno.test({
  name: "mfa: enroll TOTP, verify a code from a TOTP library, aal2 token that me reports",
  ...E2E,
  async fn() {
    const { c, session, email } = await signedIn();
    // Another sign-in of the same user, at aal1: it ends when this session reaches aal2.
    const other = await client().auth.signInWithPassword({ email, password: PASSWORD });
    assert.equal(other.error, null);
    assert.equal((await me(session.access_token)).body.aal, "aal1");
    const guarded = await me(session.access_token, "/security");
    assert.equal(guarded.status, 403);
    assert.equal(guarded.body.code, "insufficient_aal");
    const enrolled = await c.auth.mfa.enroll({ factorType: "totp", friendlyName: "phone app" });
    assert.equal(enrolled.error, null);
    const { id, totp: t } = enrolled.data as {
      id: string;
      totp: { secret: string; uri: string; qr_code: string };
    };
    assert.match(t.uri, /^otpauth:\/\/totp\/.+secret=[A-Z2-7]+/);
    assert.match(t.qr_code, /<svg/);
    const wrong = await c.auth.mfa.challengeAndVerify({ factorId: id, code: "000000" });
    assert.equal(wrong.error?.code, "mfa_verification_failed");
    assert.equal(wrong.error?.message, "Invalid TOTP code entered");
    const ok = await c.auth.mfa.challengeAndVerify({
      factorId: id,
      code: totp(t.secret).generate(),
    });
    assert.equal(ok.error, null);
    const ended = await fetch(`${s.api_url}/auth/v1/user`, {
      headers: {
        apikey: s.publishable_key,
        authorization: `Bearer ${other.data.session!.access_token}`,
      },
    });
    assert.equal(ended.status, 403, "the other aal1 session ended");
    assert.equal((await ended.json()).error_code, "session_not_found");
    const token = ok.data!.access_token;
    assert.equal(claims(token).aal, "aal2");
    assert.deepEqual(
      claims(token).amr.map((a: { method: string }) => a.method),
      ["totp", "password"],
    );
    assert.equal((await me(token)).body.aal, "aal2");
    const secure = await me(token, "/security");
    assert.equal(secure.status, 200);
    assert.deepEqual(secure.body, { aal: "aal2", amr: ["totp", "password"] });
    const level = await c.auth.mfa.getAuthenticatorAssuranceLevel();
    assert.equal(level.data?.currentLevel, "aal2");
    // A refresh keeps the level.
    const refreshed = await c.auth.refreshSession();
    assert.equal(refreshed.error, null);
    assert.equal(claims(refreshed.data.session!.access_token).aal, "aal2");
    const factors = await c.auth.mfa.listFactors();
    assert.equal(factors.data?.totp.length, 1);
    assert.equal(factors.data!.totp[0]!.status, "verified");
  },
});

Deno.test({
  name: "mfa: a new sign-in is aal1 until verified; unenroll and password change need aal2",
  ...E2E,
  async fn() {
    const { c, email } = await signedIn();
    const enrolled = await c.auth.mfa.enroll({ factorType: "totp" });
    const factor = enrolled.data as { id: string; totp: { secret: string } };
    const verified = await c.auth.mfa.challengeAndVerify({
      factorId: factor.id,
      code: totp(factor.totp.secret).generate(),
    });
    assert.equal(verified.error, null);
    const later = client();
    const signIn = await later.auth.signInWithPassword({ email, password: PASSWORD });
    assert.equal(signIn.error, null);
    assert.equal(claims(signIn.data.session!.access_token).aal, "aal1");
    const level = await later.auth.mfa.getAuthenticatorAssuranceLevel();
    assert.equal(level.data?.nextLevel, "aal2");
    const unenroll = await later.auth.mfa.unenroll({ factorId: factor.id });
    assert.equal(unenroll.error?.code, "insufficient_aal");
    assert.equal(unenroll.error?.message, "AAL2 required to unenroll verified factor");
    const password = await later.auth.updateUser({ password: "another-password-1" });
    assert.equal(password.error?.code, "insufficient_aal");
    assert.equal(password.error?.status, 401);
    // Someone else's factor is not found; a second factor needs aal2.
    const stranger = await signedIn();
    const foreign = await stranger.c.auth.mfa.challenge({ factorId: factor.id });
    assert.equal(foreign.error?.code, "mfa_factor_not_found");
    const second = await later.auth.mfa.enroll({ factorType: "totp", friendlyName: "second" });
    assert.equal(second.error?.code, "insufficient_aal");
    // At aal2 the factor goes, and the sessions that used it are aal1 again.
    const up = await later.auth.mfa.challengeAndVerify({
      factorId: factor.id,
      code: totp(factor.totp.secret).generate(),
    });
    assert.equal(up.error, null);
    const gone = await later.auth.mfa.unenroll({ factorId: factor.id });
    assert.equal(gone.error, null);
    const after = await later.auth.refreshSession();
    assert.equal(claims(after.data.session!.access_token).aal, "aal1");
  },
});

Deno.test({
  name: "hooks: the project's custom access token hook puts user_role in every token",
  ...E2E,
  async fn() {
    // Ada is an admin in supabase/seed.sql; Grace has no role.
    const ada = await client().auth.signInWithPassword({
      email: "ada@example.com",
      password: "ada-password",
    });
    assert.equal(ada.error, null);
    assert.equal(claims(ada.data.session!.access_token).user_role, "admin");
    assert.equal((await me(ada.data.session!.access_token)).body.user_role, "admin");
    assert.equal((await me(ada.data.session!.access_token, "/staff")).status, 200);
    const { c, session } = await signedIn();
    assert.equal(claims(session.access_token).user_role, null);
    const denied = await me(session.access_token, "/staff");
    assert.equal(denied.status, 403);
    assert.equal(denied.body.code, "claim_mismatch");
    // A role granted now is in the next token (refresh runs the hook too).
    const sql = adminSql(s);
    try {
      await sql`insert into public.user_roles (user_id, role) values (${session.user.id}, 'moderator')`;
    } finally {
      await sql.end();
    }
    await c.auth.setSession(session);
    const refreshed = await c.auth.refreshSession();
    assert.equal(claims(refreshed.data.session!.access_token).user_role, "moderator");
    assert.equal((await me(refreshed.data.session!.access_token, "/staff")).status, 200);
    // The API roles cannot read the roles table nor call the hook.
    const rest = await fetch(`${s.api_url}/rest/v1/user_roles`, {
      headers: { apikey: s.publishable_key, authorization: `Bearer ${session.access_token}` },
    });
    assert.notEqual(rest.status, 200);
    await rest.body?.cancel();
    const rpc = await fetch(`${s.api_url}/rest/v1/rpc/custom_access_token_hook`, {
      method: "POST",
      headers: {
        apikey: s.publishable_key,
        authorization: `Bearer ${session.access_token}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ event: {} }),
    });
    assert.notEqual(rpc.status, 200);
    await rpc.body?.cancel();
  },
});

// --------------------------------------------------------- each hook kind, on a stack of its own

const hookPort = await freePort();
const SECRET = "v1,whsec_" + btoa("a-local-test-webhook-secret-32by");
const received: { path: string; body: Record<string, unknown>; verified: boolean }[] = [];
/** What `/switch` does: refuse (403), or answer after 7 s. */
let switchTo: "refuse" | "slow" = "refuse";
const hookServer = Deno.serve(
  { hostname: "127.0.0.1", port: hookPort, onListen: () => {} },
  async (req) => {
    const path = new URL(req.url).pathname;
    const text = await req.text();
    let verified = false;
    try {
      new Webhook(SECRET.slice(3)).verify(text, Object.fromEntries(req.headers));
      verified = true;
    } catch { /* recorded as unverified */ }
    const body = JSON.parse(text);
    received.push({ path, body, verified });
    if (path === "/claims") {
      return Response.json({ claims: { ...body.claims, tier: "gold" } });
    }
    if (path === "/slow" || (path === "/switch" && switchTo === "slow")) {
      await new Promise((r) => setTimeout(r, 7000));
      return Response.json({ claims: body.claims });
    }
    if (path === "/email") return new Response(null, { status: 204 });
    return Response.json({ error: { http_code: 403, message: "Not on the guest list" } });
  },
);

const hooked = await ownStack({
  authHooks: {
    custom_access_token: { uri: `http://127.0.0.1:${hookPort}/claims`, secrets: [SECRET] },
    password_verification_attempt: {
      uri: "pg-functions://postgres/public/password_hook",
      secrets: [],
    },
    before_user_created: { uri: "pg-functions://postgres/public/signup_hook", secrets: [] },
    send_email: { uri: `http://127.0.0.1:${hookPort}/email`, secrets: [SECRET] },
  },
});
globalThis.addEventListener("unload", () => {
  void hooked.stop();
  void hookServer.shutdown();
});
const h = hooked.status;
{
  const sql = adminSql(h);
  try {
    await sql.unsafe(`
      create function public.password_hook(event jsonb) returns jsonb language sql as $$
        select case when not (event ->> 'valid')::boolean
          then jsonb_build_object('decision', 'reject', 'message', 'Too many attempts, try later')
          else jsonb_build_object('decision', 'continue') end $$;
      create function public.signup_hook(event jsonb) returns jsonb language plpgsql as $$
      begin
        if event -> 'user' ->> 'email' like '%@blocked.example' then
          return jsonb_build_object('error',
            jsonb_build_object('http_code', 400, 'message', 'Sign-ups from this domain are closed'));
        end if;
        if event -> 'user' ->> 'email' like 'slow-%' then perform pg_sleep(5); end if;
        return '{}'::jsonb;
      end $$;
      grant execute on function public.password_hook(jsonb), public.signup_hook(jsonb)
        to supabase_auth_admin;`);
  } finally {
    await sql.end();
  }
}

Deno.test({
  name: "hooks: an HTTP custom_access_token hook, signed as Standard Webhooks, adds its claims",
  ...E2E,
  async fn() {
    const { session } = await signedIn(h, address("hook"));
    assert.equal(claims(session.access_token).tier, "gold");
    const call = received.findLast((r) => r.path === "/claims")!;
    assert.equal(call.verified, true, "the signature verifies with the shared secret");
    assert.equal(call.body.authentication_method, "password");
    assert.equal((call.body.claims as { sub: string }).sub, session.user.id);
    assert.equal((call.body.metadata as { name: string }).name, "customize-access-token");
  },
});

Deno.test({
  name: "hooks: before_user_created refuses with its status and message; a slow one times out",
  ...E2E,
  async fn() {
    const refused = await client(h).auth.signUp({
      email: "someone@blocked.example",
      password: PASSWORD,
    });
    assert.equal(refused.error?.status, 400);
    assert.equal(refused.error?.message, "Sign-ups from this domain are closed");
    const t0 = performance.now();
    const slow = await client(h).auth.signUp({ email: address("slow"), password: PASSWORD });
    const ms = performance.now() - t0;
    assert.equal(slow.error?.status, 500);
    assert.match(
      slow.error!.message,
      /^Error running hook URI: pg-functions:\/\/postgres\/public\/signup_hook$/,
    );
    assert.ok(ms < 4000, `stopped by the 2 s statement_timeout (${Math.round(ms)} ms)`);
  },
});

Deno.test({
  name: "hooks: password_verification_attempt can refuse a sign-in with its message",
  ...E2E,
  async fn() {
    const { email } = await signedIn(h, address("pw"));
    const wrong = await client(h).auth.signInWithPassword({ email, password: "not-it" });
    assert.equal(wrong.error?.code, "invalid_credentials");
    assert.equal(wrong.error?.message, "Too many attempts, try later");
    const right = await client(h).auth.signInWithPassword({ email, password: PASSWORD });
    assert.equal(right.error, null);
  },
});

Deno.test({
  name: "hooks: send_email gets the code and link data, and the inbox gets nothing",
  ...E2E,
  async fn() {
    const { email } = await signedIn(h, address("mail"));
    const sent = await client(h).auth.signInWithOtp({ email });
    assert.equal(sent.error, null);
    const call = received.findLast((r) => r.path === "/email")!;
    assert.equal(call.verified, true);
    const data = call.body.email_data as Record<string, string>;
    assert.equal(data.email_action_type, "magiclink");
    assert.match(data.token!, /^\d{6}$/);
    assert.match(data.token_hash!, /^[0-9a-f]{56}$/);
    assert.equal((call.body.user as { email: string }).email, email);
    const inbox = await (await fetch(`${h.inbox_url}/api/v1/messages`)).json();
    assert.equal(inbox.total, 0);
    const verified = await client(h).auth.verifyOtp({ email, token: data.token!, type: "email" });
    assert.equal(verified.error, null);
  },
});

Deno.test({
  name:
    "hooks: an HTTP hook that errors or does not answer in 5 s fails the sign-in as GoTrue does",
  ...E2E,
  async fn() {
    // One stack, its hook switched from refusing to never answering in time.
    const own = await ownStack({
      authHooks: {
        custom_access_token: { uri: `http://127.0.0.1:${hookPort}/switch`, secrets: [SECRET] },
      },
    });
    try {
      switchTo = "refuse";
      const refused = await client(own.status).auth.signUp({
        email: address("err"),
        password: PASSWORD,
      });
      assert.equal(refused.error?.status, 403);
      assert.equal(refused.error?.message, "Not on the guest list");
      switchTo = "slow";
      const t0 = performance.now();
      const late = await client(own.status).auth.signUp({
        email: address("late"),
        password: PASSWORD,
      });
      assert.equal(late.error?.status, 422);
      assert.equal(late.error?.code, "hook_timeout");
      assert.ok(performance.now() - t0 < 6500);
    } finally {
      switchTo = "refuse";
      await own.stop();
    }
  },
});

Deno.test({
  name: "mfa: [auth.mfa.totp] enroll_enabled / verify_enabled off answer GoTrue's 422",
  ...E2E,
  async fn() {
    const off = await ownStack({
      authSettings: {
        mfa: { ...DEFAULT_MFA_SETTINGS, totpEnroll: false, totpVerify: false },
      },
    });
    try {
      const { c } = await signedIn(off.status);
      const enroll = await c.auth.mfa.enroll({ factorType: "totp" });
      assert.equal(enroll.error?.status, 422);
      assert.equal(enroll.error?.code, "mfa_totp_enroll_not_enabled");
      assert.equal(enroll.error?.message, "MFA enroll is disabled for TOTP");
    } finally {
      await off.stop();
    }
  },
});

Deno.test("hooks: [auth.hook.*] settings are read as the CLI writes them, refused clearly", async () => {
  const { readHookSettings } = await import("../stack/auth/hooks.ts");
  const env = (n: string) => (n === "HOOK_SECRET" ? SECRET : undefined);
  assert.deepEqual(
    readHookSettings(
      `[auth.hook.custom_access_token]
enabled = true
uri = "pg-functions://postgres/public/custom_access_token_hook"
[auth.hook.send_email]
enabled = true
uri = "https://hooks.example.com/send"
secrets = "env(HOOK_SECRET)"
[auth.hook.before_user_created]
enabled = false
uri = "nonsense"`,
      env,
    ),
    {
      custom_access_token: {
        uri: "pg-functions://postgres/public/custom_access_token_hook",
        secrets: [],
      },
      send_email: { uri: "https://hooks.example.com/send", secrets: [SECRET] },
    },
  );
  assert.throws(
    () => readHookSettings(`[auth.hook.send_sms]\nenabled = true\nuri = "https://x"`),
    /\[auth\.hook\.send_sms\] is not run by the local Auth/,
  );
  assert.throws(
    () => readHookSettings(`[auth.hook.send_email]\nenabled = true\nuri = "https://x"`),
    /needs secrets = "v1,whsec_\.\.\."/,
  );
  assert.throws(
    () => readHookSettings(`[auth.hook.custom_access_token]\nenabled = true\nuri = "ftp://x"`),
    /uri must be pg-functions:/,
  );
});

Deno.test({
  name: "mfa: a WebAuthn factor: enroll, create a credential, verify to aal2, then sign in with it",
  ...E2E,
  async fn() {
    const { softAuthenticator } = await import("./helpers/webauthn.ts");
    const origin = "http://localhost:5173";
    const own = await ownStack({
      authSettings: {
        mfa: {
          ...DEFAULT_MFA_SETTINGS,
          webauthnEnroll: true,
          webauthnVerify: true,
          webauthn: { rpDisplayName: "tests", rpId: "localhost", rpOrigins: [origin] },
        },
      },
    });
    try {
      const o = own.status;
      const post = async (path: string, token: string, payload: unknown) => {
        const r = await fetch(`${o.api_url}/auth/v1${path}`, {
          method: "POST",
          headers: {
            apikey: o.publishable_key,
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            "x-supabase-api-version": "2024-01-01",
          },
          body: JSON.stringify(payload),
        });
        return { status: r.status, body: await r.json() };
      };
      const email = address("passkey");
      const { session } = await signedIn(o, email);
      const token = session.access_token;
      const made = await post("/factors", token, { factor_type: "webauthn", friendly_name: "key" });
      assert.equal(made.status, 200);
      assert.deepEqual({ type: made.body.type, name: made.body.friendly_name }, {
        type: "webauthn",
        name: "key",
      });
      const authenticator = await softAuthenticator("localhost", origin);
      const create = await post(`/factors/${made.body.id}/challenge`, token, {});
      assert.equal(create.body.webauthn.type, "create");
      const options = create.body.webauthn.credential_options.publicKey;
      assert.equal(options.rp.id, "localhost");
      const verified = await post(`/factors/${made.body.id}/verify`, token, {
        challenge_id: create.body.id,
        webauthn: { type: "create", credential_response: await authenticator.create(options) },
      });
      assert.equal(verified.status, 200, JSON.stringify(verified.body));
      assert.equal(claims(verified.body.access_token).aal, "aal2");
      assert.equal(claims(verified.body.access_token).amr[0].method, "mfa/webauthn");
      // A later sign-in steps up with the same credential ("request").
      const later = await client(o).auth.signInWithPassword({ email, password: PASSWORD });
      const aal1 = later.data.session!.access_token;
      const request = await post(`/factors/${made.body.id}/challenge`, aal1, {});
      assert.equal(request.body.webauthn.type, "request");
      const assertion = await authenticator.get(request.body.webauthn.credential_options.publicKey);
      const step = await post(`/factors/${made.body.id}/verify`, aal1, {
        challenge_id: request.body.id,
        webauthn: { type: "request", credential_response: assertion },
      });
      assert.equal(step.status, 200, JSON.stringify(step.body));
      assert.equal(claims(step.body.access_token).aal, "aal2");
      // The same assertion again: its challenge is spent.
      const replay = await post(`/factors/${made.body.id}/verify`, aal1, {
        challenge_id: request.body.id,
        webauthn: { type: "request", credential_response: assertion },
      });
      assert.equal(replay.body.code, "mfa_factor_not_found");
      // An assertion made for another origin does not verify.
      const other = await softAuthenticator("localhost", "http://evil.example");
      const third = await post(`/factors/${made.body.id}/challenge`, aal1, {});
      const forged = await post(`/factors/${made.body.id}/verify`, aal1, {
        challenge_id: third.body.id,
        webauthn: {
          type: "request",
          credential_response: await other.get(third.body.webauthn.credential_options.publicKey),
        },
      });
      assert.equal(forged.status, 500);
      assert.match(forged.body.message, /^Failed to validate WebAuthn MFA response/);
      const missing = await post(`/factors/${made.body.id}/verify`, aal1, {
        challenge_id: third.body.id,
      });
      assert.deepEqual([missing.status, missing.body.message], [400, "WebAuthn config required"]);
    } finally {
      await own.stop();
    }
  },
});
