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

-- decayed_sum: each row decays with its own as_of and half_life (its state is the sum alone, so partial sums
-- taken anywhere combine); a NULL half_life is an error on any row.
SELECT health_score.decayed_sum(t, a, h) AS own_constants
  FROM (VALUES ('2025-01-15 00:00+00'::timestamptz, '2025-01-15 00:00+00'::timestamptz, '7 days'::interval),
               ('2025-01-01 00:00+00', '2025-01-15 00:00+00', '14 days'),
               ('2025-01-02 00:00+00', '2025-01-16 00:00+00', '7 days')) v(t, a, h);
SELECT health_score.decayed_sum(t, '2025-01-15 00:00+00', h)
  FROM (VALUES ('2025-01-01 00:00+00'::timestamptz, '7 days'::interval), ('2025-01-02 00:00+00', NULL)) v(t, h);

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
