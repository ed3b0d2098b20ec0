/**
 * Sign-in the way apps do it (issue 23), with unmodified supabase-js against the local Auth
 * and its inbox (Mailpit's API): magic links and codes (implicit and PKCE), recovery,
 * invitations, admin links, sign-up confirmation, email change with double confirmation,
 * reauthentication, redirect_to rules, one-time and expiring codes, and the inbox itself.
 */
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import nodemailer from "nodemailer";
import { adminSql, E2E, ownStack, stackContext } from "./helpers/stack.ts";
import type { StackStatus } from "../stack/start.ts";
import { DEFAULT_EMAIL_SETTINGS } from "../stack/auth/settings.ts";

const s = (await stackContext()).status;
const PASSWORD = "a-good-password";
const address = (tag = "m") => `${tag}-${crypto.randomUUID().slice(0, 8)}@example.com`;

/** A memory storage, so a PKCE client keeps its verifier between calls. */
function memoryStorage() {
  const items = new Map<string, string>();
  return {
    getItem: (k: string) => items.get(k) ?? null,
    setItem: (k: string, v: string) => void items.set(k, v),
    removeItem: (k: string) => void items.delete(k),
  };
}

function client(status: StackStatus = s, flowType: "implicit" | "pkce" = "implicit") {
  return createClient(status.api_url, status.publishable_key, {
    auth: {
      persistSession: flowType === "pkce",
      autoRefreshToken: false,
      detectSessionInUrl: false,
      flowType,
      ...(flowType === "pkce" ? { storage: memoryStorage() } : {}),
    },
  });
}
const admin = (status: StackStatus = s) =>
  createClient(status.api_url, status.secret_key, {
    auth: { persistSession: false, autoRefreshToken: false },
  }).auth.admin;

interface Mail {
  ID: string;
  Subject: string;
  Text: string;
  HTML: string;
  To: { Address: string }[];
}

/** What Mailpit users write: search by address, then read the newest message. */
async function latestMail(status: StackStatus, to: string): Promise<Mail | null> {
  const found = await (await fetch(
    `${status.inbox_url}/api/v1/search?query=${encodeURIComponent(`to:${to}`)}&limit=1`,
  )).json();
  if (!found.messages?.length) return null;
  return await (await fetch(`${status.inbox_url}/api/v1/message/${found.messages[0].ID}`)).json();
}

async function mailTo(status: StackStatus, to: string): Promise<Mail> {
  const mail = await latestMail(status, to);
  assert.ok(mail, `a mail to ${to}`);
  return mail;
}

/** The link in a mail's text, as supabase-js's own example tests extract it. */
function linkIn(mail: Mail): string {
  const match = mail.Text.match(/https?:\/\/\S+\/auth\/v1\/verify\?\S+/);
  assert.ok(match, `a verify link in: ${mail.Text}`);
  return match[0].replace(/[)\s].*$/, "");
}

async function follow(link: string): Promise<URL> {
  const r = await fetch(link, { redirect: "manual" });
  await r.body?.cancel();
  assert.equal(r.status, 303);
  return new URL(r.headers.get("location")!);
}

function claims(token: string) {
  return JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/")));
}

Deno.test({
  name: "email: signInWithOtp mails a magic link; the link signs in once (amr otp)",
  ...E2E,
  async fn() {
    const email = address();
    const { data, error } = await client().auth.signInWithOtp({ email });
    assert.equal(error, null);
    assert.deepEqual(data, { user: null, session: null });
    const mail = await mailTo(s, email);
    assert.equal(mail.Subject, "Your sign-in link");
    assert.match(
      mail.HTML,
      /<a href="http[^"]+\/auth\/v1\/verify\?token=[0-9a-f]{56}&amp;type=magiclink/,
    );
    const landed = await follow(linkIn(mail));
    assert.equal(landed.origin + landed.pathname, "http://127.0.0.1:3000/");
    const fragment = new URLSearchParams(landed.hash.slice(1));
    assert.equal(fragment.get("type"), "magiclink");
    assert.equal(fragment.get("token_type"), "bearer");
    assert.ok(fragment.has("sb"));
    const token = fragment.get("access_token")!;
    assert.equal(claims(token).email, email);
    assert.deepEqual(claims(token).amr.map((a: { method: string }) => a.method), ["otp"]);
    const me = await client().auth.getUser(token);
    assert.equal(me.error, null);
    assert.ok(me.data.user!.email_confirmed_at, "a magic link confirms the address");
    // Used once: the same link now lands with GoTrue's error in the fragment.
    const again = new URLSearchParams((await follow(linkIn(mail))).hash.slice(1));
    assert.equal(again.get("error"), "access_denied");
    assert.equal(again.get("error_code"), "otp_expired");
    assert.equal(again.get("error_description"), "Email link is invalid or has expired");
    assert.equal(again.get("access_token"), null);
  },
});

Deno.test({
  name: "email: a code from generateLink verifies once; wrong, used and old codes are otp_expired",
  ...E2E,
  async fn() {
    const email = address();
    const created = await admin().createUser({ email, password: PASSWORD, email_confirm: true });
    assert.equal(created.error, null);
    const link = await admin().generateLink({ type: "magiclink", email });
    assert.equal(link.error, null);
    const props = link.data.properties!;
    assert.match(props.email_otp, /^\d{6}$/);
    assert.match(props.hashed_token, /^[0-9a-f]{56}$/);
    assert.equal(props.verification_type, "magiclink");
    assert.match(
      props.action_link,
      /\/auth\/v1\/verify\?token=[0-9a-f]{56}&type=magiclink&redirect_to=/,
    );
    const wrong = props.email_otp === "000000" ? "111111" : "000000";
    const bad = await client().auth.verifyOtp({ email, token: wrong, type: "email" });
    assert.equal(bad.error?.code, "otp_expired");
    assert.equal(bad.error?.status, 403);
    assert.equal(bad.error?.message, "Token has expired or is invalid");
    const good = await client().auth.verifyOtp({ email, token: props.email_otp, type: "email" });
    assert.equal(good.error, null);
    assert.equal(good.data.user!.email, email);
    const used = await client().auth.verifyOtp({ email, token: props.email_otp, type: "email" });
    assert.equal(used.error?.code, "otp_expired");
    // An old code: sent longer ago than otp_expiry (3600 s).
    const fresh = await admin().generateLink({ type: "magiclink", email });
    const sql = adminSql(s);
    try {
      await sql`update auth.users set recovery_sent_at = now() - interval '2 hours'
                where email = ${email}`;
    } finally {
      await sql.end();
    }
    const old = await client().auth.verifyOtp({
      email,
      token: fresh.data.properties!.email_otp,
      type: "magiclink",
    });
    assert.equal(old.error?.code, "otp_expired");
    // token_hash (a custom template's link) verifies as well, once.
    const third = await admin().generateLink({ type: "magiclink", email });
    const byHash = await client().auth.verifyOtp({
      token_hash: third.data.properties!.hashed_token,
      type: "magiclink",
    });
    assert.equal(byHash.error, null);
    const byHashAgain = await client().auth.verifyOtp({
      token_hash: third.data.properties!.hashed_token,
      type: "magiclink",
    });
    assert.equal(byHashAgain.error?.message, "Email link is invalid or has expired");
  },
});

Deno.test({
  name: "email: PKCE magic link answers ?code=, exchangeCodeForSession gives the session once",
  ...E2E,
  async fn() {
    const email = address("pkce");
    const app = client(s, "pkce");
    const sent = await app.auth.signInWithOtp({
      email,
      options: { emailRedirectTo: "http://127.0.0.1:3000/callback" },
    });
    assert.equal(sent.error, null);
    const mail = await mailTo(s, email);
    assert.match(linkIn(mail), /token=pkce_[0-9a-f]{56}/);
    const landed = await follow(linkIn(mail));
    assert.equal(landed.pathname, "/callback");
    const code = landed.searchParams.get("code")!;
    assert.match(code, /^[0-9a-f-]{36}$/);
    assert.equal(landed.hash, "", "no tokens in the URL with PKCE");
    // Another client (no verifier) cannot use the code.
    const stranger = await client(s, "pkce").auth.exchangeCodeForSession(code);
    assert.ok(stranger.error);
    const { data, error } = await app.auth.exchangeCodeForSession(code);
    assert.equal(error, null);
    assert.equal(data.user!.email, email);
    assert.deepEqual(
      claims(data.session!.access_token).amr.map((a: { method: string }) => a.method),
      ["magiclink"],
    );
    const twice = await fetch(`${s.api_url}/auth/v1/token?grant_type=pkce`, {
      method: "POST",
      headers: { apikey: s.publishable_key, "content-type": "application/json" },
      body: JSON.stringify({ auth_code: code, code_verifier: "x".repeat(43) }),
    });
    assert.equal(twice.status, 404);
    assert.equal((await twice.json()).error_code, "flow_state_not_found");
  },
});

Deno.test({
  name: "email: a wrong PKCE verifier is bad_code_verifier; PKCE params are checked",
  ...E2E,
  async fn() {
    const email = address("pkce");
    const app = client(s, "pkce");
    await app.auth.signInWithOtp({ email });
    const code = (await follow(linkIn(await mailTo(s, email)))).searchParams.get("code")!;
    const post = (path: string, payload: unknown) =>
      fetch(`${s.api_url}/auth/v1${path}`, {
        method: "POST",
        headers: {
          apikey: s.publishable_key,
          "content-type": "application/json",
          "x-supabase-api-version": "2024-01-01",
        },
        body: JSON.stringify(payload),
      });
    const wrong = await post("/token?grant_type=pkce", {
      auth_code: code,
      code_verifier: "a".repeat(50),
    });
    assert.equal(wrong.status, 400);
    assert.deepEqual(await wrong.json(), {
      code: "bad_code_verifier",
      message: "code challenge does not match previously saved code verifier",
    });
    const half = await post("/otp", { email, code_challenge: "a".repeat(43) });
    assert.equal(half.status, 400);
    assert.equal(
      (await half.json()).message,
      "PKCE flow requires code_challenge_method and code_challenge",
    );
    const short = await post("/otp", {
      email,
      code_challenge: "abc",
      code_challenge_method: "s256",
    });
    assert.equal(
      (await short.json()).message,
      "code challenge has to be between 43 and 128 characters",
    );
    const empty = await post("/token?grant_type=pkce", {});
    assert.equal(empty.status, 400);
    assert.equal((await empty.json()).code, "validation_failed");
  },
});

Deno.test({
  name:
    "email: no answer tells whether an address has an account; create_user false is otp_disabled",
  ...E2E,
  async fn() {
    const known = address("known");
    await admin().createUser({ email: known, password: PASSWORD, email_confirm: true });
    const unknown = address("nobody");
    const a = await client().auth.resetPasswordForEmail(known);
    const b = await client().auth.resetPasswordForEmail(unknown);
    assert.equal(a.error, null);
    assert.equal(b.error, null);
    assert.deepEqual(a.data, b.data);
    assert.deepEqual(a.data, {});
    assert.equal((await mailTo(s, known)).Subject, "Reset your password");
    assert.equal(await latestMail(s, unknown), null, "no mail, no account made by /recover");
    const off = await client().auth.signInWithOtp({
      email: unknown,
      options: { shouldCreateUser: false },
    });
    assert.equal(off.error?.code, "otp_disabled");
    assert.equal(off.error?.message, "Signups not allowed for otp");
    assert.equal(await latestMail(s, unknown), null);
  },
});

Deno.test({
  name: "email: recovery link signs in (amr otp), then the password can be changed",
  ...E2E,
  async fn() {
    const email = address("rec");
    await admin().createUser({ email, password: PASSWORD, email_confirm: true });
    await client().auth.resetPasswordForEmail(email, {
      redirectTo: "http://127.0.0.1:3000/reset",
    });
    const landed = await follow(linkIn(await mailTo(s, email)));
    assert.equal(landed.pathname, "/reset");
    const fragment = new URLSearchParams(landed.hash.slice(1));
    assert.equal(fragment.get("type"), "recovery");
    const c = client();
    await c.auth.setSession({
      access_token: fragment.get("access_token")!,
      refresh_token: fragment.get("refresh_token")!,
    });
    const changed = await c.auth.updateUser({ password: "a-new-password-2" });
    assert.equal(changed.error, null);
    const signIn = await client().auth.signInWithPassword({ email, password: "a-new-password-2" });
    assert.equal(signIn.error, null);
  },
});

Deno.test({
  name: "email: max_frequency answers 429 over_email_send_rate_limit with the seconds left",
  ...E2E,
  async fn() {
    const email = address("freq");
    await admin().createUser({ email, password: PASSWORD, email_confirm: true });
    const sql = adminSql(s);
    try {
      assert.equal((await client().auth.signInWithOtp({ email })).error, null);
      // max_frequency is 1 s: a second request at once is refused, and says when to retry.
      const again = await client().auth.signInWithOtp({ email });
      assert.equal(again.error?.status, 429);
      assert.equal(again.error?.code, "over_email_send_rate_limit");
      assert.match(
        again.error!.message,
        /^For security purposes, you can only request this after \d seconds\.$/,
      );
      await sql`update auth.users set recovery_sent_at = now() - interval '2 seconds' where email = ${email}`;
      assert.equal((await client().auth.signInWithOtp({ email })).error, null);
    } finally {
      await sql.end();
    }
  },
});

Deno.test({
  name: "email: redirect_to only to site_url, loopback or additional_redirect_urls; else site_url",
  ...E2E,
  async fn() {
    const email = address("redir");
    await admin().createUser({ email, password: PASSWORD, email_confirm: true });
    const target = async (redirectTo: string) => {
      const link = await admin().generateLink({
        type: "magiclink",
        email,
        options: { redirectTo },
      });
      assert.equal(link.error, null);
      return link.data.properties!.redirect_to;
    };
    assert.equal(await target("https://evil.example.com/steal"), "http://127.0.0.1:3000");
    assert.equal(await target("http://127.0.0.1:3000/welcome"), "http://127.0.0.1:3000/welcome");
    // config.toml's additional_redirect_urls holds https://127.0.0.1:3000
    assert.equal(await target("https://127.0.0.1:3000"), "https://127.0.0.1:3000");
    assert.equal(await target("http://2130706433/"), "http://127.0.0.1:3000", "a decimal IP");
    assert.equal(await target("javascript:alert(1)"), "http://127.0.0.1:3000");
  },
});

Deno.test({
  name: "email: inviteUserByEmail mails an invitation; its link confirms the user (invited_at)",
  ...E2E,
  async fn() {
    const email = address("inv");
    const { data, error } = await admin().inviteUserByEmail(email, { data: { team: "a" } });
    assert.equal(error, null);
    assert.equal(data.user!.email, email);
    assert.ok(data.user!.invited_at);
    assert.equal(data.user!.email_confirmed_at, undefined);
    const mail = await mailTo(s, email);
    assert.equal(mail.Subject, "You've been invited");
    const fragment = new URLSearchParams((await follow(linkIn(mail))).hash.slice(1));
    assert.equal(fragment.get("type"), "invite");
    const me = await client().auth.getUser(fragment.get("access_token")!);
    assert.ok(me.data.user!.email_confirmed_at);
    assert.equal(me.data.user!.user_metadata.team, "a");
    const twice = await admin().inviteUserByEmail(email);
    assert.equal(twice.error?.code, "email_exists");
    const bad = await admin().inviteUserByEmail("not-an-address");
    assert.equal(bad.error?.message, "Unable to validate email address: invalid format");
    const anon = await fetch(`${s.api_url}/auth/v1/invite`, {
      method: "POST",
      headers: { apikey: s.publishable_key, authorization: `Bearer ${s.publishable_key}` },
      body: JSON.stringify({ email: address() }),
    });
    assert.equal(anon.status, 403, "invite is admin-only");
    await anon.body?.cancel();
    const missing = await admin().generateLink({ type: "recovery", email: address("none") });
    assert.equal(missing.error?.status, 404);
    assert.equal(missing.error?.code, "user_not_found");
  },
});

Deno.test({
  name: "email: the inbox speaks Mailpit's API (list, search, latest, raw, delete, SMTP in)",
  ...E2E,
  async fn() {
    const own = await ownStack({});
    try {
      const inbox = own.status.inbox_url!;
      const transport = nodemailer.createTransport({
        host: "127.0.0.1",
        port: own.inbox!.smtpPort,
        secure: false,
        ignoreTLS: true,
      });
      await transport.sendMail({
        from: "App <app@example.com>",
        to: "reader@example.com",
        subject: "Plain hello",
        text: "hello there",
      });
      transport.close();
      await client(own.status).auth.signInWithOtp({ email: "second@example.com" });
      const list = await (await fetch(`${inbox}/api/v1/messages`)).json();
      assert.equal(list.total, 2);
      assert.equal(list.messages_count, 2);
      assert.equal(list.unread, 2);
      assert.equal(list.messages[0].Subject, "Your sign-in link", "newest first");
      assert.deepEqual(list.messages[1].From, { Name: "App", Address: "app@example.com" });
      const latest = await (await fetch(`${inbox}/api/v1/message/latest`)).json();
      assert.equal(latest.To[0].Address, "second@example.com");
      const plain = await (await fetch(`${inbox}/api/v1/message/${list.messages[1].ID}`)).json();
      assert.equal(plain.Text.trim(), "hello there");
      const raw = await (await fetch(`${inbox}/api/v1/message/${list.messages[1].ID}/raw`)).text();
      assert.match(raw, /Subject: Plain hello/);
      const bySubject = await (await fetch(`${inbox}/api/v1/search?query=subject:"sign-in"`))
        .json();
      assert.equal(bySubject.messages_count, 1);
      assert.equal((await fetch(`${inbox}/api/v1/messages`)).ok, true);
      const after = await (await fetch(`${inbox}/api/v1/messages`)).json();
      assert.equal(after.unread, 0, "reading marks read");
      const page = await fetch(`${inbox}/`);
      assert.match(await page.text(), /Your sign-in link/);
      const del = await fetch(`${inbox}/api/v1/messages`, { method: "DELETE" });
      assert.equal(await del.text(), "ok");
      assert.equal((await (await fetch(`${inbox}/api/v1/messages`)).json()).total, 0);
      const nothing = await fetch(`${inbox}/api/v1/message/nope`);
      assert.equal(nothing.status, 404);
      await nothing.body?.cancel();
    } finally {
      await own.stop();
    }
  },
});

// ------------------------------------------------- a project that confirms and signs in by code

const templates = await Deno.makeTempDir();
await Deno.writeTextFile(
  `${templates}/magic.html`,
  `<p>Hello {{ .Email }}, your code is {{ .Token }}</p><a href="{{ .ConfirmationURL }}">or the link</a>`,
);
const confirming = await ownStack({
  authSettings: {
    confirmations: true,
    email: {
      ...DEFAULT_EMAIL_SETTINGS,
      securePasswordChange: true,
      templates: {
        magic_link: {
          subject: "{{ .Token }} is your code",
          content: await Deno.readTextFile(`${templates}/magic.html`),
        },
      },
    },
  },
});
globalThis.addEventListener("unload", () => void confirming.stop());
const c = confirming.status;

async function confirmedUser(tag: string): Promise<{ email: string; app: SupabaseClient }> {
  const email = address(tag);
  await admin(c).createUser({ email, password: PASSWORD, email_confirm: true });
  const app = client(c);
  const signedIn = await app.auth.signInWithPassword({ email, password: PASSWORD });
  assert.equal(signedIn.error, null);
  return { email, app };
}

Deno.test({
  name: "email: with confirmations, sign-up mails a confirmation; its link confirms; resend works",
  ...E2E,
  async fn() {
    const email = address("conf");
    const up = await client(c).auth.signUp({ email, password: PASSWORD });
    assert.equal(up.error, null);
    assert.equal(up.data.session, null);
    const first = await mailTo(c, email);
    assert.equal(first.Subject, "Confirm your email address");
    const blocked = await client(c).auth.signInWithPassword({ email, password: PASSWORD });
    assert.equal(blocked.error?.code, "email_not_confirmed");
    const sql = adminSql(c);
    try {
      await sql`update auth.users set confirmation_sent_at = now() - interval '2 seconds'
                where email = ${email}`;
    } finally {
      await sql.end();
    }
    const resent = await client(c).auth.resend({ type: "signup", email });
    assert.equal(resent.error, null);
    const second = await mailTo(c, email);
    assert.notEqual(second.ID, first.ID);
    // The first link died when the second was sent.
    const old = new URLSearchParams((await follow(linkIn(first))).hash.slice(1));
    assert.equal(old.get("error_code"), "otp_expired");
    const fragment = new URLSearchParams((await follow(linkIn(second))).hash.slice(1));
    assert.equal(fragment.get("type"), "signup");
    const signIn = await client(c).auth.signInWithPassword({ email, password: PASSWORD });
    assert.equal(signIn.error, null);
  },
});

Deno.test({
  name: "email: a project template with {{ .Token }} signs in by code (verifyOtp type email)",
  ...E2E,
  async fn() {
    const { email } = await confirmedUser("code");
    assert.equal((await client(c).auth.signInWithOtp({ email })).error, null);
    const mail = await mailTo(c, email);
    const code = /^(\d{6}) is your code$/.exec(mail.Subject)?.[1];
    assert.ok(code, mail.Subject);
    assert.match(mail.HTML, new RegExp(`Hello ${email.replace(".", "\\.")}, your code is ${code}`));
    const { data, error } = await client(c).auth.verifyOtp({ email, token: code, type: "email" });
    assert.equal(error, null);
    assert.equal(data.session!.user.email, email);
  },
});

Deno.test({
  name: "email: double_confirm_changes needs both codes; the address moves after the second",
  ...E2E,
  async fn() {
    const { email, app } = await confirmedUser("old");
    const next = address("new");
    const asked = await app.auth.updateUser({ email: next });
    assert.equal(asked.error, null);
    assert.equal(asked.data.user!.email, email);
    assert.equal(asked.data.user!.new_email, next);
    const toNew = await mailTo(c, next);
    const toOld = await mailTo(c, email);
    assert.equal(toNew.Subject, "Confirm your new email address");
    assert.match(toOld.Text, new RegExp(`confirm ${next.replace(".", "\\.")} as your new`));
    const first = await follow(linkIn(toOld));
    assert.match(first.hash, /message=Confirmation\+link\+accepted/);
    const before = await app.auth.getUser();
    assert.equal(before.data.user!.email, email, "not moved after one confirmation");
    const second = new URLSearchParams((await follow(linkIn(toNew))).hash.slice(1));
    assert.equal(second.get("type"), "email_change");
    const after = await client(c).auth.getUser(second.get("access_token")!);
    assert.equal(after.data.user!.email, next);
    const identity = after.data.user!.identities!.find((i) => i.provider === "email")!;
    assert.equal(identity.identity_data!.email, next);
  },
});

Deno.test({
  name: "email: secure_password_change: an old session needs the reauthentication code (nonce)",
  ...E2E,
  async fn() {
    const { email, app } = await confirmedUser("reauth");
    const sql = adminSql(c);
    try {
      await sql`update auth.sessions set created_at = now() - interval '2 days'
                where user_id = (select id from auth.users where email = ${email})`;
    } finally {
      await sql.end();
    }
    const without = await app.auth.updateUser({ password: "a-new-password-3" });
    assert.equal(without.error?.code, "reauthentication_needed");
    assert.equal((await app.auth.reauthenticate()).error, null);
    const mail = await mailTo(c, email);
    const nonce = /^(\d{6}) is your verification code$/.exec(mail.Subject)?.[1];
    assert.ok(nonce, mail.Subject);
    const wrong = await app.auth.updateUser({
      password: "a-new-password-3",
      nonce: nonce === "000000" ? "111111" : "000000",
    });
    assert.equal(wrong.error?.code, "reauthentication_not_valid");
    const right = await app.auth.updateUser({ password: "a-new-password-3", nonce });
    assert.equal(right.error, null);
    const reused = await app.auth.updateUser({ password: "a-new-password-4", nonce });
    assert.equal(reused.error?.code, "reauthentication_not_valid");
  },
});
