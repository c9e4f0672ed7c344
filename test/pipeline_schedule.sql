-- schedule_refresh() creates (or replaces) one pg_cron job by name, running run_refresh() in this database
-- as the current role; unschedule_refresh() removes it. This suite runs in pg_cron's own database.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SELECT plan(12);

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
SELECT ok(NOT has_function_privilege('public', 'health_score.schedule_refresh(text)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'health_score.unschedule_refresh()', 'EXECUTE'),
          'PUBLIC may not schedule');
SELECT ok(NOT has_function_privilege('public', 'health_score.refresh(timestamptz, boolean)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'health_score.run_refresh(timestamptz)', 'EXECUTE'),
          'PUBLIC may not refresh');
SELECT ok(NOT has_function_privilege('public', 'health_score.add_source(text, regclass, jsonb)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'health_score.drop_source(text, regclass)', 'EXECUTE'),
          'PUBLIC may not register sources');

SELECT * FROM finish();
ROLLBACK;
