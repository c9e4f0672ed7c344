-- The demo's company generator (demo/company.sql) in a small size: the same seed gives the same data, another
-- seed other data, the sizes follow the parameters, and the data keeps its own rules (nothing after as_of or
-- after a cancellation, ratings 0-10, ...). pg_prove runs psql from the repository root, hence the path.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
\i demo/company.sql
SELECT plan(21);

-- A fingerprint of everything the generator writes.
CREATE TEMP TABLE prints (run text, relation text, md5 text, n bigint);
CREATE FUNCTION pg_temp.fingerprint(run text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO prints
	SELECT run, 'accounts', md5(string_agg(t::text, '|' ORDER BY t.account_id)), count(*) FROM demo.accounts t
	UNION ALL SELECT run, 'latent', md5(string_agg(t::text, '|' ORDER BY t.account_id)), count(*) FROM demo.latent t
	UNION ALL SELECT run, 'events', md5(string_agg(t::text, '|' ORDER BY t::text)), count(*) FROM demo.events t
	UNION ALL SELECT run, 'support_cases', md5(string_agg(t::text, '|' ORDER BY t.case_id)), count(*) FROM demo.support_cases t
	UNION ALL SELECT run, 'surveys', md5(string_agg(t::text, '|' ORDER BY t::text)), count(*) FROM demo.surveys t
	UNION ALL SELECT run, 'touchpoints', md5(string_agg(t::text, '|' ORDER BY t::text)), count(*) FROM demo.touchpoints t
	UNION ALL SELECT run, 'observations',
	                 md5(string_agg(format('%s %s %s %s %s %s', o.account_id, o.indicator, o.note, o.observed_by,
	                                       o.observed_at, o.resolved_at), '|'
	                                ORDER BY o.account_id, o.indicator, o.observed_at)), count(*)
	            FROM health_score.observation o;
$$;

SELECT is((SELECT count(*) FROM demo.generate_company(7, 120, 6, 30, '2026-03-01 00:00+00')), 6::bigint,
	'generate_company reports the rows written to its six tables');
SELECT pg_temp.fingerprint('first');
-- The same call again, with parallel plans forbidden this time: the data must not depend on row order.
SET LOCAL max_parallel_workers_per_gather = 0;
SELECT lives_ok($$SELECT * FROM demo.generate_company(7, 120, 6, 30, '2026-03-01 00:00+00')$$, 'runs again on its own output');
RESET max_parallel_workers_per_gather;
SELECT pg_temp.fingerprint('again');
SELECT * FROM demo.generate_company(8, 120, 6, 30, '2026-03-01 00:00+00');
SELECT pg_temp.fingerprint('other seed');

SELECT is(
	(SELECT string_agg(a.relation, ', ') FROM prints a JOIN prints b USING (relation)
	  WHERE a.run = 'first' AND b.run = 'again' AND (a.md5 IS DISTINCT FROM b.md5 OR a.n <> b.n)),
	NULL::text, 'same seed, same data in every table (observations included), whatever the plan');
SELECT is(
	(SELECT string_agg(a.relation, ', ') FROM prints a JOIN prints b USING (relation)
	  WHERE a.run = 'first' AND b.run = 'other seed' AND a.md5 = b.md5),
	NULL::text, 'another seed, other data in every table');
SELECT is((SELECT n FROM prints WHERE run = 'first' AND relation = 'accounts'), 120::bigint, 'accounts: as many as asked');
SELECT cmp_ok((SELECT n FROM prints WHERE run = 'first' AND relation = 'observations'), '>', 0::bigint,
	'a few observations are written');
SELECT cmp_ok((SELECT n FROM prints WHERE run = 'first' AND relation = v), '>', 0::bigint, format('%s are generated', v))
  FROM unnest(ARRAY['support_cases', 'surveys', 'touchpoints']) v;

-- Back to seed 7 for the checks on the data itself.
SELECT * FROM demo.generate_company(7, 120, 6, 30, '2026-03-01 00:00+00');
SELECT ok((SELECT count(*) FROM demo.events) BETWEEN 120 * 6 * 30 * 0.97 AND 120 * 6 * 30 * 1.03,
	'events: accounts x months x events_per_account_month, within 3%');
SELECT is((SELECT count(*) FROM demo.events e
            WHERE e.occurred_at >= '2026-03-01 00:00+00' OR e.occurred_at < timestamptz '2026-03-01 00:00+00' - interval '6 months'),
	0::bigint, 'every event falls inside the window of months before as_of');
SELECT is((SELECT count(*) FROM demo.events e JOIN demo.accounts a USING (account_id)
            WHERE e.occurred_at < a.started_at OR e.occurred_at >= a.cancelled_at),
	0::bigint, 'no activity before an account started or after it cancelled');
SELECT is((SELECT count(*) FROM demo.accounts WHERE cancelled_at <= started_at OR cancelled_at > '2026-03-01 00:00+00'
            OR started_at >= '2026-03-01 00:00+00'),
	0::bigint, 'accounts start before as_of; cancellations fall after the start and not after as_of');
SELECT is((SELECT count(*) FROM demo.accounts WHERE (cancelled_at IS NULL) <> (lifecycle_stage <> 'churned')),
	0::bigint, 'cancelled accounts, and only they, are in the churned stage');
SELECT is((SELECT count(*) FROM demo.accounts WHERE cancelled_at IS NULL AND renewal_date < '2026-03-01'),
	0::bigint, 'active accounts renew on or after as_of');
SELECT is((SELECT count(*) FROM demo.support_cases WHERE closed_at < opened_at OR closed_at > '2026-03-01 00:00+00'),
	0::bigint, 'cases close after they open, and not after as_of (still open then: closed_at NULL)');
SELECT results_eq(
	$$SELECT count(DISTINCT segment), count(DISTINCT owner), count(DISTINCT plan) FROM demo.accounts$$,
	$$VALUES (3::bigint, 8::bigint, 4::bigint)$$, 'three segments, eight owners, four plans');
SELECT is((SELECT count(*) FROM demo.events e JOIN demo.accounts a USING (account_id)
            WHERE e.user_id / 10000 <> a.account_id OR e.user_id % 10000 > a.seats * 2),
	0::bigint, 'users belong to their account, and there are no more of them than twice its seats');

-- The latent health drives cancellations (plus noise): at a larger size, accounts that cancelled were weaker.
SELECT * FROM demo.generate_company(11, 600, 12, 2, '2026-03-01 00:00+00');
SELECT cmp_ok(
	(SELECT avg(l.health) FROM demo.latent l JOIN demo.accounts a USING (account_id) WHERE a.cancelled_at IS NULL)
	- (SELECT avg(l.health) FROM demo.latent l JOIN demo.accounts a USING (account_id) WHERE a.cancelled_at IS NOT NULL),
	'>', 0.05::float8, 'cancelled accounts had a clearly lower latent health than those that stayed');
SELECT cmp_ok(
	(SELECT count(*) FROM demo.accounts a JOIN demo.latent l USING (account_id)
	  WHERE a.cancelled_at IS NOT NULL AND l.cancel_reason = 'decline'),
	'>', (SELECT count(*) FROM demo.accounts a JOIN demo.latent l USING (account_id)
	       WHERE a.cancelled_at IS NOT NULL AND l.cancel_reason = 'noise'),
	'most cancellations follow a visible decline, fewer are noise');

SELECT throws_ok($$SELECT * FROM demo.generate_company(1, 0)$$, '22023', NULL, 'zero accounts is refused');

SELECT * FROM finish();
ROLLBACK;
