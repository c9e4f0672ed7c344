/*
 * compat_0_1.c
 *	  The C entry points that health_score 0.1.0's declarations name and later versions replaced: a database
 *	  not yet updated (ALTER EXTENSION health_score UPDATE) loads this library, so they stay until 0.1.0 is
 *	  no longer supported.
 *
 * decayed_sum with an internal state: a compensated (Neumaier) sum and the group's as_of and half-life,
 * checked on every row (0.2.0 keeps the sum by value: decay.c).  nps with an internal state of three
 * counters (0.2.0 keeps one bigint: survey.c).  Their behaviour is 0.1.0's.
 *
 * The aggregates whose states became bytea (users.c, auc.c, activity.c) keep 0.1.0's entry points beside
 * the new ones: HS_STATE_FUNCTIONS defines both from one body, and state.c's hs_state_serialize and
 * hs_state_deserialize serve as 0.1.0's serialize and deserialize functions.
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/timestamp.h"

#include "health_score.h"

#define AS_OF_HINT "Pass the moment the sum is taken at, such as now() or a constant timestamp."

/* The aggregate's transition state; SSPACE in schema/20_decay.sql is its size. */
typedef struct DecayState
{
	TimestampTz as_of;
	Interval	half_life;		/* as the group's first row gave it, for a cheap equality test */
	double		exponent_per_usec;	/* -1 / half-life in microseconds: a multiply per row */
	double		sum;
	double		compensation;	/* the low-order part that sum has lost so far */
} DecayState;

PG_FUNCTION_INFO_V1(hs_decayed_sum_transition);
PG_FUNCTION_INFO_V1(hs_decayed_sum_transition_unweighted);
PG_FUNCTION_INFO_V1(hs_decayed_sum_combine);
PG_FUNCTION_INFO_V1(hs_decayed_sum_serialize);
PG_FUNCTION_INFO_V1(hs_decayed_sum_deserialize);
PG_FUNCTION_INFO_V1(hs_decayed_sum_final);

static void
as_of_finite_or_error(TimestampTz as_of)
{
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite timestamp"),
				 errhint(AS_OF_HINT)));
}

/*
 * The state and a new row (or another state) disagree on as_of or on the half-life's fields.
 * Intervals such as '1 day' and '24 hours' differ in their fields but decay alike, so the
 * half-lives are compared in seconds before giving up.
 */
static void
check_same_group_constants(const DecayState *state, TimestampTz as_of, const Interval *half_life)
{
	if (as_of != state->as_of)
		hs_differing_group_constant_error("as_of");
	if (hs_half_life_seconds(half_life, "half_life") != hs_interval_seconds(&state->half_life))
		hs_differing_group_constant_error("half_life");
}

static inline bool
same_interval_fields(const Interval *a, const Interval *b)
{
	return a->time == b->time && a->day == b->day && a->month == b->month;
}

/*
 * The transition step of both decayed_sum aggregates; weight_arg is the argument holding the weight,
 * or -1 when every row weighs 1.  as_of and half_life follow occurred_at and the weight.  Inlined
 * into each caller so that weight_arg is a constant there, on a path run once per row.
 */
static pg_attribute_always_inline Datum
decayed_sum_accumulate(FunctionCallInfo fcinfo, int weight_arg)
{
	int			as_of_arg = weight_arg < 0 ? 2 : 3;
	DecayState *state;
	TimestampTz as_of;
	Interval   *half_life;
	TimestampTz occurred_at;
	double		weight = 1.0;

	if (PG_ARGISNULL(as_of_arg))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must not be null"),
				 errhint(AS_OF_HINT)));
	as_of = PG_GETARG_TIMESTAMPTZ(as_of_arg);
	half_life = PG_ARGISNULL(as_of_arg + 1) ? NULL : PG_GETARG_INTERVAL_P(as_of_arg + 1);

	if (PG_ARGISNULL(0))
	{
		MemoryContext aggctx;
		double		exponent_per_usec;

		/* Only the first call checks: an internal state cannot come from anywhere but an aggregate. */
		if (!AggCheckCallContext(fcinfo, &aggctx))
			elog(ERROR, "decayed_sum_transition called in non-aggregate context");
		as_of_finite_or_error(as_of);
		exponent_per_usec = -1.0 / (hs_half_life_seconds(half_life, "half_life") * USECS_PER_SEC);

		state = (DecayState *) MemoryContextAllocZero(aggctx, sizeof(DecayState));
		state->as_of = as_of;
		state->half_life = *half_life;
		state->exponent_per_usec = exponent_per_usec;
	}
	else
	{
		state = (DecayState *) PG_GETARG_POINTER(0);
		if (unlikely(half_life == NULL || as_of != state->as_of ||
					 !same_interval_fields(half_life, &state->half_life)))
			check_same_group_constants(state, as_of, half_life);
	}

	if (weight_arg >= 0)
	{
		if (PG_ARGISNULL(weight_arg))
			PG_RETURN_POINTER(state);
		weight = PG_GETARG_FLOAT8(weight_arg);
		if (unlikely(isinf(weight) || isnan(weight)))
			hs_weight_not_finite_error(true);
	}
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);
	occurred_at = PG_GETARG_TIMESTAMPTZ(1);

	/* Events after as_of have not happened yet at as_of; -infinity decays to nothing. */
	if (occurred_at > as_of || TIMESTAMP_IS_NOBEGIN(occurred_at))
		PG_RETURN_POINTER(state);

	hs_compensated_add(&state->sum, &state->compensation,
					   weight * hs_decay_term(as_of, occurred_at, state->exponent_per_usec));
	PG_RETURN_POINTER(state);
}

/* decayed_sum(occurred_at, weight, as_of, half_life) transition */
Datum
hs_decayed_sum_transition(PG_FUNCTION_ARGS)
{
	return decayed_sum_accumulate(fcinfo, 2);
}

/* decayed_sum(occurred_at, as_of, half_life) transition: every row weighs 1 */
Datum
hs_decayed_sum_transition_unweighted(PG_FUNCTION_ARGS)
{
	return decayed_sum_accumulate(fcinfo, -1);
}

/* Merges two partial decayed sums of one group; either may be NULL (a worker that saw no rows). */
Datum
hs_decayed_sum_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	DecayState *into;
	DecayState *from;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "decayed_sum_combine called in non-aggregate context");

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	from = (DecayState *) PG_GETARG_POINTER(1);

	if (PG_ARGISNULL(0))
	{
		/* The result must outlive from, which may belong to a shorter-lived context. */
		into = (DecayState *) MemoryContextAlloc(aggctx, sizeof(DecayState));
		*into = *from;
		PG_RETURN_POINTER(into);
	}
	into = (DecayState *) PG_GETARG_POINTER(0);

	if (from->as_of != into->as_of || !same_interval_fields(&from->half_life, &into->half_life))
		check_same_group_constants(into, from->as_of, &from->half_life);
	hs_compensated_add(&into->sum, &into->compensation, from->sum);
	into->compensation += from->compensation;
	PG_RETURN_POINTER(into);
}

/* Sends a partial decayed sum from a parallel worker to the leader. */
Datum
hs_decayed_sum_serialize(PG_FUNCTION_ARGS)
{
	DecayState *state;
	StringInfoData buf;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "decayed_sum_serialize called in non-aggregate context");
	state = (DecayState *) PG_GETARG_POINTER(0);

	pq_begintypsend(&buf);
	pq_sendint64(&buf, state->as_of);
	pq_sendint64(&buf, state->half_life.time);
	pq_sendint32(&buf, state->half_life.day);
	pq_sendint32(&buf, state->half_life.month);
	pq_sendfloat8(&buf, state->sum);
	pq_sendfloat8(&buf, state->compensation);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Reads back what hs_decayed_sum_serialize wrote, rejecting anything else. */
Datum
hs_decayed_sum_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *serialized;
	StringInfoData buf;
	DecayState *state;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "decayed_sum_deserialize called in non-aggregate context");
	serialized = PG_GETARG_BYTEA_PP(0);

	hs_state_begin(&buf, serialized);
	hs_state_need(&buf, 8 + 8 + 4 + 4 + 8 + 8, "decayed_sum");
	state = (DecayState *) palloc(sizeof(DecayState));
	state->as_of = pq_getmsgint64(&buf);
	state->half_life.time = pq_getmsgint64(&buf);
	state->half_life.day = pq_getmsgint(&buf, sizeof(int32));
	state->half_life.month = pq_getmsgint(&buf, sizeof(int32));
	state->sum = pq_getmsgfloat8(&buf);
	state->compensation = pq_getmsgfloat8(&buf);
	hs_state_end(&buf, "decayed_sum");

	/* The transition function never builds a state like these, so the bytes were not ours. */
	as_of_finite_or_error(state->as_of);
	state->exponent_per_usec = -1.0 / (hs_half_life_seconds(&state->half_life, "half_life") * USECS_PER_SEC);

	PG_RETURN_POINTER(state);
}

/* The decayed sum of a group; a group without rows sums to 0. */
Datum
hs_decayed_sum_final(PG_FUNCTION_ARGS)
{
	DecayState *state;
	double		result;

	if (PG_ARGISNULL(0))
		PG_RETURN_FLOAT8(0.0);
	state = (DecayState *) PG_GETARG_POINTER(0);

	/* Finite weights times factors of at most 1 reach infinity or NaN only by overflowing the sum. */
	result = state->sum + state->compensation;
	if (unlikely(isinf(result) || isnan(result)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("decayed_sum is out of range for type double precision"),
				 errhint("Scale the weights down.")));
	PG_RETURN_FLOAT8(result);
}


typedef struct NpsState
{
	int64		promoters;
	int64		passives;
	int64		detractors;
} NpsState;

/* nps transition: counts a 0-10 rating in its class; NULL ratings are skipped. */
PG_FUNCTION_INFO_V1(hs_nps_trans);
Datum
hs_nps_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = hs_agg_context(fcinfo);
	NpsState   *state = PG_ARGISNULL(0) ? NULL : (NpsState *) PG_GETARG_POINTER(0);
	int32		rating;

	if (PG_ARGISNULL(1))
		return hs_return_state(fcinfo, state);
	rating = PG_GETARG_INT32(1);
	if (rating < 0 || rating > 10)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rating must be between 0 and 10"),
				 errdetail("Got %d.", rating),
				 errhint("Pass answers to \"How likely are you to recommend us?\" on the 0-10 scale; "
						 "map other scales first.")));
	if (state == NULL)
		state = MemoryContextAllocZero(aggctx, sizeof(NpsState));
	if (rating >= 9)
		state->promoters++;
	else if (rating >= 7)
		state->passives++;
	else
		state->detractors++;
	PG_RETURN_POINTER(state);
}

/* nps combine: adds the second state's counters to the first, or to a copy in aggctx. */
PG_FUNCTION_INFO_V1(hs_nps_combine);
Datum
hs_nps_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = hs_agg_context(fcinfo);
	NpsState   *state = PG_ARGISNULL(0) ? NULL : (NpsState *) PG_GETARG_POINTER(0);
	NpsState   *other = PG_ARGISNULL(1) ? NULL : (NpsState *) PG_GETARG_POINTER(1);

	if (other == NULL)
		return hs_return_state(fcinfo, state);
	/* other may live in a short-lived context (a deserialized state): copy it rather than keep it. */
	if (state == NULL)
		state = MemoryContextAllocZero(aggctx, sizeof(NpsState));
	state->promoters += other->promoters;
	state->passives += other->passives;
	state->detractors += other->detractors;
	PG_RETURN_POINTER(state);
}

/* nps serialize: the three counters as int64, promoters, passives, detractors. */
PG_FUNCTION_INFO_V1(hs_nps_serialize);
Datum
hs_nps_serialize(PG_FUNCTION_ARGS)
{
	NpsState   *state = (NpsState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, state->promoters);
	pq_sendint64(&buf, state->passives);
	pq_sendint64(&buf, state->detractors);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* nps deserialize: reads three counters, none negative, not all zero. */
PG_FUNCTION_INFO_V1(hs_nps_deserialize);
Datum
hs_nps_deserialize(PG_FUNCTION_ARGS)
{
	StringInfoData buf;
	NpsState   *state = palloc(sizeof(NpsState));

	hs_state_begin(&buf, PG_GETARG_BYTEA_PP(0));
	hs_state_need(&buf, 3 * 8, "nps");
	state->promoters = pq_getmsgint64(&buf);
	state->passives = pq_getmsgint64(&buf);
	state->detractors = pq_getmsgint64(&buf);
	if (state->promoters < 0 || state->passives < 0 || state->detractors < 0)
		hs_state_malformed("nps", "A count is negative.");
	/* A state exists only once a rating has been counted. */
	if (state->promoters == 0 && state->passives == 0 && state->detractors == 0)
		hs_state_malformed("nps", "The state counts no ratings.");
	hs_state_end(&buf, "nps");
	PG_RETURN_POINTER(state);
}

/* nps final: the score between -100 and 100, NULL without ratings. */
PG_FUNCTION_INFO_V1(hs_nps_final);
Datum
hs_nps_final(PG_FUNCTION_ARGS)
{
	NpsState   *state = PG_ARGISNULL(0) ? NULL : (NpsState *) PG_GETARG_POINTER(0);
	int64		total;

	if (state == NULL)
		PG_RETURN_NULL();
	total = state->promoters + state->passives + state->detractors;
	Assert(total > 0);
	PG_RETURN_FLOAT8(100.0 * (float8) (state->promoters - state->detractors) / (float8) total);
}
