/**
 * The process one function runs in (started by stack/runtime/function_process.ts):
 *
 *   deno run <restricted permissions> function_host.ts <entrypoint file URL>
 *
 * It imports the function the way the edge runtime does, so both styles work: a module that
 * exports `default { fetch }`, or one that calls `Deno.serve(handler)` itself (the call is
 * captured here instead of listening on a port of its own). Then it serves the function on
 * a free loopback port and prints `{"listening": <port>}` as its first stdout line.
 */
import { loadConfig } from "../../functions/_shared/mod.ts";
import { createRestAuthorizer, proxyRest, type RestAuthorizer } from "./rest_auth.ts";

type Handler = (request: Request, info?: unknown) => Response | Promise<Response>;

/**
 * The function's calls to its own project's /rest/v1 take the short way: the same token rule
 * and body cap the gateway applies (stack/runtime/rest_auth.ts), then PostgREST directly,
 * instead of a second trip through the gateway. Anything else goes out as it would.
 */
function shortenOwnRestCalls(): void {
  const postgrest = Deno.env.get("SUPABASE_INTERNAL_POSTGREST_URL");
  const maxBodyBytes = Number(Deno.env.get("SUPABASE_INTERNAL_MAX_BODY_BYTES") ?? "10485760");
  // Internal settings are the runtime's, not the function's (the CLI hides them too).
  for (const name of Object.keys(Deno.env.toObject())) {
    if (name.startsWith("SUPABASE_INTERNAL_")) Deno.env.delete(name);
  }
  const supabaseUrl = Deno.env.get("SUPABASE_URL");
  if (!postgrest || !supabaseUrl) return;
  const restBase = new URL("/rest/v1", supabaseUrl).href;
  const realFetch = globalThis.fetch;
  let authorize: RestAuthorizer | undefined;
  globalThis.fetch = (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (url !== restBase && !url.startsWith(`${restBase}/`) && !url.startsWith(`${restBase}?`)) {
      return realFetch(input, init); // not ours: untouched (no Request built to look at it)
    }
    const request = new Request(input, init);
    authorize ??= createRestAuthorizer({
      config: loadConfig(),
      anonToken: Deno.env.get("SUPABASE_ANON_KEY") ?? "",
      serviceRoleToken: Deno.env.get("SUPABASE_SERVICE_ROLE_KEY") ?? "",
    });
    return proxyRest(request, new URL(request.url), {
      postgrestUrl: () => postgrest,
      restAuthorization: authorize,
      maxBodyBytes,
    });
  };
}
shortenOwnRestCalls();

/** The stack keeps this process's stdin open and never writes: end-of-file means it is gone. */
async function exitWithTheStack(): Promise<void> {
  try {
    for await (const _ of Deno.stdin.readable) { /* nothing is ever sent */ }
  } catch { /* closed */ }
  Deno.exit(0);
}
exitWithTheStack();

const entrypoint = Deno.args[0];
if (!entrypoint) {
  console.error("function_host: no entrypoint given");
  Deno.exit(2);
}

let captured: Handler | null = null;
const realServe = Deno.serve.bind(Deno);
// deno-lint-ignore no-explicit-any
(Deno as any).serve = (...args: unknown[]) => {
  const handler = args.find((a) => typeof a === "function") as Handler | undefined ??
    (args.find((a) => typeof a === "object" && a !== null && "handler" in a) as
      | { handler: Handler }
      | undefined)?.handler;
  if (!handler) throw new TypeError("Deno.serve needs a handler");
  captured = handler;
  const finished = new Promise<void>(() => {});
  return {
    finished,
    addr: { transport: "tcp", hostname: "127.0.0.1", port: 0 },
    shutdown: () => Promise.resolve(),
    ref() {},
    unref() {},
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
};

const mod = await import(entrypoint);
const exported = mod.default?.fetch;
const handler: Handler | null = typeof exported === "function"
  ? (request) => exported.call(mod.default, request)
  : captured;
if (!handler) {
  console.error(
    "function_host: the module neither exports default { fetch } nor calls Deno.serve(handler)",
  );
  Deno.exit(3);
}

realServe({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(JSON.stringify({ listening: port })),
}, async (request, info) => {
  try {
    return await handler(request, info);
  } catch (error) {
    console.error(`uncaught error: ${(error as Error)?.stack ?? error}`);
    return Response.json(
      { code: "WORKER_ERROR", message: "Function exited due to an error (please check logs)" },
      { status: 500, headers: { "sb-error-code": "WORKER_ERROR" } },
    );
  }
});
