/**
 * One way every verb reads its arguments: `node:util`'s strict `parseArgs` (JSR's @std/cli is
 * out of reach here), `--help` answered without side effects, and any mistake reported in one
 * line with exit code 2, never a stack trace.
 */
import { taskPrefix } from "../stack/invocation.ts";
import { parseArgs, type ParseArgsConfig } from "node:util";

export class UsageError extends Error {}

export interface Verb {
  /** `deno task <name>`. */
  name: string;
  /** The Supabase CLI command it stands for. */
  supabase: string;
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parse, or exit: 0 after printing the usage for --help, 2 with one line for a mistake. */
export function parseOrExit<O extends Options>(
  verb: Pick<Verb, "name" | "usage">,
  argv: string[],
  options: O,
  positionals = 0,
) {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(verb.usage);
    Deno.exit(0);
  }
  try {
    const parsed = parseArgs({
      args: argv,
      options,
      strict: true,
      allowPositionals: positionals > 0,
    });
    if (parsed.positionals.length > positionals) {
      throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`);
    }
    return parsed;
  } catch (error) {
    fail(verb, (error as Error).message.split("\n")[0]!);
  }
}

/** One line on stderr, the usage's first line as a hint, exit code 2. */
export function fail(verb: Pick<Verb, "name" | "usage">, message: string): never {
  console.error(`${taskPrefix()} ${verb.name}: ${message.replace(/^TypeError \[[A-Z_]+\]: /, "")}`);
  console.error(verb.usage.split("\n")[0]);
  Deno.exit(2);
}

/** A progress line on stderr (stdout stays clean for what a script reads). */
export function progress(line: string): void {
  console.error(line);
}
