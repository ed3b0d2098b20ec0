/** `deno task stop`: stops the stack `status` sees, from any terminal. */
import { parseOrExit, progress, type Verb } from "./args.ts";
import { clearRunning, findRunning, processAlive } from "../stack/status_file.ts";

export const stop: Verb = {
  name: "stop",
  supabase: "supabase stop",
  summary: "stop the running local stack (started in any terminal)",
  usage: "usage: deno task stop",
  async run(argv) {
    parseOrExit(this, argv, {});
    const running = await findRunning();
    if (!running) {
      console.log("No local stack is running.");
      await clearRunning();
      return 0;
    }
    if (running.pid === null) {
      console.error(
        `The stack at ${running.status.api_url} did not record its process id: stop it with Ctrl-C.`,
      );
      return 1;
    }
    progress(`Stopping the local stack at ${running.status.api_url} (pid ${running.pid})...`);
    try {
      Deno.kill(running.pid, "SIGTERM");
    } catch {
      console.error(`Process ${running.pid} is gone; clearing its state.`);
      await clearRunning();
      return 0;
    }
    // Done when the process is gone: requests in flight have been answered, the database has
    // shut down, and a new start can have the state directory.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (!processAlive(running.pid)) {
        console.log("Stopped.");
        return 0;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    console.error(`The stack did not stop within 30 s (pid ${running.pid}).`);
    return 1;
  },
};
