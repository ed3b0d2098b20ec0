/**
 * Children that die with the stack, even when the stack cannot clean up (kill -9, a crash):
 * next to a child it starts (PostgreSQL, PostgREST), the stack starts a tiny `sh` that blocks
 * reading a pipe only the stack holds. When the stack's process ends for any reason, the kernel
 * closes that pipe, the read returns, and the watchdog signals the child (and runs an optional
 * clean-up such as removing a throwaway cluster). A stack that stops normally stops the child
 * itself and dismisses the watchdog first.
 */

export interface Watchdog {
  /** The child was stopped normally: the watchdog goes without acting. */
  dismiss(): Promise<void>;
}

export function guardChild(
  pid: number,
  signal: "SIGINT" | "SIGTERM" | "SIGKILL",
  cleanup: string[] = [],
): Watchdog {
  // $0 = pid, $1 = signal name without SIG, "$@" after shift 2 = a command to run afterwards.
  const script = 'cat >/dev/null 2>&1; kill -s "$1" "$0" 2>/dev/null; shift 2; ' +
    '[ $# -gt 0 ] && { sleep 3; "$@"; }; exit 0';
  const child = new Deno.Command("sh", {
    args: ["-c", script, String(pid), signal.slice(3), ...cleanup],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
  }).spawn();
  child.unref();
  // The pipe's write end stays open, unwritten, for as long as this process lives.
  const writer = child.stdin.getWriter();
  return {
    async dismiss() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      child.ref(); // waited on now: keep the event loop alive until it has gone
      await child.status;
      await writer.close().catch(() => {});
    },
  };
}
