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

-- A band's place in order, for sorting and charting: 1 poor, 2 average, 3 good (NULL unscored).
CREATE FUNCTION health_score.band_rank(band health_score.health_band) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.array_position(pg_catalog.enum_range(NULL::health_score.health_band), $1) $$;
COMMENT ON FUNCTION health_score.band_rank(health_score.health_band) IS
	'1 for poor, 2 for average, 3 for good: bands sort and chart in order';

-- Drops the executive views and, when an accounts source is registered, creates them again with account_id
-- of the accounts source's key type and a column per pass-through dimension. Called by add_source/drop_source
-- of the accounts source; safe to call by hand. Fails (rather than cascading) when a user's own object depends
-- on one of the views.
--
-- What every view does the same way: scores and components are numeric(5,1), as shown (never
-- 99.99999999999997); a percentage (_pct, 0-100) comes with the same figure as a 0-1 fraction (_share)
-- where BI formats expect one; bands come with band_rank; ARR is NULL, not 0, when the accounts source maps
-- no arr; a view whose rows overlap (the breakdowns: every account in each dimension) says so in its
-- is_total column or in its comment.
CREATE FUNCTION health_score.rebuild_views() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	src record;
	k text;             -- the accounts source's key type, validated through regtype
	c_started text;     -- expressions over the accounts relation (alias a), NULL when the column is absent
	c_cancelled text;
	c_arr text;
	arr_sum text;       -- format() of a sum of ARR (%1$s) with a filter (%2$s): 0 over no rows when ARR is mapped, else NULL
	dims text[];        -- the pass-through dimensions' names, in order
	dim_columns text;   -- , h.dimensions ->> 'product' AS product, ...
	dim_pairs text;     -- the (dimension, value) pairs of a row, for the long views (@ stands for its alias)
	open_flags text;    -- per-account summary of open flags, shared by several views
	history_30d text;   -- the lateral lookup of the score 30 days before as_of
	visible text;       -- the keys of the accounts the invoking role may see in the accounts source
	r record;
BEGIN
	-- Drop only what exists (no NOTICE per missing view); without CASCADE, so a user's own view built on one
	-- of these stops the rebuild with an error that names it instead of disappearing silently.
	FOR r IN
		SELECT v.name FROM pg_catalog.unnest(health_score._view_names()) AS v(name)
		 WHERE pg_catalog.to_regclass('health_score.' || pg_catalog.quote_ident(v.name)) IS NOT NULL
	LOOP
		EXECUTE format('DROP VIEW health_score.%I', r.name);
	END LOOP;

	SELECT s.relation, s.columns, s.key_type, s.dimensions INTO src
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
	arr_sum := CASE WHEN src.columns ? 'arr' THEN 'coalesce(pg_catalog.sum(%s) %s, 0)' ELSE 'NULL::numeric' END;
	SELECT coalesce(pg_catalog.array_agg(d ORDER BY d), '{}') INTO dims FROM pg_catalog.jsonb_object_keys(src.dimensions) d;
	SELECT coalesce(pg_catalog.string_agg(format(', h.dimensions ->> %L AS %I', d, d), '' ORDER BY o), ''),
	       $q$('segment', @.segment), ('plan', @.plan), ('lifecycle_stage', @.lifecycle_stage), ('owner', @.owner)$q$
	       || coalesce(pg_catalog.string_agg(format(', (%L, @.dimensions ->> %L)', d, d), '' ORDER BY o), '')
	  INTO dim_columns, dim_pairs
	  FROM pg_catalog.unnest(dims) WITH ORDINALITY AS x(d, o);

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
       h.parent_account_id::%1$s AS parent_account_id
       %4$s,
       h.profile, h.score::numeric(5,1) AS score, h.band, health_score.band_rank(h.band) AS band_rank,
       h.engagement::numeric(5,1) AS engagement, h.utilisation::numeric(5,1) AS utilisation,
       h.adoption::numeric(5,1) AS adoption, h.support::numeric(5,1) AS support,
       h.sentiment::numeric(5,1) AS sentiment, h.relationship::numeric(5,1) AS relationship,
       (SELECT pg_catalog.jsonb_object_agg(c.key, pg_catalog.round(c.value::numeric, 1))
          FROM pg_catalog.jsonb_each_text(h.components) c) AS components,
       p.score::numeric(5,1) AS score_30d_ago,
       p.day AS score_30d_ago_day,
       (h.score - p.score)::numeric(5,1) AS score_change_30d,
       coalesce(f.codes, '{}'::text[]) AS open_flags,
       coalesce(f.red, 0) AS open_red_flags,
       coalesce(f.amber, 0) AS open_amber_flags,
       (SELECT pg_catalog.count(*) FROM health_score.task t WHERE t.account_id = h.account_id AND t.status = 'open') AS open_tasks,
       (coalesce(h.band = 'poor', false) OR coalesce(f.red, 0) > 0) AS at_risk,
       h.as_of, h.refreshed_at,
       h.computed_score::numeric(5,1) AS computed_score,
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
$q$, k, history_30d, visible, dim_columns);

	-- The long form: one row per dimension, value and band, so SUM(accounts) over one dimension is the
	-- number of accounts; every account is in every dimension, so summing across dimensions counts it once
	-- per dimension: filter on one (dimension 'all', is_total, is the overall row set).
	EXECUTE format($q$
CREATE VIEW health_score.band_breakdown WITH (security_invoker = true) AS
WITH g AS (
	SELECT d.dimension, d.value, h.band, pg_catalog.count(*) AS accounts, %3$s AS arr
	  FROM health_score.account_health h
	 CROSS JOIN LATERAL (VALUES ('all', 'all'), %2$s) d(dimension, value)
	 WHERE h.band IS NOT NULL AND h.account_id IN (%1$s)
	 GROUP BY d.dimension, d.value, h.band
), cells AS (
	-- every band of every group, a band without accounts as 0
	SELECT x.dimension, x.value, b.band, coalesce(g.accounts, 0) AS accounts,
	       coalesce(g.arr, CASE WHEN %4$L THEN 0 END) AS arr
	  FROM (SELECT DISTINCT g.dimension, g.value FROM g) x
	 CROSS JOIN pg_catalog.unnest(pg_catalog.enum_range(NULL::health_score.health_band)) b(band)
	  LEFT JOIN g ON g.dimension = x.dimension AND g.value IS NOT DISTINCT FROM x.value AND g.band = b.band
)
SELECT c.dimension, c.value, c.band, health_score.band_rank(c.band) AS band_rank, c.accounts, c.arr,
       pg_catalog.round(c.accounts / pg_catalog.sum(c.accounts) OVER w, 4) AS share,
       -- (good first: a tie in the rounding goes to the better band, as in band_breakdown_wide's order)
       (health_score.percentages(pg_catalog.array_agg(c.accounts) OVER w))[4 - health_score.band_rank(c.band)] AS pct,
       pg_catalog.round(c.arr / nullif(pg_catalog.sum(c.arr) OVER w, 0), 4) AS arr_share,
       c.dimension = 'all' AS is_total
  FROM cells c
WINDOW w AS (PARTITION BY c.dimension, c.value ORDER BY c.band DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
 ORDER BY c.dimension <> 'all', c.dimension, c.value NULLS LAST, c.band
$q$, visible, replace(dim_pairs, '@.', 'h.'), format(arr_sum, 'h.arr', ''), src.columns ? 'arr');

	-- The wide form: a row per dimension and value with the three bands side by side; the overall row
	-- (dimension 'all') is marked is_total.
	EXECUTE format($q$
CREATE VIEW health_score.band_breakdown_wide WITH (security_invoker = true) AS
SELECT b.dimension, b.value, pg_catalog.sum(b.accounts)::bigint AS accounts,
       pg_catalog.sum(b.accounts) FILTER (WHERE b.band = 'good')::bigint AS good,
       pg_catalog.sum(b.accounts) FILTER (WHERE b.band = 'average')::bigint AS average,
       pg_catalog.sum(b.accounts) FILTER (WHERE b.band = 'poor')::bigint AS poor,
       pg_catalog.max(b.pct) FILTER (WHERE b.band = 'good') AS good_pct,
       pg_catalog.max(b.pct) FILTER (WHERE b.band = 'average') AS average_pct,
       pg_catalog.max(b.pct) FILTER (WHERE b.band = 'poor') AS poor_pct,
       pg_catalog.max(b.share) FILTER (WHERE b.band = 'good') AS good_share,
       pg_catalog.max(b.share) FILTER (WHERE b.band = 'average') AS average_share,
       pg_catalog.max(b.share) FILTER (WHERE b.band = 'poor') AS poor_share,
       pg_catalog.sum(b.arr) AS arr,
       pg_catalog.sum(b.arr) FILTER (WHERE b.band = 'good') AS arr_good,
       pg_catalog.sum(b.arr) FILTER (WHERE b.band = 'average') AS arr_average,
       pg_catalog.sum(b.arr) FILTER (WHERE b.band = 'poor') AS arr_poor,
       b.is_total
  FROM health_score.band_breakdown b
 GROUP BY b.dimension, b.value, b.is_total
 ORDER BY b.dimension <> 'all', b.dimension, b.value NULLS LAST
$q$);

	EXECUTE format($q$
CREATE VIEW health_score.health_trend WITH (security_invoker = true) AS
SELECT g.day, g.accounts, g.average_score, g.good, g.average, g.poor,
       pc.p[1] AS good_pct, pc.p[2] AS average_pct, pc.p[3] AS poor_pct,
       pg_catalog.round(g.good::numeric / nullif(g.accounts, 0), 4) AS good_share,
       pg_catalog.round(g.average::numeric / nullif(g.accounts, 0), 4) AS average_share,
       pg_catalog.round(g.poor::numeric / nullif(g.accounts, 0), 4) AS poor_share,
       g.arr, g.arr_poor
  FROM (SELECT hh.day,
               pg_catalog.count(hh.band) AS accounts,
               pg_catalog.avg(hh.score)::numeric(5,1) AS average_score,
               pg_catalog.count(*) FILTER (WHERE hh.band = 'good') AS good,
               pg_catalog.count(*) FILTER (WHERE hh.band = 'average') AS average,
               pg_catalog.count(*) FILTER (WHERE hh.band = 'poor') AS poor,
               %2$s AS arr,
               %3$s AS arr_poor
          FROM health_score.health_history hh
         WHERE hh.account_id IN (%1$s)
         GROUP BY hh.day) g,
       LATERAL (SELECT health_score.percentages(ARRAY[g.good, g.average, g.poor]) AS p) pc
 ORDER BY g.day
$q$, visible, format(arr_sum, 'hh.arr', 'FILTER (WHERE hh.band IS NOT NULL)'),
	 format(arr_sum, 'hh.arr', 'FILTER (WHERE hh.band = ''poor'')'));

	-- As health_trend, per dimension value (the dimension as recorded in health_history that day).
	EXECUTE format($q$
CREATE VIEW health_score.health_trend_by WITH (security_invoker = true) AS
SELECT hh.day, d.dimension, d.value,
       pg_catalog.count(*) AS accounts,
       pg_catalog.avg(hh.score)::numeric(5,1) AS average_score,
       pg_catalog.count(*) FILTER (WHERE hh.band = 'good') AS good,
       pg_catalog.count(*) FILTER (WHERE hh.band = 'average') AS average,
       pg_catalog.count(*) FILTER (WHERE hh.band = 'poor') AS poor,
       pg_catalog.round(pg_catalog.count(*) FILTER (WHERE hh.band = 'good')::numeric / pg_catalog.count(*), 4) AS good_share,
       pg_catalog.round(pg_catalog.count(*) FILTER (WHERE hh.band = 'average')::numeric / pg_catalog.count(*), 4) AS average_share,
       pg_catalog.round(pg_catalog.count(*) FILTER (WHERE hh.band = 'poor')::numeric / pg_catalog.count(*), 4) AS poor_share,
       %3$s AS arr
  FROM health_score.health_history hh
 CROSS JOIN LATERAL (VALUES %2$s) d(dimension, value)
 WHERE hh.band IS NOT NULL AND hh.account_id IN (%1$s)
 GROUP BY hh.day, d.dimension, d.value
 ORDER BY hh.day, d.dimension, d.value
$q$, visible, replace(dim_pairs, '@.', 'hh.'), format(arr_sum, 'hh.arr', ''));

	-- Months run from the first month any account started or cancelled to the month of the latest as_of
	-- scored (the current month before any refresh), counting only what happened up to that as_of. An
	-- account counts as active at the start of a month when it started before that month (or has no start
	-- date) and had not cancelled before it; a cancellation dated before its start counts at the start. The
	-- last month is incomplete until as_of reaches its end: it has no direction.
	EXECUTE format($q$
CREATE VIEW health_score.cancellation_trend WITH (security_invoker = true) AS
WITH bound AS (
	SELECT coalesce((SELECT pg_catalog.max(h.as_of) FROM health_score.account_health h), pg_catalog.now()) AS as_of
), a AS (
	SELECT x.started_at, CASE WHEN x.cancelled_at <= b.as_of THEN x.cancelled_at END AS cancelled_at, x.arr
	  FROM (SELECT %1$s AS started_at,
	               CASE WHEN %2$s IS NOT NULL THEN greatest(%2$s, %1$s) END AS cancelled_at,
	               %3$s AS arr
	          FROM %4$s a
	         -- also ties the view to the extension, so DROP EXTENSION ... CASCADE takes it along
	         WHERE EXISTS (SELECT FROM health_score.sources s WHERE s.kind = 'accounts')) x
	 CROSS JOIN bound b
	 WHERE x.started_at IS NULL OR x.started_at <= b.as_of
), months AS (
	SELECT m::date AS month, (m + interval '1 month') <= b.as_of AS complete
	  FROM bound b,
	       (SELECT pg_catalog.date_trunc('month', least(pg_catalog.min(a.started_at), pg_catalog.min(a.cancelled_at),
	                                                     (SELECT bound.as_of FROM bound))) AS first_month
	          FROM a) f,
	       pg_catalog.generate_series(f.first_month, pg_catalog.date_trunc('month', b.as_of), interval '1 month') m
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
	SELECT m.month, m.complete,
	       base.n
	       + coalesce(pg_catalog.sum(s.n) OVER w, 0)
	       - coalesce(pg_catalog.sum(c.n) OVER w, 0) AS active_at_start,
	       coalesce(c.n, 0) AS cancellations,
	       coalesce(c.arr, CASE WHEN %5$L THEN 0 END) AS arr_cancelled
	  FROM months m
	  CROSS JOIN base
	  LEFT JOIN starts s ON s.month = m.month
	  LEFT JOIN cancels c ON c.month = m.month
	WINDOW w AS (ORDER BY m.month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), rated AS (
	SELECT mo.*,
	       pg_catalog.round(100.0 * mo.cancellations / nullif(mo.active_at_start, 0), 2) AS cancellation_rate,
	       pg_catalog.round(mo.cancellations::numeric / nullif(mo.active_at_start, 0), 4) AS cancellation_share,
	       CASE WHEN pg_catalog.count(*) OVER w3 = 3
	            THEN pg_catalog.round(100.0 * pg_catalog.sum(mo.cancellations) OVER w3
	                                  / nullif(pg_catalog.sum(mo.active_at_start) OVER w3, 0), 2) END AS rolling_3m_rate
	  FROM monthly mo
	WINDOW w3 AS (ORDER BY mo.month ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
)
SELECT r.month, r.active_at_start::bigint AS active_at_start, r.cancellations, r.cancellation_rate,
       r.cancellation_share, r.rolling_3m_rate, r.arr_cancelled,
       r.cancellations - pg_catalog.lag(r.cancellations) OVER w AS cancellations_change,
       r.cancellation_rate - pg_catalog.lag(r.cancellation_rate) OVER w AS rate_change,
       CASE WHEN NOT r.complete THEN NULL
            WHEN r.cancellation_rate > pg_catalog.lag(r.cancellation_rate) OVER w THEN 'up'
            WHEN r.cancellation_rate < pg_catalog.lag(r.cancellation_rate) OVER w THEN 'down'
            WHEN r.cancellation_rate = pg_catalog.lag(r.cancellation_rate) OVER w THEN 'flat'
       END AS direction,
       r.complete
  FROM rated r
WINDOW w AS (ORDER BY r.month)
 ORDER BY r.month
$q$, c_started, c_cancelled, c_arr, src.relation, src.columns ? 'arr');

	-- "Notably more poor accounts": a poor share at least 1.5 times the team's, with at least 2 poor accounts.
	-- Compared in integers (2 · poor · team_accounts >= 3 · team_poor · accounts), so no rounding decides it.
	-- Tasks count for the owner they were opened for; overdue: open past their due date (today).
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
	       pg_catalog.avg(a.score)::numeric(5,1) AS average_score,
	       pg_catalog.sum(a.red)::bigint AS open_red_flags,
	       pg_catalog.count(*) FILTER (WHERE a.at_risk) AS at_risk_accounts,
	       %3$s AS arr,
	       %4$s AS arr_at_risk
	  FROM a GROUP BY a.owner
), t AS (
	SELECT pg_catalog.sum(o.accounts) AS accounts, pg_catalog.sum(o.poor) AS poor FROM o
), k AS (
	SELECT x.owner, pg_catalog.count(*) AS open_tasks, pg_catalog.count(*) FILTER (WHERE x.due_on < CURRENT_DATE) AS overdue_tasks
	  FROM health_score.task x
	 WHERE x.status = 'open' AND x.account_id IN (%2$s)
	 GROUP BY x.owner
)
SELECT o.owner, o.accounts, o.poor,
       pg_catalog.round(100.0 * o.poor / o.accounts, 1) AS poor_pct,
       pg_catalog.round(o.poor::numeric / o.accounts, 4) AS poor_share,
       pg_catalog.round(100.0 * t.poor / t.accounts, 1) AS team_poor_pct,
       o.average_score, o.open_red_flags, o.at_risk_accounts, o.arr, o.arr_at_risk,
       (o.poor >= 2 AND 2 * o.poor * t.accounts >= 3 * t.poor * o.accounts) AS notably_more_poor,
       coalesce(k.open_tasks, 0) AS open_tasks, coalesce(k.overdue_tasks, 0) AS overdue_tasks
  FROM o CROSS JOIN t
  LEFT JOIN k ON k.owner IS NOT DISTINCT FROM o.owner
 ORDER BY o.poor DESC, coalesce(k.overdue_tasks, 0) DESC, o.owner
$q$, open_flags, visible, format(arr_sum, 'a.arr', ''), format(arr_sum, 'a.arr', 'FILTER (WHERE a.at_risk)'));

	-- The weekly review list: red and amber flags explain the risk; info and opportunity flags are plays.
	-- The accounts at risk are picked first (band poor, or an open red flag through the flag_open index), and
	-- each flag's reason is its rule's description with the thresholds that applied to it (its evidence).
	-- Most urgent first: the worst open flag (red, amber, none), then the poor band, then the largest ARR.
	EXECUTE format($q$
CREATE VIEW health_score.at_risk_accounts WITH (security_invoker = true) AS
WITH ru AS MATERIALIZED (
	SELECT r.code, r.action, r.description, r.params
	  FROM health_score.rule r
), x AS (
	SELECT h.*, p.score AS score_30d_ago, pr.poor_below, f.*,
	       CASE WHEN f.red > 0 THEN 'red' WHEN f.amber > 0 THEN 'amber' ELSE 'none' END AS worst_severity
	  FROM health_score.account_health h
	  LEFT JOIN health_score.profile pr ON pr.name = h.profile
	  LEFT JOIN LATERAL (
		SELECT pg_catalog.array_agg(fl.rule ORDER BY fl.ord, fl.rule) AS codes,
		       pg_catalog.count(*) FILTER (WHERE fl.severity = 'red') AS red,
		       pg_catalog.count(*) FILTER (WHERE fl.severity = 'amber') AS amber,
		       -- the thresholds as they applied to the account (its profile's), from the evidence
		       pg_catalog.array_agg(coalesce(health_score.rule_text(ru.description, ru.params || fl.evidence), fl.rule)
		                            ORDER BY fl.ord, fl.rule) AS flag_reasons,
		       pg_catalog.array_agg(coalesce(fl.action, ru.action) ORDER BY fl.ord, fl.rule)
		           FILTER (WHERE coalesce(fl.action, ru.action) IS NOT NULL) AS flag_actions,
		       pg_catalog.jsonb_object_agg(fl.rule, fl.evidence) AS flag_evidence
		  FROM (SELECT y.rule, y.severity, y.action, y.evidence,
		               pg_catalog.array_position(ARRAY['red', 'amber']::text[], y.severity) AS ord
		          FROM health_score.flag y
		         WHERE y.account_id = h.account_id AND y.cleared_at IS NULL
		           AND y.severity IN ('red', 'amber')) fl
		  LEFT JOIN ru ON ru.code = fl.rule
	  ) f ON true
	  %2$s
	 WHERE (h.band = 'poor'
	        OR EXISTS (SELECT FROM health_score.flag y
	                    WHERE y.account_id = h.account_id AND y.cleared_at IS NULL AND y.severity = 'red'))
	   AND h.account_id IN (%3$s)
)
SELECT pg_catalog.row_number() OVER (ORDER BY pg_catalog.array_position(ARRAY['red', 'amber', 'none'], x.worst_severity),
                                              x.band = 'poor' DESC, x.arr DESC NULLS LAST, x.score NULLS FIRST, x.account_id)
           AS rank,
       x.account_id::%1$s AS account_id,
       x.name, x.segment, x.plan, x.owner, x.arr, x.renewal_date,
       x.renewal_date - (x.as_of)::date AS days_to_renewal,
       x.score::numeric(5,1) AS score, x.band, health_score.band_rank(x.band) AS band_rank,
       (x.score - x.score_30d_ago)::numeric(5,1) AS score_change_30d,
       x.worst_severity,
       coalesce(x.red, 0) AS red_flags,
       coalesce(x.amber, 0) AS amber_flags,
       coalesce(x.codes, '{}'::text[]) AS flags,
       CASE WHEN x.band = 'poor'
            THEN ARRAY[pg_catalog.format('score %%s is in the poor band (below %%s)',
                                         pg_catalog.round(x.score::numeric, 1), x.poor_below)]
            ELSE '{}'::text[] END
       || coalesce(x.flag_reasons, '{}'::text[]) AS reasons,
       coalesce(x.flag_actions, '{}'::text[]) AS actions,
       coalesce(x.flag_evidence, '{}'::jsonb) AS evidence,
       (SELECT pg_catalog.count(*) FROM health_score.task t WHERE t.account_id = x.account_id AND t.status = 'open') AS open_tasks,
       x.as_of
  FROM x
 ORDER BY rank
$q$, k, history_30d, visible);

	-- For tools that read neither arrays nor JSON: a row per at-risk account and open red or amber flag, in
	-- the order of at_risk_accounts (an account at risk by its poor band alone has one row, without a flag),
	-- with the task that answers the flag.
	EXECUTE format($q$
CREATE VIEW health_score.at_risk_flags WITH (security_invoker = true) AS
SELECT a.rank, a.account_id, a.name, a.owner, a.arr, a.score, a.band, a.band_rank,
       f.id AS flag_id, f.rule, f.severity,
       coalesce(health_score.rule_text(r.description, r.params || f.evidence), f.rule, a.reasons[1]) AS reason,
       (SELECT pg_catalog.string_agg(e.key || ': ' || (e.value #>> '{}'), '; ' ORDER BY e.key)
          FROM pg_catalog.jsonb_each(f.evidence) e) AS evidence,
       coalesce(f.action, r.action) AS action,
       t.id AS task_id, t.status AS task_status, t.due_on AS task_due_on,
       (t.status = 'open' AND t.due_on < CURRENT_DATE) AS task_overdue
  FROM health_score.at_risk_accounts a
  LEFT JOIN health_score.flag f
         ON f.account_id = a.account_id::text AND f.cleared_at IS NULL AND f.severity IN ('red', 'amber')
  LEFT JOIN health_score.rule r ON r.code = f.rule
  LEFT JOIN LATERAL (SELECT k.id, k.status, k.due_on FROM health_score.task k
                      WHERE k.flag_id = f.id ORDER BY k.id DESC LIMIT 1) t ON true
 ORDER BY a.rank, pg_catalog.array_position(ARRAY['red', 'amber'], f.severity), f.rule
$q$);

	-- Each scored account in exactly one band (or 'unscored') and one open-flag severity (its worst red or
	-- amber flag, else 'none'); 'all' rows are the totals, so the view is a pivotable cube: summing it counts
	-- each account up to four times (is_total marks the rows with an 'all').
	EXECUTE format($q$
CREATE VIEW health_score.revenue_at_risk WITH (security_invoker = true) AS
WITH a AS (
	SELECT coalesce(h.band::text, 'unscored') AS band,
	       CASE WHEN f.red > 0 THEN 'red' WHEN f.amber > 0 THEN 'amber' ELSE 'none' END AS severity,
	       h.arr
	  FROM health_score.account_health h
	  LEFT JOIN (%2$s) f ON f.account_id = h.account_id
	 WHERE h.account_id IN (%1$s)
), c AS (
	SELECT CASE WHEN grouping(a.band) = 0 THEN a.band ELSE 'all' END AS band,
	       CASE WHEN grouping(a.severity) = 0 THEN a.severity ELSE 'all' END AS open_flag_severity,
	       pg_catalog.count(*) AS accounts,
	       %3$s AS arr
	  FROM a
	 GROUP BY CUBE (a.band, a.severity)
)
SELECT c.band, c.open_flag_severity, c.accounts, c.arr,
       pg_catalog.round(100.0 * c.accounts / nullif(t.accounts, 0), 1) AS accounts_pct,
       pg_catalog.round(100.0 * c.arr / nullif(t.arr, 0), 1) AS arr_pct,
       (c.band = 'poor' OR c.open_flag_severity = 'red') AS at_risk,
       (c.band = 'all' OR c.open_flag_severity = 'all') AS is_total
  FROM c
  CROSS JOIN (SELECT c2.accounts, c2.arr FROM c c2 WHERE c2.band = 'all' AND c2.open_flag_severity = 'all') t
$q$, visible, open_flags, format(arr_sum, 'a.arr', ''));

	EXECUTE format($q$
CREATE VIEW health_score.plays WITH (security_invoker = true) AS
WITH ru AS MATERIALIZED (
	SELECT r.code, r.action, r.description, r.params
	  FROM health_score.rule r
)
SELECT f.id AS flag_id,
       h.account_id::%1$s AS account_id,
       h.name, h.segment, h.plan, h.owner, h.arr, h.renewal_date, h.score::numeric(5,1) AS score, h.band,
       health_score.band_rank(h.band) AS band_rank,
       f.rule, f.severity, coalesce(health_score.rule_text(ru.description, ru.params || f.evidence), f.rule) AS description,
       f.raised_at, f.updated_at, f.evidence,
       coalesce(f.action, ru.action) AS action,
       t.id AS task_id, t.status AS task_status, t.due_on AS task_due_on
  FROM health_score.flag f
  JOIN health_score.account_health h ON h.account_id = f.account_id
  LEFT JOIN ru ON ru.code = f.rule
  LEFT JOIN LATERAL (SELECT k.id, k.status, k.due_on FROM health_score.task k
                      WHERE k.flag_id = f.id ORDER BY k.id DESC LIMIT 1) t ON true
 WHERE f.cleared_at IS NULL AND f.severity IN ('info', 'opportunity')
   AND h.account_id IN (%2$s)
$q$, k, visible);

	EXECUTE format($q$
CREATE VIEW health_score.score_changes WITH (security_invoker = true) AS
SELECT h.account_id::%1$s AS account_id, h.name, h.owner,
       p.day AS from_day, c.day AS to_day, p.score::numeric(5,1) AS score_from, c.score::numeric(5,1) AS score_to,
       (c.score - p.score)::numeric(5,1) AS change,
       d.component AS driver, d.contribution::numeric(5,1) AS driver_contribution,
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

	-- The team's list: overdue first (most overdue first), then by due date.
	EXECUTE format($q$
CREATE VIEW health_score.open_tasks WITH (security_invoker = true) AS
SELECT t.id AS task_id, t.account_id::%1$s AS account_id, h.name, t.owner, t.rule, r.severity, t.title, t.due_on,
       t.due_on < CURRENT_DATE AS overdue,
       greatest(CURRENT_DATE - t.due_on, 0) AS days_overdue,
       t.created_at, t.flag_id,
       f.cleared_at IS NULL AND f.id IS NOT NULL AS flag_open,
       f.cleared_at AS flag_cleared_at,
       h.score::numeric(5,1) AS score, h.band, health_score.band_rank(h.band) AS band_rank, h.arr
  FROM health_score.task t
  LEFT JOIN health_score.flag f ON f.id = t.flag_id
  LEFT JOIN health_score.rule r ON r.code = t.rule
  LEFT JOIN health_score.account_health h ON h.account_id = t.account_id
 WHERE t.status = 'open' AND t.account_id IN (%2$s)
 ORDER BY t.due_on < CURRENT_DATE DESC, t.due_on, t.id
$q$, k, visible);

	EXECUTE format($q$
CREATE VIEW health_score.plans WITH (security_invoker = true) AS
SELECT p.id AS plan_id, p.account_id::%1$s AS account_id, h.name, p.kind, p.owner, p.started_at, p.started_by,
       CASE WHEN p.completed_at IS NOT NULL THEN 'complete' ELSE 'open' END AS status, p.completed_at,
       s.steps, s.steps_done,
       pg_catalog.round(s.steps_done::numeric / s.steps, 4) AS progress,
       n.step AS next_step, n.due_on AS next_due_on,
       s.overdue_steps,
       coalesce(c.commitments, 0) AS commitments,
       coalesce(c.breached, 0) AS breached_commitments,
       coalesce(c.breaches, '{}'::text[]) AS breaches,
       c.last_checked_at
  FROM health_score.plan p
  LEFT JOIN health_score.account_health h ON h.account_id = p.account_id
  CROSS JOIN LATERAL (
	SELECT pg_catalog.count(*) AS steps, pg_catalog.count(*) FILTER (WHERE x.done_at IS NOT NULL) AS steps_done,
	       pg_catalog.count(*) FILTER (WHERE x.done_at IS NULL AND x.due_on < CURRENT_DATE) AS overdue_steps
	  FROM health_score.plan_step x WHERE x.plan_id = p.id) s
  LEFT JOIN LATERAL (
	SELECT x.step, x.due_on FROM health_score.plan_step x
	 WHERE x.plan_id = p.id AND x.done_at IS NULL ORDER BY x.step_no LIMIT 1) n ON true
  LEFT JOIN LATERAL (
	SELECT pg_catalog.count(*) AS commitments, pg_catalog.count(*) FILTER (WHERE x.breached) AS breached,
	       pg_catalog.array_agg(pg_catalog.format('%%s: %%s is %%s (%%s)', x.description, x.measure,
	                                              pg_catalog.trim_scale(pg_catalog.round(x.value::numeric, 3)),
	                                              pg_catalog.concat_ws(', ', 'at most ' || x.at_most, 'at least ' || x.at_least))
	                            ORDER BY x.id) FILTER (WHERE x.breached) AS breaches,
	       pg_catalog.max(x.checked_at) AS last_checked_at
	  FROM health_score.plan_commitment x WHERE x.plan_id = p.id) c ON true
 WHERE p.account_id IN (%2$s)
 ORDER BY p.completed_at IS NOT NULL, n.due_on, p.id
$q$, k, visible);

	EXECUTE format($q$
CREATE VIEW health_score.goal_status WITH (security_invoker = true) AS
SELECT g.id AS goal_id, g.account_id::%1$s AS account_id, h.name, h.owner, g.name AS goal, g.measure, g.baseline, g.target,
       g.starts_on, g.due_on, pr.day AS measured_on, pr.value,
       pg_catalog.round(pr.attainment::numeric, 4) AS attainment,
       pg_catalog.round(pr.expected::numeric, 4) AS expected,
       pg_catalog.round(pr.shortfall::numeric, 4) AS shortfall,
       pr.attainment >= 1 AS reached,
       CASE WHEN g.closed_at IS NOT NULL THEN 'closed' ELSE 'open' END AS status, g.outcome
  FROM health_score.goal g
  LEFT JOIN health_score.account_health h ON h.account_id = g.account_id
  LEFT JOIN LATERAL (SELECT x.* FROM health_score.goal_progress x WHERE x.goal_id = g.id ORDER BY x.day DESC LIMIT 1) pr ON true
 WHERE g.account_id IN (%2$s)
 ORDER BY g.closed_at IS NOT NULL, pr.shortfall DESC NULLS LAST, g.due_on, g.id
$q$, k, visible);

	-- Children rolled up to their parent account (the accounts source's parent_account_id): the mean score,
	-- the ARR-weighted mean (over the children with ARR) and the worst child, with band counts, over the
	-- children the role may see. A parent need not be scored itself.
	EXECUTE format($q$
CREATE VIEW health_score.parent_health WITH (security_invoker = true) AS
SELECT h.parent_account_id::%1$s AS parent_account_id, ph.name AS parent_name,
       pg_catalog.count(*) AS children,
       pg_catalog.avg(h.score)::numeric(5,1) AS mean_score,
       (pg_catalog.sum(h.score * h.arr) FILTER (WHERE h.arr > 0) / nullif(pg_catalog.sum(h.arr) FILTER (WHERE h.arr > 0 AND h.score IS NOT NULL), 0))::numeric(5,1)
           AS arr_weighted_score,
       pg_catalog.min(h.score)::numeric(5,1) AS worst_score,
       (pg_catalog.array_agg(h.account_id ORDER BY h.score NULLS LAST, h.account_id))[1]::%1$s AS worst_account_id,
       (pg_catalog.array_agg(h.name ORDER BY h.score NULLS LAST, h.account_id))[1] AS worst_account_name,
       pg_catalog.count(*) FILTER (WHERE h.band = 'good') AS good,
       pg_catalog.count(*) FILTER (WHERE h.band = 'average') AS average,
       pg_catalog.count(*) FILTER (WHERE h.band = 'poor') AS poor,
       %3$s AS arr
  FROM health_score.account_health h
  -- (the parent's name only for a parent the role may see too)
  LEFT JOIN health_score.account_health ph ON ph.account_id = h.parent_account_id AND ph.account_id IN (%2$s)
 WHERE h.parent_account_id IS NOT NULL AND h.account_id IN (%2$s)
 GROUP BY h.parent_account_id, ph.name
 ORDER BY worst_score NULLS LAST, h.parent_account_id
$q$, k, visible, format(arr_sum, 'h.arr', ''));

	-- Did acting help: per rule and month of raise, the flags raised, their tasks done or not, and churn (the
	-- backtest's default outcome: cancelled within 90 days of the raise, from the accounts source) of the
	-- accounts whose task was done against those whose task was not. Counts add up over months.
	EXECUTE format($q$
CREATE VIEW health_score.play_outcomes WITH (security_invoker = true) AS
WITH acc AS (
	SELECT (a.%1$I)::%2$s::text AS account_id, %3$s AS cancelled_at
	  FROM %4$s a
), f AS (
	SELECT fl.rule, pg_catalog.date_trunc('month', fl.raised_at)::date AS month, fl.id, fl.raised_at,
	       t.status AS task_status,
	       CASE WHEN %5$L AND (fl.raised_at + interval '90 days' <= pg_catalog.now() OR x.cancelled_at <= fl.raised_at + interval '90 days')
	            THEN coalesce(x.cancelled_at > fl.raised_at AND x.cancelled_at <= fl.raised_at + interval '90 days', false) END AS churned
	  FROM health_score.flag fl
	  JOIN acc x ON x.account_id = fl.account_id
	  LEFT JOIN LATERAL (SELECT k.status FROM health_score.task k WHERE k.flag_id = fl.id ORDER BY k.id DESC LIMIT 1) t ON true
)
SELECT f.rule, f.month,
       pg_catalog.count(*) AS flags_raised,
       pg_catalog.count(f.task_status) AS tasks,
       pg_catalog.count(*) FILTER (WHERE f.task_status = 'done') AS tasks_done,
       pg_catalog.count(*) FILTER (WHERE f.task_status IN ('open', 'dismissed')) AS tasks_not_done,
       pg_catalog.count(*) FILTER (WHERE f.task_status = 'done' AND f.churned IS NOT NULL) AS done_outcome_known,
       pg_catalog.count(*) FILTER (WHERE f.task_status = 'done' AND f.churned) AS done_churned,
       pg_catalog.count(*) FILTER (WHERE f.task_status IN ('open', 'dismissed') AND f.churned IS NOT NULL) AS not_done_outcome_known,
       pg_catalog.count(*) FILTER (WHERE f.task_status IN ('open', 'dismissed') AND f.churned) AS not_done_churned,
       pg_catalog.round(pg_catalog.count(*) FILTER (WHERE f.task_status = 'done' AND f.churned)::numeric
                        / nullif(pg_catalog.count(*) FILTER (WHERE f.task_status = 'done' AND f.churned IS NOT NULL), 0), 4) AS done_churn_rate,
       pg_catalog.round(pg_catalog.count(*) FILTER (WHERE f.task_status IN ('open', 'dismissed') AND f.churned)::numeric
                        / nullif(pg_catalog.count(*) FILTER (WHERE f.task_status IN ('open', 'dismissed') AND f.churned IS NOT NULL), 0), 4) AS not_done_churn_rate
  FROM f
 GROUP BY f.rule, f.month
 ORDER BY f.month, f.rule
$q$, src.columns ->> 'account_id', health_score._key_type(src.key_type::regtype), c_cancelled, src.relation,
	 src.columns ? 'cancelled_at');

	FOR r IN
		SELECT v.view, v.comment FROM (VALUES
		('account_overview', 'one row per scored, non-cancelled account: its score, band, components, 30-day change, open flags and tasks, and its pass-through dimensions; account_id has the accounts source''s type'),
		('band_breakdown', 'accounts and ARR per health band, one row per dimension, value and band (long form): SUM over one dimension gives the total; dimension ''all'' (is_total) is the overall breakdown, and summing across dimensions counts each account once per dimension'),
		('band_breakdown_wide', 'band_breakdown with the three bands side by side, a row per dimension and value; is_total marks the overall row'),
		('health_trend', 'per day of health_history: accounts scored, average score and band counts, to chart overall health'),
		('health_trend_by', 'per day of health_history and per value of each dimension (segment, plan, lifecycle_stage, owner and the pass-through ones): accounts, average score and band counts; every account is in every dimension, so filter on one'),
		('cancellation_trend', 'per calendar month up to the latest as_of scored, from the accounts source itself: accounts active at the start, cancellations, rate, rolling three-month rate and ARR cancelled, with the change against the previous month'),
		('owner_workload', 'per customer-success manager (owner): accounts, poor accounts and their share against the team''s, open red flags, ARR at risk, open and overdue tasks; most poor accounts first'),
		('at_risk_accounts', 'accounts at risk (poor band or an open red flag) with their open red and amber flags, reasons, evidence and recommended actions; worst open flag first, then the poor band, then the largest ARR: the weekly review list'),
		('at_risk_flags', 'at_risk_accounts flattened for tools that read neither arrays nor JSON: a row per at-risk account and open red or amber flag, with the reason, evidence and action as text and the status of the task that answers it'),
		('revenue_at_risk', 'accounts and ARR by health band and by the worst severity of their open red/amber flags, with ''all'' totals in both directions (is_total)'),
		('plays', 'open info and opportunity flags (new users to train, features adopted, upsell) with their recommended actions and tasks'),
		('score_changes', 'accounts whose score moved in the 30 days to as_of, largest move first, with the component that drove it (explain() gives every component)'),
		('open_tasks', 'the team''s open tasks (plays), overdue first, with whether the flag that opened each is still open'),
		('plans', 'plans (start_plan) with their progress, next step, overdue steps and breached commitments'),
		('goal_status', 'customers'' goals with their latest attainment against the straight line to the due date, furthest behind first'),
		('parent_health', 'per parent account: its children''s mean score, ARR-weighted mean score, worst child and band counts'),
		('play_outcomes', 'per rule and month of raise: flags raised, tasks done and not done, and the churn (cancelled within 90 days) of the accounts whose task was done against those whose task was not')
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
		('account_overview', 'arr', 'annual recurring revenue, from the accounts source (NULL when it maps none)'),
		('account_overview', 'renewal_date', 'next renewal date, from the accounts source'),
		('account_overview', 'days_to_renewal', 'days from the as_of date to renewal_date (negative when overdue)'),
		('account_overview', 'parent_account_id', 'the parent account, from the accounts source (parent_health rolls children up)'),
		('account_overview', 'profile', 'scoring profile applied to the account'),
		('account_overview', 'score', 'health score 0-100 at as_of, to 0.1: the override while one is in force, else computed_score'),
		('account_overview', 'band', 'health band of the score under the profile''s thresholds: poor, average or good'),
		('account_overview', 'band_rank', '1 poor, 2 average, 3 good: sorts bands in order'),
		('account_overview', 'engagement', 'engagement component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'utilisation', 'licence utilisation component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'adoption', 'key-feature adoption component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'support', 'support component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'sentiment', 'sentiment (survey) component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'relationship', 'relationship (touchpoints) component 0-100 (NULL when its inputs are missing)'),
		('account_overview', 'components', 'the other components (goals, and those added with add_component): name -> 0-100 to 0.1'),
		('account_overview', 'score_30d_ago', 'score in health_history on the latest day on or before as_of - 30 days (NULL when there is none)'),
		('account_overview', 'score_30d_ago_day', 'the health_history day score_30d_ago comes from'),
		('account_overview', 'score_change_30d', 'score minus score_30d_ago: positive is improving (NULL without history)'),
		('account_overview', 'open_flags', 'codes of the account''s open flags, red first, then amber, opportunity and info'),
		('account_overview', 'open_red_flags', 'number of open red flags'),
		('account_overview', 'open_amber_flags', 'number of open amber flags'),
		('account_overview', 'open_tasks', 'number of the account''s open tasks (open_tasks lists them)'),
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
		('band_breakdown', 'dimension', 'what the rows break down by: all, segment, plan, lifecycle_stage, owner or a pass-through dimension'),
		('band_breakdown', 'value', 'the segment, plan, ... of the group (NULL for accounts without one); ''all'' for dimension all'),
		('band_breakdown', 'band', 'health band: poor, average or good (every band of every group has a row, 0 when empty)'),
		('band_breakdown', 'band_rank', '1 poor, 2 average, 3 good: sorts bands in order'),
		('band_breakdown', 'accounts', 'scored accounts of the group in the band'),
		('band_breakdown', 'arr', 'their ARR (NULL when the accounts source maps no arr)'),
		('band_breakdown', 'share', 'accounts as a fraction (0-1) of the group''s scored accounts'),
		('band_breakdown', 'pct', 'accounts as a percentage of the group''s; the three bands add up to exactly 100 (largest-remainder rounding to 0.1)'),
		('band_breakdown', 'arr_share', 'arr as a fraction (0-1) of the group''s ARR'),
		('band_breakdown', 'is_total', 'true on the overall rows (dimension all): leave them out, or keep only them, when summing'),
		-- band_breakdown_wide
		('band_breakdown_wide', 'dimension', 'what the row breaks down by: all, segment, plan, lifecycle_stage, owner or a pass-through dimension'),
		('band_breakdown_wide', 'value', 'the segment, plan, ... (NULL for accounts without one); ''all'' on the overall row'),
		('band_breakdown_wide', 'accounts', 'scored accounts in the group (good + average + poor)'),
		('band_breakdown_wide', 'good', 'accounts in the good band'),
		('band_breakdown_wide', 'average', 'accounts in the average band'),
		('band_breakdown_wide', 'poor', 'accounts in the poor band'),
		('band_breakdown_wide', 'good_pct', 'good as a percentage of accounts; the three percentages add up to exactly 100'),
		('band_breakdown_wide', 'average_pct', 'average as a percentage of accounts'),
		('band_breakdown_wide', 'poor_pct', 'poor as a percentage of accounts'),
		('band_breakdown_wide', 'good_share', 'good as a fraction (0-1) of accounts'),
		('band_breakdown_wide', 'average_share', 'average as a fraction (0-1) of accounts'),
		('band_breakdown_wide', 'poor_share', 'poor as a fraction (0-1) of accounts'),
		('band_breakdown_wide', 'arr', 'ARR of the scored accounts in the group (NULL when no arr is mapped)'),
		('band_breakdown_wide', 'arr_good', 'ARR of the group''s good accounts'),
		('band_breakdown_wide', 'arr_average', 'ARR of the group''s average accounts'),
		('band_breakdown_wide', 'arr_poor', 'ARR of the group''s poor accounts'),
		('band_breakdown_wide', 'is_total', 'true on the overall row (dimension all)'),
		-- health_trend
		('health_trend', 'day', 'day of health_history (one refresh per day is kept)'),
		('health_trend', 'accounts', 'accounts scored that day'),
		('health_trend', 'average_score', 'mean score that day, to 0.1'),
		('health_trend', 'good', 'accounts in the good band that day'),
		('health_trend', 'average', 'accounts in the average band that day'),
		('health_trend', 'poor', 'accounts in the poor band that day'),
		('health_trend', 'good_pct', 'good as a percentage of accounts; the three add up to exactly 100'),
		('health_trend', 'average_pct', 'average as a percentage of accounts'),
		('health_trend', 'poor_pct', 'poor as a percentage of accounts'),
		('health_trend', 'good_share', 'good as a fraction (0-1) of accounts'),
		('health_trend', 'average_share', 'average as a fraction (0-1) of accounts'),
		('health_trend', 'poor_share', 'poor as a fraction (0-1) of accounts'),
		('health_trend', 'arr', 'ARR of the accounts scored that day, as recorded in health_history (NULL when no arr is mapped)'),
		('health_trend', 'arr_poor', 'ARR of the poor accounts that day'),
		-- health_trend_by
		('health_trend_by', 'day', 'day of health_history'),
		('health_trend_by', 'dimension', 'segment, plan, lifecycle_stage, owner or a pass-through dimension'),
		('health_trend_by', 'value', 'the dimension''s value that day (NULL for accounts without one)'),
		('health_trend_by', 'accounts', 'accounts with that value scored that day'),
		('health_trend_by', 'average_score', 'their mean score, to 0.1'),
		('health_trend_by', 'good', 'of them, accounts in the good band'),
		('health_trend_by', 'average', 'accounts in the average band'),
		('health_trend_by', 'poor', 'accounts in the poor band'),
		('health_trend_by', 'good_share', 'good as a fraction (0-1) of accounts'),
		('health_trend_by', 'average_share', 'average as a fraction (0-1) of accounts'),
		('health_trend_by', 'poor_share', 'poor as a fraction (0-1) of accounts'),
		('health_trend_by', 'arr', 'their ARR as recorded that day (NULL when no arr is mapped)'),
		-- cancellation_trend
		('cancellation_trend', 'month', 'first day of the calendar month (session time zone)'),
		('cancellation_trend', 'active_at_start', 'accounts started before the month (or with no start date) and not cancelled before it'),
		('cancellation_trend', 'cancellations', 'accounts whose cancelled_at falls in the month, up to the latest as_of scored'),
		('cancellation_trend', 'cancellation_rate', 'cancellations as a percentage of active_at_start, rounded to 0.01 (NULL when none were active)'),
		('cancellation_trend', 'cancellation_share', 'cancellations as a fraction (0-1) of active_at_start'),
		('cancellation_trend', 'rolling_3m_rate', 'cancellations of this month and the two before as a percentage of their active_at_start (NULL for the first two months)'),
		('cancellation_trend', 'arr_cancelled', 'ARR of the accounts cancelled in the month (NULL when no arr is mapped)'),
		('cancellation_trend', 'cancellations_change', 'cancellations minus the previous month''s'),
		('cancellation_trend', 'rate_change', 'cancellation_rate minus the previous month''s, in percentage points'),
		('cancellation_trend', 'direction', 'up, down or flat: cancellation_rate against the previous month''s (NULL for the first month, an incomplete month, or without a rate)'),
		('cancellation_trend', 'complete', 'false for the month of the latest as_of until as_of reaches its end'),
		-- owner_workload
		('owner_workload', 'owner', 'customer-success manager (NULL: accounts without an owner)'),
		('owner_workload', 'accounts', 'scored accounts the owner carries'),
		('owner_workload', 'poor', 'of them, accounts in the poor band'),
		('owner_workload', 'poor_pct', 'poor as a percentage of the owner''s accounts, rounded to 0.1'),
		('owner_workload', 'poor_share', 'poor as a fraction (0-1) of the owner''s accounts'),
		('owner_workload', 'team_poor_pct', 'poor accounts as a percentage of all scored accounts (the team average), rounded to 0.1'),
		('owner_workload', 'average_score', 'mean score of the owner''s accounts, to 0.1'),
		('owner_workload', 'open_red_flags', 'open red flags on the owner''s accounts'),
		('owner_workload', 'at_risk_accounts', 'the owner''s accounts at risk (poor band or an open red flag)'),
		('owner_workload', 'arr', 'ARR of the owner''s accounts (NULL when no arr is mapped)'),
		('owner_workload', 'arr_at_risk', 'ARR of the owner''s accounts at risk'),
		('owner_workload', 'notably_more_poor', 'true when the owner''s poor share is at least 1.5 times the team''s and the owner has at least 2 poor accounts'),
		('owner_workload', 'open_tasks', 'open tasks opened for the owner'),
		('owner_workload', 'overdue_tasks', 'of them, those past their due date'),
		-- at_risk_accounts
		('at_risk_accounts', 'rank', 'position in the review list: worst open flag (red, amber, none) first, then the poor band, then the largest ARR, then the lowest score'),
		('at_risk_accounts', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('at_risk_accounts', 'name', 'account name'),
		('at_risk_accounts', 'segment', 'segment'),
		('at_risk_accounts', 'plan', 'plan'),
		('at_risk_accounts', 'owner', 'customer-success manager'),
		('at_risk_accounts', 'arr', 'annual recurring revenue'),
		('at_risk_accounts', 'renewal_date', 'next renewal date'),
		('at_risk_accounts', 'days_to_renewal', 'days from the as_of date to renewal_date'),
		('at_risk_accounts', 'score', 'health score 0-100, to 0.1'),
		('at_risk_accounts', 'band', 'health band'),
		('at_risk_accounts', 'band_rank', '1 poor, 2 average, 3 good'),
		('at_risk_accounts', 'score_change_30d', 'score minus the score on the latest history day on or before as_of - 30 days'),
		('at_risk_accounts', 'worst_severity', 'the worst open flag: red, amber or none (at risk by the poor band alone)'),
		('at_risk_accounts', 'red_flags', 'number of open red flags'),
		('at_risk_accounts', 'amber_flags', 'number of open amber flags'),
		('at_risk_accounts', 'flags', 'codes of the open red and amber flags, red first'),
		('at_risk_accounts', 'reasons', 'why the account is at risk, in words: the poor band, then the description of each open red/amber flag''s rule with its current thresholds filled in'),
		('at_risk_accounts', 'actions', 'recommended actions of the open red and amber flags, in flag order'),
		('at_risk_accounts', 'evidence', 'the open red and amber flags'' evidence as one JSON object keyed by rule code'),
		('at_risk_accounts', 'open_tasks', 'number of the account''s open tasks'),
		('at_risk_accounts', 'as_of', 'the point in time the score describes'),
		-- at_risk_flags
		('at_risk_flags', 'rank', 'the account''s position in at_risk_accounts'),
		('at_risk_flags', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('at_risk_flags', 'name', 'account name'),
		('at_risk_flags', 'owner', 'customer-success manager'),
		('at_risk_flags', 'arr', 'annual recurring revenue'),
		('at_risk_flags', 'score', 'health score 0-100, to 0.1'),
		('at_risk_flags', 'band', 'health band'),
		('at_risk_flags', 'band_rank', '1 poor, 2 average, 3 good'),
		('at_risk_flags', 'flag_id', 'the open red or amber flag (NULL: the account is at risk by its poor band alone)'),
		('at_risk_flags', 'rule', 'the rule that raised the flag'),
		('at_risk_flags', 'severity', 'red or amber'),
		('at_risk_flags', 'reason', 'the rule''s description with the thresholds that applied, or the poor band'),
		('at_risk_flags', 'evidence', 'the flag''s evidence as text: measure: value; ...'),
		('at_risk_flags', 'action', 'the recommended action'),
		('at_risk_flags', 'task_id', 'the task that answers the flag (NULL when its rule opens none)'),
		('at_risk_flags', 'task_status', 'open, done or dismissed'),
		('at_risk_flags', 'task_due_on', 'when the task is due'),
		('at_risk_flags', 'task_overdue', 'true when the task is open past its due date'),
		-- revenue_at_risk
		('revenue_at_risk', 'band', 'health band (good, average, poor, or unscored); ''all'' sums every band'),
		('revenue_at_risk', 'open_flag_severity', 'worst open risk flag of the account: red, amber or none; ''all'' sums every severity'),
		('revenue_at_risk', 'accounts', 'accounts in the cell'),
		('revenue_at_risk', 'arr', 'ARR of the accounts in the cell (NULL when no arr is mapped)'),
		('revenue_at_risk', 'accounts_pct', 'accounts as a percentage of all scored accounts, rounded to 0.1'),
		('revenue_at_risk', 'arr_pct', 'ARR as a percentage of all scored accounts'' ARR, rounded to 0.1'),
		('revenue_at_risk', 'at_risk', 'true when every account in the cell is at risk (band poor or worst open flag red)'),
		('revenue_at_risk', 'is_total', 'true on the rows with an ''all'': leave them out when summing'),
		-- plays
		('plays', 'flag_id', 'id of the open flag in health_score.flag'),
		('plays', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('plays', 'name', 'account name'),
		('plays', 'segment', 'segment'),
		('plays', 'plan', 'plan'),
		('plays', 'owner', 'customer-success manager'),
		('plays', 'arr', 'annual recurring revenue'),
		('plays', 'renewal_date', 'next renewal date'),
		('plays', 'score', 'health score 0-100, to 0.1'),
		('plays', 'band', 'health band'),
		('plays', 'band_rank', '1 poor, 2 average, 3 good'),
		('plays', 'rule', 'code of the rule that raised the flag (e.g. new_users, feature_adopted, over_licensed)'),
		('plays', 'severity', 'info or opportunity'),
		('plays', 'description', 'what the rule detects, with its current thresholds filled in'),
		('plays', 'raised_at', 'when the flag was raised (as_of of the refresh)'),
		('plays', 'updated_at', 'as_of of the latest refresh that changed the flag''s evidence, severity or action'),
		('plays', 'evidence', 'the figures behind the flag, as JSON'),
		('plays', 'action', 'the recommended play'),
		('plays', 'task_id', 'the task the flag opened (NULL when its rule opens none)'),
		('plays', 'task_status', 'open, done or dismissed'),
		('plays', 'task_due_on', 'when the task is due'),
		-- score_changes
		('score_changes', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('score_changes', 'name', 'account name'),
		('score_changes', 'owner', 'customer-success manager'),
		('score_changes', 'from_day', 'the latest health_history day on or before as_of - 30 days'),
		('score_changes', 'to_day', 'the day of as_of'),
		('score_changes', 'score_from', 'score on from_day, to 0.1'),
		('score_changes', 'score_to', 'score on to_day, to 0.1'),
		('score_changes', 'change', 'score_to minus score_from: positive is improving'),
		('score_changes', 'driver', 'the component (or override) whose contribution to the change is largest in size'),
		('score_changes', 'driver_contribution', 'its contribution in score points: the contributions of all components add up to change'),
		('score_changes', 'driver_measures', 'the measures behind the driver now (account_health.inputs)'),
		-- open_tasks
		('open_tasks', 'task_id', 'the task, for complete_task and dismiss_task'),
		('open_tasks', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('open_tasks', 'name', 'account name'),
		('open_tasks', 'owner', 'who the task is for: the account''s owner when it was opened'),
		('open_tasks', 'rule', 'the rule whose flag opened it'),
		('open_tasks', 'severity', 'the rule''s severity'),
		('open_tasks', 'title', 'what to do: the flag''s recommended action'),
		('open_tasks', 'due_on', 'when it is due'),
		('open_tasks', 'overdue', 'true past due_on'),
		('open_tasks', 'days_overdue', 'days past due_on (0 when not overdue)'),
		('open_tasks', 'created_at', 'as_of of the refresh that opened it'),
		('open_tasks', 'flag_id', 'the flag it answers'),
		('open_tasks', 'flag_open', 'false once that flag has cleared: the condition no longer holds'),
		('open_tasks', 'flag_cleared_at', 'when the flag cleared'),
		('open_tasks', 'score', 'the account''s health score now, to 0.1'),
		('open_tasks', 'band', 'its band'),
		('open_tasks', 'band_rank', '1 poor, 2 average, 3 good'),
		('open_tasks', 'arr', 'its ARR'),
		-- plans
		('plans', 'plan_id', 'the plan, for complete_step and add_commitment'),
		('plans', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('plans', 'name', 'account name'),
		('plans', 'kind', 'the kind of plan (plan_template), such as win_back'),
		('plans', 'owner', 'who leads it'),
		('plans', 'started_at', 'when start_plan opened it'),
		('plans', 'started_by', 'the role that opened it'),
		('plans', 'status', 'open, or complete once every step is done'),
		('plans', 'completed_at', 'when its last step was done'),
		('plans', 'steps', 'its steps'),
		('plans', 'steps_done', 'of them, those done'),
		('plans', 'progress', 'steps_done as a fraction (0-1) of steps'),
		('plans', 'next_step', 'the first step not done'),
		('plans', 'next_due_on', 'when it is due'),
		('plans', 'overdue_steps', 'steps not done past their due date'),
		('plans', 'commitments', 'the service levels the plan commits to (add_commitment)'),
		('plans', 'breached_commitments', 'of them, those breached at the last refresh'),
		('plans', 'breaches', 'each breached commitment with its measure''s value and its limit, in words'),
		('plans', 'last_checked_at', 'as_of of the last refresh that checked the commitments'),
		-- goal_status
		('goal_status', 'goal_id', 'the goal, for close_goal'),
		('goal_status', 'account_id', 'the account''s key, of the accounts source''s own type'),
		('goal_status', 'name', 'account name'),
		('goal_status', 'owner', 'customer-success manager'),
		('goal_status', 'goal', 'what the customer wants to achieve'),
		('goal_status', 'measure', 'the measure that tracks it'),
		('goal_status', 'baseline', 'the measure''s value when the goal was set (attainment 0)'),
		('goal_status', 'target', 'the value to reach (attainment 1)'),
		('goal_status', 'starts_on', 'when the goal was set'),
		('goal_status', 'due_on', 'when the target is to be reached'),
		('goal_status', 'measured_on', 'the day of the latest refresh that measured it'),
		('goal_status', 'value', 'the measure then'),
		('goal_status', 'attainment', '(value - baseline) / (target - baseline): 0 at the baseline, 1 at the target'),
		('goal_status', 'expected', 'the straight line from starts_on (0) to due_on (1) then'),
		('goal_status', 'shortfall', 'expected minus attainment (capped at 1) when positive: how far behind the goal is'),
		('goal_status', 'reached', 'true once attainment is 1 or more'),
		('goal_status', 'status', 'open, or closed (close_goal)'),
		('goal_status', 'outcome', 'how a closed goal ended'),
		-- parent_health
		('parent_health', 'parent_account_id', 'the parent account''s key, of the accounts source''s own type'),
		('parent_health', 'parent_name', 'its name, when the parent is a scored account itself'),
		('parent_health', 'children', 'scored accounts with this parent'),
		('parent_health', 'mean_score', 'the children''s mean score, to 0.1'),
		('parent_health', 'arr_weighted_score', 'the children''s mean score weighted by their ARR (children without ARR left out)'),
		('parent_health', 'worst_score', 'the lowest score of a child'),
		('parent_health', 'worst_account_id', 'the child with the lowest score'),
		('parent_health', 'worst_account_name', 'its name'),
		('parent_health', 'good', 'children in the good band'),
		('parent_health', 'average', 'children in the average band'),
		('parent_health', 'poor', 'children in the poor band'),
		('parent_health', 'arr', 'the children''s ARR (NULL when no arr is mapped)'),
		-- play_outcomes
		('play_outcomes', 'rule', 'the rule that raised the flags'),
		('play_outcomes', 'month', 'first day of the month they were raised in'),
		('play_outcomes', 'flags_raised', 'flags the rule raised that month'),
		('play_outcomes', 'tasks', 'of them, flags with a task'),
		('play_outcomes', 'tasks_done', 'flags whose task was done'),
		('play_outcomes', 'tasks_not_done', 'flags whose task is open or was dismissed'),
		('play_outcomes', 'done_outcome_known', 'flags with a done task whose outcome is known (90 days passed, or the account cancelled)'),
		('play_outcomes', 'done_churned', 'of them, accounts cancelled within 90 days of the raise'),
		('play_outcomes', 'not_done_outcome_known', 'flags with a task not done whose outcome is known'),
		('play_outcomes', 'not_done_churned', 'of them, accounts cancelled within 90 days of the raise'),
		('play_outcomes', 'done_churn_rate', 'done_churned / done_outcome_known (0-1)'),
		('play_outcomes', 'not_done_churn_rate', 'not_done_churned / not_done_outcome_known (0-1): compare with done_churn_rate')
		) c(view, col, comment)
	LOOP
		EXECUTE format('COMMENT ON COLUMN health_score.%I.%I IS %L', r.view, r.col, r.comment);
	END LOOP;
	-- the pass-through dimensions' columns
	FOR r IN SELECT d.key, d.value FROM pg_catalog.jsonb_each_text(src.dimensions) d LOOP
		EXECUTE format('COMMENT ON COLUMN health_score.account_overview.%I IS %L', r.key,
		               format('pass-through dimension, from column %s of the accounts source, as text', r.value));
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION health_score.rebuild_views() IS
	'drops the executive views and recreates them with account_id of the accounts source''s type and its pass-through dimensions (drops only, when no accounts source is registered)';
-- It drops and creates objects: like add_source and drop_source, not for PUBLIC.
REVOKE EXECUTE ON FUNCTION health_score.rebuild_views() FROM PUBLIC;

-- The views rebuild_views() makes, dependants first (the order they are dropped in).
CREATE FUNCTION health_score._view_names() RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY['play_outcomes', 'parent_health', 'goal_status', 'plans', 'open_tasks', 'score_changes', 'plays',
	             'revenue_at_risk', 'at_risk_flags', 'at_risk_accounts', 'owner_workload', 'cancellation_trend',
	             'health_trend_by', 'health_trend', 'band_breakdown_wide', 'band_breakdown', 'account_overview']
$$;

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
