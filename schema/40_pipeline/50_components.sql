-- Stage components: each component 0-100 (NULL without data), the composite of the profile's weights
-- re-normalised over the components present, and the band. This SELECT list is the one definition of each
-- built-in component's formula; component.description quotes it. (The results stage writes beside each score
-- the measures behind its components.)
--   reads   hs_m, hs_component; run
--   writes  hs_score (account_id, one column per built-in component, score, band, components: the added
--           components as name -> value)
CREATE FUNCTION health_score._stage_components(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	added text;
	added_array text;
	added_json text;
	msg text; det text; hnt text; st text;
BEGIN
	-- components added with add_component: linear from worst (0) to best (100), clamped
	SELECT coalesce(pg_catalog.string_agg(pg_catalog.format(
	           ', CASE WHEN m.%1$I IS NOT NULL THEN greatest(0::float8, least(100::float8, 100 * (m.%1$I::float8 - %2$L::float8) / (%3$L::float8 - %2$L::float8))) END AS %4$I',
	           c.measure, c.worst, c.best, '_c_' || c.name), '' ORDER BY c.ord), ''),
	       coalesce(pg_catalog.string_agg(pg_catalog.format(', c.%I', '_c_' || c.name), '' ORDER BY c.ord), ''),
	       -- (built only for an account with a value: most have none of goals, say)
	       coalesce('CASE WHEN pg_catalog.num_nonnulls(' || pg_catalog.string_agg(pg_catalog.format('c.%I', '_c_' || c.name), ', ' ORDER BY c.ord)
	                || ') = 0 THEN ''{}''::jsonb ELSE pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('
	                || pg_catalog.string_agg(pg_catalog.format('%L, c.%I', c.name, '_c_' || c.name), ', ' ORDER BY c.ord) || ')) END', '''{}''::jsonb')
	  INTO added, added_array, added_json
	  FROM pg_temp.hs_component c WHERE c.kind = 'linear';
	BEGIN
		EXECUTE pg_catalog.format($q$
		CREATE UNLOGGED TABLE %4$s AS
		WITH c AS (
			SELECT m.*,
			       CASE WHEN $2 THEN health_score.engagement_score(m.decayed_events, m._expected_per_day, m._half_life) END
			           AS engagement,
			       CASE WHEN m.utilisation IS NOT NULL
			            THEN least(100, 100 * m.utilisation / m._target_utilisation) END AS utilisation_c,
			       CASE WHEN m.key_features_used_30d IS NOT NULL
			            THEN 100.0 * m.key_features_used_30d / pg_catalog.cardinality(m._key_features) END AS adoption,
			       CASE WHEN $3 THEN greatest(0, 100
			            - 20 * coalesce(m.aged_open_cases, 0)
			            - 5 * (coalesce(m.open_cases, 0) - coalesce(m.aged_open_cases, 0))
			            - 10 * greatest(0, coalesce(m.cases_30d, 0)
			                   - greatest(2 * coalesce(m.cases_prev_90d, 0) / 3.0, 2)))::float8 END AS support,
			       CASE WHEN m.responses_90d > 0 THEN (m.nps_90d + 100) / 2 END AS sentiment,
			       CASE WHEN $4 OR m.open_observations > 0 THEN greatest(0, 100
			            - 25 * m.open_observations
			            - 10 * coalesce(m.unanswered_outreach_30d, 0)
			            - CASE WHEN $4 AND m.days_since_response >= 90 THEN 30 ELSE 0 END
			            )::float8 END AS relationship
			       %1$s
			  FROM pg_temp.hs_m m)
		SELECT c.account_id, c.engagement, c.utilisation_c AS utilisation, c.adoption, c.support, c.sentiment,
		       c.relationship, s.score, health_score.band(s.score, c._poor_below, c._good_from) AS band,
		       %3$s AS components
		  FROM c,
		       LATERAL (SELECT health_score.composite(ARRAY[c.engagement, c.utilisation_c, c.adoption, c.support,
		                                                     c.sentiment, c.relationship %2$s], c._weights) AS score) s
		$q$, added, added_array, added_json, health_score._work_table('hs_score'))
		USING run.as_of, run.has_activity, run.has_support, run.has_touch;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
		PERFORM health_score._reraise('refresh failed computing the components: ' || msg, st, det, hnt);
	END;
	PERFORM health_score._work_publish('hs_score', 'account_id');
END
$$;
