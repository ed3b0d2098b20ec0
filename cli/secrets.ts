/**
 * `deno task secrets`: what a hosted project must set so that it trusts the issuers this one
 * does: the AUTH_ISSUERS secret for the functions (production keys, no stand-ins), the
 * dashboard's (or `supabase config push`'s) third-party provider, and the other names in the
 * functions' env file. Values of secrets are never printed: only AUTH_ISSUERS, which is public.
 */
import { parseOrExit, type Verb } from "./args.ts";
import { PROJECT_ROOT } from "./new.ts";
import { readThirdParty } from "../stack/issuers/third_party.ts";
import { buildIssuerSet, entryForm } from "../stack/issuers/issuer_set.ts";
import { functionsEnvFile, readEnvFile } from "../stack/runtime/functions_config.ts";

export const secrets: Verb = {
  name: "secrets",
  supabase: "supabase secrets set / supabase config push",
  summary: "print what a hosted project must set to trust the issuers this one trusts",
  usage:
    "usage: deno task secrets\n  prints supabase secrets set and dashboard steps; no secret value",
  async run(argv) {
    parseOrExit(this, argv, {});
    const configToml = `${PROJECT_ROOT}/supabase/config.toml`;
    const configText = await Deno.readTextFile(configToml).catch(() => null);
    const envFile = functionsEnvFile(configToml).path;
    const fileEnv = readEnvFile(envFile).env;
    let set;
    try {
      const thirdParty = readThirdParty(configText);
      set = buildIssuerSet({
        thirdParty,
        entryForm: entryForm([
          { name: envFile.replace(`${PROJECT_ROOT}/`, ""), value: fileEnv.AUTH_ISSUERS },
          { name: "the environment", value: Deno.env.get("AUTH_ISSUERS") },
        ]),
        apiUrl: "http://127.0.0.1",
      });
      console.log(
        "# Functions: the issuers they trust (production keys; the local stand-ins are not in it)",
      );
      console.log(
        set.production.length
          ? `supabase secrets set AUTH_ISSUERS='${JSON.stringify(set.production)}'`
          : "# (no third-party issuer: nothing to set)",
      );
      const others = Object.keys(fileEnv).filter((name) => name !== "AUTH_ISSUERS");
      if (others.length) {
        console.log(
          `\n# And the other secrets of ${envFile.replace(`${PROJECT_ROOT}/`, "")}: ${
            others.join(", ")
          }`,
        );
        console.log(`supabase secrets set --env-file ${envFile.replace(`${PROJECT_ROOT}/`, "")}`);
      }
      if (thirdParty) {
        console.log(`\n# /rest/v1: Supabase's third-party auth for ${thirdParty.entry.issuer}`);
        console.log(
          `# [auth.third_party.${thirdParty.section}] is in supabase/config.toml: \`supabase config push\` sets it, ` +
            "or Dashboard > Authentication > Third-party Auth.",
        );
        console.log(
          '# The database half (requesting_user_id()) needs the issuer in a migration: see the README, "Who a user is".',
        );
      }
      return 0;
    } catch (error) {
      console.error(`secrets: ${(error as Error).message}`);
      return 1;
    }
  },
};
