/**
 * A cap on request bodies at the gateway (/rest/v1 and /functions/v1), so one request
 * cannot make PostgREST or a function buffer without end (300 MiB once grew PostgREST to
 * about 6 GB). A declared `content-length` over the cap is refused before a byte is read;
 * a streamed body is counted as it arrives and cut off at the cap.
 */
import { errorResponse, HttpError } from "../../functions/_shared/mod.ts";

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface LimitedRequest {
  request: Request;
  /** True once the body went past the cap (the stream was errored there). */
  exceeded(): boolean;
}

/** The request with a counted body, or the 413 to answer when its declared size is too big. */
export function limitBody(request: Request, maxBytes: number): LimitedRequest | Response {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) return tooLarge(maxBytes);
  if (request.body === null) return { request, exceeded: () => false };
  let seen = 0;
  let over = false;
  const counted = request.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > maxBytes) {
          over = true;
          controller.error(new RangeError("request body over the gateway's limit"));
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
  return {
    request: new Request(request, { body: counted }),
    exceeded: () => over,
  };
}

export function tooLarge(maxBytes: number): Response {
  return errorResponse(
    new HttpError("payload_too_large", `Request bodies are limited to ${maxBytes} bytes here.`, {
      hint: "Send less per request, or raise GATEWAY_MAX_BODY_BYTES for the local stack.",
    }),
  );
}
