/**
 * `deno task gen-types`: TypeScript types of the database, written by Supabase's own
 * generator (`@supabase/postgrest-typegen`, what `supabase gen types typescript` and
 * postgres-meta run), from a throwaway database built from `supabase/migrations` (in the running
 * stack's cluster, or a throwaway one), so the types always match the migrations on disk.
 */
import { verb } from "../stack/invocation.ts";
import { parseOrExit, progress, type Verb } from "./args.ts";
import { PROJECT_ROOT } from "./new.ts";

export const TYPES_FILE = "functions/_shared/database.types.ts";

export const genTypes: Verb = {
  name: "gen-types",
  supabase: "supabase gen types typescript --local",
  summary: "TypeScript types of the database (public and any --schema) for createClient<Database>",
  usage: [
    "usage: deno task gen-types [--out FILE] [--schema NAME]... [--check]",
    "  --out     write to FILE (default: stdout)",
    "  --schema  a schema to include (repeatable; default public)",
    `  --check   compare with --out (default ${TYPES_FILE}); exit 1 if it is stale`,
  ].join("\n"),
  async run(argv) {
    const { values } = parseOrExit(this, argv, {
      out: { type: "string" },
      schema: { type: "string", multiple: true },
      check: { type: "boolean", default: false },
    });
    const schemas = values.schema?.length ? values.schema : ["public"];
    // Loaded here, not at the top: `--help` and every other verb start without them.
    const [{ generateTypescript, introspect, sortGeneratorMetadata }, { withThrowawayDatabase }, {
      readDbSettings,
    }] = await Promise.all([
      import("@supabase/postgrest-typegen"),
      import("../stack/db/throwaway.ts"),
      import("../stack/db/settings.ts"),
    ]);
    progress("Building a throwaway database from supabase/migrations...");
    const settings = readDbSettings(
      await Deno.readTextFile(`${PROJECT_ROOT}/supabase/config.toml`).catch(() => null),
    );
    const types = await withThrowawayDatabase(
      {
        majorVersion: settings.majorVersion,
        log: progress,
        migrations: new URL(`file://${PROJECT_ROOT}/supabase/migrations/`),
      },
      async (sql) => {
        const metadata = sortGeneratorMetadata(
          await introspect(
            { query: async (text: string) => ({ rows: await sql.unsafe(text) }) },
            { includedSchemas: schemas, excludedSchemas: [] },
          ),
        );
        return await generateTypescript(
          metadata,
          {
            detectOneToOneRelationships: true,
            postgrestVersion: "12",
            defaultSchema: "public",
          } as Parameters<typeof generateTypescript>[1],
        );
      },
    );
    if (values.check) {
      const file = values.out ?? TYPES_FILE;
      const current = await Deno.readTextFile(inProject(file)).catch(() => null);
      if (current !== types) {
        console.error(
          `${file} is stale: run \`${verb(`gen-types --out ${file}`)}\` and commit it.`,
        );
        return 1;
      }
      console.log(`${file} matches supabase/migrations.`);
      return 0;
    }
    if (values.out) {
      await Deno.writeTextFile(inProject(values.out), types);
      progress(`Wrote ${values.out}`);
    } else {
      await Deno.stdout.write(new TextEncoder().encode(types));
    }
    return 0;
  },
};

/** A path as given: absolute as it is, relative to the project (where `deno task` runs). */
function inProject(path: string): string {
  return path.startsWith("/") ? path : `${PROJECT_ROOT}/${path}`;
}
