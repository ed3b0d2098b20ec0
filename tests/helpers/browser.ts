/**
 * Headless Chromium for the browser tests: Debian's chromium (.ci/run installs it), driven by
 * playwright-core, and supabase-js's UMD build from Deno's npm cache for the pages to load.
 */
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Whether Chromium is here; when not, one line says which test file is skipped and why. */
export async function chromiumAvailable(file: string): Promise<boolean> {
  const here = await Deno.stat(CHROMIUM).then(() => true, () => false);
  if (!here) {
    console.log(`${file}: skipped, ${CHROMIUM} is not installed (apt-get install chromium)`);
  }
  return here;
}

function launchChromium(): Promise<Browser> {
  return chromium.launch({
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
}

let shared: Promise<Browser> | undefined;

/**
 * One Chromium per test file (a launch costs ~1.8 s of CPU): each test's pages get a browser
 * context of their own, as with a fresh browser, and `close()` ends them. The browser itself
 * ends with the test process (it exits when its pipe to playwright closes).
 */
export async function chromiumSession(): Promise<{
  newPage(): Promise<Page>;
  close(): Promise<void>;
}> {
  shared ??= launchChromium();
  const browser = await shared;
  const pages: Page[] = [];
  return {
    async newPage() {
      const page = await browser.newPage();
      pages.push(page);
      return page;
    },
    async close() {
      await Promise.all(pages.map((page) => page.context().close()));
    },
  };
}

/** supabase-js's browser build, the version import_map.json pins. */
export async function supabaseUmd(): Promise<string> {
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
