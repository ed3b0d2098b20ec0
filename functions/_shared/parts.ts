/**
 * The core's second face: its parts, one by one, for the local stack (`stack/`) and the unit
 * tests that test each part alone. A project copying the core imports `mod.ts` only; nothing
 * outside `_shared` imports any other file in it.
 */
export * from "./mod.ts";
export { publicPart } from "./jwks.ts";
export { hasDuplicateTopLevelMember } from "./jwt.ts";
export { type IdentitySource, toIdentity } from "./identity.ts";
export { guessProvider } from "./issuers.ts";
export { fetchJson, type FetchLimits, withTimeout } from "./outgoing.ts";
export { importHmacKey } from "./hmac.ts";
export { checkIssuerClaims, checkRole } from "./claim_rules.ts";
export { concatBytes } from "./http.ts";
