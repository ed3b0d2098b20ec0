/**
 * One trivial authenticated endpoint (answers the caller's id), served on 127.0.0.1:<port>
 * in its own process: `ours` (withAuth) or `anchor` (@supabase/server's withSupabase, as the
 * `supabase functions new` template uses it). Both read the same environment.
 *   deno run -A bench/serve.ts ours|anchor <port>
 */
const [kind, port] = Deno.args;
let handler: (request: Request) => Promise<Response>;
if (kind === "ours") {
  const { json, withAuth } = await import("../functions/_shared/mod.ts");
  handler = withAuth({ allow: "user" }, (_req, ctx) => json({ id: ctx.identity!.id }));
} else {
  const { withSupabase } = await import("@supabase/server");
  handler = withSupabase(
    { auth: "user" },
    (_req, ctx) => Promise.resolve(Response.json({ id: ctx.userClaims?.id })),
  );
}
Deno.serve({ hostname: "127.0.0.1", port: Number(port), onListen: () => {} }, handler);
