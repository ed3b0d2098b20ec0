/**
 * `tasks`: to-dos for users of a third-party identity provider (Clerk-style text ids such as
 * `user_2abc`). A native issuer's token goes straight to PostgREST, which trusts that
 * issuer's keys; `user_id text default requesting_user_id()` reads the id from `sub`.
 * Routes: see _shared/owned_resource.ts; PATCH {"done": true} completes a task.
 */
import { ownedResource, withAuth } from "../_shared/mod.ts";

export default {
  fetch: withAuth(
    { allow: "user" },
    ownedResource({
      table: "tasks",
      columns: "id, user_id, name, done, created_at",
      create: {
        name: { type: "string", required: true, minLength: 1, maxLength: 500 },
        done: { type: "boolean" },
      },
      update: {
        name: { type: "string", minLength: 1, maxLength: 500 },
        done: { type: "boolean" },
      },
    }),
  ),
};
