-- The team at work in the demo company, after the weekly refreshes have opened tasks: most tasks opened more
-- than a week ago are done, some dismissed; the three poor accounts with the most ARR get a win-back plan with
-- a support commitment; five accounts have goals set two months ago. A last refresh then checks the
-- commitments and measures the goals. Run after demo/sources.sql and the refreshes (tools/demo.sh).
SET client_min_messages = warning;

-- (as the generator does: the same tasks done whatever the run, by a hash of their account and rule)
SELECT count(*) FILTER (WHERE x.done) AS tasks_done, count(*) FILTER (WHERE NOT x.done) AS tasks_dismissed
  FROM (SELECT t.id, demo.rnd(42, 60, hashtext(t.account_id || t.rule)) < 0.85 AS done
          FROM health_score.task t
         WHERE t.status = 'open' AND t.created_at < now() - interval '7 days'
           AND demo.rnd(42, 61, hashtext(t.account_id || t.rule)) < 0.9) x,
       LATERAL (SELECT CASE WHEN x.done
                            THEN health_score.complete_task(x.id, 'Called the customer and agreed the next steps.')
                            ELSE health_score.dismiss_task(x.id, 'Covered by the account plan already.') END) c \gset
\echo '       tasks: ' :tasks_done 'done and' :tasks_dismissed 'dismissed by the team; the rest are open (health_score.open_tasks)'

SELECT count(*) AS plans
  FROM (SELECT h.account_id FROM health_score.account_health h WHERE h.band = 'poor'
         ORDER BY h.arr DESC NULLS LAST, h.account_id LIMIT 3) a,
       LATERAL health_score.start_plan(a.account_id) p,
       LATERAL health_score.add_commitment(p.id, 'Support cases resolved within 2 days', 'oldest_open_case_days', at_most => 2) c \gset
-- the first steps of the plans are done
SELECT count(health_score.complete_step(p.id, 'team review', 'Reviewed with support and the sponsor''s history.')) AS steps
  FROM health_score.plan p \gset
\echo '       plans: ' :plans 'win-back plans for the poor accounts with the most ARR, each with a support commitment (health_score.plans)'

-- goals set two months ago, due in a month: a larger active team, from a baseline that makes some of them on
-- track and others behind
SELECT count(*) AS goals
  FROM (SELECT h.account_id, h.name,
               (h.inputs -> 'utilisation' ->> 'active_users_30d')::float8 AS users
          FROM health_score.account_health h
         WHERE h.band IN ('average', 'good') AND h.inputs -> 'utilisation' ? 'active_users_30d'
         ORDER BY h.arr DESC NULLS LAST, h.account_id LIMIT 5) a,
       LATERAL health_score.add_goal(a.account_id, 'Grow the active team by a third', 'active_users_30d',
                                     target => round(a.users * 1.3 + 2), due_on => CURRENT_DATE + 30,
                                     baseline => round(a.users * (0.3 + 0.6 * demo.rnd(42, 62, hashtext(a.account_id))))) g \gset
UPDATE health_score.goal SET starts_on = starts_on - 60, set_at = set_at - interval '60 days';
\echo '       goals: ' :goals 'customer goals set two months ago (health_score.goal_status)'

SELECT r.flags_raised AS raised FROM health_score.refresh() r \gset
\echo '       a last refresh checked the commitments and measured the goals (' :raised 'flags raised)'
