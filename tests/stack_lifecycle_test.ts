/**
 * The stack's life as `deno task start` runs it (issue 22): killed with SIGKILL it leaves no
 * database, PostgREST or function process behind; a stack that is still stopping keeps a new
 * start off its state directory; `deno task stop` returns once the process is gone.
 */
import assert from "node:assert/strict";
import { freePort } from "../stack/db/ports.ts";
import { processAlive } from "../stack/status_file.ts";
import { E2E } from "./helpers/stack.ts";
import { startCli, task } from "./helpers/cli.ts";

/** Every process descended from `pid` (children, grandchildren...), from /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      parent.set(Number(entry.name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch { /* gone */ }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, ppid] of parent) {
      if (ppid === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "lifecycle: a stack killed with SIGKILL leaves no database, PostgREST or function process",
  ...E2E,
  async fn() {
    const state = await Deno.makeTempDir({ prefix: "edge-life-" });
    const stack = await startCli(state);
    try {
      const s = JSON.parse((await task(["status", "--json"], { EDGE_STACK_DIR: state })).stdout);
      const token = (await task(["token", "--sub", crypto.randomUUID()], { EDGE_STACK_DIR: state }))
        .stdout.trim();
      const me = await fetch(`${s.functions_url}/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(me.status, 200);
      await me.body?.cancel();
      const children = descendants(stack.child.pid);
      assert.ok(children.length >= 5, `postgres, PostgREST, watchdogs, me: ${children.length}`);
      stack.child.kill("SIGKILL");
      await stack.child.status;
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && children.some(processAlive)) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(children.filter(processAlive), [], "every child is gone");
      assert.ok(portFree(stack.port) && portFree(stack.dbPort), "their ports are free");
      // The next start recovers the state directory (no stale pid file blocks it).
      const next = await startCli(state);
      assert.equal((await task(["stop"], { EDGE_STACK_DIR: state })).code, 0);
      await next.child.status;
    } finally {
      try {
        stack.child.kill("SIGKILL");
      } catch { /* gone */ }
      await Deno.remove(state, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "lifecycle: a start waits for a stack still stopping; stop returns once the process is gone",
  ...E2E,
  async fn() {
    const state = await Deno.makeTempDir({ prefix: "edge-life-" });
    const stack = await startCli(state);
    try {
      // Frozen, it neither answers nor exits: as a stack in the middle of stopping.
      Deno.kill(stack.child.pid, "SIGSTOP");
      const second = await task(["start", "--port", String(await freePort())], {
        EDGE_STACK_DIR: state,
      });
      assert.equal(second.code, 1);
      assert.match(second.stderr, /is still stopping/);
      Deno.kill(stack.child.pid, "SIGCONT");
      const stopped = await task(["stop"], { EDGE_STACK_DIR: state });
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.equal(processAlive(stack.child.pid), false, "gone when stop returns");
      assert.ok(portFree(stack.port) && portFree(stack.dbPort));
      await stack.child.status;
    } finally {
      try {
        stack.child.kill("SIGKILL");
      } catch { /* gone */ }
      await Deno.remove(state, { recursive: true }).catch(() => {});
    }
  },
});
