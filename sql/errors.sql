-- The error of every argument rule of the scoring primitives, one statement each.

-- decayed_sum: half_life NULL or not positive.
SELECT health_score.decayed_sum('2025-01-01 00:00+00', '2025-01-15 00:00+00', NULL);
SELECT health_score.decayed_sum('2025-01-01 00:00+00', '2025-01-15 00:00+00', '0');
SELECT health_score.decayed_sum('2025-01-01 00:00+00', '2025-01-15 00:00+00', '-7 days');
SELECT health_score.decayed_sum('2025-01-01 00:00+00', 1, '2025-01-15 00:00+00', '1 mon -30 days');

-- decayed_sum: as_of NULL or infinite, even for rows that are skipped.
SELECT health_score.decayed_sum('2025-01-01 00:00+00', NULL, '7 days');
SELECT health_score.decayed_sum(NULL, 1, NULL, '7 days');
SELECT health_score.decayed_sum('2025-01-01 00:00+00', 'infinity', '7 days');
SELECT health_score.decayed_sum('2025-01-01 00:00+00', '-infinity', '7 days');

-- decayed_sum: as_of or half_life differing between rows of one group.
SELECT health_score.decayed_sum(t, a, '7 days')
  FROM (VALUES ('2025-01-01 00:00+00'::timestamptz, '2025-01-15 00:00+00'::timestamptz),
               ('2025-01-02 00:00+00', '2025-01-16 00:00+00')) v(t, a);
SELECT health_score.decayed_sum(t, '2025-01-15 00:00+00', h)
  FROM (VALUES ('2025-01-01 00:00+00'::timestamptz, '7 days'::interval), ('2025-01-02 00:00+00', '14 days')) v(t, h);
SELECT health_score.decayed_sum(t, '2025-01-15 00:00+00', h)
  FROM (VALUES ('2025-01-01 00:00+00'::timestamptz, '7 days'::interval), ('2025-01-02 00:00+00', NULL)) v(t, h);

-- The same across parallel workers, where the combine function finds it (terse: no worker context).
CREATE TABLE errors_events AS
SELECT '2025-01-01 00:00+00'::timestamptz - i * interval '1 minute' AS occurred_at,
       CASE WHEN i <= 100000 THEN '2025-01-15 00:00+00'::timestamptz ELSE '2025-01-16 00:00+00' END AS as_of,
       CASE WHEN i <= 100000 THEN interval '7 days' ELSE interval '14 days' END AS half_life
  FROM generate_series(1, 200000) i;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
\set VERBOSITY terse
SELECT health_score.decayed_sum(occurred_at, as_of, '7 days') FROM errors_events;
SELECT health_score.decayed_sum(occurred_at, '2025-01-15 00:00+00', half_life) FROM errors_events;
\set VERBOSITY default
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE errors_events;

-- The same between partitions aggregated separately and combined, without parallel workers.
CREATE TABLE errors_partitioned (as_of timestamptz, occurred_at timestamptz) PARTITION BY RANGE (as_of);
CREATE TABLE errors_partitioned_1 PARTITION OF errors_partitioned
    FOR VALUES FROM ('2025-01-15 00:00+00') TO ('2025-01-16 00:00+00');
CREATE TABLE errors_partitioned_2 PARTITION OF errors_partitioned
    FOR VALUES FROM ('2025-01-16 00:00+00') TO ('2025-01-17 00:00+00');
INSERT INTO errors_partitioned VALUES ('2025-01-15 00:00+00', '2025-01-01 00:00+00'),
                                      ('2025-01-16 00:00+00', '2025-01-01 00:00+00');
SET enable_partitionwise_aggregate = on;
SET max_parallel_workers_per_gather = 0;
EXPLAIN (COSTS OFF)
SELECT health_score.decayed_sum(occurred_at, as_of, '7 days') FROM errors_partitioned;
SELECT health_score.decayed_sum(occurred_at, as_of, '7 days') FROM errors_partitioned;
RESET enable_partitionwise_aggregate;
RESET max_parallel_workers_per_gather;
DROP TABLE errors_partitioned;

-- decayed_sum: a NaN or infinite weight.
SELECT health_score.decayed_sum('2025-01-01 00:00+00', 'NaN', '2025-01-15 00:00+00', '7 days');
SELECT health_score.decayed_sum('2025-01-01 00:00+00', 'infinity', '2025-01-15 00:00+00', '7 days');
SELECT health_score.decayed_sum('2025-01-01 00:00+00', '-infinity', '2025-01-15 00:00+00', '7 days');

-- decayed_sum: a sum too large for float8.
SELECT health_score.decayed_sum('2025-01-15 00:00+00', 1e308, '2025-01-15 00:00+00', '7 days')
  FROM generate_series(1, 2);

-- decay_factor: half_life NULL or not positive (even with a NULL elapsed), and a result too large.
SELECT health_score.decay_factor('7 days', NULL);
SELECT health_score.decay_factor(NULL, NULL);
SELECT health_score.decay_factor('7 days', '0');
SELECT health_score.decay_factor('7 days', '-1 day');
SELECT health_score.decay_factor('-100000 years', '1 day');

-- engagement_score: expected_per_day NULL, not positive, NaN or infinite.
SELECT health_score.engagement_score(5, NULL, '14 days');
SELECT health_score.engagement_score(5, 0, '14 days');
SELECT health_score.engagement_score(5, -1, '14 days');
SELECT health_score.engagement_score(5, 'NaN', '14 days');
SELECT health_score.engagement_score(5, 'infinity', '14 days');

-- engagement_score: half_life NULL or not positive, even with a NULL decayed sum.
SELECT health_score.engagement_score(5, 1, NULL);
SELECT health_score.engagement_score(NULL, 1, '0');

-- engagement_score: a NaN decayed sum.
SELECT health_score.engagement_score('NaN', 1, '14 days');

-- composite: arrays of different lengths or not one-dimensional.
SELECT health_score.composite(ARRAY[80, 60], ARRAY[1]);
SELECT health_score.composite('{}', ARRAY[1]);
SELECT health_score.composite(ARRAY[[80, 60]], ARRAY[[1, 1]]);

-- composite: a NULL, negative, NaN or infinite weight, even of an absent component.
SELECT health_score.composite(ARRAY[80, 60], ARRAY[1, NULL]);
SELECT health_score.composite(ARRAY[80, NULL], ARRAY[1, -1]);
SELECT health_score.composite(ARRAY[80, 60], ARRAY[1, 'NaN'::float8]);
SELECT health_score.composite(ARRAY[80, 60], ARRAY['infinity'::float8, 1]);

-- composite: a score outside [0, 100] or NaN.
SELECT health_score.composite(ARRAY[80, 101], ARRAY[1, 1]);
SELECT health_score.composite(ARRAY[-0.5, 60], ARRAY[1, 1]);
SELECT health_score.composite(ARRAY['NaN'::float8, 60], ARRAY[1, 1]);

-- band: thresholds NULL, NaN or in the wrong order (even with a NULL score), and a NaN score.
SELECT health_score.band(50, NULL, 70);
SELECT health_score.band(50, 40, NULL);
SELECT health_score.band(NULL, 'NaN', 70);
SELECT health_score.band(50, 40, 'NaN');
SELECT health_score.band(50, 70, 40);
SELECT health_score.band('NaN');
