/**
 * CPU time from Linux's /proc, so the bench can say where a request's time goes: which
 * process (or thread) spent how many microseconds of CPU per request under load.
 * Off Linux every reading is null and the bench leaves the profile out.
 */

import { cpuMs, TICKS_PER_SECOND } from "../stack/runtime/proc_cpu.ts";

export { cpuMs };

/**
 * CPU time in ms the whole machine has spent busy so far (user, nice, system, irq, softirq and
 * steal, all cores), from /proc/stat's first line; null off Linux. Two readings bracket a run
 * whose processes come and go (a test suite's), which per-process readings would miss.
 */
export function machineBusyMs(): number | null {
  let stat: string;
  try {
    stat = Deno.readTextFileSync("/proc/stat");
  } catch {
    return null;
  }
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"
  const fields = stat.slice(0, stat.indexOf("\n")).trim().split(/\s+/).map(Number);
  const busy = [1, 2, 3, 6, 7, 8].reduce((sum, i) => sum + (fields[i] || 0), 0);
  return busy * 1000 / TICKS_PER_SECOND;
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
}

/** Every process this user can see, with its parent, name and command line. */
export function processes(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync("/proc");
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
      out.push({ pid: Number(entry.name), ppid, comm, cmdline });
    } catch { /* exited while we looked */ }
  }
  return out;
}

/**
 * Named groups of /proc entries; `take()` reads them all at once, `since()` gives each
 * group's CPU ms between two readings. A group's entries are fixed when it is defined
 * (processes that start later are not in it: define groups once the load's parts are up).
 */
export class CpuGroups {
  readonly #groups = new Map<string, { entries: string[]; minus: string[] }>();

  /** `minus`: entries inside `entries` counted elsewhere (a thread of a counted process). */
  define(name: string, entries: string[], minus: string[] = []): void {
    this.#groups.set(name, { entries, minus });
  }

  take(): Map<string, number> {
    const reading = new Map<string, number>();
    for (const [name, { entries, minus }] of this.#groups) {
      let sum = 0;
      for (const entry of entries) sum += cpuMs(entry) ?? 0;
      for (const entry of minus) sum -= cpuMs(entry) ?? 0;
      reading.set(name, sum);
    }
    return reading;
  }

  static since(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, value] of after) out.set(name, value - (before.get(name) ?? 0));
    return out;
  }
}
