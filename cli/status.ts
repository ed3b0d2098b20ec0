/** `deno task status [--json]`: the running stack's URLs and keys. */
import { parseOrExit, type Verb } from "./args.ts";
import { readRunningStatus } from "../stack/status_file.ts";

export const status: Verb = {
  name: "status",
  supabase: "supabase status",
  summary: "show the running stack's URLs and keys (--json for scripts)",
  usage:
    "usage: deno task status [--json]\n  --json  the same as one JSON object (keys are stable)",
  async run(argv) {
    const { values } = parseOrExit(this, argv, { json: { type: "boolean", default: false } });
    try {
      const running = await readRunningStatus();
      if (values.json) console.log(JSON.stringify(running, null, 2));
      else for (const [k, v] of Object.entries(running)) console.log(`${k.padStart(16)}: ${v}`);
      return 0;
    } catch (error) {
      console.error((error as Error).message);
      return 1;
    }
  },
};
