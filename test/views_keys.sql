-- The views carry the accounts source's key type, so they join to the user's own tables without casts:
-- a bigint-keyed and a uuid-keyed accounts table (and text). They appear with the accounts source and go
-- with it.
BEGIN;
CREATE EXTENSION health_score;
SELECT plan(24);

SELECT hasnt_view('health_score', 'account_overview', 'no accounts source yet: no views');
SELECT ok((SELECT p.proacl IS NOT NULL
                  AND NOT EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
             FROM pg_proc p WHERE p.oid = 'health_score.rebuild_views()'::regprocedure),
	'rebuild_views() is not executable by PUBLIC');

-- bigint keys --------------------------------------------------------------------------------------------------
CREATE TABLE public.customers (id bigint PRIMARY KEY, name text, arr numeric);
CREATE TABLE public.invoices (invoice_no integer PRIMARY KEY, customer_id bigint, amount numeric, due date);
INSERT INTO public.customers VALUES (41, 'Big', 100000), (42, 'Small', 1000);
INSERT INTO public.invoices VALUES (1, 41, 25000, '2026-07-01'), (2, 41, 25000, '2026-10-01'), (3, 42, 1000, '2026-07-01'),
	(4, 43, 500, '2026-07-01');
SELECT health_score.add_source('accounts', 'public.customers', '{"account_id": "id"}');
SELECT has_view('health_score', v, format('%s exists once the accounts source is registered', v))
  FROM unnest(ARRAY['account_overview', 'band_breakdown', 'health_trend', 'cancellation_trend', 'owner_workload',
                    'at_risk_accounts', 'revenue_at_risk', 'plays']) v;
INSERT INTO health_score.account_health (account_id, name, arr, profile, score, band, as_of) VALUES
	('41', 'Big', 100000, 'default', 30, 'poor', '2026-06-30'),
	('42', 'Small', 1000, 'default', 80, 'good', '2026-06-30');
INSERT INTO health_score.flag (account_id, rule, severity, raised_at, updated_at) VALUES
	('42', 'over_licensed', 'opportunity', '2026-06-30', '2026-06-30');

SELECT col_type_is('health_score', v, 'account_id', 'bigint', format('%s.account_id is bigint', v))
  FROM unnest(ARRAY['account_overview', 'at_risk_accounts', 'plays']) v;
-- The join a RevOps analyst writes: open invoices of accounts at risk, no cast anywhere.
SELECT results_eq(
	$$SELECT r.name, sum(i.amount) FROM health_score.at_risk_accounts r
	    JOIN public.invoices i ON i.customer_id = r.account_id GROUP BY r.name$$,
	$$VALUES ('Big', 50000::numeric)$$, 'at_risk_accounts joins a bigint-keyed invoices table without a cast');
SELECT results_eq(
	$$SELECT c.name, o.band::text FROM public.customers c JOIN health_score.account_overview o ON o.account_id = c.id
	   ORDER BY c.id$$,
	$$VALUES ('Big', 'poor'), ('Small', 'good')$$, 'account_overview joins the bigint accounts table without a cast');
SELECT results_eq(
	$$SELECT p.account_id, p.rule FROM health_score.plays p JOIN public.customers c ON c.id = p.account_id$$,
	$$VALUES (42::bigint, 'over_licensed')$$, 'plays joins too');

-- A user's own view on top of ours stops a rebuild with an error instead of vanishing with it.
CREATE VIEW public.my_report AS SELECT account_id, score FROM health_score.account_overview;
SELECT throws_ok($$SELECT health_score.drop_source('accounts', 'public.customers')$$, '2BP01', NULL,
	'dropping the accounts source fails while a user''s view depends on the views');
DROP VIEW public.my_report;

-- uuid keys ----------------------------------------------------------------------------------------------------
SELECT is(health_score.drop_source('accounts', 'public.customers'), true, 'the accounts source is dropped');
SELECT hasnt_view('health_score', 'at_risk_accounts', 'and the views go with it');
DELETE FROM health_score.account_health;
DELETE FROM health_score.flag;
CREATE TABLE public.tenants (tenant uuid PRIMARY KEY, name text);
CREATE TABLE public.tenant_invoices (tenant uuid, amount numeric);
INSERT INTO public.tenants VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'Uno'), ('b1ffcd00-0d1c-4ef8-bb6d-6bb9bd380a22', 'Dos');
INSERT INTO public.tenant_invoices VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 700), ('b1ffcd00-0d1c-4ef8-bb6d-6bb9bd380a22', 300);
SELECT health_score.add_source('accounts', 'public.tenants', '{"account_id": "tenant"}');
INSERT INTO health_score.account_health (account_id, name, profile, score, band, as_of) VALUES
	('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'Uno', 'default', 10, 'poor', '2026-06-30'),
	('b1ffcd00-0d1c-4ef8-bb6d-6bb9bd380a22', 'Dos', 'default', 90, 'good', '2026-06-30');
SELECT col_type_is('health_score', 'account_overview', 'account_id', 'uuid', 'with a uuid accounts source, account_id is uuid');
SELECT results_eq(
	$$SELECT o.name, i.amount FROM health_score.at_risk_accounts o JOIN public.tenant_invoices i ON i.tenant = o.account_id$$,
	$$VALUES ('Uno', 700::numeric)$$, 'at_risk_accounts joins a uuid-keyed table without a cast');
SELECT results_eq(
	$$SELECT t.name FROM public.tenants t JOIN health_score.account_overview o ON o.account_id = t.tenant WHERE o.at_risk$$,
	$$VALUES ('Uno')$$, 'account_overview joins the uuid accounts table without a cast');

-- text keys: no cast at all
SELECT health_score.drop_source('accounts', 'public.tenants');
DELETE FROM health_score.account_health;
CREATE TABLE public.orgs (slug text PRIMARY KEY);
INSERT INTO public.orgs VALUES ('acme'), ('globex');
SELECT health_score.add_source('accounts', 'public.orgs', '{"account_id": "slug"}');
INSERT INTO health_score.account_health (account_id, profile, score, band, as_of)
VALUES ('globex', 'default', 20, 'poor', '2026-06-30');
SELECT col_type_is('health_score', 'account_overview', 'account_id', 'text', 'with a text accounts source, account_id is text');
SELECT results_eq(
	$$SELECT g.slug FROM public.orgs g JOIN health_score.at_risk_accounts r ON r.account_id = g.slug$$,
	$$VALUES ('globex')$$, 'and joins the text accounts table');

SELECT * FROM finish();
ROLLBACK;
