/**
 * `posts`: each signed-in user's own posts. RLS alone keeps users apart; `user_id` comes
 * from the token (column default), never from the body. Routes: see _shared/owned_resource.ts.
 */
import { ownedResource, withAuth } from "../_shared/mod.ts";

export default {
  fetch: withAuth(
    { allow: "user" },
    ownedResource({
      table: "posts",
      columns: "id, user_id, title, body, created_at, updated_at",
      create: {
        title: { type: "string", required: true, minLength: 1, maxLength: 200 },
        body: { type: "string", maxLength: 20_000 },
      },
      update: {
        title: { type: "string", minLength: 1, maxLength: 200 },
        body: { type: "string", maxLength: 20_000 },
      },
    }),
  ),
};
