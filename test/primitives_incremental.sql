-- The C functions behind the incremental refresh's state: _key_times (each key's first, last and last
-- time before a bound, in one pass, combinable), _carry_decayed (a decayed sum carried to a later time),
-- _count_after and _feature_bits.
BEGIN;
CREATE EXTENSION health_score;
SELECT plan(18);

CREATE TEMP TABLE kt (k text, at timestamptz);
INSERT INTO kt VALUES ('b', '2026-03-01'), ('a', '2026-02-01'), ('b', '2026-01-10'), ('a', '2026-03-05'),
	('c', '2026-03-20'), (NULL, '2026-03-01'), ('a', NULL), ('d', '2026-04-02');

SELECT is((SELECT health_score._key_times(k, at, '2026-04-01', '2026-03-01') FROM kt)::text,
          '("{a,b,c}","{""2026-02-01 00:00:00+00"",""2026-01-10 00:00:00+00"",""2026-03-20 00:00:00+00""}","{""2026-03-05 00:00:00+00"",""2026-03-01 00:00:00+00"",""2026-03-20 00:00:00+00""}","{""2026-02-01 00:00:00+00"",""2026-03-01 00:00:00+00"",NULL}")',
          '_key_times: keys in byte order, first and last time up to as_of, last time up to before (NULL when none); NULL keys and times, and rows after as_of, left out');
SELECT is((SELECT health_score._key_times(k, at, '2026-04-01', '2026-03-01') FROM kt WHERE false), NULL,
          '_key_times of no row is NULL');
SELECT throws_ok($$SELECT health_score._key_times(k, at, at, '2026-03-01') FROM kt WHERE at IS NOT NULL$$, '22023', NULL,
                 '_key_times: as_of must be the same for every row of a group');
SELECT throws_ok($$SELECT health_score._key_times(k, at, NULL, '2026-03-01') FROM kt$$, '22004',
                 'as_of and before must not be null', '_key_times: a NULL bound is an error');

-- parallel plans combine partial states: the same arrays as a serial pass
CREATE TABLE public.kt_big AS
SELECT g % 500 AS account, 'user ' || (g::bigint * 7919 % 97) AS k, timestamptz '2026-01-01' + (g::bigint * 104729 % 100000) * interval '1 minute' AS at
  FROM generate_series(1, 200000) g;
ANALYZE public.kt_big;
CREATE TEMP TABLE serial AS
SELECT account, health_score._key_times(k, at, '2026-02-15', '2026-02-01') AS t FROM public.kt_big GROUP BY account;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL enable_hashagg = off;
CREATE TEMP TABLE plan_text (line text);
DO $$
DECLARE
	l text;
BEGIN
	FOR l IN EXPLAIN SELECT account, health_score._key_times(k, at, '2026-02-15', '2026-02-01') FROM public.kt_big GROUP BY account LOOP
		INSERT INTO plan_text VALUES (l);
	END LOOP;
END
$$;
SELECT ok(EXISTS (SELECT FROM plan_text WHERE line LIKE '%Partial%Aggregate%'), 'the grouped pass is planned with partial aggregates');
SELECT is_empty($$SELECT account, health_score._key_times(k, at, '2026-02-15', '2026-02-01')::text FROM public.kt_big GROUP BY account
                  EXCEPT SELECT account, t::text FROM serial$$, 'parallel _key_times equals serial, group by group');
RESET enable_hashagg;

-- _carry_decayed: a sum taken earlier and carried equals the sum taken later (within roundings)
SELECT ok(abs((health_score._carry_decayed(ARRAY[s.early], '2026-02-01', '2026-03-01', ARRAY[interval '14 days'], NULL))[1] - s.late)
          <= 1e-12 * s.late, '_carry_decayed carries a decayed sum as decayed_sum computes it later')
  FROM (SELECT health_score.decayed_sum(at, '2026-02-01', interval '14 days') AS early,
               health_score.decayed_sum(at, '2026-03-01', interval '14 days') AS late
          FROM kt WHERE at <= '2026-02-01') s;
SELECT is(health_score._carry_decayed(ARRAY[8, 1]::float8[], '2026-03-01', '2026-03-15', ARRAY[interval '14 days', interval '7 days'],
                                      ARRAY[1, 1]::float8[]), ARRAY[5, 1.25]::float8[],
          '_carry_decayed: one half-life halves, two quarter, then the added terms');
SELECT is(health_score._carry_decayed(NULL, NULL, '2026-03-01', ARRAY[interval '14 days'], NULL), ARRAY[0]::float8[],
          '_carry_decayed of nothing is zeros');
SELECT throws_ok($$SELECT health_score._carry_decayed(ARRAY[1, 2]::float8[], '2026-03-01', '2026-03-15', ARRAY[interval '14 days'], NULL)$$,
                 '2202E', 'decayed and added must have one element per half-life (1)', '_carry_decayed: arrays of the wrong length');
SELECT throws_ok($$SELECT health_score._carry_decayed(ARRAY[1]::float8[], '2026-03-01', '2026-03-15', ARRAY[interval '0'], NULL)$$,
                 '22023', NULL, '_carry_decayed: a half-life that is not positive');

-- _count_after
SELECT is(health_score._count_after(ARRAY['2026-03-01', NULL, '2026-03-10', '2026-02-01']::timestamptz[], '2026-03-01'), 1::bigint,
          '_count_after counts the times strictly later, NULLs left out');
SELECT is(health_score._count_after('{}'::timestamptz[], '2026-03-01'), 0::bigint, '_count_after of no time is 0');

-- _feature_bits: api (key feature 1) used since 03-10, first used 01-01; export is no key feature; report (key
-- feature 3) first used 03-05, last 03-06; dashboard (key feature 2) unused
SELECT is(health_score._feature_bits('{api,export,report}', '{2026-01-01,2026-01-01,2026-03-05}', '{2026-03-20,2026-03-20,2026-03-06}',
                                     '{api,dashboard,report}', '2026-03-08', '2026-03-01'), ARRAY[1, 1, 5]::bigint[],
          '_feature_bits: {used after the first time, first used by the second, used after it}, bit i for key feature i + 1');
SELECT is(health_score._feature_bits('{}', '{}', '{}', '{api}', '2026-03-08', '2026-03-01'), ARRAY[0, 0, 0]::bigint[],
          '_feature_bits of no feature is no bit');
SELECT throws_ok($$SELECT health_score._feature_bits('{api}', '{}', '{}', '{api}', '2026-03-08', '2026-03-01')$$, '2202E',
                 'first_at and last_at must have one element per feature (1)', '_feature_bits: arrays of different lengths');
SELECT throws_ok($$SELECT health_score._feature_bits('{}', '{}', '{}', (SELECT array_agg('f' || i) FROM generate_series(1, 63) i),
                                                   '2026-03-08', '2026-03-01')$$, '22023',
                 'key_features must have at most 62 elements', '_feature_bits: at most 62 key features, as _activity_measures');
SELECT throws_ok($$SELECT health_score._feature_bits('{}', '{}', '{}', '{api,NULL}', '2026-03-08', '2026-03-01')$$, '22004',
                 'key_features must not contain nulls', '_feature_bits: no NULL key feature, as _activity_measures');

SELECT * FROM finish();
ROLLBACK;
