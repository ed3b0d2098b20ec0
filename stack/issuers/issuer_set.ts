/**
 * The one list of trusted issuers both doors apply (the functions and /rest/v1), from one place:
 *
 * - `[auth.third_party.*]` of config.toml, as the CLI configures it (./third_party.ts);
 * - the entry form, AUTH_ISSUERS, for what the CLI has no section for (Logto and other OIDC
 *   issuers for token exchange) and for what a section cannot say (an Auth0 audience). It is
 *   read from the functions' env file (supabase/functions/.env), where a hosted project's
 *   functions get it as a secret; the start environment or the stack's caller may give it too,
 *   but two sources that disagree stop the start.
 *
 * Two versions come out: `production`, what a hosted project sets (printed by `deno task
 * secrets`), and `local`, the same rules with keys a stand-in holds wherever the real issuer's
 * keys are not on this machine (./stand_ins.ts): only the keys differ.
 */
import type { IssuerEntry, ThirdPartyIssuer } from "./third_party.ts";

export interface IssuerSource {
  /** Where the value came from, for messages ("supabase/functions/.env"). */
  name: string;
  value: string | undefined;
}

export interface StandInSpec {
  slug: string;
  issuer: string;
  /** The provider whose tokens it shapes: clerk, firebase, auth0, cognito, workos, logto, oidc. */
  provider: string;
  entry: IssuerEntry;
}

export interface IssuerSet {
  production: IssuerEntry[];
  local: IssuerEntry[];
  standIns: StandInSpec[];
}

/** What the entry form may add to a config.toml provider. */
const SUPPLEMENT_FIELDS = new Set([
  "issuer",
  "audience",
  "authorized_parties",
  "machine",
  "user_id_claim",
  "roles",
  "algorithms",
]);

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === "127.0.0.1" || host === "localhost" || host === "[::1]" ||
      host.startsWith("127.");
  } catch {
    return false;
  }
}

/** The entry form's one value, or a refusal naming two sources that disagree. */
export function entryForm(sources: IssuerSource[]): { value: string | undefined; from: string } {
  const set = sources.filter((s) => s.value !== undefined && s.value.trim() !== "");
  for (const other of set.slice(1)) {
    if (JSON.stringify(safeParse(other.value!)) !== JSON.stringify(safeParse(set[0]!.value!))) {
      throw new Error(
        `AUTH_ISSUERS differs between ${
          set[0]!.name
        } and ${other.name}: the functions and /rest/v1 would trust different issuers; keep it in one place (${
          set[0]!.name
        })`,
      );
    }
  }
  return { value: set[0]?.value, from: set[0]?.name ?? "AUTH_ISSUERS" };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function buildIssuerSet(options: {
  thirdParty: ThirdPartyIssuer | null;
  entryForm: { value: string | undefined; from: string };
  apiUrl: string;
}): IssuerSet {
  const { thirdParty } = options;
  let entries: IssuerEntry[] = [];
  if (options.entryForm.value !== undefined) {
    const parsed = safeParse(options.entryForm.value);
    if (!Array.isArray(parsed)) {
      throw new Error(
        `AUTH_ISSUERS (${options.entryForm.from}) must be a JSON array of issuer entries`,
      );
    }
    entries = parsed as IssuerEntry[];
  }
  const production: IssuerEntry[] = [];
  if (thirdParty) {
    const section = `[auth.third_party.${thirdParty.section}]`;
    const supplement = entries.find((e) => e?.issuer === thirdParty.entry.issuer);
    if (supplement) {
      for (const key of Object.keys(supplement)) {
        if (!SUPPLEMENT_FIELDS.has(key)) {
          throw new Error(
            `AUTH_ISSUERS (${options.entryForm.from}): the entry for ${thirdParty.entry.issuer} may only add ${
              [...SUPPLEMENT_FIELDS].filter((f) => f !== "issuer").join(", ")
            } to ${section}; "${key}" comes from config.toml`,
          );
        }
      }
      entries = entries.filter((e) => e !== supplement);
    }
    const merged = { ...thirdParty.entry, ...(supplement ?? {}) };
    if (
      thirdParty.needs && merged.audience === undefined && merged.authorized_parties === undefined
    ) {
      throw new Error(
        `supabase/config.toml ${section}: its tokens' audience is yours to name: add {"issuer": "${thirdParty.entry.issuer}", "audience": "..."} to AUTH_ISSUERS in supabase/functions/.env (needs ${thirdParty.needs})`,
      );
    }
    production.push(merged);
  }
  production.push(...entries);

  // Locally, an issuer whose keys are not on this machine is a stand-in's.
  const standIns: StandInSpec[] = [];
  const local = production.map((entry) => {
    const keysHere = typeof entry.jwks_url === "string"
      ? isLoopback(entry.jwks_url)
      : isLoopback(String(entry.issuer));
    if (keysHere) return entry;
    const slug = thirdParty && entry.issuer === thirdParty.entry.issuer
      ? thirdParty.slug
      : String(entry.id_prefix ?? entry.provider ?? guessSlug(String(entry.issuer)));
    standIns.push({
      slug,
      issuer: String(entry.issuer),
      provider: String(entry.provider ?? slug),
      entry,
    });
    return { ...entry, jwks_url: `${options.apiUrl}/_local/idp/${slug}/jwks` };
  });
  const slugs = standIns.map((s) => s.slug);
  const repeated = slugs.find((slug, i) => slugs.indexOf(slug) !== i);
  if (repeated) {
    throw new Error(
      `AUTH_ISSUERS: two issuers would share the stand-in "${repeated}": give them distinct id_prefix values`,
    );
  }
  return { production, local, standIns };
}

function guessSlug(issuer: string): string {
  const host = new URL(issuer).hostname;
  if (host.endsWith(".logto.app") || new URL(issuer).pathname === "/oidc") return "logto";
  return "oidc";
}
