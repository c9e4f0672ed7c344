-- The executive views. They cast account keys back to the accounts source's type, so they are (re)built
-- by rebuild_views() whenever the accounts source is registered or dropped: the views appear when the
-- accounts source is registered. Being created at run time they are not members of the extension (pg_dump
-- dumps them as ordinary views; DROP EXTENSION needs CASCADE once they exist).

-- Percentages of a set of counts, rounded to `decimals` places (0 to 15) by the largest-remainder method, so
-- that they add up to exactly 100 (a breakdown of 1, 1, 1 is 33.4, 33.3, 33.3, never 33.3 three times). NULL
-- counts count as 0; when the counts add up to 0 every percentage is NULL. Negative counts are rejected.
CREATE FUNCTION health_score.percentages(counts bigint[], decimals integer DEFAULT 1) RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF decimals IS NULL OR decimals < 0 OR decimals > 15 THEN
		RAISE EXCEPTION 'decimals must be from 0 to 15, not %', coalesce(decimals::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Pass the decimal places of the percentages: 1 gives 33.3.';
	END IF;
	IF 0 > ANY (counts) THEN
		RAISE EXCEPTION 'counts must not be negative: %', counts
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN (
		SELECT pg_catalog.array_agg(
		         CASE WHEN y.total > 0 THEN
		           pg_catalog.round((y.fl + CASE WHEN y.rk <= y.units - y.sum_fl THEN 1 ELSE 0 END) / y.scale, decimals)
		         END ORDER BY y.i)
		  FROM (SELECT x.i, x.fl, x.total, x.scale, x.units,
		               pg_catalog.row_number() OVER (ORDER BY x.t - x.fl DESC, x.i) AS rk,
		               pg_catalog.sum(x.fl) OVER () AS sum_fl
		          FROM (SELECT u.i, s.total, s.scale, 100 * s.scale AS units,
		                       100 * s.scale * coalesce(u.c, 0) / nullif(s.total, 0) AS t,
		                       pg_catalog.floor(100 * s.scale * coalesce(u.c, 0)
		                                        / nullif(s.total, 0)) AS fl
		                  FROM pg_catalog.unnest(counts) WITH ORDINALITY AS u(c, i),
		                       (SELECT pg_catalog.sum(coalesce(c, 0))::numeric AS total,
		                               pg_catalog.power(10::numeric, decimals) AS scale
		                          FROM pg_catalog.unnest(counts) AS c) s) x) y);
END
$$;
COMMENT ON FUNCTION health_score.percentages(bigint[], integer) IS
	'percentages of the counts rounded by the largest-remainder method so they add up to exactly 100';

-- A rule's description with its `parameter` placeholders filled in from vals (the flag's evidence over the
-- rule's parameters): 'No activity for `days` days' becomes 'No activity for 30 days'. Placeholders without a
-- scalar value keep their name, without the backquotes.
CREATE FUNCTION health_score.rule_text(description text, vals jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	kv record;
	result text := description;
BEGIN
	IF result IS NULL OR pg_catalog.strpos(result, '`') = 0 THEN
		RETURN result;
	END IF;
	IF pg_catalog.jsonb_typeof(vals) = 'object' THEN
		FOR kv IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(vals) e
		           WHERE pg_catalog.jsonb_typeof(e.value) IN ('number', 'string', 'boolean') LOOP
			result := pg_catalog.replace(result, '`' || kv.key || '`', kv.value #>> '{}');
		END LOOP;
	END IF;
	RETURN pg_catalog.regexp_replace(result, '`([^`]*)`', '\1', 'g');
END
$$;
COMMENT ON FUNCTION health_score.rule_text(text, jsonb) IS
	'a rule description with its `parameter` placeholders replaced by the values in vals';

-- Drops the executive views and, when an accounts source is registered, creates them again with account_id
-- of the accounts source's key type. Called by add_source/drop_source of the accounts source; safe to call by
-- hand. Fails (rather than cascading) when a user's own object depends on one of the views.
CREATE FUNCTION health_score.rebuild_views() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	src record;
	k text;             -- the accounts source's key type, validated through regtype
	c_started text;     -- expressions over the accounts relation (alias a), NULL when the column is absent
	c_cancelled text;
	c_arr text;
	open_flags text;    -- per-account summary of open flags, shared by several views
	history_30d text;   -- the lateral lookup of the score 30 days before as_of
	visible text;       -- the keys of the accounts the invoking role may see in the accounts source
	r record;
BEGIN
	-- Drop only what exists (no NOTICE per missing view); without CASCADE, so a user's own view built on one
	-- of these stops the rebuild with an error that names it instead of disappearing silently.
	FOR r IN
		SELECT v.name FROM pg_catalog.unnest(ARRAY['score_changes', 'plays', 'revenue_at_risk', 'at_risk_accounts', 'owner_workload',
		           'cancellation_trend', 'health_trend', 'band_breakdown', 'account_overview']) AS v(name)
		 WHERE pg_catalog.to_regclass('health_score.' || pg_catalog.quote_ident(v.name)) IS NOT NULL
	LOOP
		EXECUTE format('DROP VIEW health_score.%I', r.name);
	END LOOP;

	SELECT s.relation, s.columns, s.key_type INTO src
	  FROM health_score.sources s WHERE s.kind = 'accounts';
	IF NOT FOUND THEN
		RETURN;
	END IF;

	k := src.key_type::regtype::text;
	c_started := CASE WHEN src.columns ? 'started_at'
		THEN format('(a.%I)::timestamptz', src.columns ->> 'started_at') ELSE 'NULL::timestamptz' END;
	c_cancelled := CASE WHEN src.columns ? 'cancelled_at'
		THEN format('(a.%I)::timestamptz', src.columns ->> 'cancelled_at') ELSE 'NULL::timestamptz' END;
	c_arr := CASE WHEN src.columns ? 'arr'
		THEN format('(a.%I)::numeric', src.columns ->> 'arr') ELSE 'NULL::numeric' END;

	-- Every view showing accounts, or figures over them, shows only those the role querying it may read in
	-- the accounts source (its privileges, row-level security, the source view's own filter): the views run
	-- with the invoker's rights (security_invoker), and the extension's own tables hold every account.
	visible := format('SELECT (v.%I)::%s::text FROM %s v', src.columns ->> 'account_id',
	                  health_score._key_type(src.key_type::regtype), src.relation);

	-- Open red and amber flags per account, for the views that aggregate over all accounts.
	open_flags := $q$
		SELECT f.account_id,
		       pg_catalog.count(*) FILTER (WHERE f.severity = 'red') AS red,
		       pg_catalog.count(*) FILTER (WHERE f.severity = 'amber') AS amber
		  FROM health_score.flag f
		 WHERE f.cleared_at IS NULL AND f.severity IN ('red', 'amber')
		 GROUP BY f.account_id$q$;
	history_30d := $q$
		LEFT JOIN LATERAL (
			SELECT hh.day, hh.score
			  FROM health_score.health_history hh
			 WHERE hh.account_id = h.account_id
			   AND hh.day <= (h.as_of - interval '30 days')::date
			 ORDER BY hh.day DESC
			 LIMIT 1) p ON true$q$;

	EXECUTE format($q$
CREATE VIEW health_score.account_overview WITH (security_invoker = true) AS
SELECT h.account_id::%1$s AS account_id,
       h.name, h.segment, h.lifecycle_stage, h.plan, h.owner, h.seats, h.arr, h.renewal_date,
       h.renewal_date - (h.as_of)::date AS days_to_renewal,
       h.profile, h.score, h.band,
       h.engagement, h.utilisation, h.adoption, h.support, h.sentiment, h.relationship,
       p.score AS score_30d_ago,
       p.day AS score_30d_ago_day,
       h.score - p.score AS score_change_30d,
       coalesce(f.codes, '{}'::text[]) AS open_flags,
       coalesce(f.red, 0) AS open_red_flags,
       coalesce(f.amber, 0) AS open_amber_flags,
       (coalesce(h.band = 'poor', false) OR coalesce(f.red, 0) > 0) AS at_risk,
       h.as_of, h.refreshed_at,
       h.computed_score,
       o.score IS NOT NULL AS overridden,
       o.set_by AS overridden_by,
       o.reason AS override_reason,
       o.expires_at AS override_expires_at,
       h.stale_sources,
       pg_catalog.cardinality(h.stale_sources) > 0 AS stale
  FROM health_score.account_health h
  %2$s
  -- the override behind the row's score: refresh() applies one in force at as_of, set_override at once
  LEFT JOIN health_score.override o
         ON o.account_id = h.account_id AND o.expires_at > h.as_of AND o.score = h.score
  LEFT JOIN LATERAL (
	SELECT pg_catalog.array_agg(x.rule ORDER BY pg_catalog.array_position(
	           ARRAY['red', 'amber', 'opportunity', 'info']::text[], x.severity), x.rule) AS codes,
	       pg_catalog.count(*) FILTER (WHERE x.severity = 'red') AS red,
	       pg_catalog.count(*) FILTER (WHERE x.severity = 'amber') AS amber
	  FROM health_score.flag x
	 WHERE x.account_id = h.account_id AND x.cleared_at IS NULL) f ON true
 WHERE h.account_id IN (%3$s)
$q$, k, history_30d, visible);

	EXECUTE format($q$
CREATE VIEW health_score.band_breakdown WITH (security_invoker = true) AS
SELECT g.dimension, g.value, g.accounts, g.good, g.average, g.poor,
       pc.p[1] AS good_pct, pc.p[2] AS average_pct, pc.p[3] AS poor_pct,
       g.arr, g.arr_good, g.arr_average, g.arr_poor
  FROM (SELECT CASE WHEN grouping(h.segment) = 0 THEN 'segment'
                    WHEN grouping(h.plan) = 0 THEN 'plan'
                    WHEN grouping(h.lifecycle_stage) = 0 THEN 'lifecycle_stage'
                    WHEN grouping(h.owner) = 0 THEN 'owner'
                    ELSE 'all' END AS dimension,
               CASE WHEN grouping(h.segment) = 0 THEN h.segment
                    WHEN grouping(h.plan) = 0 THEN h.plan
                    WHEN grouping(h.lifecycle_stage) = 0 THEN h.lifecycle_stage
                    WHEN grouping(h.owner) = 0 THEN h.owner
                    ELSE 'all' END AS value,
               pg_catalog.count(h.band) AS accounts,
               pg_catalog.count(*) FILTER (WHERE h.band = 'good') AS good,
               pg_catalog.count(*) FILTER (WHERE h.band = 'average') AS average,
               pg_catalog.count(*) FILTER (WHERE h.band = 'poor') AS poor,
               coalesce(pg_catalog.sum(h.arr) FILTER (WHERE h.band IS NOT NULL), 0) AS arr,
               coalesce(pg_catalog.sum(h.arr) FILTER (WHERE h.band = 'good'), 0) AS arr_good,
               coalesce(pg_catalog.sum(h.arr) FILTER (WHERE h.band = 'average'), 0) AS arr_average,
               coalesce(pg_catalog.sum(h.arr) FILTER (WHERE h.band = 'poor'), 0) AS arr_poor
          FROM health_score.account_health h
         WHERE h.account_id IN (%1$s)
         GROUP BY GROUPING SETS ((), (h.segment), (h.plan), (h.lifecycle_stage), (h.owner))) g,
       LATERAL (SELECT health_score.percentages(ARRAY[g.good, g.average, g.poor]) AS p) pc
$q$, visible);

	EXECUTE format($q$
CREATE VIEW health_score.health_trend WITH (security_invoker = true) AS
SELECT g.day, g.accounts, g.average_score, g.good, g.average, g.poor,
       pc.p[1] AS good_pct, pc.p[2] AS average_pct, pc.p[3] AS poor_pct,
       g.arr, g.arr_poor
  FROM (SELECT hh.day,
               pg_catalog.count(hh.band) AS accounts,
               pg_catalog.round(pg_catalog.avg(hh.score)::numeric, 1) AS average_score,
               pg_catalog.count(*) FILTER (WHERE hh.band = 'good') AS good,
               pg_catalog.count(*) FILTER (WHERE hh.band = 'average') AS average,
               pg_catalog.count(*) FILTER (WHERE hh.band = 'poor') AS poor,
               coalesce(pg_catalog.sum(hh.arr) FILTER (WHERE hh.band IS NOT NULL), 0) AS arr,
               coalesce(pg_catalog.sum(hh.arr) FILTER (WHERE hh.band = 'poor'), 0) AS arr_poor
          FROM health_score.health_history hh
         WHERE hh.account_id IN (%1$s)
         GROUP BY hh.day) g,
       LATERAL (SELECT health_score.percentages(ARRAY[g.good, g.average, g.poor]) AS p) pc
$q$, visible);

	-- Months run from the first month any account started or cancelled to the current month. An account
	-- counts as active at the start of a month when it started before that month (or has no start date) and
	-- had not cancelled before it; a cancellation dated before its start counts at the start.
	EXECUTE format($q$
CREATE VIEW health_score.cancellation_trend WITH (security_invoker = true) AS
WITH a AS (
	SELECT %1$s AS started_at,
	       CASE WHEN %2$s IS NOT NULL THEN greatest(%2$s, %1$s) END AS cancelled_at,
	       %3$s AS arr
	  FROM %4$s a
	 -- also ties the view to the extension, so DROP EXTENSION ... CASCADE takes it along
	 WHERE EXISTS (SELECT FROM health_score.sources s WHERE s.kind = 'accounts')
), months AS (
	SELECT m::date AS month
	  FROM (SELECT pg_catalog.date_trunc('month', least(pg_catalog.min(a.started_at),
	                   pg_catalog.min(a.cancelled_at), pg_catalog.now())) AS first_month
	          FROM a) b,
	       pg_catalog.generate_series(b.first_month, pg_catalog.date_trunc('month', pg_catalog.now()),
	                                  interval '1 month') m
), starts AS (
	SELECT pg_catalog.date_trunc('month', a.started_at)::date AS month, pg_catalog.count(*) AS n
	  FROM a WHERE a.started_at IS NOT NULL GROUP BY 1
), cancels AS (
	SELECT pg_catalog.date_trunc('month', a.cancelled_at)::date AS month, pg_catalog.count(*) AS n,
	       pg_catalog.sum(a.arr) AS arr
	  FROM a WHERE a.cancelled_at IS NOT NULL GROUP BY 1
), base AS (
	SELECT pg_catalog.count(*) AS n FROM a WHERE a.started_at IS NULL
), monthly AS (
	SELECT m.month,
	       base.n
	       + coalesce(pg_catalog.sum(s.n) OVER w, 0)
	       - coalesce(pg_catalog.sum(c.n) OVER w, 0) AS active_at_start,
	       coalesce(c.n, 0) AS cancellations,
	       coalesce(c.arr, 0) AS arr_cancelled
	  FROM months m
	  CROSS JOIN base
	  LEFT JOIN starts s ON s.month = m.month
	  LEFT JOIN cancels c ON c.month = m.month
	WINDOW w AS (ORDER BY m.month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), rated AS (
	SELECT mo.*,
	       pg_catalog.round(100.0 * mo.cancellations / nullif(mo.active_at_start, 0), 2)
	           AS cancellation_rate
	  FROM monthly mo
)
SELECT r.month, r.active_at_start::bigint AS active_at_start, r.cancellations, r.cancellation_rate,
       r.arr_cancelled,
       r.cancellations - pg_catalog.lag(r.cancellations) OVER w AS cancellations_change,
       r.cancellation_rate - pg_catalog.lag(r.cancellation_rate) OVER w AS rate_change,
       CASE WHEN r.cancellation_rate > pg_catalog.lag(r.cancellation_rate) OVER w THEN 'up'
            WHEN r.cancellation_rate < pg_catalog.lag(r.cancellation_rate) OVER w THEN 'down'
            WHEN r.cancellation_rate = pg_catalog.lag(r.cancellation_rate) OVER w THEN 'flat'
       END AS direction,
       (r.month + interval '1 month') <= pg_catalog.now() AS complete
  FROM rated r
WINDOW w AS (ORDER BY r.month)
$q$, c_started, c_cancelled, c_arr, src.relation);

	-- "Notably more poor accounts": a poor share at least 1.5 times the team's, with at least 2 poor accounts.
	-- Compared in integers (2 · poor · team_accounts >= 3 · team_poor · accounts), so no rounding decides it.
	EXECUTE format($q$
CREATE VIEW health_score.owner_workload WITH (security_invoker = true) AS
WITH a AS (
	SELECT h.owner, h.band, h.score, h.arr,
	       coalesce(f.red, 0) AS red,
	       (coalesce(h.band = 'poor', false) OR coalesce(f.red, 0) > 0) AS at_risk
	  FROM health_score.account_health h
	  LEFT JOIN (%1$s) f ON f.account_id = h.account_id
	 WHERE h.account_id IN (%2$s)
), o AS (
	SELECT a.owner,
	       pg_catalog.count(*) AS accounts,
	       pg_catalog.count(*) FILTER (WHERE a.band = 'poor') AS poor,
	       pg_catalog.round(pg_catalog.avg(a.score)::numeric, 1) AS average_score,
	       pg_catalog.sum(a.red)::bigint AS open_red_flags,
	       pg_catalog.count(*) FILTER (WHERE a.at_risk) AS at_risk_accounts,
	       coalesce(pg_catalog.sum(a.arr), 0) AS arr,
	       coalesce(pg_catalog.sum(a.arr) FILTER (WHERE a.at_risk), 0) AS arr_at_risk
	  FROM a GROUP BY a.owner
), t AS (
	SELECT pg_catalog.sum(o.accounts) AS accounts, pg_catalog.sum(o.poor) AS poor FROM o
)
SELECT o.owner, o.accounts, o.poor,
       pg_catalog.round(100.0 * o.poor / o.accounts, 1) AS poor_pct,
       pg_catalog.round(100.0 * t.poor / t.accounts, 1) AS team_poor_pct,
       o.average_score, o.open_red_flags, o.at_risk_accounts, o.arr, o.arr_at_risk,
       (o.poor >= 2 AND 2 * o.poor * t.accounts >= 3 * t.poor * o.accounts) AS notably_more_poor
  FROM o CROSS JOIN t
$q$, open_flags, visible);

	-- The weekly review list: red and amber flags explain the risk; info and opportunity flags are plays.
	-- The accounts at risk are picked first (band poor, or an open red flag through the flag_open index), and
	-- each flag's reason is its rule's description with the thresholds that applied to it (its evidence).
	EXECUTE format($q$
CREATE VIEW health_score.at_risk_accounts WITH (security_invoker = true) AS
WITH ru AS MATERIALIZED (
	SELECT r.code, r.action, r.description, r.params
	  FROM health_score.rule r
)
SELECT pg_catalog.row_number() OVER (ORDER BY h.arr DESC NULLS LAST, h.score NULLS FIRST, h.account_id)
           AS rank,
       h.account_id::%1$s AS account_id,
       h.name, h.segment, h.plan, h.owner, h.arr, h.renewal_date,
       h.renewal_date - (h.as_of)::date AS days_to_renewal,
       h.score, h.band,
       h.score - p.score AS score_change_30d,
       coalesce(f.red, 0) AS red_flags,
       coalesce(f.amber, 0) AS amber_flags,
       coalesce(f.codes, '{}'::text[]) AS flags,
       CASE WHEN h.band = 'poor'
            THEN ARRAY[pg_catalog.format('score %%s is in the poor band (below %%s)',
                                         pg_catalog.round(h.score::numeric, 1), pr.poor_below)]
            ELSE '{}'::text[] END
       || coalesce(f.reasons, '{}'::text[]) AS reasons,
       coalesce(f.actions, '{}'::text[]) AS actions,
       coalesce(f.evidence, '{}'::jsonb) AS evidence,
       h.as_of
  FROM health_score.account_health h
  LEFT JOIN health_score.profile pr ON pr.name = h.profile
  LEFT JOIN LATERAL (
	SELECT pg_catalog.array_agg(fl.rule ORDER BY fl.ord, fl.rule) AS codes,
	       pg_catalog.count(*) FILTER (WHERE fl.severity = 'red') AS red,
	       pg_catalog.count(*) FILTER (WHERE fl.severity = 'amber') AS amber,
	       -- the thresholds as they applied to the account (its profile's), from the evidence
	       pg_catalog.array_agg(coalesce(health_score.rule_text(ru.description, ru.params || fl.evidence), fl.rule)
	                            ORDER BY fl.ord, fl.rule) AS reasons,
	       pg_catalog.array_agg(coalesce(fl.action, ru.action) ORDER BY fl.ord, fl.rule)
	           FILTER (WHERE coalesce(fl.action, ru.action) IS NOT NULL) AS actions,
	       pg_catalog.jsonb_object_agg(fl.rule, fl.evidence) AS evidence
	  FROM (SELECT x.rule, x.severity, x.action, x.evidence,
	               pg_catalog.array_position(ARRAY['red', 'amber']::text[], x.severity) AS ord
	          FROM health_score.flag x
	         WHERE x.account_id = h.account_id AND x.cleared_at IS NULL
	           AND x.severity IN ('red', 'amber')) fl
	  LEFT JOIN ru ON ru.code = fl.rule
  ) f ON true
  %2$s
 WHERE (h.band = 'poor'
        OR EXISTS (SELECT FROM health_score.flag y
                    WHERE y.account_id = h.account_id AND y.cleared_at IS NULL AND y.severity = 'red'))
   AND h.account_id IN (%3$s)
 ORDER BY h.arr DESC NULLS LAST, h.score NULLS FIRST, h.account_id
$q$, k, history_30d, visible);

	-- Each scored account in exactly one band (or 'unscored') and one open-flag severity (its worst red or
	-- amber flag, else 'none'); 'all' rows are the totals, so the view is a pivotable cube.
	EXECUTE format($q$
CREATE VIEW health_score.revenue_at_risk WITH (security_invoker = true) AS
WITH a AS (
	SELECT coalesce(h.band::text, 'unscored') AS band,
	       CASE WHEN f.red > 0 THEN 'red' WHEN f.amber > 0 THEN 'amber' ELSE 'none' END AS severity,
	       h.arr
	  FROM health_score.account_health h
	  LEFT JOIN (SELECT x.account_id,
	                    pg_catalog.count(*) FILTER (WHERE x.severity = 'red') AS red,
	                    pg_catalog.count(*) FILTER (WHERE x.severity = 'amber') AS amber
	               FROM health_score.flag x
	              WHERE x.cleared_at IS NULL AND x.severity IN ('red', 'amber')
	              GROUP BY x.account_id) f ON f.account_id = h.account_id
	 WHERE h.account_id IN (%1$s)
), c AS (
	SELECT CASE WHEN grouping(a.band) = 0 THEN a.band ELSE 'all' END AS band,
	       CASE WHEN grouping(a.severity) = 0 THEN a.severity ELSE 'all' END AS open_flag_severity,
	       pg_catalog.count(*) AS accounts,
	       coalesce(pg_catalog.sum(a.arr), 0) AS arr
	  FROM a
	 GROUP BY CUBE (a.band, a.severity)
)
SELECT c.band, c.open_flag_severity, c.accounts, c.arr,
       pg_catalog.round(100.0 * c.accounts / nullif(t.accounts, 0), 1) AS accounts_pct,
       pg_catalog.round(100.0 * c.arr / nullif(t.arr, 0), 1) AS arr_pct,
       (c.band = 'poor' OR c.open_flag_severity = 'red') AS at_risk
  FROM c
  CROSS JOIN (SELECT c2.accounts, c2.arr FROM c c2 WHERE c2.band = 'all' AND c2.open_flag_severity = 'all') t
$q$, visible);

	EXECUTE format($q$
CREATE VIEW health_score.plays WITH (security_invoker = true) AS
WITH ru AS MATERIALIZED (
	SELECT r.code, r.action, r.description, r.params
	  FROM health_score.rule r
)
SELECT f.id AS flag_id,
       h.account_id::%1$s AS account_id,
       h.name, h.segment, h.plan, h.owner, h.arr, h.renewal_date, h.score, h.band,
       f.rule, f.severity, coalesce(health_score.rule_text(ru.description, ru.params || f.evidence), f.rule) AS description,
       f.raised_at, f.updated_at, f.evidence,
       coalesce(f.action, ru.action) AS action
  FROM health_score.flag f
  JOIN health_score.account_health h ON h.account_id = f.account_id
  LEFT JOIN ru ON ru.code = f.rule
 WHERE f.cleared_at IS NULL AND f.severity IN ('info', 'opportunity')
   AND h.account_id IN (%2$s)
$q$, k, visible);

	EXECUTE format($q$
CREATE VIEW health_score.score_changes WITH (security_invoker = true) AS
SELECT h.account_id::%1$s AS account_id, h.name, h.owner,
       p.day AS from_day, c.day AS to_day, p.score AS score_from, c.score AS score_to,
       c.score - p.score AS change,
       d.component AS driver, d.contribution AS driver_contribution,
       h.inputs -> d.component AS driver_measures
  FROM health_score.account_health h
  JOIN health_score.health_history c ON c.account_id = h.account_id AND c.day = (h.as_of)::date
  JOIN LATERAL (
	SELECT hh.day, hh.score, hh AS r FROM health_score.health_history hh
	 WHERE hh.account_id = h.account_id AND hh.day <= (h.as_of - interval '30 days')::date
	 ORDER BY hh.day DESC LIMIT 1) p ON true
  LEFT JOIN LATERAL (
	SELECT x.component, x.contribution FROM health_score._score_contributions(p.r, c) x
	 ORDER BY pg_catalog.abs(x.contribution) DESC NULLS LAST, x.component LIMIT 1) d ON true
 WHERE h.account_id IN (%2$s) AND c.score IS DISTINCT FROM p.score
 ORDER BY pg_catalog.abs(c.score - p.score) DESC NULLS LAST, h.account_id
$q$, k, visible);

	FOR r IN
		SELECT v.view, v.comment FROM (VALUES
		('account_overview', 'one row per scored, non-cancelled account: its score, band, components, 30-day change and open flags; account_id has the accounts source''s type'),
		('band_breakdown', 'accounts and ARR in each health band, overall (dimension ''all'') and by segment, plan, lifecycle_stage and owner'),
		('health_trend', 'per day of health_history: accounts scored, average score and band counts, to chart overall health'),
		('cancellation_trend', 'per calendar month, from the accounts source itself: accounts active at the start, cancellations, rate and ARR cancelled, with the change against the previous month'),
		('owner_workload', 'per customer-success manager (owner): accounts, poor accounts and their share against the team''s, open red flags and ARR at risk'),
		('at_risk_accounts', 'accounts at risk (poor band or an open red flag) with their open red and amber flags, reasons, evidence and recommended actions, largest ARR first: the weekly review list'),
		('revenue_at_risk', 'accounts and ARR by health band and by the worst severity of their open red/amber flags, with ''all'' totals in both directions'),
		('plays', 'open info and opportunity flags (new users to train, features adopted, upsell) with their recommended actions'),
		('score_changes', 'accounts whose score moved in the 30 days to as_of, largest move first, with the component that drove it (explain() gives every component)')
		) v(view, comment)
	LOOP
		EXECUTE format('COMMENT ON VIEW health_score.%I IS %L', r.view, r.comment);
	END LOOP;

	FOR r IN
		SELECT c.view, c.col, c.comment FROM (VALUES
		-- account_overview
		('account_overview', 'account_id', 'the account''s key, of the accounts source''s own type, so it joins to your tables without a cast'),
		('account_overview', 'name', 'account name, from the accounts source'),
		('account_overview', 'segment', 'segment, from the accounts source'),
		('account_overview', 'lifecycle_stage', 'lifecycle stage, from the accounts source'),
		('account_overview', 'plan', 'plan, from the accounts source'),
		('account_overview', 'owner', 'customer-success manager who owns the account, from the accounts source'),
		('account_overview', 'seats', 'purchased seats (licences), from the accounts source'),
		('account_overview', 'arr', 'annual recurring revenue, from the accounts source'),
		('account_overview', 'renewal_date', 'next renewal date, from the accounts source'),
		('account_overview', 'days_to_renewal', 'days from the as_of date to renewal_date (negative when overdue)'),
		('account_overview', 'profile', 'scoring profile applied to the account'),
		('account_overview', 'score', 'health score 0-100 at as_of: the override while one is in force, else computed_score'),
		('account_overview', 'band', 'health band of the score under the profile''s thresholds: poor, average or good'),
		('account_overview', 'engagement', 'engagement component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'utilisation', 'licence utilisation component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'adoption', 'key-feature adoption component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'support', 'support component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'sentiment', 'sentiment (survey) component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'relationship', 'relationship (touchpoints) component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'score_30d_ago', 'score in health_history on the latest day on or before as_of - 30 days (NULL when there is none)'),
		('account_overview', 'score_30d_ago_day', 'the health_history day score_30d_ago comes from'),
		('account_overview', 'score_change_30d', 'score minus score_30d_ago: positive is improving (NULL without history)'),
		('account_overview', 'open_flags', 'codes of the account''s open flags, red first, then amber, opportunity and info'),
		('account_overview', 'open_red_flags', 'number of open red flags'),
		('account_overview', 'open_amber_flags', 'number of open amber flags'),
		('account_overview', 'at_risk', 'true when the band is poor or any red flag is open'),
		('account_overview', 'as_of', 'the point in time the score describes'),
		('account_overview', 'refreshed_at', 'when the refresh that computed this row ran'),
		('account_overview', 'computed_score', 'the score the model computed: the weighted mean of the components present'),
		('account_overview', 'overridden', 'true while a manager''s override (set_override) is in force: score is the override'),
		('account_overview', 'overridden_by', 'the role that set the override in force'),
		('account_overview', 'override_reason', 'why the score is overridden, in the words of whoever set it'),
		('account_overview', 'override_expires_at', 'when the override stops applying'),
		('account_overview', 'stale_sources', 'the sources that were stale at as_of (see source_freshness): the score rests partly on old data'),
		('account_overview', 'stale', 'true when stale_sources is not empty: read the score with care, flags over those sources are held'),
		-- band_breakdown
		('band_breakdown', 'dimension', 'what the row breaks down by: all, segment, plan, lifecycle_stage or owner'),
		('band_breakdown', 'value', 'the segment, plan, lifecycle stage or owner (NULL for accounts without one); ''all'' on the overall row'),
		('band_breakdown', 'accounts', 'scored accounts in the group (good + average + poor)'),
		('band_breakdown', 'good', 'accounts in the good band'),
		('band_breakdown', 'average', 'accounts in the average band'),
		('band_breakdown', 'poor', 'accounts in the poor band'),
		('band_breakdown', 'good_pct', 'good as a percentage of accounts; the three percentages add up to exactly 100 (largest-remainder rounding to 0.1)'),
		('band_breakdown', 'average_pct', 'average as a percentage of accounts'),
		('band_breakdown', 'poor_pct', 'poor as a percentage of accounts'),
		('band_breakdown', 'arr', 'ARR of the scored accounts in the group'),
		('band_breakdown', 'arr_good', 'ARR of the group''s good accounts'),
		('band_breakdown', 'arr_average', 'ARR of the group''s average accounts'),
		('band_breakdown', 'arr_poor', 'ARR of the group''s poor accounts'),
		-- health_trend
		('health_trend', 'day', 'day of health_history (one refresh per day is kept)'),
		('health_trend', 'accounts', 'accounts scored that day'),
		('health_trend', 'average_score', 'mean score that day, rounded to 0.1'),
		('health_trend', 'good', 'accounts in the good band that day'),
		('health_trend', 'average', 'accounts in the average band that day'),
		('health_trend', 'poor', 'accounts in the poor band that day'),
		('health_trend', 'good_pct', 'good as a percentage of accounts; the three add up to exactly 100'),
		('health_trend', 'average_pct', 'average as a percentage of accounts'),
		('health_trend', 'poor_pct', 'poor as a percentage of accounts'),
		('health_trend', 'arr', 'ARR of the accounts scored that day, as recorded in health_history'),
		('health_trend', 'arr_poor', 'ARR of the poor accounts that day'),
		-- cancellation_trend
		('cancellation_trend', 'month', 'first day of the calendar month (session time zone)'),
		('cancellation_trend', 'active_at_start', 'accounts started before the month (or with no start date) and not cancelled before it'),
		('cancellation_trend', 'cancellations', 'accounts whose cancelled_at falls in the month (including accounts started in the same month)'),
		('cancellation_trend', 'cancellation_rate', 'cancellations as a percentage of active_at_start, rounded to 0.01 (NULL when none were active)'),
		('cancellation_trend', 'arr_cancelled', 'ARR of the accounts cancelled in the month'),
		('cancellation_trend', 'cancellations_change', 'cancellations minus the previous month''s'),
		('cancellation_trend', 'rate_change', 'cancellation_rate minus the previous month''s, in percentage points'),
		('cancellation_trend', 'direction', 'up, down or flat: cancellation_rate against the previous month''s (NULL for the first month or without a rate)'),
		('cancellation_trend', 'complete', 'false for the current, still running month'),
		-- owner_workload
		('owner_workload', 'owner', 'customer-success manager (NULL: accounts without an owner)'),
		('owner_workload', 'accounts', 'scored accounts the owner carries'),
		('owner_workload', 'poor', 'of them, accounts in the poor band'),
		('owner_workload', 'poor_pct', 'poor as a percentage of the owner''s accounts, rounded to 0.1'),
		('owner_workload', 'team_poor_pct', 'poor accounts as a percentage of all scored accounts (the team average), rounded to 0.1'),
		('owner_workload', 'average_score', 'mean score of the owner''s accounts, rounded to 0.1'),
		('owner_workload', 'open_red_flags', 'open red flags on the owner''s accounts'),
		('owner_workload', 'at_risk_accounts', 'the owner''s accounts at risk (poor band or an open red flag)'),
		('owner_workload', 'arr', 'ARR of the owner''s accounts'),
		('owner_workload', 'arr_at_risk', 'ARR of the owner''s accounts at risk'),
		('owner_workload', 'notably_more_poor', 'true when the owner''s poor share is at least 1.5 times the team''s and the owner has at least 2 poor accounts'),
		-- at_risk_accounts
		('at_risk_accounts', 'rank', 'position in the review list: largest ARR first, then lowest score'),
		('at_risk_accounts', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('at_risk_accounts', 'name', 'account name'),
		('at_risk_accounts', 'segment', 'segment'),
		('at_risk_accounts', 'plan', 'plan'),
		('at_risk_accounts', 'owner', 'customer-success manager'),
		('at_risk_accounts', 'arr', 'annual recurring revenue'),
		('at_risk_accounts', 'renewal_date', 'next renewal date'),
		('at_risk_accounts', 'days_to_renewal', 'days from the as_of date to renewal_date'),
		('at_risk_accounts', 'score', 'health score 0-100'),
		('at_risk_accounts', 'band', 'health band'),
		('at_risk_accounts', 'score_change_30d', 'score minus the score on the latest history day on or before as_of - 30 days'),
		('at_risk_accounts', 'red_flags', 'number of open red flags'),
		('at_risk_accounts', 'amber_flags', 'number of open amber flags'),
		('at_risk_accounts', 'flags', 'codes of the open red and amber flags, red first'),
		('at_risk_accounts', 'reasons', 'why the account is at risk, in words: the poor band, then the description of each open red/amber flag''s rule with its current thresholds filled in'),
		('at_risk_accounts', 'actions', 'recommended actions of the open red and amber flags, in flag order'),
		('at_risk_accounts', 'evidence', 'the open red and amber flags'' evidence as one JSON object keyed by rule code'),
		('at_risk_accounts', 'as_of', 'the point in time the score describes'),
		-- revenue_at_risk
		('revenue_at_risk', 'band', 'health band (good, average, poor, or unscored); ''all'' sums every band'),
		('revenue_at_risk', 'open_flag_severity', 'worst open risk flag of the account: red, amber or none; ''all'' sums every severity'),
		('revenue_at_risk', 'accounts', 'accounts in the cell'),
		('revenue_at_risk', 'arr', 'ARR of the accounts in the cell'),
		('revenue_at_risk', 'accounts_pct', 'accounts as a percentage of all scored accounts, rounded to 0.1'),
		('revenue_at_risk', 'arr_pct', 'ARR as a percentage of all scored accounts'' ARR, rounded to 0.1'),
		('revenue_at_risk', 'at_risk', 'true when every account in the cell is at risk (band poor or worst open flag red)'),
		-- plays
		('plays', 'flag_id', 'id of the open flag in health_score.flag'),
		('plays', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('plays', 'name', 'account name'),
		('plays', 'segment', 'segment'),
		('plays', 'plan', 'plan'),
		('plays', 'owner', 'customer-success manager'),
		('plays', 'arr', 'annual recurring revenue'),
		('plays', 'renewal_date', 'next renewal date'),
		('plays', 'score', 'health score 0-100'),
		('plays', 'band', 'health band'),
		('plays', 'rule', 'code of the rule that raised the flag (e.g. new_users, feature_adopted, over_licensed)'),
		('plays', 'severity', 'info or opportunity'),
		('plays', 'description', 'what the rule detects, with its current thresholds filled in'),
		('plays', 'raised_at', 'when the flag was raised (as_of of the refresh)'),
		('plays', 'updated_at', 'as_of of the latest refresh that changed the flag''s evidence, severity or action'),
		('plays', 'evidence', 'the figures behind the flag, as JSON'),
		('plays', 'action', 'the recommended play'),
		-- score_changes
		('score_changes', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('score_changes', 'name', 'account name'),
		('score_changes', 'owner', 'customer-success manager'),
		('score_changes', 'from_day', 'the latest health_history day on or before as_of - 30 days'),
		('score_changes', 'to_day', 'the day of as_of'),
		('score_changes', 'score_from', 'score on from_day'),
		('score_changes', 'score_to', 'score on to_day'),
		('score_changes', 'change', 'score_to minus score_from: positive is improving'),
		('score_changes', 'driver', 'the component (or override) whose contribution to the change is largest in size'),
		('score_changes', 'driver_contribution', 'its contribution in score points: the contributions of all components add up to change'),
		('score_changes', 'driver_measures', 'the measures behind the driver now (account_health.inputs)')
		) c(view, col, comment)
	LOOP
		EXECUTE format('COMMENT ON COLUMN health_score.%I.%I IS %L', r.view, r.col, r.comment);
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION health_score.rebuild_views() IS
	'drops the executive views and recreates them with account_id of the accounts source''s type (drops only, when no accounts source is registered)';
-- It drops and creates objects: like add_source and drop_source, not for PUBLIC.
REVOKE EXECUTE ON FUNCTION health_score.rebuild_views() FROM PUBLIC;

CREATE VIEW health_score.source_freshness WITH (security_invoker = true) AS
SELECT f.kind, f.relation, f.time_column, f.newest, f.max_lag, f.lag, f.stale
  FROM health_score._source_freshness(pg_catalog.now()) f;
COMMENT ON VIEW health_score.source_freshness IS
	'each registered source''s newest row now, against its max_lag: a stale source holds the flags of the rules over its measures';
COMMENT ON COLUMN health_score.source_freshness.kind IS 'the source''s kind';
COMMENT ON COLUMN health_score.source_freshness.relation IS 'the registered table or view';
COMMENT ON COLUMN health_score.source_freshness.time_column IS 'the column its newest time is read from (NULL for the accounts source, which is never stale)';
COMMENT ON COLUMN health_score.source_freshness.newest IS 'its latest time up to now (NULL when it holds none)';
COMMENT ON COLUMN health_score.source_freshness.max_lag IS 'how old newest may get before the source is stale (sources.max_lag; add_source sets it)';
COMMENT ON COLUMN health_score.source_freshness.lag IS 'now() - newest';
COMMENT ON COLUMN health_score.source_freshness.stale IS 'lag is over max_lag: a refresh now would hold the flags of the rules over this source''s measures';
