/**
 * `token-exchange`: for identity providers Supabase does not trust natively (Logto, any
 * OIDC issuer configured with `mode: "exchange"` in AUTH_ISSUERS).
 *
 *   POST /token-exchange   Authorization: Bearer <provider access token>
 *   -> 200 {access_token, token_type: "bearer", expires_in, expires_at}
 *
 * The provider token is verified against its issuer's JWKS (iss, aud, exp, signature);
 * the minted project token is short-lived (TOKEN_EXCHANGE_TTL, never past the provider
 * token's exp) and is what the app then sends to the other functions and to PostgREST.
 * Machine-to-machine tokens are refused unless TOKEN_EXCHANGE_ALLOW_M2M=true.
 */
import { HttpError, json, mintProjectToken, withAuth } from "../_shared/mod.ts";

export default {
  fetch: withAuth(
    {
      allow: ["user", "machine"],
      issuerModes: ["exchange"],
      roles: null, // provider tokens carry no Postgres role: the minted token gets one
      methods: ["POST"],
    },
    async (_request, ctx) => {
      if (ctx.path.length > 0) throw new HttpError("not_found", "Not found.");
      const identity = ctx.identity!;
      if (identity.kind === "machine" && !ctx.config.exchange.allowMachines) {
        throw new HttpError(
          "exchange_not_allowed",
          "Machine-to-machine tokens are not exchanged.",
          {
            hint:
              "Services call admin functions with their own token; set TOKEN_EXCHANGE_ALLOW_M2M=true only if they must act as users.",
          },
        );
      }
      const minted = await mintProjectToken(ctx.config, identity);
      if (minted.expires_in < 1) {
        throw new HttpError("token_expired", "The provider token expires too soon to exchange.", {
          hint: "Refresh the provider session, then exchange the new token.",
        });
      }
      return json(minted, 200, { "cache-control": "no-store" });
    },
  ),
};
