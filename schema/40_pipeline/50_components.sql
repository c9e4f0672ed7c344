-- Stage components: each component 0-100 (NULL without data), the composite of the profile's weights
-- re-normalised over the components present, the band, and the inputs: the measures behind each component,
-- so that every score says why. This SELECT list is the one definition of each built-in component's
-- formula; component.description quotes it.
--   reads   hs_m, hs_component; run
--   writes  hs_score (account_id, one column per built-in component, score, band, components: the added
--           components as name -> value, inputs)
CREATE FUNCTION health_score._stage_components(run health_score._run)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	added text;
	added_array text;
	added_json text;
	added_inputs text;
	msg text; det text; hnt text; st text;
BEGIN
	-- components added with add_component: linear from worst (0) to best (100), clamped
	SELECT coalesce(pg_catalog.string_agg(pg_catalog.format(
	           ', CASE WHEN m.%1$I IS NOT NULL THEN greatest(0::float8, least(100::float8, 100 * (m.%1$I::float8 - %2$L::float8) / (%3$L::float8 - %2$L::float8))) END AS %4$I',
	           c.measure, c.worst, c.best, '_c_' || c.name), '' ORDER BY c.ord), ''),
	       coalesce(pg_catalog.string_agg(pg_catalog.format(', c.%I', '_c_' || c.name), '' ORDER BY c.ord), ''),
	       coalesce('pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('
	                || pg_catalog.string_agg(pg_catalog.format('%L, c.%I', c.name, '_c_' || c.name), ', ' ORDER BY c.ord) || '))', '''{}''::jsonb'),
	       coalesce(' || pg_catalog.jsonb_build_object('
	                || pg_catalog.string_agg(pg_catalog.format(
	                       '%1$L, CASE WHEN c.%5$I IS NOT NULL THEN pg_catalog.jsonb_build_object(%2$L, pg_catalog.trim_scale(pg_catalog.round(c.%2$I::numeric, 3)), ''worst'', %3$L::float8, ''best'', %4$L::float8) END',
	                       c.name, c.measure, c.worst, c.best, '_c_' || c.name), ', ' ORDER BY c.ord) || ')', '')
	  INTO added, added_array, added_json, added_inputs
	  FROM pg_temp.hs_component c WHERE c.kind = 'linear';
	BEGIN
		EXECUTE pg_catalog.format($q$
		CREATE TEMP TABLE hs_score ON COMMIT DROP AS
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
		       %3$s AS components,
		       pg_catalog.jsonb_build_object(
		           'engagement', CASE WHEN $2 THEN pg_catalog.jsonb_build_object(
		               'decayed_events', pg_catalog.round(c.decayed_events::numeric, 3),
		               'expected_per_day', c._expected_per_day,
		               'events_30d', c.events_30d, 'last_activity_at', c._last_activity_at) END,
		           'utilisation', CASE WHEN c.utilisation_c IS NOT NULL THEN pg_catalog.jsonb_build_object(
		               'active_users_30d', c.active_users_30d, 'seats', c.seats,
		               'ratio', pg_catalog.round(c.utilisation::numeric, 3)) END,
		           'adoption', CASE WHEN c.adoption IS NOT NULL THEN pg_catalog.jsonb_build_object(
		               'key_features', c._key_features, 'used_30d', c._features_used) END,
		           'support', CASE WHEN c.support IS NOT NULL THEN pg_catalog.jsonb_build_object(
		               'open_cases', c.open_cases, 'aged_open_cases', c.aged_open_cases,
		               'cases_30d', c.cases_30d, 'cases_previous_90d', c.cases_prev_90d) END,
		           'sentiment', CASE WHEN c.sentiment IS NOT NULL THEN pg_catalog.jsonb_build_object(
		               'responses_90d', c.responses_90d, 'nps_90d', pg_catalog.round(c.nps_90d::numeric, 1),
		               'average_rating_90d', pg_catalog.round(c.average_rating_90d::numeric, 2),
		               'promoters_90d', c.promoters_90d, 'detractors_90d', c.detractors_90d) END,
		           'relationship', CASE WHEN c.relationship IS NOT NULL THEN pg_catalog.jsonb_build_object(
		               'open_observations', coalesce(c._observations, '[]'), 'unanswered_outbound_30d', coalesce(c.unanswered_outreach_30d, 0),
		               'last_response_at', c._last_response_at) END)%4$s AS inputs
		  FROM c,
		       LATERAL (SELECT health_score.composite(ARRAY[c.engagement, c.utilisation_c, c.adoption, c.support,
		                                                     c.sentiment, c.relationship %2$s], c._weights) AS score) s
		$q$, added, added_array, added_json, added_inputs)
		USING run.as_of, run.has_activity, run.has_support, run.has_touch;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT, st = RETURNED_SQLSTATE;
		PERFORM health_score._reraise('refresh failed computing the components: ' || msg, st, det, hnt);
	END;
	ANALYZE pg_temp.hs_score (account_id);
END
$$;
