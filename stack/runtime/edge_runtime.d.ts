/**
 * What `@supabase/functions-js/edge-runtime.d.ts` declares for a function: the types of the
 * edge runtime's globals. Supabase publishes that file on JSR only, which this stack cannot
 * reach, so a function's import of it resolves here (stack/runtime/import_maps.ts). Types
 * only: nothing runs.
 */
declare namespace EdgeRuntime {
  /** Keep the worker alive until `promise` settles (background work after the answer). */
  function waitUntil<T>(promise: Promise<T>): Promise<T>;
}
