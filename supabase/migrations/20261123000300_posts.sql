create table public.posts (
  id bigint generated always as identity primary key,
  user_id text not null default public.requesting_user_id(),
  title text not null check (char_length(title) between 1 and 200),
  body text not null default '' check (char_length(body) <= 20000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Serves both the policies (user_id) and keyset pagination (user_id, id).
create index posts_user_id_id_idx on public.posts (user_id, id);

create trigger posts_touch_updated_at before update on public.posts
  for each row execute function public.touch_updated_at();

alter table public.posts enable row level security;

create policy "posts: read own" on public.posts
  for select to authenticated
  using ((select public.requesting_user_id()) = user_id);
create policy "posts: create own" on public.posts
  for insert to authenticated
  with check ((select public.requesting_user_id()) = user_id);
create policy "posts: update own" on public.posts
  for update to authenticated
  using ((select public.requesting_user_id()) = user_id)
  with check ((select public.requesting_user_id()) = user_id);
create policy "posts: delete own" on public.posts
  for delete to authenticated
  using ((select public.requesting_user_id()) = user_id);

revoke all on public.posts from anon, authenticated;
grant select, delete on public.posts to authenticated;
-- Users choose title and body only; id, owner and timestamps are the database's.
grant insert (title, body) on public.posts to authenticated;
grant update (title, body) on public.posts to authenticated;
grant all on public.posts to service_role;
