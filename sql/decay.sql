-- decayed_sum, decay_factor and engagement_score: values against hand-computed and plain-SQL results.
-- Exact binary fractions print exactly; everything else is rounded or compared, so output is stable.

-- One event now, one a half-life ago, one two half-lives ago: 1 + 1/2 + 1/4.
SELECT health_score.decayed_sum(t, '2025-01-15 00:00+00', '7 days')
  FROM (VALUES ('2025-01-15 00:00+00'::timestamptz), ('2025-01-08 00:00+00'), ('2025-01-01 00:00+00')) v(t);

-- Weights multiply each event's factor: 2 + 4/2 + 8/4.
SELECT health_score.decayed_sum(t, w, '2025-01-15 00:00+00', '7 days')
  FROM (VALUES ('2025-01-15 00:00+00'::timestamptz, 2::float8), ('2025-01-08 00:00+00', 4),
               ('2025-01-01 00:00+00', 8)) v(t, w);

-- Finite negative weights count: -1 + 2/2 = 0.
SELECT health_score.decayed_sum(t, w, '2025-01-15 00:00+00', '7 days')
  FROM (VALUES ('2025-01-15 00:00+00'::timestamptz, -1::float8), ('2025-01-08 00:00+00', 2)) v(t, w);

-- Half a half-life: 2^(-1/2).
SELECT round(health_score.decayed_sum('2025-01-11 12:00+00', '2025-01-15 00:00+00', '7 days')::numeric, 12)
       AS decayed, round(power(2, -0.5)::numeric, 12) AS expected;

-- -infinity contributes 0; events after as_of (and +infinity) have not happened yet at as_of.
SELECT health_score.decayed_sum(t, '2025-01-15 00:00+00', '7 days')
  FROM (VALUES ('-infinity'::timestamptz), ('2025-01-08 00:00+00'), ('2025-01-15 00:00:00.000001+00'),
               ('2026-01-01 00:00+00'), ('infinity')) v(t);

-- Rows with a NULL occurred_at or a NULL weight are skipped.
SELECT health_score.decayed_sum(t, w, '2025-01-15 00:00+00', '7 days')
  FROM (VALUES (NULL::timestamptz, 5::float8), ('2025-01-08 00:00+00', NULL), ('2025-01-08 00:00+00', 3)) v(t, w);

-- No rows, or none that qualify: 0, not NULL.
SELECT health_score.decayed_sum(t, '2025-01-15 00:00+00', '7 days') FROM (VALUES (now())) v(t) WHERE false;
SELECT health_score.decayed_sum(t, 1, '2025-01-15 00:00+00', '7 days')
  FROM (VALUES (now())) v(t) WHERE false;
SELECT k, health_score.decayed_sum(t, w, '2025-01-15 00:00+00', '7 days')
  FROM (VALUES (1, '2025-01-08 00:00+00'::timestamptz, 1::float8), (2, '2025-02-01 00:00+00', 1),
               (3, NULL, 1), (4, '2025-01-08 00:00+00', NULL)) v(k, t, w)
 GROUP BY k ORDER BY k;

-- Months count 30 days and years 365.25 days, as EXTRACT(EPOCH FROM interval) counts them.
SELECT health_score.decayed_sum('2025-01-01 00:00+00'::timestamptz - interval '30 days',
                                '2025-01-01 00:00+00', '1 month') AS month,
       health_score.decayed_sum('2025-01-01 00:00+00'::timestamptz - interval '365 days 6 hours',
                                '2025-01-01 00:00+00', '1 year') AS year,
       health_score.decayed_sum('2025-01-01 00:00+00'::timestamptz - interval '45 days',
                                '2025-01-01 00:00+00', '1 mon 15 days') AS month_and_days;

-- Half-lives written differently but equally long may be mixed in one group.
SELECT health_score.decayed_sum(t, '2025-01-15 00:00+00', h)
  FROM (VALUES ('2025-01-14 00:00+00'::timestamptz, '1 day'::interval), ('2025-01-13 00:00+00', '24 hours'),
               ('2025-01-15 00:00+00', '86400 seconds')) v(t, h);

-- Many rows: a million events at as_of add up exactly, and a geometric series to its limit (hours, not
-- days, because a day across a daylight-saving change is not 24 hours in the test's time zone).
SELECT health_score.decayed_sum('2025-01-15 00:00+00', '2025-01-15 00:00+00', '7 days')
  FROM generate_series(1, 1000000);
SELECT round(health_score.decayed_sum('2025-01-15 00:00+00'::timestamptz - i * interval '168 hours',
                                      '2025-01-15 00:00+00', '7 days')::numeric, 12)
  FROM generate_series(0, 199) i;

-- As a window function: the running decayed sum, ordered by time.
SELECT t, health_score.decayed_sum(t, '2025-01-15 00:00+00', '7 days') OVER (ORDER BY t)
  FROM (VALUES ('2025-01-01 00:00+00'::timestamptz), ('2025-01-08 00:00+00'), ('2025-01-15 00:00+00')) v(t);

-- Randomized: decayed_sum against the plain SQL expression summed exactly (as numeric), per group.
SELECT setseed(0.4711);
CREATE TABLE decay_events AS
SELECT (random() * 99)::int AS account_id,
       CASE WHEN random() < 0.01 THEN NULL
            ELSE '2025-06-01 00:00+00'::timestamptz - random() * interval '400 days' + interval '20 days' END
           AS occurred_at,
       CASE WHEN random() < 0.01 THEN NULL ELSE random() * 12 - 2 END AS weight
  FROM generate_series(1, 300000);
ANALYZE decay_events;

CREATE TABLE decay_expected AS
SELECT account_id,
       sum((weight * power(2::float8, -date_part('epoch', '2025-06-01 00:00+00'::timestamptz - occurred_at)
                                      / date_part('epoch', interval '14 days')))::numeric)
           FILTER (WHERE occurred_at <= '2025-06-01 00:00+00') AS exact
  FROM decay_events
 GROUP BY account_id;

CREATE VIEW decay_check AS
SELECT count(*) AS groups,
       max(abs(d.decayed::numeric - e.exact) / abs(e.exact)) < 1e-9 AS max_relative_error_below_1e9
  FROM (SELECT account_id, health_score.decayed_sum(occurred_at, weight, '2025-06-01 00:00+00', '14 days')
                 AS decayed
          FROM decay_events GROUP BY account_id) d
  JOIN decay_expected e USING (account_id);
SELECT * FROM decay_check;

-- The same through a parallel plan (partial sums from the workers, added in the leader).
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 4;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT account_id, health_score.decayed_sum(occurred_at, weight, '2025-06-01 00:00+00', '14 days')
  FROM decay_events GROUP BY account_id;
SELECT * FROM decay_check;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;

-- decay_factor: 2^(-elapsed / half_life); NULL elapsed gives NULL; a negative elapsed grows.
SELECT health_score.decay_factor('7 days', '7 days') AS one_half_life,
       health_score.decay_factor('0', '7 days') AS none,
       health_score.decay_factor('-14 days', '7 days') AS back_two,
       health_score.decay_factor('1 mon', '30 days') AS month_is_30_days,
       health_score.decay_factor(NULL, '7 days') AS null_elapsed,
       health_score.decay_factor('100000 years', '1 day') AS underflows_to_0;

-- Carrying a stored sum forward: S(t2) = S(t1) * decay_factor(t2 - t1) + the events after t1, decayed to t2.
WITH stored AS (
    SELECT account_id, health_score.decayed_sum(occurred_at, weight, '2025-04-01 00:00+00', '14 days') AS s1
      FROM decay_events GROUP BY account_id
), fresh AS (
    SELECT account_id,
           health_score.decayed_sum(occurred_at, weight, '2025-06-01 00:00+00', '14 days') AS s2,
           health_score.decayed_sum(occurred_at, weight, '2025-06-01 00:00+00', '14 days')
               FILTER (WHERE occurred_at > '2025-04-01 00:00+00') AS since
      FROM decay_events GROUP BY account_id
)
SELECT count(*) AS groups,
       max(abs(s1 * health_score.decay_factor('2025-06-01 00:00+00'::timestamptz - '2025-04-01 00:00+00',
                                              '14 days') + since - s2) / abs(s2)) < 1e-12 AS carried_equals_recomputed
  FROM stored JOIN fresh USING (account_id);

DROP VIEW decay_check;
DROP TABLE decay_events, decay_expected;

-- engagement_score: 100 * decayed / (expected_per_day * half_life_days / ln 2), capped at 100.
SELECT round(health_score.engagement_score(14 / ln(2) / 2, 1, '14 days')::numeric, 9) AS half_of_steady,
       round(health_score.engagement_score(14 / ln(2), 1, '14 days')::numeric, 9) AS steady,
       health_score.engagement_score(1000, 1, '14 days') AS capped,
       round(health_score.engagement_score(10, 3, '1 mon')::numeric, 9) AS month_half_life,
       round((100 * 10 / (3 * 30 / ln(2)))::numeric, 9) AS month_expected,
       health_score.engagement_score(0, 1, '14 days') AS zero,
       health_score.engagement_score(-5, 1, '14 days') AS negative,
       health_score.engagement_score('infinity', 1, '14 days') AS infinite,
       health_score.engagement_score('-infinity', 1, '14 days') AS minus_infinite,
       health_score.engagement_score(NULL, 1, '14 days') AS null_decayed;

-- An event every hour for a year comes within a fraction of a percent of the steady state of 24 a day.
SELECT round(health_score.engagement_score(health_score.decayed_sum(t, '2025-01-01 00:00+00', '14 days'),
                                           24, '14 days')::numeric, 1)
  FROM generate_series('2024-01-01 00:00+00'::timestamptz, '2024-12-31 23:00+00', '1 hour') t;
