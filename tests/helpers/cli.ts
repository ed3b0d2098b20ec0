/** Run `deno task <verb>` as a user types it (cli/main.ts), capturing its output. */
const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

export async function task(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/cli/main.ts`, ...args],
    env: { NO_COLOR: "1", ...env },
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}
