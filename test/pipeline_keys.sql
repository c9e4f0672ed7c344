-- Account keys of type bigint, text and uuid work end to end: registration, refresh, scores, flags and
-- observations (whose text keys are normalised through the accounts source's key type).
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SELECT plan(24);

CREATE FUNCTION pg_temp.t() RETURNS timestamptz LANGUAGE sql IMMUTABLE
AS $$ SELECT '2026-03-01 12:00+00'::timestamptz $$;

-- One scenario per key type: account k1 has 3 daily users and a case open 20 days; account k2 has one
-- user and an open observation recorded under a non-canonical spelling of its key.
CREATE FUNCTION pg_temp.scenario(keytype text, usertype text, k1 text, k2 text, users text[])
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('CREATE TABLE public.k_accounts_%1$s (id %1$s PRIMARY KEY, seats integer)', keytype);
	EXECUTE format('CREATE TABLE public.k_events_%1$s (account %1$s, user_id %2$s, occurred_at timestamptz)', keytype, usertype);
	EXECUTE format('CREATE TABLE public.k_cases_%1$s (account_id %1$s, opened_at timestamptz, closed_at timestamptz)', keytype);
	EXECUTE format('INSERT INTO public.k_accounts_%1$s VALUES (%2$L, 3), (%3$L, 3)', keytype, k1, k2);
	EXECUTE format($q$INSERT INTO public.k_events_%1$s
	                 SELECT %2$L::%1$s, u::%4$s, %5$L::timestamptz - d * interval '1 day'
	                   FROM unnest(%6$L::text[]) u, generate_series(0, 59) d
	                 UNION ALL
	                 SELECT %3$L::%1$s, (%6$L::text[])[1]::%4$s, %5$L::timestamptz - d * interval '1 day'
	                   FROM generate_series(0, 59) d$q$, keytype, k1, k2, usertype, pg_temp.t(), users);
	EXECUTE format($q$INSERT INTO public.k_cases_%1$s VALUES (%2$L, %3$L::timestamptz - interval '20 days', NULL)$q$,
	               keytype, k1, pg_temp.t());
	PERFORM health_score.add_source('accounts', format('public.k_accounts_%s', keytype)::regclass, '{"account_id": "id"}');
	PERFORM health_score.add_source('activity', format('public.k_events_%s', keytype)::regclass, '{"account_id": "account"}');
	PERFORM health_score.add_source('support_cases', format('public.k_cases_%s', keytype)::regclass);
	RETURN true;
END
$$;

CREATE FUNCTION pg_temp.teardown(keytype text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM health_score.drop_source('support_cases', format('public.k_cases_%s', keytype)::regclass);
	PERFORM health_score.drop_source('activity', format('public.k_events_%s', keytype)::regclass);
	PERFORM health_score.drop_source('accounts', format('public.k_accounts_%s', keytype)::regclass);
	DELETE FROM health_score.observation;
	RETURN NOT EXISTS (SELECT FROM health_score.sources);
END
$$;

-- bigint
SELECT ok(pg_temp.scenario('bigint', 'bigint', '42', '9000000000', '{1,2,3}'), 'scenario registered');
SELECT is((SELECT key_type FROM health_score.sources WHERE kind = 'accounts'), 'bigint', 'bigint: the key type is recorded');
INSERT INTO health_score.observation (account_id, indicator, observed_at) VALUES (' 9000000000', 'no_trained_admin', pg_temp.t() - interval '1 day');
SELECT is((SELECT account_id FROM health_score.observation), '9000000000', 'bigint: an observation key is normalised');
SELECT throws_ok($$INSERT INTO health_score.observation (account_id, indicator) VALUES ('acme', 'no_process_owner')$$,
                 '22P02', 'observation account_id ''acme'' is not a bigint account key',
                 'bigint: an observation for a key that cannot be an account is rejected');
SELECT is((SELECT accounts FROM health_score.refresh(pg_temp.t())), 2, 'bigint: both accounts are scored');
SELECT results_eq($$SELECT account_id, (inputs #>> '{utilisation,active_users_30d}')::integer FROM health_score.account_health ORDER BY 1$$,
                  $$VALUES ('42', 3), ('9000000000', 1)$$, 'bigint: keys as text, active users counted');
SELECT set_eq($$SELECT account_id || ':' || rule FROM health_score.flag WHERE cleared_at IS NULL$$,
              ARRAY['42:long_open_case', '9000000000:observation', '9000000000:licence_gap'], 'bigint: flags by account');
SELECT ok(pg_temp.teardown('bigint'), 'bigint: drop_source unregisters every source');

-- text (the user keys are text too). Each scenario replaces the accounts source: every account of the one
-- before stops being scored at once, which a refresh does only when forced.
SELECT ok(pg_temp.scenario('text', 'text', 'ACME-1', 'globex', '{ann,bob,cy}'), 'scenario registered');
SELECT is((SELECT key_type FROM health_score.sources WHERE kind = 'accounts'), 'text', 'text: the key type is recorded');
INSERT INTO health_score.observation (account_id, indicator, observed_at) VALUES ('globex', 'disengaged_owner', pg_temp.t() - interval '1 day');
SELECT is((SELECT accounts FROM health_score.refresh(pg_temp.t(), force => true)), 2, 'text: both accounts are scored');
SELECT results_eq($$SELECT account_id, (inputs #>> '{utilisation,active_users_30d}')::integer FROM health_score.account_health ORDER BY 1$$,
                  $$VALUES ('ACME-1', 3), ('globex', 1)$$, 'text: keys as they are, active users counted');
SELECT set_eq($$SELECT account_id || ':' || rule FROM health_score.flag WHERE cleared_at IS NULL$$,
              ARRAY['ACME-1:long_open_case', 'globex:observation', 'globex:licence_gap'], 'text: flags by account');
SELECT ok((SELECT bool_and(cleared_at IS NOT NULL) FROM health_score.flag WHERE account_id NOT IN ('ACME-1', 'globex')),
          'text: nothing open for accounts no longer in the source');
SELECT ok(pg_temp.teardown('text'), 'text: drop_source unregisters every source');

-- uuid (the user keys are uuids too)
SELECT ok(pg_temp.scenario('uuid', 'uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'b1ffcd00-0d1c-4ff9-8c7e-7cc0ce491b22',
                        '{11111111-1111-1111-1111-111111111111,22222222-2222-2222-2222-222222222222,33333333-3333-3333-3333-333333333333}'), 'scenario registered');
SELECT is((SELECT key_type FROM health_score.sources WHERE kind = 'accounts'), 'uuid', 'uuid: the key type is recorded');
INSERT INTO health_score.observation (account_id, indicator, observed_at)
VALUES ('B1FFCD00-0D1C-4FF9-8C7E-7CC0CE491B22', 'no_exec_sponsor', pg_temp.t() - interval '1 day');
SELECT is((SELECT account_id FROM health_score.observation), 'b1ffcd00-0d1c-4ff9-8c7e-7cc0ce491b22',
          'uuid: an upper-case observation key is normalised');
SELECT is((SELECT accounts FROM health_score.refresh(pg_temp.t(), force => true)), 2, 'uuid: both accounts are scored');
SELECT results_eq($$SELECT account_id, (inputs #>> '{utilisation,active_users_30d}')::integer FROM health_score.account_health ORDER BY 1$$,
                  $$VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 3), ('b1ffcd00-0d1c-4ff9-8c7e-7cc0ce491b22', 1)$$,
                  'uuid: keys as text, active users counted');
SELECT set_eq($$SELECT account_id || ':' || rule FROM health_score.flag WHERE cleared_at IS NULL$$,
              ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11:long_open_case', 'b1ffcd00-0d1c-4ff9-8c7e-7cc0ce491b22:observation',
                    'b1ffcd00-0d1c-4ff9-8c7e-7cc0ce491b22:licence_gap'],
              'uuid: flags by account');

-- Mixed families are refused: a uuid accounts source with bigint activity keys.
SELECT throws_ok($$SELECT health_score.add_source('activity', 'public.k_events_bigint', '{"account_id": "account"}')$$,
                 '42804', NULL, 'activity keys of another type than the accounts source''s are refused');
-- An int activity key matches bigint accounts: the same family.
CREATE TABLE public.k_small (account_id integer, occurred_at timestamptz);
SELECT lives_ok($$SELECT health_score.drop_source('support_cases', 'public.k_cases_uuid');
                  SELECT health_score.drop_source('activity', 'public.k_events_uuid');
                  SELECT health_score.drop_source('accounts', 'public.k_accounts_uuid');
                  SELECT health_score.add_source('accounts', 'public.k_accounts_bigint', '{"account_id": "id"}');
                  SELECT health_score.add_source('activity', 'public.k_small')$$,
                'integer activity keys match bigint account keys');
SELECT is((SELECT accounts FROM health_score.refresh(pg_temp.t(), force => true)), 2, 'and refresh reads them');

SELECT * FROM finish();
ROLLBACK;
