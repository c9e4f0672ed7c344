-- _unanswered (src/outreach.c): the outreach after a group's last response, counted from two starts, in one
-- combinable pass (the touchpoints stage's unanswered outreach).
BEGIN;
CREATE EXTENSION health_score;
SELECT plan(9);

CREATE TEMP TABLE tp (at timestamptz, response boolean, outreach boolean);
-- outreach on 03-02 and 03-05 (before the last response, 03-06), then 03-10, 03-20 and 03-25 after it;
-- outreach on 02-01 is before both starts; NULL times and flags count for nothing
INSERT INTO tp VALUES ('2026-02-01', false, true), ('2026-03-02', false, true), ('2026-03-04', true, false),
	('2026-03-05', false, true), ('2026-03-06', true, false), ('2026-03-10', false, true), ('2026-03-20', false, true),
	('2026-03-25', false, true), (NULL, true, false), ('2026-03-28', NULL, NULL), ('2026-03-27', false, false);

SELECT is((SELECT health_score._unanswered(at, response, outreach, '2026-03-01', '2026-03-15') FROM tp),
          ARRAY[3, 2]::bigint[], 'the outreach after the last response: 3 after the first start, 2 after the second');
SELECT is((SELECT health_score._unanswered(at, response, outreach, '2026-03-01', '2026-03-15') FROM tp WHERE NOT response),
          ARRAY[5, 2]::bigint[], 'without a response, every outreach after each start');
SELECT is((SELECT health_score._unanswered(at, response, outreach, '2026-03-10', '2026-03-01') FROM tp),
          ARRAY[2, 3]::bigint[], 'an outreach exactly at a start is not after it; the starts in either order');
SELECT is((SELECT health_score._unanswered(at, response, outreach, '2026-03-01', '2026-03-15') FROM tp WHERE false), NULL,
          'of no row it is NULL');
SELECT throws_ok($$SELECT health_score._unanswered(at, response, outreach, coalesce(at, '2026-03-01'), '2026-03-15') FROM tp$$,
                 '22023', 'from_a must be the same for every row of a group', 'the starts are constants of the group');
SELECT throws_ok($$SELECT health_score._unanswered(at, response, outreach, NULL, '2026-03-15') FROM tp$$,
                 '22004', 'from_a and from_b must not be null', 'a NULL start is an error');

-- parallel plans combine partial states: the same counts as a serial pass, group by group
CREATE TABLE public.tp_big AS
SELECT g % 700 AS account, timestamptz '2026-01-01' + (g::bigint * 104729 % 129600) * interval '1 minute' AS at,
       g % 5 = 0 AS response, g % 5 IN (1, 2) AS outreach
  FROM generate_series(1, 200000) g;
ANALYZE public.tp_big;
CREATE TEMP TABLE serial AS
SELECT account, health_score._unanswered(at, response, outreach, '2026-03-01', '2026-03-20') AS u FROM public.tp_big GROUP BY account;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
CREATE TEMP TABLE plan_text (line text);
DO $$
DECLARE
	l text;
BEGIN
	FOR l IN EXPLAIN SELECT account, health_score._unanswered(at, response, outreach, '2026-03-01', '2026-03-20')
	               FROM public.tp_big GROUP BY account LOOP
		INSERT INTO plan_text VALUES (l);
	END LOOP;
END
$$;
SELECT ok(EXISTS (SELECT FROM plan_text WHERE line LIKE '%Partial%Aggregate%'), 'the grouped pass is planned with partial aggregates');
SELECT is_empty($$SELECT account, health_score._unanswered(at, response, outreach, '2026-03-01', '2026-03-20') FROM public.tp_big GROUP BY account
                  EXCEPT SELECT account, u FROM serial$$, 'parallel _unanswered equals serial, group by group');

-- a state that is not _unanswered's is rejected: malformed (22P03) when it arrives flat from a worker
CREATE AGGREGATE pg_temp.mismatched_states(text, timestamptz, timestamptz, timestamptz) (
	SFUNC = health_score._key_times_transition, STYPE = bytea,
	FINALFUNC = health_score._unanswered_final, COMBINEFUNC = health_score._unanswered_combine,
	PARALLEL = SAFE);
SELECT throws_ok($$SELECT pg_temp.mismatched_states('k', at, '2026-04-01', '2026-03-01') FROM public.tp_big$$, '22P03', NULL,
                 'a state that is not one of _unanswered''s is rejected');

SELECT * FROM finish();
ROLLBACK;
