/**
 * The project half of `deno task check`: every function folder `supabase functions deploy` would
 * skip or break is named, with what to add (stack/runtime/functions_config.ts finds them the way
 * the stack does at start). Exit 1 when there is any.
 */
import { readFunctionsLayout } from "../stack/runtime/functions_config.ts";

const root = Deno.env.get("EDGE_PROJECT_ROOT") ??
  new URL("..", import.meta.url).pathname.replace(/\/$/, "");
let layout;
try {
  layout = readFunctionsLayout({
    configToml: `${root}/supabase/config.toml`,
    projectImportMap: `${root}/import_map.json`,
  });
} catch (error) {
  console.error(`check: ${(error as Error).message}`);
  Deno.exit(1);
}
for (const misfit of layout.misfits) console.error(`check: ${misfit.problem}: ${misfit.fix}`);
if (layout.misfits.length > 0) Deno.exit(1);
console.log(
  `check: ${layout.functions.size} functions, each as supabase functions deploy ships it`,
);
