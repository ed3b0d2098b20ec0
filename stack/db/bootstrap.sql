-- What a hosted Supabase project already has before your migrations run: its roles, the
-- `extensions` and `auth` schemas with their owners and grants, Supabase Auth's tables and
-- Supabase's SQL helpers. Run by a superuser at every start; safe to run any number of times.
-- (Passwords and the embedded server's `postgres` role are set by stack/db/database.ts.)

-- Roles ------------------------------------------------------------------------------------
do $$
begin
  -- The embedded server's bootstrap superuser is supabase_admin; an external server gets a
  -- role of that name to own what Supabase manages (`supabase db reset` leaves its schemas).
  if not exists (select from pg_roles where rolname = 'supabase_admin') then
    create role supabase_admin nologin superuser createdb createrole replication bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'postgres') then
    create role postgres login createdb createrole replication bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  -- Supabase Auth connects as this role; auth hooks (pg-functions://) run as it.
  if not exists (select from pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin login noinherit createrole noreplication;
  end if;
  -- Roles of hosted services this stack does not run; migrations and docs grant to them.
  if not exists (select from pg_roles where rolname = 'supabase_storage_admin') then
    create role supabase_storage_admin nologin noinherit createrole noreplication;
  end if;
  if not exists (select from pg_roles where rolname = 'supabase_functions_admin') then
    create role supabase_functions_admin nologin noinherit createrole noreplication;
  end if;
  if not exists (select from pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin nologin noinherit noreplication;
  end if;
  if not exists (select from pg_roles where rolname = 'supabase_replication_admin') then
    create role supabase_replication_admin nologin replication;
  end if;
  if not exists (select from pg_roles where rolname = 'supabase_read_only_user') then
    create role supabase_read_only_user nologin bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'dashboard_user') then
    create role dashboard_user nologin createdb createrole replication;
  end if;
  if not exists (select from pg_roles where rolname = 'pgbouncer') then
    create role pgbouncer nologin;
  end if;
end
$$;

-- The API roles inherit (hosted since 2023); PostgREST's login role does not.
alter role anon inherit;
alter role authenticated inherit;
alter role service_role inherit;
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
-- So that `postgres` (your migrations) can add triggers and policies to Auth's tables.
grant supabase_auth_admin to postgres;
grant pg_read_all_data to supabase_read_only_user;
grant pg_read_all_data, pg_signal_backend to postgres;

alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role supabase_auth_admin set search_path = auth;
alter role supabase_admin set search_path = "$user", public, auth, extensions;

-- The database -----------------------------------------------------------------------------
do $$
begin
  execute format('grant all on database %I to postgres, dashboard_user', current_database());
  -- Every session gets `extensions` on its search path, as on a hosted project, so seed
  -- scripts can write crypt('pw', gen_salt('bf')) unqualified.
  execute format('alter database %I set search_path to "$user", public, extensions',
    current_database());
end
$$;

-- Extensions live in `extensions`, as on a hosted project.
create schema if not exists extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
grant all on schema extensions to postgres, dashboard_user;
create extension if not exists "uuid-ossp" with schema extensions;
create extension if not exists pgcrypto with schema extensions;
do $$
begin
  if exists (select from pg_available_extensions where name = 'pg_stat_statements') then
    create extension if not exists pg_stat_statements with schema extensions;
  end if;
end
$$;
grant all on all tables in schema extensions to postgres with grant option;
grant all on all routines in schema extensions to postgres with grant option;
grant all on all sequences in schema extensions to postgres with grant option;
alter default privileges in schema extensions grant all on tables to postgres with grant option;
alter default privileges in schema extensions grant all on routines to postgres with grant option;
alter default privileges in schema extensions grant all on sequences to postgres with grant option;

-- `public`: the API roles may use it, and RLS decides row by row. What `postgres` (your
-- migrations) or `supabase_admin` creates there is granted to them by default.
grant usage on schema public to postgres, anon, authenticated, service_role;
-- With grant option, as on a hosted project (where postgres owns the database and so `public`):
-- migrations may grant the schema on, e.g. to supabase_auth_admin for an Auth hook.
grant all on schema public to postgres with grant option;
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on functions to postgres, anon, authenticated, service_role;

-- Supabase Auth --------------------------------------------------------------------------------
-- The schema belongs to supabase_admin (so `supabase db reset --db-url` keeps it), its tables
-- to supabase_auth_admin (Auth's own role); postgres may read and write them (seed scripts).
create schema if not exists auth authorization supabase_admin;
alter schema auth owner to supabase_admin;
grant usage on schema auth to anon, authenticated, service_role;
grant all on schema auth to supabase_auth_admin, postgres, dashboard_user;

create table if not exists auth.users (
  id uuid primary key,
  aud text not null default 'authenticated',
  role text not null default 'authenticated',
  email text unique,
  is_anonymous boolean not null default false,
  banned_until timestamptz,
  deleted_at timestamptz,
  raw_app_meta_data jsonb not null default '{"provider":"email","providers":["email"]}',
  raw_user_meta_data jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table auth.users
  add column if not exists instance_id uuid,
  add column if not exists encrypted_password text,
  add column if not exists email_confirmed_at timestamptz,
  add column if not exists invited_at timestamptz,
  add column if not exists confirmation_token text default '',
  add column if not exists confirmation_sent_at timestamptz,
  add column if not exists recovery_token text default '',
  add column if not exists recovery_sent_at timestamptz,
  add column if not exists email_change_token_new text default '',
  add column if not exists email_change text default '',
  add column if not exists email_change_token_current text default '',
  add column if not exists email_change_sent_at timestamptz,
  add column if not exists email_change_confirm_status smallint default 0,
  add column if not exists last_sign_in_at timestamptz,
  add column if not exists is_super_admin boolean,
  add column if not exists phone text default null,
  add column if not exists phone_confirmed_at timestamptz,
  add column if not exists phone_change text default '',
  add column if not exists phone_change_token text default '',
  add column if not exists phone_change_sent_at timestamptz,
  add column if not exists reauthentication_token text default '',
  add column if not exists reauthentication_sent_at timestamptz,
  add column if not exists is_sso_user boolean not null default false,
  add column if not exists confirmed_at timestamptz
    generated always as (least(email_confirmed_at, phone_confirmed_at)) stored;
alter table auth.users alter column raw_app_meta_data drop not null;
alter table auth.users alter column raw_user_meta_data drop not null;
alter table auth.users alter column created_at drop not null;
alter table auth.users alter column updated_at drop not null;
-- Seed scripts insert ids as the Auth API would (gen_random_uuid()).
alter table auth.users alter column id set default gen_random_uuid();

create table if not exists auth.identities (
  id uuid primary key default gen_random_uuid(),
  provider_id text not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  identity_data jsonb not null,
  provider text not null,
  last_sign_in_at timestamptz,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  email text generated always as (lower(identity_data ->> 'email')) stored,
  unique (provider_id, provider)
);
create index if not exists identities_user_id_idx on auth.identities (user_id);

-- Signing out deletes the session row (and its refresh tokens), as Supabase Auth does.
create table if not exists auth.sessions (
  id uuid primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  aal text not null default 'aal1',
  not_after timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table auth.sessions
  add column if not exists refreshed_at timestamp,
  add column if not exists user_agent text,
  add column if not exists ip inet;
create index if not exists sessions_user_id_idx on auth.sessions (user_id);

-- How each session was authenticated (the access token's `amr`).
create table if not exists auth.mfa_amr_claims (
  id uuid primary key default gen_random_uuid(),
  session_id uuid not null references auth.sessions (id) on delete cascade,
  authentication_method text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (session_id, authentication_method)
);

-- Opaque, single-use refresh tokens; `parent` links each to the one it replaced.
create table if not exists auth.refresh_tokens (
  instance_id uuid,
  id bigserial primary key,
  token text unique,
  user_id text,
  revoked boolean not null default false,
  parent text,
  session_id uuid references auth.sessions (id) on delete cascade,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists refresh_tokens_session_id_revoked_idx
  on auth.refresh_tokens (session_id, revoked);
create index if not exists refresh_tokens_parent_idx on auth.refresh_tokens (parent);

-- MFA (GoTrue's mfa_factors / mfa_challenges): TOTP factors and their challenges.
create table if not exists auth.mfa_factors (
  id uuid primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  friendly_name text,
  factor_type text not null,
  status text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  secret text,
  phone text,
  last_challenged_at timestamptz
);
create index if not exists factor_id_created_at_idx on auth.mfa_factors (user_id, created_at);
create table if not exists auth.mfa_challenges (
  id uuid primary key,
  factor_id uuid not null references auth.mfa_factors (id) on delete cascade,
  created_at timestamptz not null default now(),
  verified_at timestamptz,
  ip_address inet not null,
  otp_code text
);
alter table auth.sessions add column if not exists factor_id uuid;
alter table auth.mfa_factors add column if not exists web_authn_credential jsonb;
alter table auth.mfa_challenges add column if not exists web_authn_session_data jsonb;

-- The OAuth 2.1 server's registered clients (GoTrue's oauth_clients).
create table if not exists auth.oauth_clients (
  id uuid primary key,
  client_secret_hash text,
  registration_type text not null,
  redirect_uris text not null,
  grant_types text not null,
  client_name text,
  client_uri text,
  logo_uri text,
  client_type text not null default 'confidential',
  token_endpoint_auth_method text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz
);

-- PKCE flows of email sign-in (GoTrue's flow_state): one row per started flow, used once.
create table if not exists auth.flow_state (
  id uuid primary key,
  user_id uuid references auth.users (id) on delete cascade,
  auth_code text not null,
  code_challenge_method text not null,
  code_challenge text not null,
  provider_type text not null,
  provider_access_token text,
  provider_refresh_token text,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  authentication_method text not null,
  auth_code_issued_at timestamptz
);
create index if not exists idx_auth_code on auth.flow_state (auth_code);
create index if not exists idx_user_id_auth_method on auth.flow_state (user_id, authentication_method);

create or replace function auth.jwt() returns jsonb
language sql stable
as $$ select nullif(current_setting('request.jwt.claims', true), '')::jsonb $$;

create or replace function auth.uid() returns uuid
language sql stable
as $$ select (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid $$;

create or replace function auth.role() returns text
language sql stable
as $$ select nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role' $$;

create or replace function auth.email() returns text
language sql stable
as $$ select nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email' $$;

grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email()
  to anon, authenticated, service_role;

-- Everything in `auth` belongs to Auth's role, whoever created it first.
do $$
declare
  item record;
begin
  for item in
    select format('table auth.%I', c.relname) as what
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'auth' and c.relkind in ('r', 'p')
    union all
    select format('sequence auth.%I', c.relname)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'auth' and c.relkind = 'S'
      and not exists (select from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i'))
    union all
    select format('function auth.%I(%s)', p.proname, pg_get_function_identity_arguments(p.oid))
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'auth'
  loop
    execute format('alter %s owner to supabase_auth_admin', item.what);
  end loop;
end
$$;
grant all on all tables in schema auth to supabase_auth_admin, postgres, dashboard_user;
grant all on all sequences in schema auth to supabase_auth_admin, postgres, dashboard_user;
grant all on all routines in schema auth to supabase_auth_admin, postgres, dashboard_user;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on tables to postgres, dashboard_user;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on sequences to postgres, dashboard_user;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on routines to postgres, dashboard_user;
