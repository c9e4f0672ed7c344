-- Configuration: the seeded profile and rules, their validation, and what pg_dump keeps: every config and
-- result table (and identity sequence) is dumped, and a restore merges dumped seeded rows into the fresh
-- seeds instead of colliding with them, so an edited seeded rule survives.
BEGIN;
CREATE EXTENSION health_score;
SET LOCAL client_min_messages = warning;
SELECT plan(16);

SELECT set_eq($$SELECT code FROM health_score.rule WHERE seeded AND enabled$$,
              ARRAY['inactive', 'infrequent_logins', 'licence_gap', 'over_licensed', 'key_features_unused',
                    'active_users_decline', 'support_spike', 'long_open_case', 'silent_account', 'unreturned_contact',
                    'detractor', 'observation', 'renewal_risk', 'score_drop', 'new_users', 'feature_adopted',
                    'override_expiring', 'goal_off_track', 'plan_breach'],
              'the nineteen rules are seeded and enabled');
SELECT is_empty($$SELECT FROM health_score.rule
                   WHERE action IS NULL OR description IS NULL OR measures = '{}'
                      OR ARRAY(SELECT k FROM jsonb_object_keys(params) k ORDER BY k)
                         <> ARRAY(SELECT k FROM unnest(health_score._condition_params(condition)) k ORDER BY k)$$,
                'each with a condition over measures, its thresholds in params, a description and an action');
SELECT results_eq($$SELECT code, severity FROM health_score.rule WHERE severity <> 'amber' ORDER BY code$$,
                  $$VALUES ('detractor', 'red'), ('feature_adopted', 'info'), ('inactive', 'red'), ('new_users', 'info'),
                           ('over_licensed', 'opportunity'), ('override_expiring', 'info'), ('plan_breach', 'red'),
                           ('renewal_approaching', 'info'), ('renewal_risk', 'red')$$,
                  'severities: red, amber, info and opportunity');
SELECT results_eq($$SELECT code, task_due_in FROM health_score.rule WHERE task_due_in IS NOT NULL ORDER BY code$$,
                  $$VALUES ('detractor', interval '7 days'), ('feature_adopted', interval '14 days'), ('inactive', interval '7 days'),
                           ('new_users', interval '14 days'), ('plan_breach', interval '7 days'), ('renewal_risk', interval '7 days')$$,
                  'plays: the red rules open a task due in 7 days, new_users and feature_adopted in 14, the others none');
SELECT results_eq($$SELECT name, half_life, target_utilisation, poor_below, good_from, seeded FROM health_score.profile$$,
                  $$VALUES ('default', interval '14 days', 0.8::float8, 40::float8, 70::float8, true)$$,
                  'the default profile is seeded');

SELECT set_eq($$SELECT unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'health_score'$$,
              ARRAY['health_score.sources', 'health_score.profile', 'health_score.rule', 'health_score.observation',
                    'health_score.measure', 'health_score.component', 'health_score.profile_version',
                    'health_score.override', 'health_score.override_audit',
                    'health_score.account_health', 'health_score.health_history', 'health_score.flag',
                    'health_score.refresh_log', 'health_score.observation_id_seq', 'health_score.flag_id_seq',
                    'health_score.refresh_log_id_seq', 'health_score.profile_version_version_seq',
                    'health_score.override_audit_id_seq', 'health_score.task', 'health_score.task_id_seq',
                    'health_score.goal', 'health_score.goal_id_seq', 'health_score.goal_progress',
                    'health_score.plan_template', 'health_score.plan', 'health_score.plan_id_seq', 'health_score.plan_step',
                    'health_score.plan_commitment', 'health_score.plan_commitment_id_seq'],
              'pg_dump keeps the configuration, the results and the identity sequences');

-- A restore: CREATE EXTENSION seeds, then the dump's rows arrive.
UPDATE health_score.rule SET params = '{"days": 45}', enabled = false WHERE code = 'inactive';
UPDATE health_score.profile SET key_features = '{report}' WHERE name = 'default';
INSERT INTO health_score.rule (code, description, severity, condition, params, action)
VALUES ('urgent_cases', 'Custom: open high-priority cases', 'red', 'open_high_priority_cases >= {min}', '{"min": 1}', 'Call now.');
CREATE TEMP TABLE dumped_rule AS SELECT * FROM health_score.rule;
CREATE TEMP TABLE dumped_profile AS SELECT * FROM health_score.profile;
DELETE FROM health_score.rule WHERE NOT seeded;
UPDATE health_score.rule SET params = '{"days": 30}', enabled = true WHERE code = 'inactive';
UPDATE health_score.profile SET key_features = '{}';
SELECT lives_ok($$INSERT INTO health_score.rule SELECT * FROM dumped_rule$$, 'restoring the dumped rules raises no duplicate key');
SELECT lives_ok($$INSERT INTO health_score.profile SELECT * FROM dumped_profile$$, 'nor the dumped profiles');
SELECT results_eq($$SELECT params, enabled FROM health_score.rule WHERE code = 'inactive'$$,
                  $$VALUES ('{"days": 45}'::jsonb, false)$$, 'an edited seeded rule keeps its edits');
SELECT is((SELECT key_features FROM health_score.profile WHERE name = 'default'), '{report}', 'and so does the default profile');
SELECT is((SELECT count(*)::integer FROM health_score.rule), 22, 'the custom rule is back, nothing is duplicated');
-- the seeded plan steps merge the same way
UPDATE health_score.plan_template SET due_after = '3 days' WHERE kind = 'win_back' AND step = 'team review';
CREATE TEMP TABLE dumped_template AS SELECT * FROM health_score.plan_template;
UPDATE health_score.plan_template SET due_after = '2 days' WHERE kind = 'win_back' AND step = 'team review';
INSERT INTO health_score.plan_template SELECT * FROM dumped_template;
SELECT results_eq($$SELECT count(*)::integer, max(due_after) FILTER (WHERE step = 'team review') FROM health_score.plan_template$$,
                  $$VALUES (5, interval '3 days')$$, 'a restored seeded plan step keeps its edits, nothing is duplicated');
SELECT throws_ok($$INSERT INTO health_score.rule (code, description, severity, condition) VALUES ('inactive', 'again', 'red', 'true')$$,
                 '23505', NULL, 'an ordinary insert of an existing code still fails');

-- Validation.
SELECT throws_ok($$UPDATE health_score.rule SET params = '{"dayz": 10}' WHERE code = 'inactive'$$, '22023',
                 'rule inactive has no parameter "dayz"', 'an unknown rule parameter is refused');
SELECT throws_ok($$UPDATE health_score.profile SET weights = '{"engagement": 1, "happiness": 2}' WHERE name = 'default'$$,
                 '22023', 'weights of profile default name an unknown component "happiness"', 'an unknown component is refused');
SELECT lives_ok($$UPDATE health_score.profile SET weights = '{"engagement": 2, "support": 1}' WHERE name = 'default'$$,
                'weights over some components only are fine');

SELECT * FROM finish();
ROLLBACK;
