/**
 * `[auth.third_party.*]` of config.toml, as the Supabase CLI reads it (one provider enabled at a
 * time, the CLI's own checks and messages), turned into the issuer entry the auth core and the
 * gateway apply (functions/_shared/issuers.ts, the AUTH_ISSUERS form):
 *
 *   clerk        domain               iss https://<domain>; azp must be one of the app's origins
 *                                     ([auth] site_url, additional_redirect_urls)
 *   firebase     project_id           iss https://securetoken.google.com/<id>; aud <id>
 *   auth0        tenant, tenant_region iss https://<tenant>[.<region>].auth0.com/ ; aud: your API
 *   aws_cognito  user_pool_id, _region iss https://cognito-idp.<region>.amazonaws.com/<pool>; aud
 *   workos       issuer_url           iss as given; aud
 *
 * Where a provider's tokens carry an audience only you know (Auth0's API identifier, a Cognito
 * or WorkOS client id), the entry form supplies it: an AUTH_ISSUERS entry with the same `issuer`
 * may add `audience`, `machine`, `user_id_claim`, `roles`, `algorithms` (./issuer_set.ts).
 */
import { parse } from "smol-toml";

/** An AUTH_ISSUERS-shaped entry (the JSON the auth core parses). */
export type IssuerEntry = Record<string, unknown> & { issuer: string };

export interface ThirdPartyIssuer {
  /** The CLI's section name (`clerk`, `aws_cognito`...). */
  section: string;
  /** How `deno task token --provider` and the stand-in's routes name it. */
  slug: string;
  entry: IssuerEntry;
  /** The provider's real keys (what a hosted project trusts); locally a stand-in's instead. */
  jwksUrl: string;
  /** What the entry form must add before the stack can trust this issuer, or null. */
  needs: string | null;
}

/** The CLI's pattern for Clerk domains. */
const CLERK_DOMAIN = /^(clerk([.][a-z0-9-]+){2,}|([a-z0-9-]+[.])+clerk[.]accounts[.]dev)$/;

function invalid(message: string): never {
  throw new Error(`supabase/config.toml: Invalid config: ${message}`);
}

/** The app's origins: `[auth] site_url` and `additional_redirect_urls`. */
export function appOrigins(tomlText: string | null): string[] {
  const root = tomlText === null ? {} : parse(tomlText) as Record<string, unknown>;
  return origins((root.auth ?? {}) as Record<string, unknown>);
}

function origins(auth: Record<string, unknown>): string[] {
  const urls = [
    auth.site_url,
    ...(Array.isArray(auth.additional_redirect_urls) ? auth.additional_redirect_urls : []),
  ];
  const out = new Set<string>();
  for (const url of urls) {
    try {
      if (typeof url === "string") out.add(new URL(url).origin);
    } catch { /* not a URL: no origin */ }
  }
  return [...out];
}

/** The enabled `[auth.third_party.*]` provider (at most one), or null. */
export function readThirdParty(tomlText: string | null): ThirdPartyIssuer | null {
  const root = tomlText === null ? {} : parse(tomlText) as Record<string, unknown>;
  const auth = (root.auth ?? {}) as Record<string, unknown>;
  const sections = (auth.third_party ?? {}) as Record<string, Record<string, unknown>>;
  const enabled = Object.entries(sections).filter(([, s]) => s?.enabled === true);
  if (enabled.length > 1) {
    invalid("Only one third_party provider allowed to be enabled at a time.");
  }
  if (enabled.length === 0) return null;
  const [section, s] = enabled[0]!;
  const text = (key: string) => (typeof s[key] === "string" ? s[key] as string : "");
  const base = { mode: "native", roles: ["authenticated"] };
  switch (section) {
    case "clerk": {
      const domain = text("domain");
      if (!domain) invalid("auth.third_party.clerk is enabled but without a domain.");
      if (!CLERK_DOMAIN.test(domain)) {
        invalid(
          "auth.third_party.clerk has invalid domain, it usually is like clerk.example.com or example.clerk.accounts.dev.",
        );
      }
      const issuer = `https://${domain}`;
      const parties = origins(auth);
      return {
        section,
        slug: "clerk",
        entry: {
          ...base,
          issuer,
          provider: "clerk",
          ...(parties.length ? { authorized_parties: parties } : {}),
        },
        jwksUrl: `${issuer}/.well-known/jwks.json`,
        needs: parties.length ? null : "authorized_parties (set [auth] site_url to your app's URL)",
      };
    }
    case "firebase": {
      const project = text("project_id");
      if (!project) invalid("auth.third_party.firebase is enabled but without a project_id.");
      return {
        section,
        slug: "firebase",
        entry: {
          ...base,
          issuer: `https://securetoken.google.com/${project}`,
          provider: "firebase",
          audience: project,
        },
        jwksUrl:
          "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com",
        needs: null,
      };
    }
    case "auth0": {
      const tenant = text("tenant");
      if (!tenant) invalid("auth.third_party.auth0 is enabled but without a tenant.");
      const region = text("tenant_region");
      // Auth0 writes its issuer with a trailing slash; iss is compared byte for byte.
      const issuer = `https://${tenant}${region ? `.${region}` : ""}.auth0.com/`;
      return {
        section,
        slug: "auth0",
        entry: { ...base, issuer, provider: "auth0" },
        jwksUrl: `${issuer}.well-known/jwks.json`,
        needs: "audience (your Auth0 API's identifier)",
      };
    }
    case "aws_cognito": {
      const pool = text("user_pool_id");
      const region = text("user_pool_region");
      if (!pool) invalid("auth.third_party.cognito is enabled but without a user_pool_id.");
      if (!region) invalid("auth.third_party.cognito is enabled but without a user_pool_region.");
      const issuer = `https://cognito-idp.${region}.amazonaws.com/${pool}`;
      return {
        section,
        slug: "cognito",
        entry: { ...base, issuer, provider: "oidc", id_prefix: "cognito" },
        jwksUrl: `${issuer}/.well-known/jwks.json`,
        needs: "audience (your Cognito app client id)",
      };
    }
    case "workos": {
      const issuer = text("issuer_url");
      if (!issuer) invalid("auth.third_party.workos is enabled but without a issuer_url.");
      return {
        section,
        slug: "workos",
        entry: { ...base, issuer, provider: "oidc", id_prefix: "workos" },
        jwksUrl: `${issuer.replace(/\/+$/, "")}/.well-known/jwks.json`,
        needs: "audience (your WorkOS client id)",
      };
    }
    default:
      invalid(`auth.third_party.${section} is not a provider the Supabase CLI knows`);
  }
}
