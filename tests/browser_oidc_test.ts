/**
 * A web app's Logto sign-in, offline (issue 25): in headless Chromium, a page on the app's origin
 * reads the Logto stand-in's discovery, sends the browser to /authorize with authorization code
 * + PKCE, clicks the one-click login, takes the code to /token, exchanges the access token at
 * the `token-exchange` function and reads `tasks` as that user through supabase-js. The issuer
 * is the production one (AUTH_ISSUERS as in supabase/functions/.env); only the keys are local.
 * Needs Debian's chromium (.ci/run installs it); skipped with a printed reason otherwise.
 */
import assert from "node:assert/strict";
import { chromiumAvailable, chromiumSession, supabaseUmd } from "./helpers/browser.ts";
import { E2E, SUITE_RATE_LIMITS } from "./helpers/stack.ts";
import { freePort } from "../stack/db/ports.ts";
import { startStack } from "../stack/start.ts";

const hasChromium = await chromiumAvailable("browser_oidc_test");

const LOGTO_ISSUER = "https://edge-auth-test.logto.app/oidc";
const API = "https://api.edge-auth.test";

/** The app: a page that signs in with Logto (PKCE by hand, as any OIDC client does it). */
const APP_PAGE = `<!doctype html><title>app</title><script src="/supabase.js"></script>
<script>
const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
async function signIn(endpoint) {
  const discovery = await (await fetch(endpoint + "/oidc/.well-known/openid-configuration")).json();
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  sessionStorage.setItem("pkce", JSON.stringify({ verifier, token: discovery.token_endpoint, issuer: discovery.issuer }));
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: "edge-auth-web", redirect_uri: location.origin + "/callback", response_type: "code",
    code_challenge: challenge, code_challenge_method: "S256", scope: "openid profile", state: "s1",
    resource: "${API}",
  });
  location.href = url.href;
}
async function finish(api, key) {
  const { verifier, token, issuer } = JSON.parse(sessionStorage.getItem("pkce"));
  const code = new URL(location.href).searchParams.get("code");
  const tokens = await (await fetch(token, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: location.origin + "/callback",
      client_id: "edge-auth-web", code_verifier: verifier }),
  })).json();
  const idClaims = JSON.parse(atob(tokens.id_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  const exchanged = await fetch(api + "/functions/v1/token-exchange", {
    method: "POST", headers: { authorization: "Bearer " + tokens.access_token },
  });
  const minted = await exchanged.json();
  const client = supabase.createClient(api, key, { accessToken: () => Promise.resolve(minted.access_token) });
  const added = await client.functions.invoke("tasks", { body: { name: "from the browser" } });
  const listed = await client.from("tasks").select("name, user_id");
  return { issuer, idIss: idClaims.iss, idAud: idClaims.aud, exchange: exchanged.status, added: added.data, listed: listed.data, error: listed.error };
}
</script>`;

Deno.test({
  name:
    "browser: a Logto sign-in (code + PKCE) through the stand-in, then token-exchange, then RLS as that user",
  ignore: !hasChromium,
  ...E2E,
  async fn() {
    const appPort = await freePort();
    const appOrigin = `http://127.0.0.1:${appPort}`;
    const stack = await startStack({
      port: 0,
      dataDir: null,
      keysPath: null,
      authSettings: { rateLimits: SUITE_RATE_LIMITS },
      functionEnv: {
        AUTH_ISSUERS: JSON.stringify([{
          issuer: LOGTO_ISSUER,
          mode: "exchange",
          provider: "logto",
          audience: API,
        }]),
        AUTH_CORS_ORIGINS: appOrigin,
      },
      log: () => {},
    });
    const umd = await supabaseUmd();
    const app = Deno.serve(
      { hostname: "127.0.0.1", port: appPort, onListen: () => {} },
      (request) => {
        const path = new URL(request.url).pathname;
        if (path === "/supabase.js") {
          return new Response(umd, { headers: { "content-type": "text/javascript" } });
        }
        return new Response(APP_PAGE, { headers: { "content-type": "text/html" } });
      },
    );
    const browser = await chromiumSession();
    try {
      const s = stack.status;
      const endpoint = `${s.api_url}/_local/idp/logto`;
      const page = await browser.newPage();
      await page.goto(`${appOrigin}/`);
      await Promise.all([
        page.waitForURL(/\/_local\/idp\/logto\/authorize/),
        // Started, not awaited in the page: signIn ends by navigating away, and a result still
        // on its way when the page goes is an error ("Execution context was destroyed").
        page.evaluate(
          (e) => {
            void (globalThis as unknown as { signIn(e: string): Promise<void> }).signIn(e);
          },
          endpoint,
        ),
      ]);
      await page.fill("input[name=login_hint]", "logto-user-7");
      await Promise.all([page.waitForURL(/\/callback\?code=/), page.click("#sign-in")]);
      const result = await page.evaluate(
        ({ api, key }) =>
          (globalThis as unknown as { finish(a: string, k: string): Promise<unknown> }).finish(
            api,
            key,
          ),
        { api: s.api_url, key: s.publishable_key },
      ) as Record<string, unknown>;
      assert.equal(result.issuer, LOGTO_ISSUER, "discovery names the production issuer");
      assert.equal(result.idIss, LOGTO_ISSUER);
      assert.equal(result.idAud, "edge-auth-web");
      assert.equal(result.exchange, 200);
      assert.equal((result.added as { user_id: string }).user_id, "logto:logto-user-7");
      assert.deepEqual(result.listed, [{
        name: "from the browser",
        user_id: "logto:logto-user-7",
      }]);
      assert.equal(result.error, null);
    } finally {
      await browser.close();
      await app.shutdown();
      await stack.stop();
    }
  },
});
