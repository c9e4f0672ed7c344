-- Stage rules: every enabled rule evaluated in one pass over the accounts, each hit with its evidence.
--   reads   hs_rule (the enabled rules), hs_m, hs_score, hs_profile (rule_params), health_score.health_history
--           (score_earlier, only when an enabled rule names it); run
--   writes  hs_hits (account_id, rule, evidence)
-- The evidence of a hit is the value of each measure its condition names (float8 values rounded to 3
-- decimals, trailing zeros dropped), the windows those measures are counted over, and each parameter as it applied to the
-- account's profile. On failure the rule that fails
-- is found by evaluating each alone, and named.

-- The hits of the given rules (from hs_rule): a query of hs_hits' rows (account_id, rule, evidence).
CREATE FUNCTION health_score._rules_sql(codes text[])
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'SELECT v.account_id, v.rule, v.evidence FROM (SELECT m.account_id, '
	    -- two arrays unnested side by side in the select list rather than a VALUES list, which compiles its
	    -- expressions again for every account (and the evidence expressions are large), or a function
	    -- scan, which stores each account's rows before reading them back
	    || pg_catalog.format('pg_catalog.unnest(%L::text[]) AS rule, ', pg_catalog.array_agg(r.code ORDER BY r.code))
	    || 'pg_catalog.unnest(ARRAY['
	    || pg_catalog.string_agg(pg_catalog.format('CASE WHEN %s THEN %s END',
	                                               health_score._condition_sql(r.condition, r.params, o.overrides),
	                                               health_score._evidence_sql(r.measures, r.params, o.overrides)), ', '
	                             ORDER BY r.code)
	    || ']::jsonb[]) AS evidence FROM ('
	    || 'SELECT m.*, s.score, s.band::text AS band, e.score AS score_earlier FROM pg_temp.hs_m m '
	    || 'JOIN pg_temp.hs_score s ON s.account_id = m.account_id '
	    || 'LEFT JOIN pg_temp.hs_earlier e ON e.account_id = m.account_id) m) v WHERE v.evidence IS NOT NULL'
	  FROM pg_temp.hs_rule r
	  -- the profiles that override this rule's params: {"profile": {"param": value}}
	  LEFT JOIN LATERAL (SELECT pg_catalog.jsonb_object_agg(p.name, p.rule_params -> r.code) AS overrides
	                       FROM pg_temp.hs_profile p WHERE p.rule_params ? r.code) o ON true
	 WHERE r.code = ANY ($1)
$$;

-- A rule's evidence as a jsonb_build_object over m: its measures, their windows (params) and its
-- parameters (which win over a window of the same name).
CREATE FUNCTION health_score._evidence_sql(measures text[], params jsonb, overrides jsonb)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'pg_catalog.jsonb_build_object(' || coalesce(pg_catalog.string_agg(x.e, ', ' ORDER BY x.o, x.k), '') || ')'
	  FROM (SELECT 1 AS o, m.name AS k,
	               pg_catalog.format(CASE WHEN m.type = 'float8' THEN '%1$L, pg_catalog.trim_scale(pg_catalog.round(m.%1$I::numeric, 3))' ELSE '%1$L, m.%1$I' END,
	                                 m.name) AS e
	          FROM pg_temp.hs_measure m WHERE m.name = ANY ($1)
	        UNION ALL
	        SELECT 2, d.key, d.e
	          FROM (SELECT DISTINCT ON (w.key) w.key, pg_catalog.format('%L, %L::jsonb', w.key, w.value) AS e
	                  FROM pg_temp.hs_measure m, pg_catalog.jsonb_each(m.params) w
	                 WHERE m.name = ANY ($1) AND m.kind = 'builtin' AND NOT $2 ? w.key
	                 ORDER BY w.key, m.name) d
	        UNION ALL
	        SELECT 3, p.key, pg_catalog.format('%L, %s', p.key, health_score._param_value_sql(p.key, $2, $3))
	          FROM pg_catalog.jsonb_each($2) p) x
$$;

CREATE FUNCTION health_score._stage_rules(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	codes text[];
	failing text;
	msg text; det text; hnt text; st text;
BEGIN
	-- score_earlier: the latest history row between earlier_from and earlier_to
	PERFORM health_score._work_create('hs_earlier', $q$AS
	-- (the model's score: an override in force then is a manager's view, not what the model saw)
	SELECT DISTINCT ON (hh.account_id) hh.account_id, coalesce(hh.computed_score, hh.score) AS score, hh.as_of
	  FROM health_score.health_history hh
	 WHERE EXISTS (SELECT FROM pg_temp.hs_rule x WHERE 'score_earlier' = ANY (x.measures))
	   AND hh.day BETWEEN (($1).earlier_from - interval '1 day')::date AND ($1).earlier_to::date
	   AND hh.as_of <= ($1).earlier_to
	   AND hh.as_of >= ($1).earlier_from
	 ORDER BY hh.account_id, hh.as_of DESC$q$, run, 'account_id');
	SELECT pg_catalog.array_agg(x.code ORDER BY x.code) INTO codes FROM pg_temp.hs_rule x;
	IF codes IS NULL THEN
		PERFORM health_score._work_create('hs_hits', '(account_id text, rule text, evidence jsonb)');
		RETURN;
	END IF;
	BEGIN
		PERFORM health_score._work_create('hs_hits', 'AS ' || health_score._rules_sql(codes));
		RETURN;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
	END;
	FOREACH failing IN ARRAY codes LOOP
		BEGIN
			PERFORM health_score._work_create('hs_hits', 'AS ' || health_score._rules_sql(ARRAY[failing]));
			RAISE EXCEPTION USING ERRCODE = 'HS000';
		EXCEPTION
			WHEN SQLSTATE 'HS000' THEN NULL;
			WHEN OTHERS THEN
				PERFORM health_score._reraise(pg_catalog.format('refresh failed evaluating rule %s: %s', failing, msg), st, det, hnt);
		END;
	END LOOP;
	PERFORM health_score._reraise('refresh failed evaluating the rules: ' || msg, st, det, hnt);
END
$$;
