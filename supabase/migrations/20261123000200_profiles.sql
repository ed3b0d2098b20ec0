create table public.profiles (
  user_id text primary key default public.requesting_user_id(),
  display_name text check (char_length(display_name) <= 100),
  avatar_url text check (char_length(avatar_url) <= 2048),
  updated_at timestamptz not null default now()
);

create trigger profiles_touch_updated_at before update on public.profiles
  for each row execute function public.touch_updated_at();

alter table public.profiles enable row level security;

-- No policy for anon: RLS denies it everything. One policy per command.
create policy "profiles: read own" on public.profiles
  for select to authenticated
  using ((select public.requesting_user_id()) = user_id);
create policy "profiles: create own" on public.profiles
  for insert to authenticated
  with check ((select public.requesting_user_id()) = user_id);
create policy "profiles: update own" on public.profiles
  for update to authenticated
  using ((select public.requesting_user_id()) = user_id)
  with check ((select public.requesting_user_id()) = user_id);
create policy "profiles: delete own" on public.profiles
  for delete to authenticated
  using ((select public.requesting_user_id()) = user_id);

revoke all on public.profiles from anon, authenticated;
grant select, delete on public.profiles to authenticated;
grant insert (display_name, avatar_url) on public.profiles to authenticated;
grant update (display_name, avatar_url) on public.profiles to authenticated;
grant all on public.profiles to service_role;
