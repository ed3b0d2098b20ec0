/** `deno task stop`: stops the stack `status` sees, from any terminal. */
import { parseOrExit, progress, type Verb } from "./args.ts";
import { clearRunning, findRunning } from "../stack/status_file.ts";

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
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (!(await findRunning())) {
        console.log("Stopped.");
        return 0;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    console.error(`The stack did not stop within 15 s (pid ${running.pid}).`);
    return 1;
  },
};
