/** Where a running `deno task start` records itself for `status`, `token`, `stop` and `db`. */
import { verb } from "./invocation.ts";
import type { StackStatus } from "./start.ts";

/** Local state (keys, database, status) lives here; EDGE_STACK_DIR moves it. */
export const STATE_DIR = Deno.env.get("EDGE_STACK_DIR") ??
  new URL("../.local", import.meta.url).pathname;
export const STATUS_FILE = `${STATE_DIR}/status.json`;
/** The process id of the running `deno task start` (kept apart: status --json keys are fixed). */
export const PID_FILE = `${STATE_DIR}/stack.pid`;
/** How the verbs reach the running stack's database as its superuser (0600, never printed). */
export const DATABASE_FILE = `${STATE_DIR}/database.json`;

export interface RunningDatabase {
  kind: "embedded" | "external";
  admin_url: string;
  /** The embedded server's PostgreSQL major. */
  major?: number;
}

export async function writeStatus(status: StackStatus): Promise<void> {
  await Deno.mkdir(STATE_DIR, { recursive: true });
  await Deno.writeTextFile(STATUS_FILE, JSON.stringify(status, null, 2), { mode: 0o600 });
}

export async function writePid(pid: number): Promise<void> {
  await Deno.writeTextFile(PID_FILE, String(pid), { mode: 0o600 });
}

export async function writeDatabase(database: RunningDatabase): Promise<void> {
  await Deno.writeTextFile(DATABASE_FILE, JSON.stringify(database), { mode: 0o600 });
}

/** The running stack's database, or null when no stack of this state directory runs. */
export async function readRunningDatabase(): Promise<RunningDatabase | null> {
  if (!(await findRunning())) return null;
  try {
    return JSON.parse(await Deno.readTextFile(DATABASE_FILE)) as RunningDatabase;
  } catch {
    return null;
  }
}

/**
 * Forget the running stack. With `pid`, only if the files are still that stack's: a stack that
 * stops late must not delete the files of one started after it.
 */
export async function clearRunning(pid?: number): Promise<void> {
  if (pid !== undefined && (await readPid()) !== pid) return;
  await Deno.remove(STATUS_FILE).catch(() => {});
  await Deno.remove(PID_FILE).catch(() => {});
  await Deno.remove(DATABASE_FILE).catch(() => {});
}

/** The stack this state directory's `start` runs, if it answers; null otherwise. */
export async function findRunning(): Promise<{ status: StackStatus; pid: number | null } | null> {
  try {
    return { status: await readRunningStatus(), pid: await readPid() };
  } catch {
    return null;
  }
}

const HAS_PROC = (() => {
  try {
    return Deno.statSync("/proc/self/stat").isFile;
  } catch {
    return false;
  }
})();

/** True while a process of that id exists (a stack that is stopping still counts). */
export function processAlive(pid: number): boolean {
  if (HAS_PROC) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"; // a zombie is gone
    } catch {
      return false;
    }
  }
  try {
    Deno.kill(pid, "SIGCONT"); // where there is no /proc: harmless to a running process
    return true;
  } catch {
    return false;
  }
}

/**
 * A live `deno task start` of this project under that id (where /proc can tell; elsewhere,
 * any live process): a pid file outliving a reboot can name an unrelated process.
 */
export function stackProcessAlive(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    const command = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
    return command.includes("main.ts") && command.includes(" start");
  } catch {
    return true;
  }
}

/** The process id the state directory's pid file names, alive or not. */
export async function readPid(): Promise<number | null> {
  try {
    const pid = Number(await Deno.readTextFile(PID_FILE));
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** The status of the running stack, or an explanation of why there is none. */
export async function readRunningStatus(): Promise<StackStatus> {
  let status: StackStatus;
  try {
    status = JSON.parse(await Deno.readTextFile(STATUS_FILE));
  } catch {
    throw new Error(`The local stack is not running: start it with \`${verb("start")}\`.`);
  }
  try {
    const response = await fetch(`${status.api_url}/health`, {
      signal: AbortSignal.timeout(2_000),
    });
    await response.body?.cancel();
  } catch {
    throw new Error(
      `The local stack at ${status.api_url} does not answer: start it with \`${verb("start")}\`.`,
    );
  }
  return status;
}
