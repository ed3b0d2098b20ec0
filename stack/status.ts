/** `deno task status [--json]`: the running stack's URLs and keys. */
import { readRunningStatus } from "./status_file.ts";

try {
  const status = await readRunningStatus();
  if (Deno.args.includes("--json")) {
    console.log(JSON.stringify(status, null, 2));
  } else {
    for (const [k, v] of Object.entries(status)) console.log(`${k.padStart(16)}: ${v}`);
  }
} catch (error) {
  console.error((error as Error).message);
  Deno.exit(1);
}
