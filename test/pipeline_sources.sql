-- Sources: registration resolves and stores the column mapping, re-registration replaces it, drop_source
-- unregisters; views, date and timestamp columns, domains, weights, column privileges and several activity
-- sources (read as one) all work.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SELECT plan(17);

CREATE FUNCTION pg_temp.t() RETURNS timestamptz LANGUAGE sql IMMUTABLE
AS $$ SELECT '2026-03-01 12:00+00'::timestamptz $$;

CREATE DOMAIN public.s_money AS numeric CHECK (VALUE >= 0);
CREATE TABLE public.s_customers (cust_id bigint PRIMARY KEY, title text, tier text, licences smallint, mrr public.s_money,
	renews date, signed timestamp);
INSERT INTO public.s_customers VALUES (1, 'One', 'smb', 4, 100, '2026-12-31', '2025-01-01'), (2, 'Two', 'smb', 4, 50, NULL, '2025-01-01');

SELECT is((SELECT columns FROM health_score.add_source('accounts', 'public.s_customers',
              '{"account_id": "cust_id", "name": "title", "segment": "tier", "seats": "licences", "arr": "mrr",
                "renewal_date": "renews", "started_at": "signed"}')),
          '{"account_id": "cust_id", "name": "title", "segment": "tier", "seats": "licences", "arr": "mrr",
            "renewal_date": "renews", "started_at": "signed"}'::jsonb,
          'the mapping is resolved; optional columns the relation lacks are left out');
SELECT is((SELECT key_type FROM health_score.sources WHERE kind = 'accounts'), 'bigint', 'the key type is recorded');

-- Two activity sources with different user key types are read as one, users compared as text.
CREATE TABLE public.s_clicks (account_id bigint, user_id bigint, at timestamptz, what text, weight real);
CREATE TABLE public.s_logins (account_id integer, login text, day date);
INSERT INTO public.s_clicks VALUES (1, 7, pg_temp.t(), 'report', 3), (1, 8, pg_temp.t() - interval '1 day', 'report', NULL);
INSERT INTO public.s_logins VALUES (1, '7', pg_temp.t()::date), (1, 'x', pg_temp.t()::date - 1), (2, 'y', pg_temp.t()::date + 1);
SELECT is((SELECT columns FROM health_score.add_source('activity', 'public.s_clicks', '{"occurred_at": "at", "feature": "what"}')),
          '{"account_id": "account_id", "user_id": "user_id", "occurred_at": "at", "feature": "what", "weight": "weight"}'::jsonb,
          'canonical names are found without mapping');
SELECT lives_ok($$SELECT health_score.add_source('activity', 'public.s_logins', '{"user_id": "login", "occurred_at": "day"}')$$,
                'a date column serves as the time column, integer keys match bigint accounts');
SELECT is((SELECT count(*)::integer FROM health_score.sources WHERE kind = 'activity'), 2, 'two activity sources');

-- Re-registering replaces the mapping.
SELECT throws_ok($$SELECT health_score.add_source('activity', 'public.s_clicks', '{"occurred_at": "at", "weight": "what"}')$$,
                 '42804', NULL, 're-registration is checked like a registration');
SELECT is((SELECT columns ->> 'feature' FROM health_score.add_source('activity', 'public.s_clicks', '{"occurred_at": "at", "feature": "what"}')),
          'what', 're-registering the same relation replaces its mapping');
SELECT is((SELECT count(*)::integer FROM health_score.sources WHERE kind = 'activity'), 2, 'without adding a row');

SELECT is((SELECT accounts FROM health_score.refresh(pg_temp.t())), 2, 'refresh reads them all');
SELECT is((SELECT (inputs #>> '{utilisation,active_users_30d}')::integer FROM health_score.account_health WHERE account_id = '1'),
          3, 'users 7 (in both sources), 8 and x: three active users');
SELECT is((SELECT inputs #>> '{engagement,events_30d}' FROM health_score.account_health WHERE account_id = '1'), '4',
          'four events up to as_of');
SELECT is((SELECT round((inputs #>> '{engagement,decayed_events}')::numeric, 3) FROM health_score.account_health WHERE account_id = '1'),
          round((3 + 0.5 ^ (1 / 14.0) + 0.5 ^ (0.5 / 14.0) + 0.5 ^ (1.5 / 14.0))::numeric, 3),
          'weights count (a NULL weight as 1), dates read as midnight');
SELECT is((SELECT inputs #>> '{engagement,events_30d}' FROM health_score.account_health WHERE account_id = '2'), '0',
          'an event after as_of is not counted');

-- drop_source
SELECT is(health_score.drop_source('activity', 'public.s_logins'), true, 'drop_source unregisters a source');
SELECT is(health_score.drop_source('activity', 'public.s_logins'), false, 'and says so when there was none');

-- Column privileges suffice: a role that may read only the mapped columns can register the relation.
CREATE ROLE regress_hs_analyst;
GRANT USAGE ON SCHEMA health_score TO regress_hs_analyst;
GRANT EXECUTE ON FUNCTION health_score.add_source(text, regclass, jsonb, interval) TO regress_hs_analyst;
GRANT SELECT, INSERT, UPDATE ON health_score.sources TO regress_hs_analyst;
-- (sources change between refreshes: registering takes the refresh lock)
GRANT UPDATE ON health_score.refresh_lock TO regress_hs_analyst;
CREATE TABLE public.s_events (account_id bigint, occurred_at timestamptz, secret text);
GRANT SELECT (account_id, occurred_at) ON public.s_events TO regress_hs_analyst;
SET LOCAL ROLE regress_hs_analyst;
SELECT lives_ok($$SELECT health_score.add_source('activity', 'public.s_events')$$,
                'SELECT on the mapped columns is enough to register');
RESET ROLE;
SELECT is((SELECT why_not FROM health_score.source_capture WHERE relation = 'public.s_events'::regclass),
          'its capture triggers are missing: register it again with add_source as its owner',
          'registered by a role that does not own it, an activity table gets no capture triggers, and source_capture says why');

SELECT * FROM finish();
ROLLBACK;
