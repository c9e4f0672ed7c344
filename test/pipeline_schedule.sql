-- schedule_refresh() creates (or replaces) one pg_cron job by name, running run_refresh() in this database
-- as the current role; unschedule_refresh() removes it. This suite runs in pg_cron's own database.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SELECT plan(21);

CREATE TEMP TABLE job1 AS SELECT health_score.schedule_refresh() AS jobid;
SELECT ok((SELECT j.jobid = job1.jobid AND j.schedule = '*/30 * * * *' AND j.command = 'CALL health_score.run_refresh()'
                   AND j.database = current_database() AND j.username = current_user
              FROM cron.job j, job1 WHERE j.jobname = 'health_score_refresh'),
          'schedule_refresh() creates a cron.job row: every 30 minutes, in this database, as the current role');
SELECT is(health_score.schedule_refresh('15 3 * * *'), (SELECT jobid FROM job1),
          'scheduling again replaces the job, by name');
SELECT results_eq($$SELECT schedule FROM cron.job WHERE jobname = 'health_score_refresh'$$, ARRAY['15 3 * * *'],
                  'with the new schedule, still one job');
SELECT throws_ok($$SELECT health_score.schedule_refresh('every now and then')$$, NULL, NULL,
                 'pg_cron rejects a malformed schedule');
SELECT throws_ok($$SELECT health_score.schedule_refresh(NULL)$$, '22023', NULL, 'a NULL schedule is refused');
SELECT is(health_score.unschedule_refresh(), true, 'unschedule_refresh() removes the job');
SELECT is_empty($$SELECT FROM cron.job WHERE jobname = 'health_score_refresh'$$, 'no job is left');
SELECT is(health_score.unschedule_refresh(), false, 'and says so when there was none');

-- The job's command: run_refresh() re-raises a failure (inside a transaction block it cannot log it).
SELECT throws_ok($$CALL health_score.run_refresh()$$, '55000', 'refresh failed: no accounts source is registered',
                 'run_refresh() raises the refresh''s error');

-- Only roles granted EXECUTE may schedule or refresh.
SELECT ok(NOT has_function_privilege('public', 'health_score.schedule_refresh(text, regrole)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'health_score.unschedule_refresh()', 'EXECUTE'),
          'PUBLIC may not schedule');
SELECT ok(NOT has_function_privilege('public', 'health_score.refresh(timestamptz, boolean, boolean, text)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'health_score.run_refresh(timestamptz, boolean)', 'EXECUTE'),
          'PUBLIC may not refresh');
SELECT ok(NOT has_function_privilege('public', 'health_score.add_source(text, regclass, jsonb, interval)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'health_score.drop_source(text, regclass)', 'EXECUTE'),
          'PUBLIC may not register sources');

-- A superuser schedules the refresh to run as a dedicated role (README, Security): one job, run as it.
CREATE ROLE regress_hs_refresher LOGIN;
SELECT throws_ok($$SELECT health_score.schedule_refresh('*/5 * * * *', run_as => 'regress_hs_refresher')$$, '22023',
                 'run_as role "regress_hs_refresher" may not run health_score.run_refresh()',
                 'run_as needs the rights grant_refresh() gives');
SELECT health_score.grant_refresh('regress_hs_refresher');
SELECT health_score.schedule_refresh();
SELECT ok(health_score.schedule_refresh('*/5 * * * *', run_as => 'regress_hs_refresher') > 0,
          'schedule_refresh(run_as => ...) schedules the job as that role');
SELECT results_eq($$SELECT username, schedule, command FROM cron.job WHERE jobname = 'health_score_refresh'$$,
                  $$VALUES ('regress_hs_refresher'::text, '*/5 * * * *'::text, 'CALL health_score.run_refresh()'::text)$$,
                  'one job in this database, run as the refresh role; the superuser''s job is gone');
SAVEPOINT run_as_job;
SELECT is(health_score.unschedule_refresh(), true, 'a superuser unschedules the job that runs as another role');
ROLLBACK TO SAVEPOINT run_as_job;
CREATE ROLE regress_hs_nologin;
SELECT health_score.grant_refresh('regress_hs_nologin');
SELECT throws_ok($$SELECT health_score.schedule_refresh('*/5 * * * *', run_as => 'regress_hs_nologin')$$, '22023',
                 'run_as role "regress_hs_nologin" cannot log in, so pg_cron cannot run the job as it',
                 'pg_cron runs jobs only as roles that can log in');

-- A role granted schedule_refresh but not pg_cron is told what a superuser must do.
CREATE ROLE regress_hs_scheduler;
GRANT USAGE ON SCHEMA health_score TO regress_hs_scheduler;
GRANT EXECUTE ON FUNCTION health_score.schedule_refresh(text, regrole) TO regress_hs_scheduler;
SET LOCAL ROLE regress_hs_scheduler;
SELECT throws_ok($$SELECT health_score.schedule_refresh()$$, '42501', 'role "regress_hs_scheduler" may not use pg_cron',
                 'without USAGE on schema cron the error says so');
SELECT throws_ok($$SELECT health_score.schedule_refresh('* * * * *', run_as => 'regress_hs_refresher')$$, '42501',
                 'only a superuser may schedule the refresh to run as another role',
                 'and only a superuser names another role');
RESET ROLE;

-- Dropping the extension, or its schema with it, leaves no job running.
SAVEPOINT before_drop;
DROP EXTENSION health_score CASCADE;
SELECT is_empty($$SELECT FROM cron.job WHERE jobname = 'health_score_refresh'$$,
                'DROP EXTENSION health_score unschedules the refresh job');
ROLLBACK TO SAVEPOINT before_drop;
DROP SCHEMA health_score CASCADE;
SELECT is_empty($$SELECT FROM cron.job WHERE jobname = 'health_score_refresh'$$,
                'and so does DROP SCHEMA health_score CASCADE, which drops the extension too');

SELECT * FROM finish();
ROLLBACK;
