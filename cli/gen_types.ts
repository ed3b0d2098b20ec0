/**
 * `deno task gen-types`: TypeScript types of the database, written by Supabase's own
 * generator (`@supabase/postgrest-typegen`, what `supabase gen types typescript` and
 * postgres-meta run), from a throwaway database built from `supabase/migrations`, so the
 * types always match the migrations on disk.
 */
import { generateTypescript, introspect, sortGeneratorMetadata } from "@supabase/postgrest-typegen";
import { parseOrExit, progress, type Verb } from "./args.ts";
import { PROJECT_ROOT } from "./new.ts";
import { openDatabase } from "../stack/db/database.ts";

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
    progress("Building a throwaway database from supabase/migrations...");
    const db = await openDatabase({ dataDir: null, authenticatorPassword: crypto.randomUUID() });
    let types: string;
    try {
      const metadata = sortGeneratorMetadata(
        await introspect(
          { query: async (sql: string) => ({ rows: await db.sql.unsafe(sql) }) },
          { includedSchemas: schemas, excludedSchemas: [] },
        ),
      );
      types = await generateTypescript(
        metadata,
        {
          detectOneToOneRelationships: true,
          postgrestVersion: "12",
          defaultSchema: "public",
        } as Parameters<typeof generateTypescript>[1],
      );
    } finally {
      await db.close();
    }
    if (values.check) {
      const file = values.out ?? TYPES_FILE;
      const current = await Deno.readTextFile(`${PROJECT_ROOT}/${file}`).catch(() => null);
      if (current !== types) {
        console.error(`${file} is stale: run \`deno task gen-types --out ${file}\` and commit it.`);
        return 1;
      }
      console.log(`${file} matches supabase/migrations.`);
      return 0;
    }
    if (values.out) {
      await Deno.writeTextFile(`${PROJECT_ROOT}/${values.out}`, types);
      progress(`Wrote ${values.out}`);
    } else {
      await Deno.stdout.write(new TextEncoder().encode(types));
    }
    return 0;
  },
};
