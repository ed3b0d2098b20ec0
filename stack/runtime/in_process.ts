/**
 * Functions imported into the stack's own process (the bench compares this with the default,
 * one process per function): the folders of functions/ holding an index.ts.
 */
import type { FunctionRegistry } from "./gateway.ts";

/** Functions are the folders of functions/ (except _shared) holding an index.ts. */
export function functionRegistry(dir: URL): FunctionRegistry {
  const loaded = new Map<string, Promise<(request: Request) => Promise<Response>>>();
  const names: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.isDirectory || entry.name.startsWith("_")) continue;
    try {
      Deno.statSync(new URL(`${entry.name}/index.ts`, dir));
      names.push(entry.name);
    } catch { /* not a function */ }
  }
  names.sort();
  return {
    names: () => [...names],
    handler(name) {
      if (!names.includes(name)) return Promise.resolve(null);
      let handler = loaded.get(name);
      if (!handler) {
        handler = import(new URL(`${name}/index.ts`, dir).href).then((mod) => {
          const fetchFn = mod.default?.fetch;
          if (typeof fetchFn !== "function") {
            throw new Error(`functions/${name}/index.ts must export default { fetch }`);
          }
          return fetchFn as (request: Request) => Promise<Response>;
        });
        loaded.set(name, handler);
      }
      return handler;
    },
  };
}
