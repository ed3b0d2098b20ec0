/** `deno task logs [function] [--follow] [--lines N]`: the stack's log (supabase functions logs). */
import { verb } from "../stack/invocation.ts";
import { fail, parseOrExit, type Verb } from "./args.ts";
import { STATE_DIR } from "../stack/status_file.ts";
import { isAbout, logPath } from "../stack/log_file.ts";

export const logs: Verb = {
  name: "logs",
  supabase: "the Dashboard's function logs",
  summary: "show the stack's log, or one function's (--follow keeps reading)",
  usage: "usage: deno task logs [function] [--follow] [--lines N]\n" +
    "  function  only the lines of this function (its own output, its requests, its reloads)\n" +
    "  --follow  keep printing new lines until Ctrl-C\n" +
    "  --lines   how many of the last lines to print first (default 100)\n" +
    "  The log is <state folder>/logs/stack.log, written by deno task start; every request's\n" +
    "  lines carry its sb-request-id, so a 500's request_id finds its error and stack.",
  async run(argv) {
    const { values, positionals } = parseOrExit(this, argv, {
      follow: { type: "boolean", short: "f", default: false },
      lines: { type: "string", default: "100" },
    }, 1);
    const count = Number(values.lines);
    if (!Number.isInteger(count) || count < 0) fail(this, "--lines must be a whole number");
    const name = positionals[0];
    const path = logPath(STATE_DIR);
    const keep = (line: string) => line !== "" && (!name || isAbout(line, name));
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch {
      console.error(`No log yet at ${path}: start the stack with ${verb("start")}.`);
      return 1;
    }
    const lines = text.split("\n").filter(keep);
    for (const line of lines.slice(Math.max(0, lines.length - count))) console.log(line);
    if (!values.follow) return 0;
    let offset = new TextEncoder().encode(text).length;
    let partial = "";
    while (true) {
      await new Promise((r) => setTimeout(r, 250));
      let info: Deno.FileInfo;
      try {
        info = await Deno.stat(path);
      } catch {
        continue; // being rotated
      }
      if (info.size < offset) offset = 0; // rotated: read the new file from its start
      if (info.size === offset) continue;
      const file = await Deno.open(path);
      await file.seek(offset, Deno.SeekMode.Start);
      const buffer = new Uint8Array(info.size - offset);
      const read = await file.read(buffer) ?? 0;
      file.close();
      offset += read;
      const chunk = partial + new TextDecoder().decode(buffer.subarray(0, read));
      const parts = chunk.split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts.filter(keep)) console.log(line);
    }
  },
};
