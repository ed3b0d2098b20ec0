-- The caller's id as text, for every issuer: Supabase uuids, Clerk `user_...`, Auth0
-- `auth0|...`, Logto ids. auth.uid() would throw on the non-uuid ones.
-- In `public`, because hosted Supabase refuses new functions in schema `auth`.
create or replace function public.requesting_user_id() returns text
language sql stable
set search_path = ''
as $$
  select nullif(
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub',
    ''
  )
$$;

revoke execute on function public.requesting_user_id() from public;
grant execute on function public.requesting_user_id() to anon, authenticated, service_role;
