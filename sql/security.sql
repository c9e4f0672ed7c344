-- Security and robustness (issue 9): each case fails on 0.1.0. Roles are real: a superuser (the one running
-- this suite), a role that owns a source (regress_hs_app), the dedicated refresh role (regress_hs_refresher),
-- a reporting role under a row-level security policy (regress_hs_reporter) and a hostile one (regress_hs_evil).
SET client_min_messages = warning;
-- a clean slate: the suites before this one leave sources and configuration behind
DROP EXTENSION health_score CASCADE;
CREATE EXTENSION health_score;
CREATE ROLE regress_hs_app;
CREATE ROLE regress_hs_refresher LOGIN;
CREATE ROLE regress_hs_reporter LOGIN;
CREATE ROLE regress_hs_evil;
CREATE EXTENSION dblink;

CREATE TABLE sec_accts (account_id bigint PRIMARY KEY, owner text, seats integer);
INSERT INTO sec_accts SELECT g, CASE WHEN g % 3 = 0 THEN 'alice' ELSE 'bob' END, 5 FROM generate_series(1, 30) g;
CREATE TABLE sec_evts (account_id bigint, user_id text, occurred_at timestamptz, feature text);
INSERT INTO sec_evts SELECT a, 'u' || (a % 4), '2026-03-01'::timestamptz - d * interval '1 day', 'report'
  FROM generate_series(1, 30) a, generate_series(0, 40, 2) d WHERE a % 5 <> 0;
SELECT (health_score.add_source('accounts', 'sec_accts')).relation IS NOT NULL AS registered;
SELECT health_score.add_source('activity', 'sec_evts') IS NOT NULL AS registered;

-- 1. Privilege gained through a source. The app role owns a view whose function makes it a superuser when
-- a superuser runs it.
CREATE SCHEMA app AUTHORIZATION regress_hs_app;
SET ROLE regress_hs_app;
CREATE TABLE app.tickets (account_id bigint, opened_at timestamptz, closed_at timestamptz);
INSERT INTO app.tickets VALUES (1, '2026-02-20', NULL);
CREATE FUNCTION app.pwn() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		ALTER ROLE regress_hs_app SUPERUSER;
	END IF;
	RETURN true;
END $$;
CREATE VIEW app.tickets_v AS SELECT * FROM app.tickets WHERE app.pwn();
RESET ROLE;
SELECT health_score.add_source('support_cases', 'app.tickets_v') IS NOT NULL AS registered;
-- A superuser's refresh refuses it, naming the source and the code, and the attack does nothing.
SELECT health_score.refresh('2026-03-01');
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_hs_app';
-- So does a superuser-owned view that calls the app's function, which the app could rewrite.
CREATE VIEW tickets_su AS SELECT * FROM app.tickets WHERE app.pwn();
SELECT health_score.drop_source('support_cases', 'app.tickets_v');
SELECT health_score.add_source('support_cases', 'tickets_su') IS NOT NULL AS registered;
SELECT health_score.refresh('2026-03-01');
SELECT health_score.drop_source('support_cases', 'tickets_su');
SELECT health_score.add_source('support_cases', 'app.tickets_v') IS NOT NULL AS registered;
-- The documented setup: the dedicated refresh role refreshes fine, and the app gains nothing.
SELECT health_score.grant_refresh('regress_hs_refresher');
SET ROLE regress_hs_refresher;
SELECT accounts, flags_raised FROM health_score.refresh('2026-03-01');
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_hs_app';
SELECT account_id, rule FROM health_score.flag WHERE rule = 'long_open_case';
-- (the rest of this suite refreshes as the superuser, over sources it owns)
SELECT health_score.drop_source('support_cases', 'app.tickets_v');
-- A source the refresh role may not read is named, with the GRANT to run.
REVOKE SELECT ON sec_evts FROM regress_hs_refresher;
SET ROLE regress_hs_refresher;
SELECT health_score.refresh('2026-03-01');
RESET ROLE;
GRANT SELECT ON sec_evts TO regress_hs_refresher;

-- 2. Row-level security reaches the views: the reporter sees alice's 10 accounts, not 30.
ALTER TABLE sec_accts ENABLE ROW LEVEL SECURITY;
CREATE POLICY alice_only ON sec_accts FOR SELECT TO regress_hs_reporter USING (owner = 'alice');
GRANT USAGE ON SCHEMA health_score TO regress_hs_reporter;
GRANT SELECT ON ALL TABLES IN SCHEMA health_score TO regress_hs_reporter;
GRANT SELECT ON sec_accts TO regress_hs_reporter;
SELECT count(*) AS overview, (SELECT accounts FROM health_score.band_breakdown_wide WHERE is_total) AS breakdown,
       (SELECT sum(accounts) FROM health_score.owner_workload) AS workload,
       (SELECT accounts FROM health_score.revenue_at_risk WHERE band = 'all' AND open_flag_severity = 'all') AS revenue,
       (SELECT accounts FROM health_score.health_trend ORDER BY day DESC LIMIT 1) AS trend
  FROM health_score.account_overview;
SET ROLE regress_hs_reporter;
SELECT count(*) AS overview, (SELECT accounts FROM health_score.band_breakdown_wide WHERE is_total) AS breakdown,
       (SELECT sum(accounts) FROM health_score.owner_workload) AS workload,
       (SELECT accounts FROM health_score.revenue_at_risk WHERE band = 'all' AND open_flag_severity = 'all') AS revenue,
       (SELECT accounts FROM health_score.health_trend ORDER BY day DESC LIMIT 1) AS trend,
       (SELECT count(*) FROM health_score.at_risk_accounts WHERE account_id % 3 <> 0) AS others_at_risk,
       (SELECT count(*) FROM health_score.plays WHERE account_id % 3 <> 0) AS others_plays
  FROM health_score.account_overview;
SELECT DISTINCT owner FROM health_score.account_overview;
RESET ROLE;

-- 3. A hostile search_path on run_refresh()'s failure path captures no operator. Another role's = and <> on
-- text and timestamptz record every call.
CREATE SCHEMA evil AUTHORIZATION regress_hs_evil;
CREATE TABLE evil.calls (who text);
GRANT INSERT ON evil.calls TO PUBLIC;
SET ROLE regress_hs_evil;
CREATE FUNCTION evil.eq(text, text) RETURNS boolean LANGUAGE sql
AS $$ INSERT INTO evil.calls VALUES (current_user); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE FUNCTION evil.ne(text, text) RETURNS boolean LANGUAGE sql
AS $$ INSERT INTO evil.calls VALUES (current_user); SELECT $1 OPERATOR(pg_catalog.<>) $2 $$;
CREATE FUNCTION evil.eq(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql
AS $$ INSERT INTO evil.calls VALUES (current_user); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq);
CREATE OPERATOR evil.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.ne);
CREATE OPERATOR evil.= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.eq);
RESET ROLE;
SET search_path = evil, pg_catalog;
CALL health_score.run_refresh('-infinity');
RESET search_path;
SELECT count(*) AS evil_calls FROM evil.calls;
SELECT status, message, details ->> 'sqlstate' AS sqlstate FROM health_score.refresh_log WHERE status <> 'ok' ORDER BY id;
-- Every function of the extension but its C functions and aggregates fixes its search_path; the one
-- procedure cannot (it commits), and uses no operator instead, and _touchpoint_kind, _shown and band_rank,
-- inlined on every touchpoint row, every account and every view row, name everything with its schema.
SELECT p.oid::regprocedure AS without_search_path
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'health_score')
   AND p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c') AND p.prokind <> 'a'
   AND NOT coalesce(p.proconfig::text[] && ARRAY['search_path=pg_catalog, pg_temp'], false)
 ORDER BY 1::text;

-- 4. Only roles allowed to refresh can take the refresh lock: an advisory lock on the old key blocks nothing,
-- and a role that may only read the extension's tables cannot lock out refreshes.
SELECT dblink_connect('other', format('host=%s port=%s dbname=%s user=%s', current_setting('unix_socket_directories'),
                                      current_setting('port'), current_database(), 'regress_hs_reporter'));
SELECT * FROM dblink('other', 'SELECT pg_advisory_lock(1751474540, 1)::text') AS d (x text);
SELECT accounts FROM health_score.refresh('2026-03-01', wait => false);
SELECT * FROM dblink_exec('other', 'BEGIN');
SELECT * FROM dblink_exec('other', 'LOCK TABLE health_score.refresh_lock IN SHARE UPDATE EXCLUSIVE MODE');
SELECT * FROM dblink_exec('other', 'ROLLBACK');
SELECT dblink_disconnect('other');

-- 5. A role granted schedule_refresh, where pg_cron is not installed and it may not read cron.database_name,
-- is told what to ask of a superuser. (With pg_cron installed but no USAGE on schema cron: pipeline_schedule.)
GRANT EXECUTE ON FUNCTION health_score.schedule_refresh(text, regrole) TO regress_hs_reporter;
SET ROLE regress_hs_reporter;
SELECT health_score.schedule_refresh();
RESET ROLE;

-- 6. Key features are values, never format strings: '%' and '%%' in their names are just characters.
UPDATE health_score.profile SET key_features = '{a%b,a%%b,report}' WHERE name = 'default';
UPDATE sec_evts SET feature = CASE WHEN account_id % 2 = 0 THEN 'a%b' ELSE 'a%%b' END WHERE account_id <= 4;
SELECT accounts FROM health_score.refresh('2026-03-01');
SELECT account_id, inputs #> '{adoption,used_30d}' AS used FROM health_score.account_health WHERE account_id IN ('1', '2', '6') ORDER BY 1;

-- 7. Rules and profiles are validated when written, naming the field.
INSERT INTO health_score.rule (code, description, severity, condition, params) VALUES ('qbr_due', 'QBR overdue', 'amber', 'days_since_business_review > {days}', '{"days": "soon"}');
INSERT INTO health_score.rule (code, description, severity, condition, params) VALUES ('qbr_due', 'QBR overdue', 'amber', 'days_since_business_review > {days}', '{"days": 1e9}');
INSERT INTO health_score.rule (code, description, severity, condition, params) VALUES ('qbr_due', 'QBR overdue', 'amber', 'days_since_business_review > {days} OR {who} IS NULL', '{"days": 90, "who": ["a"]}');
INSERT INTO health_score.rule (code, description, severity, condition, params) VALUES ('qbr_due', 'QBR overdue', 'amber', 'days_since_business_review > {days} AND {owner} <> ''''', '{"days": 90, "owner": "csm"}');
UPDATE health_score.rule SET params = '{"min_drop": 1e400}' WHERE code = 'score_drop';
UPDATE health_score.profile SET target_utilisation = 'NaN' WHERE name = 'default';
UPDATE health_score.profile SET expected_events_per_user_day = 'Infinity' WHERE name = 'default';
UPDATE health_score.profile SET poor_below = 'NaN' WHERE name = 'default';
UPDATE health_score.profile SET good_from = 'Infinity' WHERE name = 'default';
UPDATE health_score.profile SET weights = '{"engagement": 1e308}' WHERE name = 'default';
-- and a custom rule's parameters never break a refresh
SELECT accounts FROM health_score.refresh('2026-03-01');

-- 8. as_of must be a real calendar time.
SELECT health_score.refresh('-infinity');
SELECT health_score.refresh('infinity');
SELECT health_score.refresh('294276-01-01');
SELECT health_score.refresh('1899-12-31 23:00+00');

-- 9. An emptied accounts source stops the refresh and changes nothing, unless forced.
CREATE TEMP TABLE open_before AS SELECT id FROM health_score.flag WHERE cleared_at IS NULL;
BEGIN;
ALTER TABLE sec_accts DISABLE ROW LEVEL SECURITY;
DELETE FROM sec_accts;
SELECT health_score.refresh('2026-03-01');
ROLLBACK;
SELECT count(*) AS still_open FROM health_score.flag f JOIN open_before USING (id) WHERE f.cleared_at IS NULL;
SELECT count(*) = (SELECT count(*) FROM open_before) AS all_kept FROM health_score.flag WHERE cleared_at IS NULL;
-- More than the configured share gone: 21 of 30 with a share of 0.5, then allowed with 0.8 or force.
BEGIN;
DELETE FROM sec_accts WHERE account_id > 9;
SAVEPOINT gone;
SELECT health_score.refresh('2026-03-01');
ROLLBACK TO SAVEPOINT gone;
SET LOCAL health_score.max_unscored_share = 0.8;
SELECT accounts FROM health_score.refresh('2026-03-01');
ROLLBACK;
BEGIN;
DELETE FROM sec_accts WHERE account_id > 9;
SELECT accounts FROM health_score.refresh('2026-03-01', force => true);
ROLLBACK;
BEGIN;
DELETE FROM sec_accts WHERE account_id > 9;
CALL health_score.run_refresh('2026-03-01', force => true);
SELECT count(*) AS scored FROM health_score.account_health;
ROLLBACK;
SET health_score.max_unscored_share = 'most';
SELECT health_score.refresh('2026-03-01');
SET health_score.max_unscored_share = 1.5;
SELECT health_score.refresh('2026-03-01');
RESET health_score.max_unscored_share;

-- 10. run_refresh() records a refresh that statement_timeout cancels, and one whose session is terminated.
DELETE FROM health_score.refresh_log;
CREATE VIEW sec_slow_evts AS SELECT e.* FROM sec_evts e, LATERAL (SELECT pg_sleep(0.3)) s WHERE e.account_id = 1;
SELECT health_score.add_source('activity', 'sec_slow_evts') IS NOT NULL AS registered;
SET statement_timeout = '100ms';
CALL health_score.run_refresh('2026-03-01');
RESET statement_timeout;
SELECT status, message, details ->> 'sqlstate' AS sqlstate FROM health_score.refresh_log ORDER BY id;
DELETE FROM health_score.refresh_log;
SELECT dblink_connect('victim', format('host=%s port=%s dbname=%s user=%s', current_setting('unix_socket_directories'),
                                       current_setting('port'), current_database(), current_user));
SELECT dblink_send_query('victim', 'CALL health_score.run_refresh(''2026-03-01'')');
DO $$
BEGIN
	FOR i IN 1 .. 200 LOOP
		EXIT WHEN EXISTS (SELECT FROM health_score.refresh_log WHERE status = 'running');
		PERFORM pg_sleep(0.05);
	END LOOP;
END $$;
SELECT pg_terminate_backend(pid, 10000) FROM health_score.refresh_log WHERE status = 'running';
SELECT status, finished_at IS NULL AS unfinished FROM health_score.refresh_log ORDER BY id;
SELECT accounts FROM health_score.refresh('2026-03-01');
SELECT status, message FROM health_score.refresh_log ORDER BY id;
SELECT health_score.drop_source('activity', 'sec_slow_evts');
-- A run that succeeds leaves its own row, 'ok', in place of its 'running' one.
DELETE FROM health_score.refresh_log;
CALL health_score.run_refresh('2026-03-01');
SELECT status, accounts, finished_at IS NOT NULL AS finished FROM health_score.refresh_log;

-- 11. A temporary table is no source.
CREATE TEMP TABLE tmp_events (account_id bigint, occurred_at timestamptz);
SELECT health_score.add_source('activity', 'tmp_events');

-- 12. Renaming or deleting a rule waits for a running refresh (here another session's, its transaction still
-- open); other edits of the rules do not wait: the running refresh read them when it started.
SELECT dblink_connect('other', format('host=%s port=%s dbname=%s user=%s', current_setting('unix_socket_directories'),
                                      current_setting('port'), current_database(), current_user));
SELECT * FROM dblink_exec('other', 'BEGIN');
SELECT * FROM dblink('other', 'SELECT accounts FROM health_score.refresh(''2026-03-01'')') AS d (accounts integer);
-- Meanwhile refresh(wait => false) returns at once and logs the skip; refresh() waits, and so do add_source
-- and drop_source (here up to lock_timeout).
DELETE FROM health_score.refresh_log;
SELECT accounts, flags_raised, flags_cleared FROM health_score.refresh('2026-03-01', wait => false);
SELECT status, message FROM health_score.refresh_log;
SET lock_timeout = '200ms';
SELECT health_score.refresh('2026-03-01');
SELECT health_score.drop_source('activity', 'sec_evts');
UPDATE health_score.rule SET code = 'no_activity' WHERE code = 'inactive';
DELETE FROM health_score.rule WHERE code = 'qbr_due';
SELECT health_score.add_source('activity', 'sec_evts') IS NOT NULL AS registered;
UPDATE health_score.rule SET params = '{"days": 45}' WHERE code = 'inactive';
RESET lock_timeout;
SELECT * FROM dblink_exec('other', 'COMMIT');
SELECT dblink_disconnect('other');
UPDATE health_score.rule SET code = 'no_activity' WHERE code = 'inactive';
SELECT count(*) AS renamed_flags FROM health_score.flag WHERE rule = 'no_activity';

-- 13. Half-lives that compare equal as intervals ('1 year' = '360 days') keep their own decayed sums.
UPDATE health_score.profile SET half_life = '1 year', key_features = '{report}' WHERE name = 'default';
INSERT INTO health_score.profile (name, segment, half_life) VALUES ('other', 'never', '360 days');
SELECT accounts FROM health_score.refresh('2026-03-01');
SELECT round((h.inputs #>> '{engagement,decayed_events}')::numeric, 3)
       = round(health_score.decayed_sum(e.occurred_at, '2026-03-01', '1 year')::numeric, 3) AS one_year_decay
  FROM health_score.account_health h JOIN sec_evts e ON e.account_id::text = h.account_id
 WHERE h.account_id = '1' GROUP BY h.inputs;

-- 14. percentages() refuses what it cannot round.
SELECT health_score.percentages('{2,2,2}', -1);
SELECT health_score.percentages('{2,-1,3}');
SELECT health_score.percentages('{1,1,1}', NULL);
SELECT health_score.percentages('{1,1,1}', 16);
SELECT health_score.percentages('{1,1,1}', 2);

-- 15. Measure queries follow the same trust rule: a superuser's refresh runs only a query a superuser wrote,
-- over objects superusers own (the owner is whoever wrote the query, whatever the row says).
GRANT USAGE ON SCHEMA health_score TO regress_hs_app;
GRANT EXECUTE ON FUNCTION health_score.add_measure(text, text, text, text) TO regress_hs_app;
GRANT SELECT, INSERT ON health_score.measure TO regress_hs_app;
GRANT SELECT ON health_score.sources TO regress_hs_app;
SET ROLE regress_hs_app;
SELECT name, owner FROM health_score.add_measure('app_tickets', 'SELECT account_id, count(*) AS value FROM app.tickets_v GROUP BY account_id');
INSERT INTO health_score.measure (name, kind, query, owner)
VALUES ('sneaky', 'query', 'SELECT 1::bigint AS account_id, 1 AS value', 'postgres') RETURNING name, owner;
RESET ROLE;
SELECT health_score.refresh('2026-03-01');
DELETE FROM health_score.measure WHERE name IN ('app_tickets', 'sneaky');
SELECT name, owner FROM health_score.add_measure('app_tickets', 'SELECT account_id, count(*) AS value FROM app.tickets_v GROUP BY account_id');
SELECT health_score.refresh('2026-03-01');
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_hs_app';
DELETE FROM health_score.measure WHERE name = 'app_tickets';

-- Clean up: the suites after this one share the database.
SELECT count(health_score.drop_source(s.kind, s.relation)) AS dropped FROM health_score.sources s;
DROP VIEW tickets_su, sec_slow_evts;
DROP TABLE sec_accts, sec_evts;
DROP SCHEMA app CASCADE;
DROP SCHEMA evil CASCADE;
DROP OWNED BY regress_hs_app, regress_hs_refresher, regress_hs_reporter, regress_hs_evil;
DROP ROLE regress_hs_app, regress_hs_refresher, regress_hs_reporter, regress_hs_evil;
