-- Dropping the extension leaves nothing of it running: the event trigger health_score_before_drop
-- (src/drop.c) fires before DROP EXTENSION health_score or DROP SCHEMA health_score and calls
-- _before_drop(), which removes the capture triggers from the activity sources, drops the work tables a
-- session left (only a run that ended without dropping them leaves any), and unschedules the refresh job of
-- this database. (A job scheduled from another
-- database with cron.schedule_in_database is out of reach there: unschedule it where it was made.)

CREATE FUNCTION health_score._before_drop()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job record;
	captured regclass;
BEGIN
	-- the capture triggers on the activity sources: they would keep the extension's functions
	FOR captured IN SELECT DISTINCT t.tgrelid::regclass FROM pg_catalog.pg_trigger t
	                 WHERE t.tgfoid IN ('health_score._capture_inserted()'::pg_catalog.regprocedure,
	                                    'health_score._capture_changed()'::pg_catalog.regprocedure) LOOP
		PERFORM health_score._capture_remove(captured);
	END LOOP;
	FOR captured IN SELECT c.oid::regclass FROM pg_catalog.pg_class c
	                 WHERE c.relnamespace = 'health_score_work'::regnamespace AND c.relkind = 'r' LOOP
		EXECUTE pg_catalog.format('DROP TABLE %s CASCADE', captured);
	END LOOP;
	IF EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') THEN
		FOR job IN SELECT j.jobid, j.username FROM cron.job j
		            WHERE j.jobname = health_score._job_name() AND j.database = pg_catalog.current_database() LOOP
			PERFORM cron.unschedule(job.jobid);
			RAISE NOTICE 'unscheduled pg_cron job % (%), which ran the health_score refresh as role %',
				job.jobid, health_score._job_name(), pg_catalog.quote_ident(job.username);
		END LOOP;
	END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION health_score._before_drop() FROM PUBLIC;

CREATE FUNCTION health_score._before_drop_trigger()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'hs_before_drop';

CREATE EVENT TRIGGER health_score_before_drop ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
	EXECUTE FUNCTION health_score._before_drop_trigger();
