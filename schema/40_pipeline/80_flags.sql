-- Stage flags: the open flags against the hits, in one join. An open flag without a hit is cleared
-- (disabled rules and unscored accounts included), one whose evidence, severity or action changed is
-- updated (updated_at records the last refresh that changed it; an open flag holds as of the latest refresh
-- in any case), a hit without an open flag is raised, and the new flags (and stale sources) are announced on the channel
-- health_score_flags. The flags of a rule that names a measure of a stale source kind (or the
-- composite's score, band or score_earlier while any source is stale) are held: none raised, none cleared,
-- the open ones left as they are, until the source is fresh again (those of accounts no longer scored clear).
--   reads   hs_hits, hs_rule, hs_measure, hs_acc; run
--   writes  health_score.flag; hs_raised (id, account_id, rule, action: the flags raised); NOTIFY
--           health_score_flags (with the stale sources, if any)
--   returns the flags raised and cleared, the rules held, and the NOTIFY payload sent (NULL when nothing was
--           raised and no source is stale)
CREATE FUNCTION health_score._stage_flags(run health_score._run, OUT n_raised integer, OUT n_cleared integer,
										  OUT held text[], OUT payload jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t constant timestamptz := run.as_of;
BEGIN
	SELECT coalesce(pg_catalog.array_agg(r.code ORDER BY r.code), '{}') INTO held
	  FROM pg_temp.hs_rule r
	 WHERE EXISTS (SELECT FROM pg_temp.hs_measure m
	                WHERE m.name = ANY (r.measures)
	                  AND (m.source = ANY (run.stale_kinds)
	                       OR (m.source = 'composite' AND pg_catalog.cardinality(run.stale_kinds) > 0)));
	PERFORM health_score._work_analyze('{hs_hits}', 'account_id, rule');
	EXECUTE pg_catalog.format($q$CREATE UNLOGGED TABLE %s AS
	SELECT f.id, x.account_id, x.rule, x.evidence, r3.severity, r3.action
	  FROM (SELECT f.id, f.account_id, f.rule, f.evidence, f.severity, f.action
	          FROM health_score.flag f WHERE f.cleared_at IS NULL) f
	  FULL JOIN pg_temp.hs_hits x ON x.account_id = f.account_id AND x.rule = f.rule
	  LEFT JOIN pg_temp.hs_rule r3 ON r3.code = x.rule
	 WHERE (f.id IS NULL OR x.rule IS NULL
	        OR (f.evidence, f.severity, f.action) IS DISTINCT FROM (x.evidence, r3.severity, r3.action))
	   AND NOT (coalesce(x.rule, f.rule) = ANY ($1)
	            AND EXISTS (SELECT FROM pg_temp.hs_acc a WHERE a.account_id = coalesce(x.account_id, f.account_id)))$q$,
	  health_score._work_table('hs_flag_changes')) USING held;
	PERFORM health_score._work_publish('hs_flag_changes');

	UPDATE health_score.flag f
	   SET cleared_at = t, updated_at = t
	  FROM pg_temp.hs_flag_changes c
	 WHERE c.rule IS NULL AND f.id = c.id;
	GET DIAGNOSTICS n_cleared = ROW_COUNT;

	UPDATE health_score.flag f
	   SET updated_at = t, evidence = c.evidence, severity = c.severity, action = c.action
	  FROM pg_temp.hs_flag_changes c
	 WHERE c.rule IS NOT NULL AND f.id = c.id;

	-- NOTIFY payloads are limited to 8000 bytes: the payload lists as many new flags as fit, most severe
	-- first, measured once each as a running total of their text (each followed by ", "). An entry takes at
	-- least 60 bytes ({"id": 1, "rule": "", "severity": "red", "account_id": ""} and the separator), so no
	-- more than 128 fit in 7,700: only the first 130 are built. The stale sources' names come off the 7,700.
	PERFORM health_score._work_create('hs_raised', '(id bigint, account_id text, rule text, action text)');
	WITH ins AS (
		INSERT INTO health_score.flag (account_id, rule, severity, raised_at, updated_at, evidence, action)
		SELECT c.account_id, c.rule, c.severity, t, t, c.evidence, c.action
		  FROM pg_temp.hs_flag_changes c
		 WHERE c.id IS NULL
		RETURNING id, account_id, rule, severity, action),
	raised AS (
		INSERT INTO pg_temp.hs_raised SELECT ins.id, ins.account_id, ins.rule, ins.action FROM ins),
	ranked AS (
		SELECT ins.*, pg_catalog.row_number() OVER (ORDER BY pg_catalog.array_position(ARRAY['red', 'amber', 'opportunity', 'info'],
		                                                                              ins.severity), ins.id) AS o
		  FROM ins),
	listed AS (
		SELECT l.e, l.o, pg_catalog.sum(pg_catalog.octet_length(l.e::text) + 2) OVER (ORDER BY l.o) AS running
		  FROM (SELECT pg_catalog.jsonb_build_object('id', r.id, 'account_id', r.account_id, 'rule', r.rule,
		                                             'severity', r.severity) AS e, r.o
		          FROM ranked r WHERE r.o <= 130) l)
	SELECT c.n::integer,
	       pg_catalog.jsonb_build_object('as_of', t, 'raised', c.n, 'stale_sources', pg_catalog.to_jsonb(run.stale_sources),
	           'truncated', (SELECT count(*) FROM listed WHERE listed.running <= 7700 - pg_catalog.octet_length(pg_catalog.to_jsonb(run.stale_sources)::text)) < c.n,
	           'flags', coalesce((SELECT pg_catalog.jsonb_agg(listed.e ORDER BY listed.o) FROM listed
	                               WHERE listed.running <= 7700 - pg_catalog.octet_length(pg_catalog.to_jsonb(run.stale_sources)::text)), '[]'))
	  INTO n_raised, payload
	  FROM (SELECT count(*) AS n FROM ranked) c;
	IF n_raised > 0 OR pg_catalog.cardinality(run.stale_sources) > 0 THEN
		PERFORM pg_catalog.pg_notify('health_score_flags', payload::text);
	ELSE
		payload := NULL;
	END IF;
END
$$;
