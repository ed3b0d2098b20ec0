/**
 * CPU time and resident memory from Linux's /proc: the function runtime's limits and the
 * bench's profile both read them here.
 */

/** USER_HZ: /proc reports CPU time in these ticks (100 on every Linux this runs on). */
export const TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system) in ms of a process ("1234", "self") or one of its threads
 * ("1234/task/1240"); null where there is no such entry (exited, or no /proc).
 */
export function cpuMs(entry: string): number | null {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${entry}/stat`);
  } catch {
    return null;
  }
  // Fields after the command name (which may hold spaces) start at field 3, `state`.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 1000 / TICKS_PER_SECOND;
}

/**
 * Resident memory in MiB of a process (every thread's: V8 heap, ArrayBuffers, WASM memory,
 * worker threads), from /proc/<pid>/statm; null where there is no such entry.
 */
export function residentMb(pid: string): number | null {
  let statm: string;
  try {
    statm = Deno.readTextFileSync(`/proc/${pid}/statm`);
  } catch {
    return null;
  }
  return Number(statm.split(" ")[1]) * PAGE_BYTES / (1024 * 1024);
}

/** The page size statm counts in (4 KiB on the x86_64 and arm64 Linux this runs on). */
const PAGE_BYTES = 4096;
