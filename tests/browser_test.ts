/**
 * A real browser: a page on the app's origin (allowed by AUTH_CORS_ORIGINS) loads
 * supabase-js and calls `functions.invoke` in headless Chromium. With a token it succeeds;
 * without one it reads the 401's JSON body (possible only because the error carries CORS
 * headers). A page on another origin is refused by the browser. Needs Debian's chromium
 * (.ci/run installs it); skipped with a printed reason otherwise.
 */
import assert from "node:assert/strict";
import { chromiumAvailable, chromiumSession, supabaseUmd } from "./helpers/browser.ts";
import { E2E, ownStack, stackContext, userToken } from "./helpers/stack.ts";
import { freePort } from "../stack/db/ports.ts";

const hasChromium = await chromiumAvailable("browser_test");

function servePage(port: number, umd: string): Deno.HttpServer {
  return Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/supabase.js") {
      return new Response(umd, { headers: { "content-type": "text/javascript" } });
    }
    return new Response('<!doctype html><title>app</title><script src="/supabase.js"></script>', {
      headers: { "content-type": "text/html" },
    });
  });
}

Deno.test({
  name:
    "browser: functions.invoke from another origin succeeds with a token and reads the 401 body without one",
  ignore: !hasChromium,
  ...E2E,
  async fn() {
    const ctx = await stackContext();
    const s = ctx.status;
    const umd = await supabaseUmd();
    const allowed = servePage(Number(new URL(ctx.appOrigin).port), umd);
    const otherPort = await freePort();
    const other = servePage(otherPort, umd);
    const browser = await chromiumSession();
    try {
      const u = await userToken(s);
      const page = await browser.newPage();
      await page.goto(`${ctx.appOrigin}/`);
      const result = await page.evaluate(async ({ url, key, token }) => {
        // deno-lint-ignore no-explicit-any
        const { createClient } = (globalThis as any).supabase;
        const signedIn = createClient(url, key, { accessToken: () => Promise.resolve(token) });
        const ok = await signedIn.functions.invoke("me", { method: "GET" });
        const anonymous = createClient(url, key);
        const denied = await anonymous.functions.invoke("me", { method: "GET" });
        const res = denied.error?.context as Response | undefined;
        return {
          okId: ok.data?.id ?? null,
          okError: ok.error ? String(ok.error) : null,
          deniedName: denied.error?.name ?? null,
          deniedStatus: res?.status ?? null,
          deniedBody: res ? await res.json() : null,
          deniedCode: res?.headers.get("sb-error-code") ?? null,
        };
      }, { url: s.api_url, key: s.publishable_key, token: u.token });
      assert.equal(result.okError, null);
      assert.equal(result.okId, u.sub);
      assert.equal(result.deniedName, "FunctionsHttpError", "an HTTP error, not a CORS failure");
      assert.equal(result.deniedStatus, 401);
      assert.equal(result.deniedBody.code, "user_token_required");
      assert.equal(
        result.deniedCode,
        "user_token_required",
        "sb-error-code is exposed to the page",
      );

      const stranger = await browser.newPage();
      await stranger.goto(`http://127.0.0.1:${otherPort}/`);
      const blocked = await stranger.evaluate(async ({ url, key, token }) => {
        // deno-lint-ignore no-explicit-any
        const { createClient } = (globalThis as any).supabase;
        const client = createClient(url, key, { accessToken: () => Promise.resolve(token) });
        const r = await client.functions.invoke("me", { method: "GET" });
        return { name: r.error?.name ?? null, data: r.data ?? null };
      }, { url: s.api_url, key: s.publishable_key, token: u.token });
      assert.equal(blocked.data, null, "a page on a non-allowed origin cannot read the response");
      assert.equal(blocked.name, "FunctionsFetchError");
    } finally {
      await browser.close();
      await allowed.shutdown();
      await other.shutdown();
    }
  },
});

Deno.test({
  name: "browser: a page signs up, signs out, signs in, calls functions.invoke, signs out again",
  ignore: !hasChromium,
  ...E2E,
  async fn() {
    const ctx = await stackContext();
    const s = ctx.status;
    const app = servePage(Number(new URL(ctx.appOrigin).port), await supabaseUmd());
    const browser = await chromiumSession();
    try {
      const page = await browser.newPage();
      await page.goto(`${ctx.appOrigin}/`);
      const email = `browser-${crypto.randomUUID().slice(0, 8)}@example.com`;
      const result = await page.evaluate(async ({ url, key, email }) => {
        // deno-lint-ignore no-explicit-any
        const { createClient } = (globalThis as any).supabase;
        // The app's own client, as an app creates it: session kept in localStorage.
        const supabase = createClient(url, key);
        const up = await supabase.auth.signUp({ email, password: "browser-password" });
        const out1 = await supabase.auth.signOut();
        const signedOut = await supabase.functions.invoke("me", { method: "GET" });
        const inn = await supabase.auth.signInWithPassword({ email, password: "browser-password" });
        const me = await supabase.functions.invoke("me", { method: "GET" });
        const stored = Object.keys(localStorage).some((k) => k.endsWith("-auth-token"));
        const out2 = await supabase.auth.signOut();
        const { data: after } = await supabase.auth.getSession();
        return {
          upUser: up.data.user?.id ?? null,
          upError: up.error?.message ?? null,
          out1: out1.error?.message ?? null,
          signedOutStatus: (signedOut.error?.context as Response | undefined)?.status ?? null,
          inError: inn.error?.message ?? null,
          meId: me.data?.id ?? null,
          meEmail: me.data?.email ?? null,
          stored,
          out2: out2.error?.message ?? null,
          sessionAfter: after.session,
        };
      }, { url: s.api_url, key: s.publishable_key, email });
      assert.equal(result.upError, null);
      assert.equal(result.out1, null);
      assert.equal(result.signedOutStatus, 401, "signed out: the function refuses the page");
      assert.equal(result.inError, null);
      assert.equal(result.meId, result.upUser);
      assert.equal(result.meEmail, email);
      assert.equal(result.stored, true, "supabase-js kept the session in localStorage");
      assert.equal(result.out2, null);
      assert.equal(result.sessionAfter, null);
    } finally {
      await browser.close();
      await app.shutdown();
    }
  },
});

Deno.test({
  name:
    "browser: a magic link clicked on the inbox page signs a PKCE app in (signInWithOtp, code exchange)",
  ignore: !hasChromium,
  ...E2E,
  async fn() {
    // The app's port is bound before the stack starts (its own ports could take a free one).
    const app = servePage(0, await supabaseUmd());
    const appOrigin = `http://127.0.0.1:${(app.addr as Deno.NetAddr).port}`;
    const stack = await ownStack({ authSettings: { siteUrl: appOrigin } });
    const s = stack.status;
    const browser = await chromiumSession();
    try {
      const page = await browser.newPage();
      await page.goto(`${appOrigin}/`);
      const email = `magic-${crypto.randomUUID().slice(0, 8)}@example.com`;
      const sent = await page.evaluate(async ({ url, key, email, appOrigin }) => {
        // deno-lint-ignore no-explicit-any
        const { createClient } = (globalThis as any).supabase;
        const client = createClient(url, key, { auth: { flowType: "pkce" } });
        const r = await client.auth.signInWithOtp({
          email,
          options: { emailRedirectTo: `${appOrigin}/callback` },
        });
        return r.error ? String(r.error) : null;
      }, { url: s.api_url, key: s.publishable_key, email, appOrigin });
      assert.equal(sent, null);
      // Read the mail as a user would: the inbox page, the mail, its "Sign in" link.
      await page.goto(s.inbox_url!);
      await page.click(`text=Your sign-in link`);
      await page.click("a.mail-link");
      await page.waitForURL(new RegExp(`^${appOrigin}/callback\\?code=`));
      const session = await page.evaluate(async ({ url, key }) => {
        // deno-lint-ignore no-explicit-any
        const { createClient } = (globalThis as any).supabase;
        // detectSessionInUrl (the default) trades ?code= for the session with the verifier
        // this page stored before the mail was sent.
        const client = createClient(url, key, { auth: { flowType: "pkce" } });
        const { data, error } = await client.auth.getSession();
        return {
          error: error ? String(error) : null,
          email: data.session?.user.email ?? null,
          codeLeft: new URL(location.href).searchParams.has("code"),
        };
      }, { url: s.api_url, key: s.publishable_key });
      assert.equal(session.error, null);
      assert.equal(session.email, email);
      assert.equal(session.codeLeft, false, "supabase-js removed the code from the address bar");
    } finally {
      await browser.close();
      await app.shutdown();
      await stack.stop();
    }
  },
});
