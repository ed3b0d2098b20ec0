-- `deno task db reset` on a database in use (the running stack, or DATABASE_URL): removes what
-- migrations and the seed made and keeps what a hosted project comes with, so the bootstrap,
-- the migrations and the seed can run again on open connections. The same line as
-- `supabase db reset --db-url`: schemas owned by supabase_admin are Supabase's (Auth's tables
-- are emptied, not dropped); everything else your migrations made goes.
do $$
declare
  item record;
begin
  for item in
    select n.nspname
    from pg_namespace n
    where n.nspname not in ('public', 'information_schema')
      and n.nspname not like 'pg\_%'
      and pg_get_userbyid(n.nspowner) <> 'supabase_admin'
      and not exists (select from pg_depend d where d.objid = n.oid and d.deptype = 'e')
  loop
    execute format('drop schema %I cascade', item.nspname);
  end loop;

  for item in
    select extname from pg_extension
    where extname not in ('plpgsql', 'pgcrypto', 'uuid-ossp', 'pg_stat_statements')
  loop
    execute format('drop extension if exists %I cascade', item.extname);
  end loop;

  for item in select pubname from pg_publication loop
    execute format('drop publication %I', item.pubname);
  end loop;

  for item in
    select evtname from pg_event_trigger where pg_get_userbyid(evtowner) <> 'supabase_admin'
  loop
    execute format('drop event trigger %I', item.evtname);
  end loop;
end
$$;

drop schema public cascade;
create schema public authorization pg_database_owner;
comment on schema public is 'standard public schema';
grant usage on schema public to public;

do $$
declare
  tables text;
begin
  select string_agg(format('auth.%I', c.relname), ', ') into tables
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = 'auth' and c.relkind in ('r', 'p');
  if tables is not null then
    execute 'truncate ' || tables || ' cascade';
  end if;
end
$$;
