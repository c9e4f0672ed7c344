-- _inputs (src/inputs.c): account_health.inputs built in C equals what jsonb_build_object builds from the
-- same values, for ordinary values, NULLs, NaN and infinities, extreme numbers and times, NULL array elements,
-- and components without data.
BEGIN;
CREATE EXTENSION health_score;
SELECT plan(4);

CREATE TEMP TABLE v (e boolean, de float8, ep float8, e30 bigint, la timestamptz, u boolean, au bigint, seats integer,
	ratio float8, a boolean, kf text[], used text[], s boolean, oc bigint, ao bigint, c30 bigint, c90 bigint,
	se boolean, r90 bigint, nps float8, avg float8, p90 bigint, d90 bigint, r boolean, obs jsonb, un bigint,
	lr timestamptz);
INSERT INTO v VALUES
	(true, 12.34567, 0.233, 120, '2026-03-01 12:34:56.789+00', true, 4, 10, 0.4, true, '{report,dashboard}', '{report}',
	 true, 2, 1, 3, 0, true, 5, 42.4999, 8.125, 3, 1, true, '[{"indicator": "champion_left", "note": "x"}]', 2,
	 '2026-02-01 00:00:00+00'),
	(true, 'NaN', 'Infinity', 0, NULL, true, 0, NULL, '-Infinity', true, '{}', '{a,NULL}', true, NULL, NULL, NULL, NULL,
	 true, 0, 'NaN', NULL, 0, 0, true, '[]', 0, 'infinity'),
	(false, 1, 1, 1, now(), false, 1, 1, 1, false, '{a}', '{a}', false, 1, 1, 1, 1, false, 1, 1, 1, 1, 1, false, '[]', 1, now()),
	(true, 1e300, 1e-300, 9223372036854775807, '-infinity', true, -9223372036854775808, -2147483648, 5e-324, NULL, NULL, NULL,
	 true, -1, -1, -1, -1, NULL, NULL, NULL, NULL, NULL, NULL, true, NULL, NULL, NULL),
	(true, -0.0005, 0.1 + 0.2, 1, '2026-06-30 23:59:59.999999+00', true, 1, 1, 2.0005, true, '{"with \"quote\"",ü}', '{}',
	 NULL, NULL, NULL, NULL, NULL, true, 1, -100, 0.005, 1, 1, true, '"scalar"', 1, '1999-12-31 23:00:00-05');
INSERT INTO v
SELECT random() < 0.9, random() * 1000, random() * 3, (random() * 1e4)::bigint, now() - random() * interval '400 days',
       random() < 0.9, (random() * 50)::bigint, (random() * 80)::integer, random() * 1.5, random() < 0.8,
       '{report,dashboard,api}', (ARRAY['{}', '{report}', '{api,report}'])[1 + (random() * 2)::int]::text[],
       random() < 0.9, (random() * 9)::bigint, (random() * 3)::bigint, (random() * 9)::bigint, (random() * 20)::bigint,
       random() < 0.5, (random() * 9)::bigint, random() * 200 - 100, random() * 10, (random() * 5)::bigint,
       (random() * 5)::bigint, random() < 0.7, '[]', (random() * 4)::bigint, now() - random() * interval '200 days'
  FROM generate_series(1, 2000);

CREATE FUNCTION pg_temp.built(v v) RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
	    'engagement', CASE WHEN v.e THEN jsonb_build_object('decayed_events', round(v.de::numeric, 3),
	        'expected_per_day', v.ep, 'events_30d', v.e30, 'last_activity_at', v.la) END,
	    'utilisation', CASE WHEN v.u THEN jsonb_build_object('active_users_30d', v.au, 'seats', v.seats,
	        'ratio', round(v.ratio::numeric, 3)) END,
	    'adoption', CASE WHEN v.a THEN jsonb_build_object('key_features', v.kf, 'used_30d', v.used) END,
	    'support', CASE WHEN v.s THEN jsonb_build_object('open_cases', v.oc, 'aged_open_cases', v.ao,
	        'cases_30d', v.c30, 'cases_previous_90d', v.c90) END,
	    'sentiment', CASE WHEN v.se THEN jsonb_build_object('responses_90d', v.r90, 'nps_90d', round(v.nps::numeric, 1),
	        'average_rating_90d', round(v.avg::numeric, 2), 'promoters_90d', v.p90, 'detractors_90d', v.d90) END,
	    'relationship', CASE WHEN v.r THEN jsonb_build_object('open_observations', v.obs, 'unanswered_outbound_30d', v.un,
	        'last_response_at', v.lr) END)
$$;
CREATE FUNCTION pg_temp.c_built(v v) RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT health_score._inputs(v.e, v.de, v.ep, v.e30, v.la, v.u, v.au, v.seats, v.ratio, v.a, v.kf, v.used,
	                            v.s, v.oc, v.ao, v.c30, v.c90, v.se, v.r90, v.nps, v.avg, v.p90, v.d90, v.r, v.obs, v.un, v.lr)
$$;

SELECT is((SELECT count(*) FROM v WHERE pg_temp.c_built(v)::text IS DISTINCT FROM pg_temp.built(v)::text), 0::bigint,
          '_inputs equals jsonb_build_object, as text, for every one of 2,005 rows');
SELECT is((SELECT pg_temp.c_built(v) FROM v LIMIT 1) -> 'engagement',
          '{"decayed_events": 12.346, "expected_per_day": 0.233, "events_30d": 120, "last_activity_at": "2026-03-01T12:34:56.789+00:00"}'::jsonb,
          'numbers rounded as round(x::numeric, 3), times as JSON strings');
SELECT is((SELECT pg_temp.c_built(v) FROM v OFFSET 1 LIMIT 1) #> '{engagement}',
          '{"decayed_events": "NaN", "expected_per_day": "Infinity", "events_30d": 0, "last_activity_at": null}'::jsonb,
          'NaN and infinities as strings, NULLs as null');
SELECT is((SELECT pg_temp.c_built(v) FROM v OFFSET 2 LIMIT 1),
          '{"engagement": null, "utilisation": null, "adoption": null, "support": null, "sentiment": null, "relationship": null}'::jsonb,
          'a component without data is null');

SELECT * FROM finish();
ROLLBACK;
