/** Where a running `deno task start` records its status for `status` and `token`. */
import type { StackStatus } from "./stack.ts";

/** Local state (keys, database, status) lives here; EDGE_STACK_DIR moves it. */
export const STATE_DIR = Deno.env.get("EDGE_STACK_DIR") ??
  new URL("../.local", import.meta.url).pathname;
export const STATUS_FILE = `${STATE_DIR}/status.json`;

export async function writeStatus(status: StackStatus): Promise<void> {
  await Deno.mkdir(STATUS_FILE.replace(/\/[^/]+$/, ""), { recursive: true });
  await Deno.writeTextFile(STATUS_FILE, JSON.stringify(status, null, 2), { mode: 0o600 });
}

/** The status of the running stack, or an explanation of why there is none. */
export async function readRunningStatus(): Promise<StackStatus> {
  let status: StackStatus;
  try {
    status = JSON.parse(await Deno.readTextFile(STATUS_FILE));
  } catch {
    throw new Error("The local stack is not running: start it with `deno task start`.");
  }
  try {
    const r = await fetch(`${status.api_url}/health`, { signal: AbortSignal.timeout(2_000) });
    await r.body?.cancel();
  } catch {
    throw new Error(
      `The local stack at ${status.api_url} does not answer: start it with \`deno task start\`.`,
    );
  }
  return status;
}
