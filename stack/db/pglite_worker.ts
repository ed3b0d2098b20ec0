/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * PGlite and its socket server on a thread of their own. PGlite runs Postgres as WASM on the
 * thread that owns it; on the stack's main thread it would compete with the gateway, the local
 * Auth and every proxied request for one core. Messages:
 *   in:  {dataDir: string | null}            -> out: {port} or {error}
 *   in:  "profile"                            -> out: {profile, thread} (thread: "pid/task/tid",
 *                                                 this thread's entry under /proc, for its CPU time)
 *   in:  "close"                              -> out: "closed"
 */
import { PGlite } from "@electric-sql/pglite";
import { pgcrypto } from "@electric-sql/pglite/contrib/pgcrypto";
import { type PgliteServer, servePglite } from "./pglite_server.ts";

let close: (() => Promise<void>) | null = null;
let served: PgliteServer | null = null;

self.onmessage = async (
  event: MessageEvent<{ dataDir: string | null } | "close" | "profile">,
) => {
  if (event.data === "profile") {
    let thread: string | null = null;
    try {
      thread = Deno.readLinkSync("/proc/thread-self"); // Linux only; read on this thread
    } catch { /* no /proc */ }
    self.postMessage({ profile: served?.profile() ?? null, thread });
    return;
  }
  if (event.data === "close") {
    await close?.();
    self.postMessage("closed");
    return;
  }
  try {
    const pglite = await PGlite.create(event.data.dataDir ?? "memory://", {
      extensions: { pgcrypto },
    });
    const server = servePglite(pglite, { port: 0 });
    served = server;
    close = async () => {
      await server.close();
      await pglite.close();
    };
    self.postMessage({ port: server.port });
  } catch (error) {
    self.postMessage({ error: (error as Error).message });
  }
};
