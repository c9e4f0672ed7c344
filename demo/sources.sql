-- Registers the synthetic company's tables as health_score sources and sets the profiles the demo and the
-- refresh benchmark score against. Run after demo.generate_company().
SET client_min_messages = warning;
-- (parent_account_id is found by its name; product is carried into the views as a dimension, from 0.2.0,
-- unless psql's variable no_dimensions is set: the upgrade test registers the demo at 0.1.0 too, and compares
-- the views of the two registrations)
SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid = 'health_score.sources'::regclass
                                                      AND attname = 'dimensions') AND NOT :{?no_dimensions} AS has_dimensions \gset
\if :has_dimensions
SELECT health_score.add_source('accounts', 'demo.accounts', '{"dimensions": ["product"]}') IS NOT NULL AS ok \gset
\else
SELECT health_score.add_source('accounts', 'demo.accounts') IS NOT NULL AS ok \gset
\endif
SELECT health_score.add_source('activity', 'demo.events') IS NOT NULL AS ok \gset
SELECT health_score.add_source('support_cases', 'demo.support_cases') IS NOT NULL AS ok \gset
SELECT health_score.add_source('surveys', 'demo.surveys') IS NOT NULL AS ok \gset
SELECT health_score.add_source('touchpoints', 'demo.touchpoints') IS NOT NULL AS ok \gset
-- What a typical active user does in a day, measured on the company's own last 90 days: the yardstick
-- engagement is scored against (as a customer would set it from their own data).
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY e)::numeric, 3) AS expected
  FROM (SELECT count(*)::float8 / count(DISTINCT user_id) / 90 AS e
          FROM demo.events WHERE occurred_at > now() - interval '90 days' GROUP BY account_id) x \gset
\echo '       expected events per active user and day (median account, last 90 days):' :expected
UPDATE health_score.profile
   SET key_features = '{report,dashboard}', expected_events_per_user_day = :expected
 WHERE name = 'default';
INSERT INTO health_score.profile (name, segment, key_features, expected_events_per_user_day, half_life)
VALUES ('enterprise', 'Enterprise', '{report,dashboard,api}', :expected, '21 days');
INSERT INTO health_score.profile (name, lifecycle_stage, key_features, expected_events_per_user_day, priority)
VALUES ('onboarding', 'onboarding', '{dashboard}', round(:expected * 0.6, 3), 1);
\echo '       profiles: default {report,dashboard}; enterprise (segment Enterprise) {report,dashboard,api}, half-life 21 days; onboarding (lifecycle stage) {dashboard}, 60% of the usage'
