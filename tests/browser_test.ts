/**
 * A real browser: a page on the app's origin (allowed by AUTH_CORS_ORIGINS) loads
 * supabase-js and calls `functions.invoke` in headless Chromium. With a token it succeeds;
 * without one it reads the 401's JSON body (possible only because the error carries CORS
 * headers). A page on another origin is refused by the browser. Needs Debian's chromium
 * (.ci/run installs it); skipped with a printed reason otherwise.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { E2E, stackContext, userToken } from "./helpers/stack.ts";
import { freePort } from "../stack/db.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!hasChromium) {
  console.log(`browser_test: skipped, ${CHROMIUM} is not installed (apt-get install chromium)`);
}

async function supabaseUmd(): Promise<string> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const npmCache = JSON.parse(new TextDecoder().decode(info.stdout)).npmCache as string;
  const version = JSON.parse(await Deno.readTextFile("import_map.json"))
    .imports["@supabase/supabase-js"].split("@").pop();
  return await Deno.readTextFile(
    `${npmCache}/registry.npmjs.org/@supabase/supabase-js/${version}/dist/umd/supabase.js`,
  );
}

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
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--headless",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
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
