-- The executive summary `make demo` prints: every number comes from the health_score views, and from
-- backtest() and calibrate(), which test the scores against the cancellations that followed them.
--   psql -X -f demo/summary.sql "host=/tmp/health_score_demo port=55439 dbname=health_score_demo user=postgres"
\set QUIET on
\set ON_ERROR_STOP on
\pset footer off
\pset null '-'
SET search_path = health_score, public;

\echo
\echo '== Health bands: all accounts and by segment (percent of accounts; ARR in dollars)'
SELECT CASE WHEN dimension = 'all' THEN 'All accounts' ELSE value END AS segment,
       to_char(accounts, 'FM999,999') AS accounts,
       good_pct || '%' AS good, average_pct || '%' AS average, poor_pct || '%' AS poor,
       to_char(arr, 'FM$999,999,999') AS arr,
       to_char(arr_poor, 'FM$999,999,999') AS arr_poor
  FROM band_breakdown_wide
 WHERE dimension IN ('all', 'segment')
 ORDER BY dimension <> 'all', arr DESC;

\echo '== Health trend: the last 8 weeks'
SELECT day, to_char(accounts, 'FM999,999') AS accounts, average_score,
       good_pct || '%' AS good, average_pct || '%' AS average, poor_pct || '%' AS poor,
       to_char(arr_poor, 'FM$999,999,999') AS arr_poor
  FROM health_trend
 WHERE day >= current_date - 56
 ORDER BY day;

\echo '== Cancellations: the last 6 months (rate = cancellations / accounts active at the start of the month)'
SELECT to_char(month, 'YYYY-MM') || CASE WHEN complete THEN '' ELSE ' (so far)' END AS month,
       to_char(active_at_start, 'FM999,999') AS active_at_start, cancellations,
       cancellation_rate || '%' AS rate,
       to_char(arr_cancelled, 'FM$999,999,999') AS arr_cancelled,
       coalesce(direction, '')
       || CASE WHEN rate_change IS NOT NULL THEN ' (' || CASE WHEN rate_change > 0 THEN '+' ELSE '' END
                                                || rate_change || ' pts)' ELSE '' END AS against_previous_month
  FROM cancellation_trend
 WHERE month > (date_trunc('month', now()) - interval '6 months')::date
 ORDER BY cancellation_trend.month;

\echo '== Workload per customer-success manager (flagged: poor share at least 1.5 x the team''s, and 2+ poor accounts)'
SELECT coalesce(owner, '(unassigned)') AS owner, accounts, poor,
       poor_pct || '%' AS poor_share, team_poor_pct || '%' AS team_share, average_score,
       open_red_flags, at_risk_accounts AS at_risk,
       to_char(arr_at_risk, 'FM$999,999,999') AS arr_at_risk, open_tasks, overdue_tasks,
       CASE WHEN notably_more_poor THEN '<< review book' ELSE '' END AS note
  FROM owner_workload
 ORDER BY notably_more_poor DESC, poor_pct DESC, owner;

\echo '== Revenue at risk (at risk: band poor or an open red flag)'
SELECT band, to_char(accounts, 'FM999,999') AS accounts, to_char(arr, 'FM$999,999,999') AS arr, arr_pct || '%' AS share_of_arr
  FROM (SELECT band, accounts, arr, arr_pct,
               array_position(ARRAY['good', 'average', 'poor', 'unscored', 'all'], band) AS ord
          FROM revenue_at_risk WHERE open_flag_severity = 'all') b
 ORDER BY ord;
SELECT to_char(count(*), 'FM999,999') AS accounts_at_risk,
       to_char(sum(arr), 'FM$999,999,999') AS arr_at_risk,
       round(100.0 * sum(arr) / nullif((SELECT sum(arr) FROM account_overview), 0), 1) || '%' AS share_of_arr
  FROM account_overview WHERE at_risk;

\echo '== The 10 most urgent at-risk accounts (worst flag, then the poor band, then ARR): why, and what to do'
\pset format unaligned
\pset tuples_only on
SELECT format(E'%s. %s  (%s segment, %s plan, owner %s)\n    ARR %s, renews %s (in %s days); score %s %s%s\n    why: %s\n    do:  %s\n',
              rank, name, segment, plan, owner, to_char(arr, 'FM$999,999,999'), renewal_date, days_to_renewal,
              score, band,
              CASE WHEN score_change_30d IS NOT NULL
                   THEN format(', %s%s in 30 days', CASE WHEN score_change_30d > 0 THEN '+' ELSE '' END, score_change_30d)
                   ELSE '' END,
              array_to_string(reasons, '; '),
              coalesce(nullif(array_to_string(actions, E'\n         '), ''), 'Review the account: its score is in the poor band.'))
  FROM at_risk_accounts
 ORDER BY rank
 LIMIT 10;
\pset tuples_only off
\pset format aligned

\echo '== Plays: open info and opportunity flags'
SELECT rule, severity, count(*) AS accounts, to_char(sum(arr), 'FM$999,999,999') AS arr, min(action) AS action
  FROM plays
 GROUP BY rule, severity
 ORDER BY count(*) DESC;

\echo '== The team''s open tasks, overdue first (open_tasks), and the win-back plans (plans)'
SELECT rule, count(*) AS open_tasks, count(*) FILTER (WHERE overdue) AS overdue,
       count(*) FILTER (WHERE NOT flag_open) AS flag_cleared_since
  FROM open_tasks GROUP BY rule ORDER BY count(*) DESC;
SELECT name, owner, round(100 * progress) || '%' AS progress, next_step, next_due_on,
       coalesce(array_to_string(breaches, '; '), '') AS breaches
  FROM plans;
SELECT name, goal, round(100 * attainment) || '%' AS attained, round(100 * expected) || '%' AS expected_by_now
  FROM goal_status;

\echo '== Did the scores see it coming? backtest(): the scores of each fortnight from 26 to 13 weeks ago against the cancellations of the 90 days after'
\echo '   (AUC: the chance that an account which cancelled had scored lower than one which stayed; 0.5 is a coin toss)'
SELECT coalesce(to_char(as_of, 'YYYY-MM-DD'), 'all') AS as_of, scores_from, accounts, churned,
       round(100 * churn_rate::numeric, 1) || '%' AS churn, round(auc::numeric, 3) AS auc,
       (SELECT k.key || ' ' || k.value FROM jsonb_each(component_auc) k ORDER BY k.value DESC LIMIT 1) AS best_component,
       (SELECT k.key || ' ' || k.value FROM jsonb_each(baseline_auc) k ORDER BY k.value DESC LIMIT 1) AS best_baseline,
       churn_by_band -> 'poor' ->> 'churn_rate' AS churn_poor, churn_by_band -> 'good' ->> 'churn_rate' AS churn_good
  FROM backtest(date_trunc('day', now()) - interval '26 weeks', date_trunc('day', now()) - interval '13 weeks', '14 days')
 ORDER BY backtest.as_of NULLS LAST;

-- (the fit needs the company's first 510 days: HS_DEMO_MONTHS of 17 or more)
SELECT min(started_at) <= now() - interval '510 days' AS long_enough FROM demo.accounts \gset
\if :long_enough
\echo '== Calibration: calibrate() fitted on the fortnights of 510 to 270 days ago, judged on those of 180 to 90 days ago'
SELECT model, round(auc_training::numeric, 3) AS auc_training, round(auc_validation::numeric, 3) AS auc_validation,
       churn_by_band -> 'poor' ->> 'churn_rate' AS churn_poor, churn_by_band -> 'average' ->> 'churn_rate' AS churn_average,
       churn_by_band -> 'good' ->> 'churn_rate' AS churn_good,
       CASE model WHEN 'proposed' THEN settings::text WHEN 'current' THEN settings::text ELSE coalesce(note, '') END AS settings_or_note
  FROM calibrate('default', now() - interval '510 days', now() - interval '270 days',
                 now() - interval '180 days', now() - interval '90 days', every => '14 days')
 ORDER BY model <> 'current', model <> 'proposed', auc_validation DESC NULLS LAST
 LIMIT 6;
\echo '   The proposed settings are not applied: calibrate(..., apply => true) writes them as a new version of the profile.'
\else
\echo '== Calibration: skipped, the company is younger than the 510 days calibrate() is given here (HS_DEMO_MONTHS)'
\endif
