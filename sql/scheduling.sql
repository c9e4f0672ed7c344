-- schedule_refresh() and unschedule_refresh() where pg_cron cannot run the job: this database is not
-- the one pg_cron lives in (or pg_cron is not loaded at all). The error's hint says exactly what to do.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = warning;
-- Database names vary between installations: show them as placeholders.
CREATE FUNCTION try(sql text) RETURNS TABLE (state text, message text, detail text, hint text)
LANGUAGE plpgsql AS $$
DECLARE
	db text := current_database();
	cron_db text := coalesce(current_setting('cron.database_name', true), '<none>');
BEGIN
	EXECUTE sql;
	state := 'no error';
	RETURN NEXT;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
	                        hint = PG_EXCEPTION_HINT;
	message := regexp_replace(regexp_replace(message, '\m' || cron_db || '\M', '<cron db>', 'g'), '\m' || db || '\M', '<this db>', 'g');
	hint := replace(hint, 'health_score_refresh_' || db, 'health_score_refresh_<this db>');
	hint := regexp_replace(regexp_replace(hint, '\m' || cron_db || '\M', '<cron db>', 'g'), '\m' || db || '\M', '<this db>', 'g');
	RETURN NEXT;
END
$$;
\x on
SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') AS pg_cron_here;
-- pg_cron is loaded (the test cluster preloads it) but lives in another database.
SELECT * FROM try($$SELECT health_score.schedule_refresh()$$);
SELECT * FROM try($$SELECT health_score.schedule_refresh('0 6 * * 1-5')$$);
SELECT * FROM try($$SELECT health_score.unschedule_refresh()$$);
-- The same checks for the other two situations: pg_cron not loaded at all, and loaded for this database
-- but not created in it.
SELECT * FROM try($$SELECT health_score._require_pg_cron('*/30 * * * *', NULL)$$);
SELECT * FROM try(format('SELECT health_score._require_pg_cron(%L, %L)', '*/30 * * * *', current_database()));
\x off
-- A schedule must be given.
SELECT health_score.schedule_refresh(NULL);
SELECT health_score.schedule_refresh(' ');
-- Only roles granted EXECUTE may schedule, refresh or register sources.
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'health_score'::regnamespace
   AND p.proname IN ('refresh', 'run_refresh', 'add_source', 'drop_source', 'schedule_refresh', 'unschedule_refresh')
 ORDER BY 1::text;
DROP FUNCTION try(text);
