/**
 * The process one function runs in (started by stack/runtime/function_process.ts):
 *
 *   deno run <restricted permissions> function_host.ts <entrypoint file URL> <socket path>
 *
 * Before the function's code loads, it reads the stack's nonce from stdin (the function never
 * sees it), takes `Deno.listen` away (a no-op, as on the hosted runtime) and shortens the
 * function's own /rest/v1 calls. Then it imports the function the way the edge runtime does, so
 * both styles work: a module that exports `default { fetch }`, or one that calls
 * `Deno.serve(handler)` (captured here instead of listening), serves it on the Unix socket the
 * stack chose and prints `{"ready": <nonce>}`. It exits when its stdin (the stack) closes.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { loadConfig } from "../../functions/_shared/mod.ts";
import { createRestAuthorizer, proxyRest, type RestAuthorizer } from "./rest_auth.ts";
import { CALL_CHAIN_HEADER, CALL_LIMIT_HEADER } from "./call_chain.ts";

type Handler = (request: Request, info?: unknown) => Response | Promise<Response>;

const [entrypoint, socket] = Deno.args;
if (!entrypoint || !socket) {
  console.error("function_host: usage: function_host.ts <entrypoint> <socket>");
  Deno.exit(2);
}

/** The stack's nonce (first stdin line); then stdin stays open until the stack is gone. */
async function readNonceThenWatchStdin(): Promise<string> {
  const reader = Deno.stdin.readable.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) Deno.exit(0);
    text += decoder.decode(value, { stream: true });
  }
  (async () => {
    try {
      while (!(await reader.read()).done) { /* nothing more is ever sent */ }
    } catch { /* closed */ }
    Deno.exit(0);
  })();
  return text.slice(0, text.indexOf("\n"));
}
const nonce = await readNonceThenWatchStdin();

/**
 * The request being served: its chain (for the calls its function makes to functions) and its
 * id (the gateway's `sb-request-id`), which every console line written for it starts with.
 */
const chain = new AsyncLocalStorage<{ chain: string | null; requestId: string | null }>();
const REQUEST_ID = /^[A-Za-z0-9-]{8,64}$/;

function tagConsole(): void {
  for (const level of ["log", "info", "warn", "error", "debug"] as const) {
    const write = console[level].bind(console);
    console[level] = (...args: unknown[]) => {
      const id = chain.getStore()?.requestId;
      if (!id) return write(...args);
      // Every line of the message carries the id (a stack trace is many lines).
      const text = args.map((a) => (typeof a === "string" ? a : Deno.inspect(a))).join(" ");
      write(text.split("\n").map((line) => `[${id}] ${line}`).join("\n"));
    };
  }
}
tagConsole();

/**
 * Outgoing calls: the function's own /rest/v1 takes the short way (the gateway's token rule
 * and body cap, then PostgREST directly); a call to its own /functions/v1 carries the request
 * chain, so the gateway can hold the chain to its budget (a refusal throws RateLimitError, as
 * on the platform). Anything else goes out untouched.
 */
function patchFetch(): void {
  const postgrest = Deno.env.get("SUPABASE_INTERNAL_POSTGREST_URL");
  const maxBodyBytes = Number(Deno.env.get("SUPABASE_INTERNAL_MAX_BODY_BYTES") ?? "10485760");
  // Internal settings are the runtime's, not the function's (the CLI hides them too).
  for (const name of Object.keys(Deno.env.toObject())) {
    if (name.startsWith("SUPABASE_INTERNAL_")) Deno.env.delete(name);
  }
  const supabaseUrl = Deno.env.get("SUPABASE_URL");
  if (!supabaseUrl) return;
  const restBase = new URL("/rest/v1", supabaseUrl).href;
  const functionsBase = new URL("/functions/v1/", supabaseUrl).href;
  const realFetch = globalThis.fetch;
  let authorize: RestAuthorizer | undefined;
  globalThis.fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith(functionsBase)) {
      const id = chain.getStore()?.chain;
      const request = new Request(input, init);
      if (id) request.headers.set(CALL_CHAIN_HEADER, id);
      const response = await realFetch(request);
      if (response.status === 429 && response.headers.has(CALL_LIMIT_HEADER)) {
        await response.body?.cancel();
        throw new RateLimitError(Number(response.headers.get("retry-after") ?? "60"));
      }
      return response;
    }
    if (
      !postgrest ||
      (url !== restBase && !url.startsWith(`${restBase}/`) && !url.startsWith(`${restBase}?`))
    ) {
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

/** What a call to another function throws once its request chain is over budget. */
class RateLimitError extends Error {
  override name = "RateLimitError";
  constructor(readonly retryAfter: number) {
    super(
      `Rate limit exceeded for this request chain: function-to-function calls (retry after ${retryAfter} s)`,
    );
  }
}
// deno-lint-ignore no-explicit-any
(globalThis as any).RateLimitError = RateLimitError;
patchFetch();

/** A listener that never accepts: opening sockets in a function is a no-op, as on the platform. */
function idleListener(options: { hostname?: string; port?: number; path?: string }) {
  const addr = options.path !== undefined ? { transport: "unix" as const, path: options.path } : {
    transport: "tcp" as const,
    hostname: options.hostname ?? "0.0.0.0",
    port: options.port ?? 0,
  };
  let close!: () => void;
  const closed = new Promise<IteratorResult<never>>((
    r,
  ) => (close = () => r({ done: true, value: undefined as never })));
  return {
    addr,
    rid: -1,
    accept: () =>
      closed.then(() => Promise.reject(new Deno.errors.BadResource("Listener has been closed"))),
    close,
    ref() {},
    unref() {},
    [Symbol.asyncIterator]() {
      return { next: () => closed };
    },
    [Symbol.dispose]: () => close(),
  };
}
const realServe = Deno.serve.bind(Deno);
// deno-lint-ignore no-explicit-any
const mutable = Deno as any;
mutable.listen = idleListener;
mutable.listenTls = idleListener;

let captured: Handler | null = null;
mutable.serve = (...args: unknown[]) => {
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
  path: socket,
  onListen: () => console.log(JSON.stringify({ ready: nonce })),
}, async (request, info) => {
  const given = request.headers.get("sb-request-id");
  const requestId = given && REQUEST_ID.test(given) ? given : null;
  const store = { chain: request.headers.get(CALL_CHAIN_HEADER), requestId };
  try {
    return await chain.run(store, () => handler(request, info));
  } catch (error) {
    // Logged once, with the request's id, and the id is in the answer.
    chain.run(store, () => console.error(`uncaught error: ${(error as Error)?.stack ?? error}`));
    return Response.json(
      {
        code: "WORKER_ERROR",
        message: "Function exited due to an error (please check logs)",
        ...(requestId ? { request_id: requestId } : {}),
      },
      { status: 500, headers: { "sb-error-code": "WORKER_ERROR" } },
    );
  }
});
