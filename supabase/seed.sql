-- Demo data for a fresh local database (`deno task start --reset`), written the way
-- Supabase's own docs seed users: straight into auth.users with pgcrypto's bcrypt, plus the
-- matching `email` identity. Both users sign in with supabase-js as they would on a hosted
-- project:  ada@example.com / ada-password,  grace@example.com / grace-password.
-- (Demo credentials for a local database only; never reuse them anywhere.)

insert into auth.users (
  instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
  raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
  confirmation_token, email_change, email_change_token_new, recovery_token
) values
  ('00000000-0000-0000-0000-000000000000', 'a1a1a1a1-0000-4000-8000-000000000001',
   'authenticated', 'authenticated', 'ada@example.com', crypt('ada-password', gen_salt('bf')),
   now(), '{"provider":"email","providers":["email"]}', '{"display_name":"Ada"}', now(), now(),
   '', '', '', ''),
  ('00000000-0000-0000-0000-000000000000', 'a1a1a1a1-0000-4000-8000-000000000002',
   'authenticated', 'authenticated', 'grace@example.com', crypt('grace-password', gen_salt('bf')),
   now(), '{"provider":"email","providers":["email"]}', '{"display_name":"Grace"}', now(), now(),
   '', '', '', '');

insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at,
  created_at, updated_at)
select id::text, id, json_build_object('sub', id::text, 'email', email, 'email_verified', false,
  'phone_verified', false), 'email', now(), now(), now()
from auth.users where id in ('a1a1a1a1-0000-4000-8000-000000000001',
  'a1a1a1a1-0000-4000-8000-000000000002');

insert into public.posts (user_id, title, body) values
  ('a1a1a1a1-0000-4000-8000-000000000001', 'Notes on the Analytical Engine', 'Seeded post.'),
  ('a1a1a1a1-0000-4000-8000-000000000001', 'A second post by Ada', ''),
  ('a1a1a1a1-0000-4000-8000-000000000002', 'Compilers', 'Seeded post.');

-- Ada is an admin: the custom access token hook puts "user_role": "admin" in her tokens.
insert into public.user_roles (user_id, role) values
  ('a1a1a1a1-0000-4000-8000-000000000001', 'admin');
