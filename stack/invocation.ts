/**
 * How the person at the keyboard runs a verb, for the hints and banners the stack prints:
 * `deno task <verb>` where Deno is installed, `npx -y deno@<version> task <verb>` where it came
 * from npm through npx (Node and npm only), so every hint can be pasted as it is.
 */
export const DENO_VERSION = "2.9.6";

let cached: string | undefined;

/** The prefix before a verb: "deno task" or "npx -y deno@2.9.6 task". */
export function taskPrefix(): string {
  if (cached !== undefined) return cached;
  let viaNpx = false;
  try {
    viaNpx = /[\\/]_npx[\\/]/.test(Deno.execPath()) ||
      (Deno.env.get("npm_command") === "exec" &&
        Deno.env.get("npm_config_user_agent") !== undefined);
  } catch { /* no env access: the plain form */ }
  cached = viaNpx ? `npx -y deno@${DENO_VERSION} task` : "deno task";
  return cached;
}

/** `deno task <rest>` as the user would type it here. */
export function verb(rest: string): string {
  return `${taskPrefix()} ${rest}`;
}
