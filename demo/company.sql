-- A synthetic subscription company for `make demo`, the tests and the benchmark.
--
--   \i demo/company.sql
--   SELECT * FROM demo.generate_company(seed => 42);            -- 2,000 accounts, 18 months, ~1.4M events
--
-- Every account has a latent health (demo.latent, which the pipeline never reads). It drives what the
-- account does (how many seats are used, how often, which features, support cases, survey ratings, whether
-- the customer answers its success manager) and whether it cancels. Some accounts go through a decline with
-- one of four causes, each leaving its own traces in the data:
--   product_problems  a burst of support cases, some left open for weeks, detractor ratings
--   lost_champion     users drop away, outreach goes unanswered, the account falls silent
--   low_adoption      key features abandoned, licences left unused, infrequent use
--   budget            a gradual fade of everything
-- Three in four declines end in a cancellation (at the next monthly renewal for Starter plans, at the next
-- contract anniversary for the others); the rest recover. On top of that comes noise: cancellations without a
-- decline (acquisitions, budget cuts) that are likelier the weaker the account, and random variation in
-- everything. The scores are not tuned to any of this: they only see the behaviour.
--
-- Randomness is hash-based (demo.rnd(seed, stream, key)), so the data depends only on the arguments, never on
-- the order rows are produced in: the same seed gives the same data.

CREATE SCHEMA demo;
COMMENT ON SCHEMA demo IS 'synthetic company for make demo, the tests and the benchmark (demo.generate_company)';

CREATE TABLE demo.accounts (
	account_id bigint PRIMARY KEY,
	name text NOT NULL,
	segment text NOT NULL,
	lifecycle_stage text NOT NULL,
	plan text NOT NULL,
	owner text NOT NULL,
	seats integer NOT NULL,
	arr numeric(12, 2) NOT NULL,
	renewal_date date,
	started_at timestamptz NOT NULL,
	cancelled_at timestamptz,
	-- the product line bought: a pass-through dimension of the demo (demo/sources.sql)
	product text NOT NULL,
	-- subsidiaries of a group among the first 20 accounts (health_score.parent_health)
	parent_account_id bigint
);
COMMENT ON TABLE demo.accounts IS 'synthetic customers: the accounts source of the demo';

-- The truth behind each account, for explaining the demo: the pipeline never reads it.
CREATE TABLE demo.latent (
	account_id bigint PRIMARY KEY,
	health float8 NOT NULL,
	utilisation float8 NOT NULL,
	intensity float8 NOT NULL,
	expander boolean NOT NULL,
	decline_cause text,
	decline_start timestamptz,
	decline_days float8,
	decline_depth float8,
	recover_at timestamptz,
	cancel_reason text,
	adopt_report timestamptz,
	adopt_dashboard timestamptz,
	adopt_api timestamptz,
	adopt_alerts timestamptz,
	adopt_export timestamptz,
	survey_phase integer NOT NULL
);
COMMENT ON TABLE demo.latent IS 'the latent health and decline behind each synthetic account (never read by the pipeline)';

CREATE TABLE demo.events (
	account_id bigint NOT NULL,
	user_id bigint NOT NULL,
	occurred_at timestamptz NOT NULL,
	feature text NOT NULL
);
COMMENT ON TABLE demo.events IS 'product usage events: the activity source of the demo';

CREATE TABLE demo.support_cases (
	case_id bigint PRIMARY KEY,
	account_id bigint NOT NULL,
	opened_at timestamptz NOT NULL,
	closed_at timestamptz,
	priority text NOT NULL
);
COMMENT ON TABLE demo.support_cases IS 'support cases (closed_at NULL while open): the support_cases source of the demo';

CREATE TABLE demo.surveys (
	account_id bigint NOT NULL,
	user_id bigint NOT NULL,
	responded_at timestamptz NOT NULL,
	rating integer NOT NULL CHECK (rating BETWEEN 0 AND 10),
	category text NOT NULL
);
COMMENT ON TABLE demo.surveys IS 'NPS survey responses (0-10): the surveys source of the demo';

CREATE TABLE demo.touchpoints (
	account_id bigint NOT NULL,
	occurred_at timestamptz NOT NULL,
	direction text NOT NULL CHECK (direction IN ('outbound', 'inbound')),
	answered boolean NOT NULL,
	channel text NOT NULL
);
COMMENT ON TABLE demo.touchpoints IS 'contacts between success managers and customers: the touchpoints source of the demo';

-- A uniform pseudo-random number in [0, 1) from (seed, stream, key). SQL and without SET search_path so the
-- planner inlines it (16 times faster over millions of rows); every reference is schema-qualified instead.
CREATE FUNCTION demo.rnd(seed integer, stream integer, key bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT ((pg_catalog.hashint8extended(key, seed::bigint OPERATOR(pg_catalog.*) 1000003
	                                          OPERATOR(pg_catalog.+) stream)
	         OPERATOR(pg_catalog.>>) 11) OPERATOR(pg_catalog.&) 9007199254740991)::float8
	       OPERATOR(pg_catalog./) 9007199254740992.0::float8
$$;
COMMENT ON FUNCTION demo.rnd(integer, integer, bigint) IS 'uniform pseudo-random number in [0, 1) determined by (seed, stream, key)';

-- A standard normal pseudo-random number (Box-Muller over two streams).
CREATE FUNCTION demo.rnorm(seed integer, stream integer, key bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT pg_catalog.sqrt(-2.0::float8 OPERATOR(pg_catalog.*)
	                       pg_catalog.ln(1.0::float8 OPERATOR(pg_catalog.-) demo.rnd(seed, stream, key)))
	       OPERATOR(pg_catalog.*) pg_catalog.cos(2.0::float8 OPERATOR(pg_catalog.*) pg_catalog.pi()
	                                             OPERATOR(pg_catalog.*) demo.rnd(seed, stream OPERATOR(pg_catalog.+) 1, key))
$$;
COMMENT ON FUNCTION demo.rnorm(integer, integer, bigint) IS 'standard normal pseudo-random number determined by (seed, stream, key)';

-- The first renewal on or after x of a contract started at started: monthly or yearly anniversaries.
CREATE FUNCTION demo.next_renewal(started timestamptz, x timestamptz, monthly boolean) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN c < x THEN c + step ELSE c END
	  FROM (SELECT started + step * n AS c, step
	          FROM (SELECT CASE WHEN monthly THEN interval '1 month' ELSE interval '1 year' END AS step,
	                       CASE WHEN x <= started THEN 0
	                            WHEN monthly THEN (extract(year FROM age(x, started)) * 12
	                                               + extract(month FROM age(x, started)))::integer
	                            ELSE extract(year FROM age(x, started))::integer END AS n) s) t
$$;
COMMENT ON FUNCTION demo.next_renewal(timestamptz, timestamptz, boolean) IS
	'first monthly or yearly anniversary of started on or after x';

-- Fills the demo tables (emptying them first) and adds a few observations to health_score.observation.
--   seed                      the same seed gives the same data
--   accounts                  number of accounts (all active at the window's start or started inside it)
--   months                    length of the window of activity, ending at as_of
--   events_per_account_month  average number of events per account and month of the window; the total is
--                             accounts * months * this, up to rounding
--   as_of                     end of the window (midnight today by default); nothing happens after it
-- Returns the rows written per table.
CREATE FUNCTION demo.generate_company(
	seed integer,
	accounts integer DEFAULT 2000,
	months integer DEFAULT 18,
	events_per_account_month float8 DEFAULT 40,
	as_of timestamptz DEFAULT pg_catalog.date_trunc('day', pg_catalog.now()))
RETURNS TABLE (relation text, rows_written bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	s constant integer := generate_company.seed;
	n constant integer := generate_company.accounts;
	t_end constant timestamptz := generate_company.as_of;
	t_start constant timestamptz := generate_company.as_of - make_interval(months => generate_company.months);
	span_days constant float8 := date_part('epoch', generate_company.as_of
	                                         - (generate_company.as_of - make_interval(months => generate_company.months))) / 86400.0;
	n_weeks integer;
	rho float8;
	cnt bigint;
BEGIN
	IF s IS NULL OR n IS NULL OR n < 1 OR generate_company.months IS NULL OR generate_company.months < 1
	   OR events_per_account_month IS NULL OR events_per_account_month < 0 OR t_end IS NULL THEN
		RAISE EXCEPTION 'generate_company needs a seed, accounts >= 1, months >= 1, events_per_account_month >= 0 and as_of'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF n >= 100000000 THEN
		RAISE EXCEPTION 'at most 99,999,999 accounts' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	n_weeks := ceil(span_days / 7.0)::integer;

	IF to_regclass('health_score.observation') IS NOT NULL THEN
		DELETE FROM health_score.observation o
		 WHERE o.account_id IN (SELECT a.account_id::text FROM demo.accounts a);
	END IF;
	TRUNCATE demo.accounts, demo.latent, demo.events, demo.support_cases, demo.surveys, demo.touchpoints;

	-- Accounts and their latent behaviour.
	IF to_regclass('pg_temp.demo_acct') IS NOT NULL THEN
		DROP TABLE pg_temp.demo_acct;
	END IF;
	IF to_regclass('pg_temp.demo_week') IS NOT NULL THEN
		DROP TABLE pg_temp.demo_week;
	END IF;
	CREATE TEMP TABLE demo_acct ON COMMIT DROP AS
	WITH base AS (
		SELECT i::bigint AS id,
		       ((i::bigint * 7919 + s::bigint * 104729) % 7200)::integer AS name_ix,
		       CASE WHEN demo.rnd(s, 1, i) < 0.6 THEN 'SMB' WHEN demo.rnd(s, 1, i) < 0.9 THEN 'Mid-Market'
		            ELSE 'Enterprise' END AS segment,
		       demo.rnd(s, 2, i) AS u_plan,
		       demo.rnd(s, 3, i) AS u_seats,
		       (ARRAY['Alex Morgan', 'Priya Raman', 'Jordan Lee', 'Sofia Alvarez', 'Marcus Chen', 'Hannah Berg',
		              'Tomas Ortega', 'Aisha Bello'])[1 + floor(demo.rnd(s, 4, i) * 8)::integer] AS owner,
		       CASE WHEN demo.rnd(s, 5, i) < 0.25
		            THEN t_start + (span_days - 21) * demo.rnd(s, 6, i) * interval '1 day'
		            ELSE t_start - (30 + 1065 * demo.rnd(s, 6, i)) * interval '1 day' END AS started_raw,
		       demo.rnd(s, 7, i) AS u_health
		  FROM generate_series(1, n) i
	), b2 AS (
		SELECT b.*, date_trunc('day', b.started_raw) AS started_at,
		       CASE b.segment
		            WHEN 'SMB' THEN CASE WHEN b.u_plan < 0.6 THEN 'Starter' ELSE 'Growth' END
		            WHEN 'Mid-Market' THEN CASE WHEN b.u_plan < 0.5 THEN 'Growth' ELSE 'Business' END
		            ELSE CASE WHEN b.u_plan < 0.3 THEN 'Business' ELSE 'Enterprise' END END AS plan,
		       CASE b.segment
		            WHEN 'SMB' THEN 2 + floor(b.u_seats ^ 2 * 8)
		            WHEN 'Mid-Market' THEN 5 + floor(b.u_seats ^ 2 * 25)
		            ELSE 15 + floor(b.u_seats ^ 2 * 70) END::integer AS seats,
		       -- latent health: a weaker book for one manager, a slightly stronger one for another
		       least(0.98, greatest(0.05, 0.15 + 0.8 * b.u_health ^ 0.8
		            + CASE b.owner WHEN 'Jordan Lee' THEN -0.14 WHEN 'Hannah Berg' THEN 0.04 ELSE 0 END
		            + CASE b.segment WHEN 'Enterprise' THEN 0.05 ELSE 0 END)) AS health
		  FROM base b
	), b3 AS (
		SELECT b.*,
		       b.plan = 'Starter' AS monthly,
		       least(1.1, greatest(0.12, 0.2 + 0.75 * b.health + 0.1 * demo.rnorm(s, 8, b.id))) AS utilisation,
		       greatest(0.15, 0.25 + 1.0 * b.health + 0.15 * demo.rnorm(s, 10, b.id)) AS intensity,
		       b.health > 0.7 AND demo.rnd(s, 12, b.id) < 0.35 AS expander,
		       demo.rnd(s, 13, b.id) < 0.06 + 0.34 * (1 - b.health) AS declines,
		       CASE WHEN demo.rnd(s, 14, b.id) < 0.3 THEN 'product_problems'
		            WHEN demo.rnd(s, 14, b.id) < 0.55 THEN 'lost_champion'
		            WHEN demo.rnd(s, 14, b.id) < 0.8 THEN 'low_adoption'
		            ELSE 'budget' END AS cause,
		       greatest(b.started_at + interval '45 days',
		                t_start + (demo.rnd(s, 15, b.id) * (span_days + 60) - 60) * interval '1 day') AS d_raw,
		       30 + 60 * demo.rnd(s, 16, b.id) AS decline_days,
		       0.55 + 0.4 * demo.rnd(s, 17, b.id) AS decline_depth,
		       demo.rnd(s, 18, b.id) < 0.75 AS decline_cancels,
		       demo.rnd(s, 19, b.id) < 0.02 + 0.07 * (1 - b.health) AS noise_cancels,
		       t_start + demo.rnd(s, 20, b.id) * span_days * interval '1 day' AS noise_at
		  FROM b2 b
	), b4 AS (
		SELECT b.*,
		       CASE WHEN b.declines AND b.d_raw < t_end THEN b.d_raw END AS decline_start
		  FROM b3 b
	), b5 AS (
		SELECT b.*,
		       CASE WHEN b.decline_start IS NOT NULL AND b.decline_cancels THEN
		                 CASE WHEN b.monthly
		                      THEN b.decline_start + (0.6 * b.decline_days + 14 + 56 * demo.rnd(s, 21, b.id)) * interval '1 day'
		                      ELSE demo.next_renewal(b.started_at, b.decline_start + interval '45 days', false) END
		            WHEN b.decline_start IS NULL AND b.noise_cancels THEN
		                 demo.next_renewal(b.started_at, greatest(b.noise_at, b.started_at + interval '30 days'), b.monthly)
		       END AS cancel_raw
		  FROM b4 b
	), b6 AS (
		SELECT b.*,
		       CASE WHEN b.cancel_raw < t_end THEN date_trunc('day', b.cancel_raw) END AS cancelled_at
		  FROM b5 b
	)
	SELECT b.id AS account_id,
	       (ARRAY['Acme', 'Northwind', 'Blue Harbor', 'Summit', 'Evergreen', 'Redwood', 'Silverline', 'Brightpath',
	              'Ironbridge', 'Clearwater', 'Granite', 'Lakeside', 'Highland', 'Beacon', 'Crescent', 'Maple',
	              'Orion', 'Pioneer', 'Riverbend', 'Sterling', 'Tidewater', 'Vantage', 'Westfield', 'Zenith',
	              'Aurora', 'Cobalt', 'Falcon', 'Harbor Point', 'Juniper', 'Keystone'])
	           [1 + b.name_ix / 240]
	       || ' ' ||
	       (ARRAY['Analytics', 'Logistics', 'Health', 'Foods', 'Robotics', 'Media', 'Energy', 'Software', 'Retail',
	              'Finance', 'Labs', 'Travel', 'Education', 'Security', 'Biotech', 'Motors', 'Textiles', 'Games',
	              'Insurance', 'Dental', 'Freight', 'Studios', 'Systems', 'Partners', 'Holdings', 'Farms', 'Marine',
	              'Telecom', 'Clinics', 'Outdoors'])
	           [1 + (b.name_ix / 8) % 30]
	       || ' ' ||
	       (ARRAY['Inc', 'Ltd', 'GmbH', 'Group', 'Co', 'LLC', 'AG', 'SA'])
	           [1 + b.name_ix % 8] AS name,
	       b.segment,
	       CASE WHEN b.cancelled_at IS NOT NULL THEN 'churned'
	            WHEN t_end - b.started_at < interval '90 days' THEN 'onboarding'
	            WHEN t_end - b.started_at < interval '365 days' THEN 'adoption'
	            WHEN demo.next_renewal(b.started_at, t_end, b.monthly) - t_end < interval '90 days'
	                 AND NOT b.monthly THEN 'renewal'
	            ELSE 'mature' END AS lifecycle_stage,
	       b.plan, b.owner, b.seats,
	       round((greatest(CASE b.plan WHEN 'Enterprise' THEN 40000 WHEN 'Business' THEN 12000 ELSE 0 END,
	                       b.seats * CASE b.plan WHEN 'Starter' THEN 600 WHEN 'Growth' THEN 1200
	                                             WHEN 'Business' THEN 1800 ELSE 3000 END
	                       * (0.85 + 0.3 * demo.rnd(s, 22, b.id))))::numeric, 2) AS arr,
	       coalesce(b.cancelled_at, demo.next_renewal(b.started_at, t_end, b.monthly))::date AS renewal_date,
	       b.started_at, b.cancelled_at,
	       -- latent
	       b.health, b.utilisation, b.intensity, b.expander,
	       CASE WHEN b.decline_start IS NOT NULL THEN b.cause END AS decline_cause,
	       b.decline_start, b.decline_days, b.decline_depth,
	       CASE WHEN b.decline_start IS NOT NULL AND NOT b.decline_cancels
	            THEN b.decline_start + (b.decline_days + 30 + 60 * demo.rnd(s, 23, b.id)) * interval '1 day' END
	           AS recover_at,
	       CASE WHEN b.cancelled_at IS NULL THEN NULL WHEN b.decline_start IS NOT NULL THEN 'decline' ELSE 'noise' END
	           AS cancel_reason,
	       -- key features: adopted from the start (a few weeks in for new accounts), later in the window, or never
	       a.adopt[1] AS adopt_report, a.adopt[2] AS adopt_dashboard, a.adopt[3] AS adopt_api,
	       a.adopt[4] AS adopt_alerts, a.adopt[5] AS adopt_export,
	       floor(demo.rnd(s, 24, b.id) * 13)::integer AS survey_phase
	  FROM b6 b
	  CROSS JOIN LATERAL (
		SELECT array_agg(CASE WHEN demo.rnd(s, 30 + f.k, b.id) < f.p_early
		                      THEN b.started_at + CASE WHEN b.started_at >= t_start
		                                               THEN (7 + 50 * demo.rnd(s, 40 + f.k, b.id)) * interval '1 day'
		                                               ELSE interval '0' END
		                      WHEN demo.rnd(s, 30 + f.k, b.id) < f.p_early + 0.2
		                      THEN greatest(b.started_at, t_start) + demo.rnd(s, 40 + f.k, b.id)
		                           * (t_end - greatest(b.started_at, t_start))
		                 END ORDER BY f.k) AS adopt
		  FROM (VALUES (1, 0.35 + 0.6 * b.health), (2, 0.35 + 0.6 * b.health), (3, 0.1 + 0.5 * b.health),
		               (4, 0.15 + 0.5 * b.health), (5, 0.2 + 0.5 * b.health)) f(k, p_early)
	  ) a;

	INSERT INTO demo.accounts
	SELECT x.account_id, x.name, x.segment, x.lifecycle_stage, x.plan, x.owner, x.seats, x.arr, x.renewal_date,
	       x.started_at, x.cancelled_at,
	       (ARRAY['Analytics', 'Workflow', 'Platform'])[1 + floor(demo.rnd(s, 26, x.account_id) * 3)::integer],
	       CASE WHEN x.account_id > 20 AND demo.rnd(s, 27, x.account_id) < 0.1
	            THEN 1 + floor(demo.rnd(s, 28, x.account_id) * least(20, n))::bigint END
	  FROM pg_temp.demo_acct x;
	INSERT INTO demo.latent
	SELECT x.account_id, x.health, x.utilisation, x.intensity, x.expander, x.decline_cause, x.decline_start,
	       x.decline_days, x.decline_depth, x.recover_at, x.cancel_reason, x.adopt_report, x.adopt_dashboard,
	       x.adopt_api, x.adopt_alerts, x.adopt_export, x.survey_phase
	  FROM pg_temp.demo_acct x;
	GET DIAGNOSTICS cnt = ROW_COUNT;
	relation := 'demo.accounts'; rows_written := cnt; RETURN NEXT;

	-- Account-weeks of the window while the account is live, with the state of its behaviour that week.
	CREATE TEMP TABLE demo_week (
		account_id bigint, week integer, t0 timestamptz, t1 timestamptz, segment text, health float8,
		cause text, decline float8, decline_phase float8, users integer, lam float8, survey_wave boolean
	) ON COMMIT DROP;
	INSERT INTO pg_temp.demo_week
	SELECT w.account_id, w.week, w.t0, w.t1, w.segment, w.health, w.decline_cause,
	       w.decline, w.phase,
	       greatest(1, round(w.seats * w.utilisation * w.onboard * w.growth
	                         * (1 - w.decline * CASE WHEN w.decline_cause = 'product_problems' THEN 0.4 ELSE 0.8 END)))::integer,
	       w.frac * w.intensity * (1 - w.decline) * (0.5 + 0.5 * w.onboard)
	           * greatest(1, round(w.seats * w.utilisation * w.onboard * w.growth
	                               * (1 - w.decline * CASE WHEN w.decline_cause = 'product_problems' THEN 0.4 ELSE 0.8 END))),
	       (w.week + w.survey_phase) % 13 = 0
	  FROM (
		SELECT v.*,
		       v.decline_depth * v.phase
		           * (1 - CASE WHEN v.recover_at IS NULL THEN 0
		                       ELSE least(1, greatest(0, date_part('epoch', v.tm - v.recover_at) / (45 * 86400.0))) END)
		           AS decline
		  FROM (
			SELECT x.account_id, k AS week, x.segment, x.seats, x.health, x.utilisation, x.intensity,
			       x.decline_cause, x.decline_depth, x.recover_at, x.survey_phase,
			       greatest(ws, x.started_at) AS t0,
			       least(ws + interval '7 days', coalesce(x.cancelled_at, t_end), t_end) AS t1,
			       date_part('epoch', least(ws + interval '7 days', coalesce(x.cancelled_at, t_end), t_end)
			                           - greatest(ws, x.started_at)) / (7 * 86400.0) AS frac,
			       tm,
			       CASE WHEN x.decline_start IS NULL THEN 0
			            ELSE least(1, greatest(0, date_part('epoch', tm - x.decline_start) / (x.decline_days * 86400.0)))
			       END AS phase,
			       0.35 + 0.65 * least(1, greatest(0, date_part('epoch', tm - x.started_at) / (60 * 86400.0))) AS onboard,
			       CASE WHEN x.expander
			            THEN 0.85 + 0.5 * least(1, greatest(0, date_part('epoch', tm - t_start) / (span_days * 86400.0)))
			            ELSE 1 END AS growth
			  FROM pg_temp.demo_acct x
			 CROSS JOIN generate_series(0, n_weeks - 1) k
			 CROSS JOIN LATERAL (SELECT t_start + k * interval '7 days' AS ws) a
			 CROSS JOIN LATERAL (SELECT greatest(a.ws, x.started_at)
			                            + (least(a.ws + interval '7 days', coalesce(x.cancelled_at, t_end), t_end)
			                               - greatest(a.ws, x.started_at)) / 2 AS tm) m
			 WHERE a.ws < least(coalesce(x.cancelled_at, t_end), t_end)
			   AND a.ws + interval '7 days' > x.started_at
		  ) v
	  ) w;

	-- Scale so the window holds accounts * months * events_per_account_month events. Summed as numeric so the
	-- factor does not depend on the order of summation.
	SELECT (n::numeric * generate_company.months * events_per_account_month::numeric
	        / nullif(sum(w.lam::numeric), 0))::float8
	  INTO rho FROM pg_temp.demo_week w;
	rho := coalesce(rho, 0);

	-- Events: users drawn from the week's active users; key features only once adopted, and abandoned
	-- during a decline (entirely for low_adoption) in favour of plain logins.
	INSERT INTO demo.events (account_id, user_id, occurred_at, feature)
	SELECT w.account_id,
	       w.account_id * 10000 + 1 + floor(demo.rnd(s, 101, e.key) * w.users)::bigint,
	       e.ts,
	       CASE WHEN f.c IN ('report', 'dashboard', 'api', 'alerts', 'export')
	                 AND (f.adopted IS NULL OR e.ts < f.adopted
	                      OR demo.rnd(s, 104, e.key) < w.decline
	                         * CASE WHEN w.cause = 'low_adoption' THEN 1.6 ELSE 0.6 END)
	            THEN 'login' ELSE f.c END
	  FROM pg_temp.demo_week w
	  JOIN demo.latent l ON l.account_id = w.account_id
	 CROSS JOIN LATERAL generate_series(1, floor(w.lam * rho + demo.rnd(s, 100, w.account_id * 4096 + w.week))::integer) i
	 CROSS JOIN LATERAL (SELECT (w.account_id << 32) + (w.week::bigint << 20) + i AS key) k
	 CROSS JOIN LATERAL (SELECT k.key, w.t0 + (w.t1 - w.t0) * demo.rnd(s, 102, k.key) AS ts) e
	 CROSS JOIN LATERAL (
		SELECT x.c,
		       CASE x.c WHEN 'report' THEN l.adopt_report WHEN 'dashboard' THEN l.adopt_dashboard
		                WHEN 'api' THEN l.adopt_api WHEN 'alerts' THEN l.adopt_alerts
		                WHEN 'export' THEN l.adopt_export END AS adopted
		  FROM (SELECT CASE WHEN u < 0.30 THEN 'login' WHEN u < 0.42 THEN 'search' WHEN u < 0.60 THEN 'report'
		                    WHEN u < 0.78 THEN 'dashboard' WHEN u < 0.85 THEN 'export' WHEN u < 0.92 THEN 'api'
		                    WHEN u < 0.97 THEN 'alerts' ELSE 'admin' END AS c
		          FROM (SELECT demo.rnd(s, 103, k.key) AS u) uu) x
	 ) f;
	GET DIAGNOSTICS cnt = ROW_COUNT;
	relation := 'demo.events'; rows_written := cnt; RETURN NEXT;

	-- Support cases: a base rate by segment, more for weak and declining accounts, a burst early in a
	-- product_problems decline, where many cases also stay open for weeks.
	INSERT INTO demo.support_cases (case_id, account_id, opened_at, closed_at, priority)
	SELECT c.case_id, c.account_id, c.opened_at,
	       CASE WHEN c.closed_at <= t_end THEN c.closed_at END,
	       c.priority
	  FROM (
		SELECT (w.account_id << 20) + (w.week << 6) + i AS case_id, w.account_id,
		       w.t0 + (w.t1 - w.t0) * demo.rnd(s, 111, (w.account_id << 20) + (w.week << 6) + i) AS opened_at,
		       w.t0 + (w.t1 - w.t0) * demo.rnd(s, 111, (w.account_id << 20) + (w.week << 6) + i)
		           + CASE WHEN demo.rnd(s, 112, (w.account_id << 20) + (w.week << 6) + i)
		                       < 0.03 + CASE WHEN w.cause = 'product_problems' AND w.decline > 0 THEN 0.45 ELSE 0.05 * w.decline END
		                  THEN (18 + 45 * demo.rnd(s, 113, (w.account_id << 20) + (w.week << 6) + i)) * interval '1 day'
		                  ELSE -ln(1 - demo.rnd(s, 113, (w.account_id << 20) + (w.week << 6) + i)) * 2.5 * interval '1 day' END
		           AS closed_at,
		       CASE WHEN demo.rnd(s, 114, (w.account_id << 20) + (w.week << 6) + i) < 0.04 + 0.25 * w.decline THEN 'urgent'
		            WHEN demo.rnd(s, 114, (w.account_id << 20) + (w.week << 6) + i) < 0.20 + 0.35 * w.decline THEN 'high'
		            WHEN demo.rnd(s, 114, (w.account_id << 20) + (w.week << 6) + i) < 0.75 THEN 'normal'
		            ELSE 'low' END AS priority
		  FROM pg_temp.demo_week w
		 CROSS JOIN LATERAL generate_series(1, least(63, floor(
		           (w.t1 - w.t0 > interval '0')::integer
		           * (date_part('epoch', w.t1 - w.t0) / (7 * 86400.0))
		           * (CASE w.segment WHEN 'SMB' THEN 0.04 WHEN 'Mid-Market' THEN 0.08 ELSE 0.15 END
		              * (0.6 + 0.8 * (1 - w.health)) * (1 + 2 * w.decline)
		              + CASE WHEN w.cause = 'product_problems' AND w.decline_phase > 0 AND w.decline_phase < 0.8
		                     THEN 1.1 ELSE 0 END)
		           + demo.rnd(s, 110, w.account_id * 4096 + w.week)))::integer) i
	  ) c;
	GET DIAGNOSTICS cnt = ROW_COUNT;
	relation := 'demo.support_cases'; rows_written := cnt; RETURN NEXT;

	-- NPS surveys every 13 weeks, half the accounts answering with one to three respondents; ratings follow
	-- health, fall in a decline (most in product_problems), with noise.
	INSERT INTO demo.surveys (account_id, user_id, responded_at, rating, category)
	SELECT w.account_id,
	       w.account_id * 10000 + 1 + floor(demo.rnd(s, 121, r.key) * w.users)::bigint,
	       w.t0 + (w.t1 - w.t0) * demo.rnd(s, 122, r.key),
	       least(10, greatest(0, round(10 * (0.5 + 0.5 * w.health
	                                         * (1 - w.decline * CASE WHEN w.cause = 'product_problems' THEN 1.2 ELSE 0.7 END))
	                                  + 1.1 * demo.rnorm(s, 123, r.key))))::integer,
	       'nps'
	  FROM pg_temp.demo_week w
	 CROSS JOIN LATERAL generate_series(1, CASE WHEN w.survey_wave
	                                               AND demo.rnd(s, 120, w.account_id * 4096 + w.week) < 0.55
	                                          THEN 1 + floor(demo.rnd(s, 125, w.account_id * 4096 + w.week)
	                                                         * least(2, w.users))::integer
	                                          ELSE 0 END) i
	 CROSS JOIN LATERAL (SELECT (w.account_id << 20) + (w.week << 6) + i AS key) r;
	GET DIAGNOSTICS cnt = ROW_COUNT;
	relation := 'demo.surveys'; rows_written := cnt; RETURN NEXT;

	-- Touchpoints: the manager reaches out (more often to declining accounts), customers answer less as
	-- health falls (least after losing their champion); healthy customers also get in touch themselves.
	INSERT INTO demo.touchpoints (account_id, occurred_at, direction, answered, channel)
	SELECT t.account_id, t.occurred_at, t.direction, t.answered, t.channel
	  FROM (
		SELECT w.account_id,
		       w.t0 + (w.t1 - w.t0) * demo.rnd(s, 131, (w.account_id << 20) + (w.week << 6) + i) AS occurred_at,
		       'outbound' AS direction,
		       demo.rnd(s, 132, (w.account_id << 20) + (w.week << 6) + i)
		           < 0.15 + 0.8 * w.health * greatest(0, 1 - w.decline * CASE WHEN w.cause = 'lost_champion' THEN 1.3 ELSE 0.9 END)
		           AS answered,
		       (ARRAY['email', 'call', 'meeting'])[1 + floor(demo.rnd(s, 133, (w.account_id << 20) + (w.week << 6) + i) * 3)::integer]
		           AS channel
		  FROM pg_temp.demo_week w
		 CROSS JOIN LATERAL generate_series(1, floor(
		           (date_part('epoch', w.t1 - w.t0) / (7 * 86400.0))
		           * CASE w.segment WHEN 'SMB' THEN 0.25 WHEN 'Mid-Market' THEN 0.5 ELSE 0.9 END * (1 + 2 * w.decline)
		           + demo.rnd(s, 130, w.account_id * 4096 + w.week))::integer) i
		UNION ALL
		SELECT w.account_id,
		       w.t0 + (w.t1 - w.t0) * demo.rnd(s, 141, (w.account_id << 20) + (w.week << 6) + i),
		       'inbound',
		       demo.rnd(s, 142, (w.account_id << 20) + (w.week << 6) + i) < 0.97,
		       (ARRAY['email', 'call', 'chat'])[1 + floor(demo.rnd(s, 143, (w.account_id << 20) + (w.week << 6) + i) * 3)::integer]
		  FROM pg_temp.demo_week w
		 CROSS JOIN LATERAL generate_series(1, floor(
		           (date_part('epoch', w.t1 - w.t0) / (7 * 86400.0))
		           * (0.04 + 0.3 * w.health * (1 - w.decline))
		           * CASE w.segment WHEN 'SMB' THEN 0.7 WHEN 'Mid-Market' THEN 1.0 ELSE 1.5 END
		           + demo.rnd(s, 140, w.account_id * 4096 + w.week))::integer) i
	  ) t;
	GET DIAGNOSTICS cnt = ROW_COUNT;
	relation := 'demo.touchpoints'; rows_written := cnt; RETURN NEXT;

	-- A few qualitative observations by the managers: a lost champion, no trained admin (open), and some
	-- gaps that were found and fixed (resolved).
	IF to_regclass('health_score.observation') IS NOT NULL THEN
		INSERT INTO health_score.observation (account_id, indicator, note, observed_by, observed_at, resolved_at)
		SELECT o.account_id::text, o.indicator, o.note, o.owner, o.observed_at,
		       CASE WHEN o.resolved_at <= t_end THEN o.resolved_at END
		  FROM (
			SELECT a.account_id, a.owner, a.cancelled_at,
			       CASE l.decline_cause WHEN 'lost_champion' THEN 'champion_left' ELSE 'no_trained_admin' END AS indicator,
			       CASE l.decline_cause WHEN 'lost_champion' THEN 'Our champion has left the company; no successor named yet.'
			            ELSE 'Nobody on the customer side has been trained as an admin.' END AS note,
			       l.decline_start + (7 + 14 * demo.rnd(s, 151, a.account_id)) * interval '1 day' AS observed_at,
			       NULL::timestamptz AS resolved_at
			  FROM demo.accounts a JOIN demo.latent l ON l.account_id = a.account_id
			 WHERE l.decline_cause IN ('lost_champion', 'low_adoption')
			   AND demo.rnd(s, 150, a.account_id) < CASE l.decline_cause WHEN 'lost_champion' THEN 0.5 ELSE 0.3 END
			UNION ALL
			SELECT a.account_id, a.owner, a.cancelled_at, 'no_process_owner',
			       'No process owner for the weekly reporting; agreed to name one.',
			       t_start + demo.rnd(s, 153, a.account_id) * span_days * interval '1 day',
			       t_start + (demo.rnd(s, 153, a.account_id) * span_days + 10 + 40 * demo.rnd(s, 154, a.account_id))
			           * interval '1 day'
			  FROM demo.accounts a JOIN demo.latent l ON l.account_id = a.account_id
			 WHERE l.decline_cause IS NULL AND demo.rnd(s, 152, a.account_id) < 0.03
		  ) o
		 WHERE o.observed_at < least(t_end, coalesce(o.cancelled_at, t_end));
		GET DIAGNOSTICS cnt = ROW_COUNT;
		relation := 'health_score.observation'; rows_written := cnt; RETURN NEXT;
	END IF;

	ANALYZE demo.accounts;
	ANALYZE demo.latent;
	ANALYZE demo.events;
	ANALYZE demo.support_cases;
	ANALYZE demo.surveys;
	ANALYZE demo.touchpoints;
END
$fn$;
COMMENT ON FUNCTION demo.generate_company(integer, integer, integer, float8, timestamptz) IS
	'fill the demo tables with a synthetic company, deterministically from seed';

CREATE INDEX ON demo.events (account_id, occurred_at);
CREATE INDEX ON demo.support_cases (account_id, opened_at);
CREATE INDEX ON demo.surveys (account_id, responded_at);
CREATE INDEX ON demo.touchpoints (account_id, occurred_at);
-- The newest time of each source, read by every refresh to tell a stalled feed (source_freshness): one
-- probe of these indexes instead of a scan.
CREATE INDEX ON demo.events (occurred_at);
CREATE INDEX ON demo.support_cases (opened_at);
CREATE INDEX ON demo.surveys (responded_at);
CREATE INDEX ON demo.touchpoints (occurred_at);
