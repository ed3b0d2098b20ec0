/**
 * Headless Chromium for the browser tests: Debian's chromium (.ci/run installs it), driven by
 * playwright-core, and supabase-js's UMD build from Deno's npm cache for the pages to load.
 */
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Whether Chromium is here; when not, one line says which test file is skipped and why. */
export async function chromiumAvailable(file: string): Promise<boolean> {
  const here = await Deno.stat(CHROMIUM).then(() => true, () => false);
  if (!here) {
    console.log(`${file}: skipped, ${CHROMIUM} is not installed (apt-get install chromium)`);
  }
  return here;
}

export function launchChromium(): Promise<Browser> {
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
