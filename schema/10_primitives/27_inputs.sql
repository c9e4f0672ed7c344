-- Internal to the results stage (src/inputs.c): account_health.inputs for the six built-in components, as
-- jsonb_build_object builds it from the same values, without looking each value's type up on every row.
CREATE FUNCTION health_score._inputs(
	engagement boolean, decayed_events float8, expected_per_day float8, events_30d bigint, last_activity_at timestamptz,
	utilisation boolean, active_users_30d bigint, seats integer, ratio float8,
	adoption boolean, key_features text[], used_30d text[],
	support boolean, open_cases bigint, aged_open_cases bigint, cases_30d bigint, cases_previous_90d bigint,
	sentiment boolean, responses_90d bigint, nps_90d float8, average_rating_90d float8, promoters_90d bigint,
	detractors_90d bigint,
	relationship boolean, open_observations jsonb, unanswered_outbound_30d bigint, last_response_at timestamptz)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'hs_inputs'
LANGUAGE C STABLE PARALLEL SAFE;
