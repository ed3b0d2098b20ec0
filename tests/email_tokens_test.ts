/**
 * The pieces of email sign-in that need no stack: codes and their hashes, GoTrue's redirect
 * rules and globs, templates, and config.toml's [auth.email] / [inbucket] keys.
 */
import assert from "node:assert/strict";
import {
  globToRegExp,
  hashMatches,
  isRedirectAllowed,
  newOtp,
  tokenHash,
} from "../stack/auth/email_tokens.ts";
import { renderMail } from "../stack/auth/mail_templates.ts";
import { DEFAULT_AUTH_SETTINGS, readAuthSettings } from "../stack/auth/settings.ts";
import { readInboxSettings } from "../stack/mail/local_inbox.ts";
import { htmlToText, Inbox } from "../stack/mail/inbox.ts";

Deno.test("email tokens: codes are otp_length digits, uniformly spread", () => {
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 40_000; i++) {
    const code = newOtp(6);
    assert.match(code, /^\d{6}$/);
    for (const d of code) counts[Number(d)]++;
  }
  // 240,000 digits. A byte taken modulo 10 would favour 0-5 by 26/25 (4%). For uniform digits
  // the ratio of their mean count to that of 6-9 has a standard deviation of 0.42% (0-5 hold
  // Binomial(240000, 0.6) digits: sd 240, i.e. 1/600 + 1/400), so 2% is 4.8 sd: a false alarm
  // once in ~600,000 runs, and the 4% bias lies 4.8 sd beyond it on the other side.
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const ratio = mean(counts.slice(0, 6)) / mean(counts.slice(6));
  assert.ok(Math.abs(ratio - 1) < 0.02, `low/high digit ratio ${ratio.toFixed(4)}`);
  for (const n of counts) assert.ok(n > 23_000 && n < 25_000, `digit count ${n}`);
  assert.match(newOtp(10), /^\d{10}$/);
});

Deno.test("email tokens: the hash is hex(sha224(email + code)), as GoTrue stores it", () => {
  // sha224("a@b.co123456"), computed independently (Python hashlib).
  assert.equal(
    tokenHash("a@b.co", "123456"),
    "4911e82389643aeb3ce581cfa27b1630931b88c0206a90fed98a99cf",
  );
  assert.ok(hashMatches("abc", "pkce_abc"));
  assert.ok(hashMatches("abc", "abc"));
  assert.ok(!hashMatches("abc", ""));
  assert.ok(!hashMatches("abc", "pkce_abd"));
});

Deno.test("email tokens: additional_redirect_urls globs follow GoTrue's separators", () => {
  assert.ok(globToRegExp("http://localhost:3000/*").test("http://localhost:3000/cb"));
  assert.ok(!globToRegExp("http://localhost:3000/*").test("http://localhost:3000/a/b"));
  assert.ok(globToRegExp("http://localhost:3000/**").test("http://localhost:3000/a/b"));
  assert.ok(globToRegExp("https://*.example.com").test("https://app.example.com"));
  assert.ok(!globToRegExp("https://*.example.com").test("https://a.b.example.com"));
  assert.ok(!globToRegExp("https://*.example.com").test("https://evil.com/.example.com"));
  assert.ok(globToRegExp("https://{a,b}.example.com").test("https://b.example.com"));
  assert.ok(globToRegExp("https://app?.example.com").test("https://app1.example.com"));
  assert.ok(!globToRegExp("https://app.example.com").test("https://appXexample.com"));
});

Deno.test("email tokens: redirect_to rules (site_url, loopback, allow list, decimal IPs)", () => {
  const settings = {
    ...DEFAULT_AUTH_SETTINGS,
    siteUrl: "https://app.example.com",
    email: {
      ...DEFAULT_AUTH_SETTINGS.email,
      additionalRedirectUrls: ["https://*.preview.example.com/**", "myapp://callback"],
    },
  };
  const ok = (u: string) => isRedirectAllowed(settings, u);
  assert.ok(ok("https://app.example.com/welcome"));
  assert.ok(!ok("http://app.example.com/"), "scheme must match site_url's");
  assert.ok(ok("http://127.0.0.1:5173/cb"), "loopback addresses are allowed");
  assert.ok(ok("http://[::1]:8080/"));
  assert.ok(!ok("http://2130706433/"), "a decimal IP is refused");
  assert.ok(!ok("http://10.0.0.1/"), "other IPs are refused");
  assert.ok(ok("https://pr-1.preview.example.com/a/b"));
  assert.ok(!ok("https://evil.com/?https://pr-1.preview.example.com/"));
  assert.ok(ok("myapp://callback"));
  assert.ok(!ok("javascript:alert(1)"));
  assert.ok(!ok(""));
  assert.ok(!ok("not a url"));
});

Deno.test("email templates: GoTrue's defaults, field references, HTML escaping", () => {
  const data = {
    SiteURL: "http://x",
    ConfirmationURL: "http://x/verify?token=t&type=magiclink",
    Email: "a@b.co",
    Token: "123456",
    Data: { name: "<Ann>" },
  };
  const mail = renderMail("magic_link", data, undefined);
  assert.equal(mail.subject, "Your sign-in link");
  assert.match(mail.html, /href="http:\/\/x\/verify\?token=t&amp;type=magiclink"/);
  const custom = renderMail("magic_link", data, {
    subject: "{{ .Token }} for {{ .Data.name }}",
    content: "<p>{{ .Data.name }} {{.Token}}</p>",
  });
  assert.equal(custom.subject, "123456 for <Ann>", "subjects are text, not HTML");
  assert.equal(custom.html, "<p>&lt;Ann&gt; 123456</p>");
  assert.equal(
    renderMail("reauthentication", data, undefined).subject,
    "123456 is your verification code",
  );
});

Deno.test("email settings: config.toml keys, content_path, env(), and clear refusals", async () => {
  const root = await Deno.makeTempDir();
  await Deno.mkdir(`${root}/supabase/templates`, { recursive: true });
  await Deno.writeTextFile(`${root}/supabase/templates/invite.html`, "<p>{{ .Token }}</p>");
  const toml = `
[auth]
additional_redirect_urls = ["https://x.example.com"]
[auth.email]
double_confirm_changes = false
secure_password_change = true
max_frequency = "1m"
otp_length = 8
otp_expiry = 600
[auth.email.template.invite]
subject = "Join"
content_path = "./supabase/templates/invite.html"
[auth.email.smtp]
enabled = true
host = "smtp.example.com"
port = 587
user = "apikey"
pass = "env(TEST_SMTP_PASS)"
[inbucket]
admin_email = "team@example.com"
sender_name = "Team"
`;
  const env = (name: string) => (name === "TEST_SMTP_PASS" ? "s3cret" : undefined);
  const s = readAuthSettings(toml, undefined, root, env).email;
  assert.deepEqual(s.additionalRedirectUrls, ["https://x.example.com"]);
  assert.equal(s.secureEmailChange, false);
  assert.equal(s.securePasswordChange, true);
  assert.equal(s.maxFrequencyMs, 60_000);
  assert.equal(s.otpLength, 8);
  assert.equal(s.otpExpiry, 600);
  assert.deepEqual(s.templates.invite, { subject: "Join", content: "<p>{{ .Token }}</p>" });
  assert.equal(s.smtp?.pass, "s3cret");
  assert.equal(s.adminEmail, "team@example.com");
  assert.throws(
    () => readAuthSettings(toml, undefined, root, () => undefined),
    /auth\.email\.smtp\.pass names env\(TEST_SMTP_PASS\), which is not set/,
  );
  assert.throws(
    () => readAuthSettings(`[auth.email]\nmax_frequency = "soon"`, undefined),
    /max_frequency must be a duration/,
  );
  assert.throws(
    () =>
      readAuthSettings(
        `[auth.email.template.magic_link]\nsubject = "{{ if .Token }}x{{ end }}"`,
        undefined,
      ),
    /not supported by the local Auth/,
  );
  assert.throws(
    () => readAuthSettings(`[auth.email.template.welcome]\nsubject = "hi"`, undefined),
    /is not a template GoTrue sends/,
  );
  assert.throws(
    () =>
      readAuthSettings(
        `[auth.email.template.invite]\ncontent_path = "./nope.html"`,
        undefined,
        root,
      ),
    /cannot read \.\/nope\.html/,
  );
  assert.deepEqual(readInboxSettings(null), { enabled: true, port: 54324, smtpPort: null });
  assert.deepEqual(readInboxSettings("[inbucket]\nenabled = false\nsmtp_port = 54325"), {
    enabled: false,
    port: 54324,
    smtpPort: 54325,
  });
});

Deno.test("inbox: HTML-only mails get Mailpit-style text; the store is bounded", () => {
  assert.equal(
    htmlToText('<h2>Hi</h2><p><a href="http://x/?a=1&amp;b=2">Sign in</a></p>'),
    "Hi\n\nSign in ( http://x/?a=1&b=2 )",
  );
  const inbox = new Inbox();
  for (let i = 0; i < 510; i++) {
    inbox.add({ from: { Name: "", Address: "a@b.co" }, to: [], subject: `m${i}`, raw: "" });
  }
  assert.equal(inbox.size, 500);
  assert.equal(inbox.list()[0]!.Subject, "m509");
  // And by bytes: three 40-byte mails in a 100-byte inbox keep the newest two.
  const small = new Inbox(100);
  for (const n of [1, 2, 3]) {
    small.add({
      from: { Name: "", Address: "a@b.co" },
      to: [],
      subject: `s${n}`,
      raw: "x".repeat(40),
    });
  }
  assert.deepEqual(small.list().map((m) => m.Subject), ["s3", "s2"]);
});
