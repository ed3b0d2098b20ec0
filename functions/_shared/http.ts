/**
 * Small HTTP helpers for handlers: JSON responses, bounded and validated JSON bodies,
 * and the sub-path after the function name (`/functions/v1/posts/42` -> `["42"]`).
 */
import { HttpError } from "./errors.ts";

export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  const merged = new Headers(headers);
  merged.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(body), { status, headers: merged });
}

export function noContent(): Response {
  return new Response(null, { status: 204 });
}

/** Path segments after the function's own name, with or without the `/functions/v1` prefix. */
export function subPath(request: Request): string[] {
  const segments = new URL(request.url).pathname.split("/").filter((s) => s !== "");
  const start = segments[0] === "functions" && segments[1] === "v1" ? 3 : 1;
  return segments.slice(start).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new HttpError("bad_request", "The URL path is not valid percent-encoding.");
    }
  });
}

export const DEFAULT_BODY_LIMIT = 64 * 1024;

/** Read a JSON object body: 415 unless JSON, 413 past the limit, 400 unless an object. */
export async function readJsonObject(
  request: Request,
  maxBytes = DEFAULT_BODY_LIMIT,
): Promise<Record<string, unknown>> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/(.+\+)?json\s*(;|$)/i.test(type)) {
    throw new HttpError("unsupported_media_type", "Send the body as application/json.");
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const bytes = await readAtMost(request.body, maxBytes);
  if (bytes === null) throw tooLarge(maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new HttpError("invalid_json", "The body is not valid JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError("invalid_body", "The body must be a JSON object.");
  }
  return value as Record<string, unknown>;
}

/**
 * Read a body stream, giving up as soon as it passes `maxBytes` (null then). A declared
 * content-length is not trusted: the count is of bytes actually received.
 */
export async function readAtMost(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<Uint8Array | null> {
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return concatBytes(chunks);
}

/** The chunks, end to end, in one array. */
export function concatBytes(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError("payload_too_large", `The body is larger than ${maxBytes} bytes.`);
}

/** One field of a body schema. */
export interface FieldRule {
  type: "string" | "boolean" | "integer" | "array";
  required?: boolean;
  /** For strings: maximum length in characters. */
  maxLength?: number;
  /** For strings: minimum length after trimming (default 0). */
  minLength?: number;
  nullable?: boolean;
}

/**
 * Check a body against a schema: unknown fields, missing required fields and wrong types
 * are 400 `invalid_body` naming the field. Returns only the schema's fields.
 */
export function validateBody<S extends Record<string, FieldRule>>(
  body: Record<string, unknown>,
  schema: S,
): { [K in keyof S]?: unknown } {
  for (const key of Object.keys(body)) {
    if (!Object.hasOwn(schema, key)) {
      throw new HttpError("invalid_body", `Unknown field "${key}".`, {
        hint: `Allowed fields: ${Object.keys(schema).join(", ")}.`,
      });
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, rule] of Object.entries(schema)) {
    if (!Object.hasOwn(body, key)) {
      if (rule.required) throw new HttpError("invalid_body", `Field "${key}" is required.`);
      continue;
    }
    const value = body[key];
    if (value === null && rule.nullable) {
      out[key] = null;
      continue;
    }
    if (!fits(value, rule)) {
      throw new HttpError("invalid_body", `Field "${key}" must be ${describe(rule)}.`);
    }
    out[key] = value;
  }
  return out as { [K in keyof S]?: unknown };
}

function fits(value: unknown, rule: FieldRule): boolean {
  switch (rule.type) {
    case "boolean":
      return typeof value === "boolean";
    case "integer":
      return Number.isSafeInteger(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string" && value.trim().length >= (rule.minLength ?? 0) &&
        value.length <= (rule.maxLength ?? Infinity);
  }
}

function describe(rule: FieldRule): string {
  const base = rule.type === "string"
    ? `a string${rule.maxLength ? ` of at most ${rule.maxLength} characters` : ""}${
      rule.minLength ? ", not blank" : ""
    }`
    : rule.type === "integer"
    ? "an integer"
    : rule.type === "array"
    ? "an array"
    : "true or false";
  return rule.nullable ? `${base}, or null` : base;
}
