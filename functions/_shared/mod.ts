/**
 * The public surface of the auth core. Functions import from here only.
 */
export {
  type Context,
  createVerifier,
  type FunctionOptions,
  type Handler,
  type VerifierChoices,
  withAuth,
} from "./with_auth.ts";
export { authenticate, type Caller, type CallerKind } from "./authenticate.ts";
export { type Strategy, TokenVerifier, type VerifierOptions } from "./verify.ts";
export { type IssuerSpec, type MachineRule, parseIssuers } from "./issuers.ts";
export { JwksKeySet, type JwksOptions } from "./jwks.ts";
export { extractApiKey, extractBearer } from "./bearer.ts";
export { parseJwt } from "./jwt.ts";
export { type ApiKeyMatch, ApiKeyRing, looksLikeApiKey } from "./apikeys.ts";
export {
  type Identity,
  requireAal,
  requireClaims,
  requireRole,
  requireScopes,
} from "./identity.ts";
export { createAdminClient, createUserClient, userClient } from "./clients.ts";
export { type AuthConfig, loadConfig } from "./config.ts";
export { applyCors, type CorsPolicy, preflightResponse } from "./cors.ts";
export {
  ConfigError,
  type ErrorCode,
  errorResponse,
  HttpError,
  REQUEST_ID_HEADER,
} from "./errors.ts";
export { json, noContent, readJsonObject, subPath, validateBody } from "./http.ts";
export { fromDbError } from "./db_errors.ts";
export { type FieldRule } from "./http.ts";
export { ownedResource, type ResourceOptions } from "./owned_resource.ts";
export { encodeCursor, pageQuery } from "./owned_resource.ts";
export { type MintedToken, mintProjectToken } from "./mint.ts";
