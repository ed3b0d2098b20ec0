/**
 * `deno task <verb>`: the everyday commands of a Supabase developer, for this project.
 * `deno task help` lists them; every verb answers `--help` without side effects.
 */
import { taskPrefix, verb as typed } from "../stack/invocation.ts";
import type { Verb } from "./args.ts";
import { start } from "./start.ts";
import { status } from "./status.ts";
import { stop } from "./stop.ts";
import { token } from "./token.ts";
import { newFunction } from "./new.ts";
import { genTypes } from "./gen_types.ts";
import { db } from "./db.ts";
import { migration } from "./migration.ts";
import { secrets } from "./secrets.ts";
import { logs } from "./logs.ts";

/** In the Supabase CLI's own order of use. */
export const VERBS: Verb[] = [
  start,
  status,
  stop,
  newFunction,
  migration,
  db,
  genTypes,
  token,
  secrets,
  logs,
];

/** Verbs that are their own scripts (deno.json runs them directly), listed by `help`. */
const OTHER_TASKS: [string, string, string][] = [
  ["test", "supabase test / deno test", "every test, unit to end-to-end, against its own stack"],
  [
    "bench",
    "no Supabase CLI equivalent",
    "benchmarks next to the anchors; --write updates docs/BENCHMARKS.md",
  ],
];

function help(): number {
  console.log("usage: deno task <verb> [--help]\n");
  const rows = [
    ...VERBS.map((v) => [v.name, v.summary, v.supabase]),
    ...OTHER_TASKS.map(([n, s, d]) => [n, d, s]),
  ];
  const width = Math.max(...rows.map((r) => r[0]!.length));
  for (const [name, summary, supabase] of rows) {
    console.log(`  ${name!.padEnd(width)}  ${summary}  (${supabase})`);
  }
  return 0;
}

const [name, ...argv] = Deno.args;
if (!name || name === "help" || name === "--help" || name === "-h") Deno.exit(help());
const verb = VERBS.find((v) => v.name === name);
if (!verb) {
  console.error(`${taskPrefix()}: unknown verb "${name}". See ${typed("help")}.`);
  Deno.exit(2);
}
try {
  Deno.exit(await verb.run(argv));
} catch (error) {
  console.error(`${taskPrefix()} ${name}: ${(error as Error).message}`);
  Deno.exit(1);
}
