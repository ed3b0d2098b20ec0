-- A user is (issuer, sub), as OIDC defines it: a `sub` is unique only within its issuer, and
-- several issuers can share one key set (every Firebase project signs with the same keys).
-- So the id that policies compare says whose user it is:
--   Supabase Auth users              -> their uuid, as before (auth.uid() still matches)
--   third-party users (Clerk, Auth0) -> '<id_prefix>:<sub>', e.g. 'clerk:user_2abc'
--   token-exchange (minted) tokens   -> `sub` as minted, already '<id_prefix>:<sub>'
-- and a token from an issuer this table does not list has no id at all (NULL): every
-- `(select requesting_user_id()) = user_id` policy then matches nothing. Fail closed.
--
-- The local stack fills this table from SUPABASE_URL and AUTH_ISSUERS at every start. A
-- hosted project lists its issuers in a migration of its own (see the README, "Who a user is").

create schema if not exists private;
revoke all on schema private from public;

create table if not exists private.token_issuers (
  -- Exact `iss`, byte for byte.
  iss text primary key,
  -- '' keeps the id as the token says it (Supabase Auth, minted tokens).
  id_prefix text not null default '' check (id_prefix ~ '^([a-z][a-z0-9_-]{0,31})?$'),
  id_claim text not null default 'sub' check (id_claim <> ''),
  -- When set, `aud` (a string or an array) must name one of these.
  audiences text[],
  -- When set, `azp` must be one of these (Clerk checks origins here instead of aud).
  authorized_parties text[]
);
-- Prefixes are what keeps two issuers' users apart: no two third-party issuers share one.
create unique index if not exists token_issuers_id_prefix_key
  on private.token_issuers (id_prefix) where id_prefix <> '';

create or replace function public.requesting_user_id() returns text
language sql stable
security definer
set search_path = ''
as $$
  with token as (
    select nullif(current_setting('request.jwt.claims', true), '')::jsonb as claims
  )
  select case
    when i.id_prefix = '' then token.claims ->> i.id_claim
    else i.id_prefix || ':' || (token.claims ->> i.id_claim)
  end
  from token
  join private.token_issuers i on i.iss = token.claims ->> 'iss'
  where nullif(token.claims ->> i.id_claim, '') is not null
    and (
      i.audiences is null
      or exists (
        select
        from jsonb_array_elements_text(
          case jsonb_typeof(token.claims -> 'aud')
            when 'array' then token.claims -> 'aud'
            when 'string' then jsonb_build_array(token.claims -> 'aud')
            else '[]'::jsonb
          end
        ) as aud (value)
        where aud.value = any (i.audiences)
      )
    )
    and (i.authorized_parties is null or token.claims ->> 'azp' = any (i.authorized_parties))
$$;

revoke execute on function public.requesting_user_id() from public;
grant execute on function public.requesting_user_id() to anon, authenticated, service_role;
