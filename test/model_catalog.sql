-- The model as data: a user's measure (overdue invoices, from a query with $1 = as_of), a component over it
-- and a rule over it, a metrics source, per-profile rule parameters and a check-in rule, each giving the
-- expected score and flag with its evidence on exactly the right account; the same scenario with bigint,
-- text and uuid account keys. Then every registration error, and drops refused while used.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SELECT plan(3 * 17 + 38);

-- The scenario for one key type: accounts A, B, C (B in the enterprise segment); as of 2026-06-30 A has two
-- overdue invoices, B none (one paid, one not due), C one issued only on 2026-07-05 (overdue by 2026-07-31).
CREATE FUNCTION pg_temp.scenario(keytype text) RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE
	a text := CASE keytype WHEN 'bigint' THEN '101' WHEN 'text' THEN 'acme' ELSE 'a0000000-0000-4000-8000-000000000001' END;
	b text := CASE keytype WHEN 'bigint' THEN '102' WHEN 'text' THEN 'beta' ELSE 'b0000000-0000-4000-8000-000000000002' END;
	c text := CASE keytype WHEN 'bigint' THEN '103' WHEN 'text' THEN 'gamma' ELSE 'c0000000-0000-4000-8000-000000000003' END;
	t1 constant timestamptz := '2026-06-30 12:00+00';
	t2 constant timestamptz := '2026-07-31 12:00+00';
BEGIN
	DROP EXTENSION health_score CASCADE;
	CREATE EXTENSION health_score;
	DROP TABLE IF EXISTS accounts, invoices, kpis, touches;
	EXECUTE format('CREATE TABLE accounts (account_id %s PRIMARY KEY, name text, segment text, started_at timestamptz)', keytype);
	EXECUTE format('CREATE TABLE invoices (account_id %s, issued_on date, due_on date, paid_on date)', keytype);
	EXECUTE format('CREATE TABLE kpis (account_id %s, metric text, value numeric, measured_at timestamptz)', keytype);
	EXECUTE format('CREATE TABLE touches (account_id %s, occurred_at timestamptz, direction text, answered boolean, kind text)', keytype);
	EXECUTE format($$INSERT INTO accounts VALUES (%L, 'A', 'smb', '2025-01-01'), (%L, 'B', 'ent', '2025-01-01'),
	                                             (%L, 'C', 'smb', '2025-01-01')$$, a, b, c);
	EXECUTE format($$INSERT INTO invoices VALUES (%1$L, '2026-04-01', '2026-05-01', NULL), (%1$L, '2026-05-01', '2026-06-01', NULL),
	                                             (%1$L, '2026-03-01', '2026-04-01', '2026-04-02'),
	                                             (%2$L, '2026-04-01', '2026-05-01', '2026-04-20'), (%2$L, '2026-06-15', '2026-07-15', NULL),
	                                             (%3$L, '2026-07-05', '2026-07-20', NULL)$$, a, b, c);
	EXECUTE format($$INSERT INTO kpis VALUES (%1$L, 'hours_saved', 7, '2026-06-01'), (%1$L, 'hours_saved', 9, '2026-07-10'),
	                                         (%2$L, 'hours_saved', 12, '2026-06-20')$$, a, b);
	EXECUTE format($$INSERT INTO touches VALUES (%1$L, '2025-12-12 12:00+00', 'outbound', true, 'Business Review'),
	                                            (%2$L, '2026-06-20 12:00+00', 'outbound', true, 'business review')$$, a, b);
	PERFORM health_score.add_source('accounts', 'accounts');
	PERFORM health_score.add_source('metrics', 'kpis');
	PERFORM health_score.add_source('touchpoints', 'touches');

	PERFORM health_score.add_measure('overdue_invoices',
		$q$SELECT a.account_id, count(i.account_id) AS value
		     FROM public.accounts a
		     LEFT JOIN public.invoices i ON i.account_id = a.account_id AND i.issued_on <= $1::date
		                         AND i.due_on < $1::date AND (i.paid_on IS NULL OR i.paid_on > $1::date)
		    GROUP BY a.account_id$q$, 'Invoices past due and unpaid at as_of', 'invoices');
	PERFORM health_score.add_component('billing', 'overdue_invoices', 3, 0, 'No overdue invoice: 100; three or more: 0');
	UPDATE health_score.profile SET weights = '{"billing": 1}' WHERE name = 'default';
	PERFORM health_score.add_rule('invoices_overdue', 'overdue_invoices >= {min}', 'red', 'Call finance.', '{"min": 1}');
	INSERT INTO health_score.profile (name, segment, weights, rule_params)
	VALUES ('enterprise', 'ent', '{"billing": 1}', '{"invoices_overdue": {"min": 0}}');
	PERFORM health_score.add_rule('kpi_behind', 'hours_saved < {target}', 'amber', 'Review the outcome plan.', '{"target": 8}');
	UPDATE health_score.rule SET enabled = code IN ('invoices_overdue', 'kpi_behind', 'business_review_due');
	PERFORM health_score.refresh(t1);

	RETURN NEXT is((SELECT kind FROM health_score.measure WHERE name = 'hours_saved'), 'metric',
		keytype || ': a metrics source''s metric is a measure as soon as the source is added');
	RETURN NEXT is((SELECT kind FROM health_score.measure WHERE name = 'days_since_business_review'), 'touchpoint',
		keytype || ': so is the kind of a touchpoint, named after its word');
	-- (the stages without the writes: refresh() drops its work tables when it ends)
	PERFORM health_score._compute_scores(t1, true, 1);
	RETURN NEXT set_eq($$SELECT name FROM health_score.measure WHERE source IS DISTINCT FROM 'composite'$$,
		$$SELECT attname::text FROM pg_attribute WHERE attrelid = 'pg_temp.hs_m'::regclass AND attnum > 0
		    AND NOT attisdropped AND attname !~ '^_' AND attname <> 'account_id'$$,
		keytype || ': every measure of the catalog is computed by the measures stage, and nothing else is');
	RETURN NEXT results_eq(format($$SELECT account_id, round(score::numeric, 6), components ->> 'billing' IS NOT NULL
	                                  FROM health_score.account_health ORDER BY name$$),
		format($$VALUES (%L, 33.333333, true), (%L, 100.000000, true), (%L, 100.000000, true)$$, a, b, c),
		keytype || ': the billing component alone scores A 33.3 (2 overdue of worst 3), B and C 100');
	RETURN NEXT is((SELECT inputs -> 'billing' FROM health_score.account_health WHERE name = 'A'),
		'{"overdue_invoices": 2, "worst": 3, "best": 0}'::jsonb, keytype || ': its inputs say why');
	RETURN NEXT is((SELECT components FROM health_score.health_history WHERE account_id = a),
		'{"billing": 33.333333333333336}'::jsonb, keytype || ': history keeps the added component');
	RETURN NEXT results_eq(format($$SELECT account_id, evidence FROM health_score.flag WHERE rule = 'invoices_overdue' ORDER BY 1$$),
		format($$VALUES (%L, '{"min": 1, "overdue_invoices": 2}'::jsonb), (%L, '{"min": 0, "overdue_invoices": 0}'::jsonb)$$,
		       least(a, b), greatest(a, b)),
		keytype || ': the rule flags A at its own threshold, B at the enterprise profile''s (0), not C');
	RETURN NEXT results_eq($$SELECT account_id, evidence FROM health_score.flag WHERE rule = 'kpi_behind'$$,
		format($$VALUES (%L, '{"target": 8, "hours_saved": 7}'::jsonb)$$, a),
		keytype || ': a rule over a metric: A''s latest value at as_of is 7 (the 9 of July is not seen yet), B''s 12');
	RETURN NEXT results_eq(format($$SELECT account_id, (evidence ->> 'days_since_business_review')::float8 FROM health_score.flag
	                                 WHERE rule = 'business_review_due' ORDER BY 1$$),
		format($$VALUES (%L, 200::float8), (%L, 'Infinity'::float8)$$, least(a, c), greatest(a, c)),
		keytype || ': the check-in rule flags A (a review 200 days ago) and C (none), not B (10 days ago)');
	RETURN NEXT is((SELECT action FROM health_score.flag WHERE rule = 'invoices_overdue' AND account_id = a), 'Call finance.',
		keytype || ': the flag carries the rule''s action');

	-- a month later: C's invoice is overdue, A's metric is 9
	PERFORM health_score.refresh(t2);
	RETURN NEXT results_eq($$SELECT account_id, evidence ->> 'overdue_invoices' FROM health_score.flag
	                          WHERE rule = 'invoices_overdue' AND cleared_at IS NULL AND account_id <> $$ || quote_literal(b) || $$ ORDER BY 1$$,
		format($$VALUES (%L, '2'), (%L, '1')$$, least(a, c), greatest(a, c)),
		keytype || ': point in time: the invoice issued after the first as_of counts at the second');
	RETURN NEXT is((SELECT round(score::numeric, 6) FROM health_score.account_health WHERE name = 'C'), 66.666667,
		keytype || ': and lowers C''s score');
	RETURN NEXT is((SELECT cleared_at FROM health_score.flag WHERE rule = 'kpi_behind'), t2,
		keytype || ': A''s metric is 9 now: its flag clears');

	-- Drops refused while used.
	RETURN NEXT throws_ok($$SELECT health_score.drop_measure('overdue_invoices')$$, '2BP01',
		'cannot drop measure overdue_invoices because component billing, rule invoices_overdue uses it',
		keytype || ': a measure a component and a rule use cannot be dropped');
	RETURN NEXT throws_ok($$SELECT health_score.drop_component('billing')$$, '2BP01',
		'cannot drop component billing because profile default, enterprise gives it a weight',
		keytype || ': a component a profile weighs cannot be dropped');
	UPDATE health_score.profile SET weights = '{"engagement": 1}';
	UPDATE health_score.rule SET condition = 'cases_30d >= {min}' WHERE code = 'invoices_overdue';
	RETURN NEXT lives_ok($$SELECT health_score.drop_component('billing'); SELECT health_score.drop_measure('overdue_invoices')$$,
		keytype || ': once unused, both drop');
	RETURN NEXT is((SELECT count(*)::integer FROM health_score.measure WHERE kind = 'query'), 0, keytype || ': and are gone');
END
$f$;

SELECT * FROM pg_temp.scenario('bigint');
SELECT * FROM pg_temp.scenario('text');
SELECT * FROM pg_temp.scenario('uuid');

-- Registration errors: each names the measure, component or rule and the culprit; nothing is registered.
DROP EXTENSION health_score CASCADE;
CREATE EXTENSION health_score;
CREATE TABLE inv (account_id bigint, due_on date, amount numeric);
SELECT throws_ok($$SELECT health_score.add_measure('Overdue', 'SELECT 1 AS account_id, 1 AS value')$$, '42602',
	'measure name ''Overdue'' must be a lower-case word of letters, digits and _, starting with a letter (at most 63 bytes)',
	'a measure name is a lower-case word');
SELECT throws_ok($$SELECT health_score.add_measure('events_30d', 'SELECT 1 AS account_id, 1 AS value')$$, '42710',
	'measure events_30d already exists', 'a measure name is new');
SELECT throws_ok($$SELECT health_score.add_measure('overdue', 'SELECT account_id, count(*) FROM public.inv GROUP BY 1')$$, '42703',
	'the query of measure overdue must return the columns account_id and value', 'the query names its two columns');
SELECT throws_ok($$SELECT health_score.add_measure('overdue', 'SELEC account_id')$$, '42601',
	'the query of measure overdue is not valid: syntax error at or near "SELEC"', 'a syntax error names the measure');
SELECT throws_ok($$SELECT health_score.add_measure('overdue', 'SELECT account_id, 1 AS value FROM inv')$$, '42P01',
	'the query of measure overdue is not valid: relation "inv" does not exist',
	'an unknown table names the measure (queries run with search_path = pg_catalog, pg_temp: public.inv, not inv)');
SELECT throws_ok($$SELECT health_score.add_measure('overdue', 'SELECT account_id, 1 AS value FROM public.inv WHERE due_on < $2')$$, '42P02',
	'the query of measure overdue is not valid: there is no parameter $2', 'only $1 (as_of) is given');
SELECT throws_ok($$SELECT health_score.add_measure('overdue', 'SELECT account_id, ''late'' AS value FROM public.inv')$$, '42804',
	'the query of measure overdue returns value of type text, not a number', 'the value is a number');
SELECT throws_ok($$SELECT health_score.add_measure('overdue', 'SELECT 1.5 AS account_id, 1 AS value')$$, '42804',
	'the query of measure overdue returns account_id of type numeric, which is no account key type',
	'before an accounts source is registered, account_id is at least a key type');
SELECT throws_ok($$SELECT health_score.add_measure('overdue', '  ;  ')$$, '22023',
	'the query of measure overdue must not be empty', 'an empty query is refused');
SELECT is((SELECT count(*)::integer FROM health_score.measure WHERE name IN ('overdue', 'Overdue')), 0, 'nothing was registered');
CREATE TABLE accts (account_id text PRIMARY KEY);
SELECT health_score.add_source('accounts', 'accts');
SELECT throws_ok($$SELECT health_score.add_measure('overdue', 'SELECT account_id, count(*) AS value FROM public.inv GROUP BY 1;')$$, '42804',
	'the query of measure overdue returns account_id of type bigint, but the accounts source''s keys are text',
	'account_id is of the accounts source''s key type');
SELECT lives_ok($$SELECT health_score.add_measure('overdue', 'SELECT account_id::text AS account_id, count(*) AS value FROM public.inv WHERE due_on < $1 GROUP BY 1;')$$,
	'a trailing semicolon is fine');
SELECT throws_ok($$SELECT health_score.add_component('late', 'overdu', 3, 0)$$, '42704',
	'component late names an unknown measure ''overdu''', 'a component names a measure');
SELECT throws_ok($$SELECT health_score.add_component('late', 'overdue', 1, 1)$$, '22023',
	'worst and best of component late must differ, both are 1', 'worst and best differ');
SELECT throws_ok($$SELECT health_score.add_component('late', 'overdue', 'NaN', 1)$$, '22023',
	'worst and best of component late must be finite numbers', 'worst and best are finite');
SELECT throws_ok($$SELECT health_score.add_component('late', 'band', 1, 0)$$, '22023',
	'component late cannot be computed from measure band', 'a component is computed from a numeric measure of the sources');
SELECT throws_ok($$SELECT health_score.add_component('support', 'overdue', 1, 0)$$, '42710',
	'component support already exists', 'a component name is new');
SELECT throws_ok($$SELECT health_score.add_rule('late', 'overdu > {max}', 'red', 'Call.', '{"max": 1}')$$, '42703',
	'the condition of rule late names an unknown measure "overdu"', 'a rule names measures');
SELECT throws_ok($$SELECT health_score.add_rule('late', 'overdue > {max}', 'red', 'Call.')$$, '42P02',
	'the condition of rule late uses parameter {max}, which its params do not set', 'a rule sets its parameters');
SELECT throws_ok($$SELECT health_score.add_rule('late', 'overdue > {max}', 'red', 'Call.', '{"max": 1, "mx": 2}')$$, '22023',
	'rule late has no parameter "mx"', 'and only those it uses');
SELECT throws_ok($$SELECT health_score.add_rule('late', 'overdue + {max}', 'red', 'Call.', '{"max": 1}')$$, '42804',
	'the condition of rule late must be a boolean expression, not one of type double precision', 'a condition is boolean');
SELECT throws_ok($$SELECT health_score.add_rule('late', 'overdue >', 'red', 'Call.')$$, '42601',
	'the condition of rule late is not valid: syntax error at or near ")"', 'a condition is SQL');
SELECT throws_ok($$SELECT health_score.add_rule('late', 'overdue > 1', 'purple', 'Call.')$$, '22023',
	'severity of rule late must be red, amber, info or opportunity, not ''purple''', 'a severity is one of four');
SELECT is((SELECT count(*)::integer FROM health_score.rule WHERE code = 'late') + (SELECT count(*)::integer FROM health_score.component WHERE name = 'late'),
	0, 'nothing was added');
SELECT throws_ok($$UPDATE health_score.profile SET rule_params = '{"licence_gap": {"above": 0.3}}'$$, '22023',
	'rule licence_gap has no parameter "above" (rule_params of profile default)', 'per-profile parameters are the rule''s');
SELECT throws_ok($$UPDATE health_score.profile SET rule_params = '{"licence_gap": {"below": "low"}}'$$, '22023',
	'parameter below of rule licence_gap must be a number, not "low" (rule_params of profile default)', 'of the same kind');
-- A query that fails, or returns an account twice, is named when a refresh runs it.
INSERT INTO accts VALUES ('a'), ('b');
SELECT health_score.add_measure('boom', 'SELECT account_id, 1 / (count(*) - count(*)) AS value FROM public.accts GROUP BY 1');
SELECT throws_ok($$SELECT health_score.refresh('2026-06-30')$$, '22012', 'refresh failed computing measure boom: division by zero',
	'a failing measure query is named');
SELECT health_score.drop_measure('boom');
SELECT health_score.add_measure('twice', 'SELECT account_id, 1 AS value FROM public.accts UNION ALL SELECT ''a'', 2');
SELECT throws_ok($$SELECT health_score.refresh('2026-06-30')$$, '21000', 'refresh failed computing measure twice: it returned account a more than once',
	'so is one that returns an account twice');
SELECT health_score.drop_measure('twice');
-- A built-in measure's windows are edited in place, within their bounds; what it is cannot change.
SELECT throws_ok($$UPDATE health_score.measure SET params = '{"days": 30, "weeks": 2}' WHERE name = 'new_users'$$, '22023',
	'measure new_users has no parameter "weeks"', 'a built-in measure takes only its own parameters');
SELECT throws_ok($$UPDATE health_score.measure SET params = '{"days": -1}' WHERE name = 'new_users'$$, '22023',
	'parameter days of measure new_users must be a number from 0 to 36500, not -1', 'a window is 0 to 36500 days');
SELECT throws_ok($$UPDATE health_score.measure SET params = '{}' WHERE name = 'new_users'$$, '22023',
	'params of measure new_users must keep every parameter it has', 'and none is dropped');
SELECT throws_ok($$UPDATE health_score.measure SET name = 'seat_count' WHERE name = 'seats'$$, '22023',
	'the name, kind, source and type of measure seats cannot change', 'a measure keeps its name and kind');
-- Open high-priority cases (priority in any case); a metric's NaN reads as NULL; a metric named like another
-- measure is left out (a warning), the measure keeps its kind.
CREATE TABLE cases (account_id text, opened_at timestamptz, closed_at timestamptz, priority text);
INSERT INTO cases VALUES ('a', '2026-06-01', NULL, 'High'), ('a', '2026-06-02', NULL, 'low'),
                         ('a', '2026-06-03', '2026-06-04', 'urgent'), ('b', '2026-06-05', NULL, NULL);
CREATE TABLE kpi_values (account_id text, metric text, value float8, measured_at timestamptz);
INSERT INTO kpi_values VALUES ('a', 'uptime', 'NaN', '2026-06-01'), ('b', 'uptime', 99.5, '2026-06-01'), ('a', 'cases_30d', 4, '2026-06-01');
SELECT health_score.add_source('support_cases', 'cases');
SELECT health_score.add_source('metrics', 'kpi_values');
SELECT health_score.refresh('2026-06-30');
DO $$ BEGIN PERFORM health_score._compute_scores('2026-06-30', true, 1); END $$;
SELECT results_eq($$SELECT account_id, open_cases, open_high_priority_cases, uptime FROM pg_temp.hs_m ORDER BY 1$$,
	$$VALUES ('a', 2::bigint, 1::bigint, NULL::float8), ('b', 1, 0, 99.5)$$,
	'open high-priority cases count High, not low or a closed urgent one; NaN is no value');
SELECT is((SELECT kind FROM health_score.measure WHERE name = 'cases_30d'), 'builtin',
	'a metric named like a built-in measure does not replace it');
-- rule_params may name a rule not there yet (as pg_restore loads profiles before rules): a warning.
SELECT lives_ok($$UPDATE health_score.profile SET rule_params = '{"later_rule": {"min": 1}}' WHERE name = 'default'$$,
	'rule_params naming a rule that does not exist yet are kept');
SELECT throws_ok($$SELECT health_score.drop_component('support')$$, '42809',
	'component support is built in', 'a built-in component cannot be dropped (weigh it 0 instead)');
SELECT throws_ok($$SELECT health_score.drop_measure('nothing_like_it')$$, '42704',
	'measure ''nothing_like_it'' does not exist', 'dropping an unknown measure says so');
SELECT throws_ok($$SELECT health_score.drop_measure('events_30d')$$, '42809',
	'measure events_30d is not one added with add_measure (it is of kind builtin)', 'a built-in measure cannot be dropped');

SELECT * FROM finish();
ROLLBACK;
