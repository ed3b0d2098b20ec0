-- Tasks for users of a third-party provider (Clerk-style text ids).
create table public.tasks (
  id bigint generated always as identity primary key,
  user_id text not null default public.requesting_user_id(),
  name text not null check (char_length(name) between 1 and 500),
  done boolean not null default false,
  created_at timestamptz not null default now()
);

create index tasks_user_id_id_idx on public.tasks (user_id, id);

alter table public.tasks enable row level security;

create policy "tasks: read own" on public.tasks
  for select to authenticated
  using ((select public.requesting_user_id()) = user_id);
create policy "tasks: create own" on public.tasks
  for insert to authenticated
  with check ((select public.requesting_user_id()) = user_id);
create policy "tasks: update own" on public.tasks
  for update to authenticated
  using ((select public.requesting_user_id()) = user_id)
  with check ((select public.requesting_user_id()) = user_id);
create policy "tasks: delete own" on public.tasks
  for delete to authenticated
  using ((select public.requesting_user_id()) = user_id);

revoke all on public.tasks from anon, authenticated;
grant select, delete on public.tasks to authenticated;
grant insert (name, done) on public.tasks to authenticated;
grant update (name, done) on public.tasks to authenticated;
grant all on public.tasks to service_role;
