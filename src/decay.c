/*
 * decay.c
 *	  Exponentially decayed sums: the decayed_sum aggregate and decay_factor.
 *
 * An event that occurred at t, seen from as_of, weighs 2^(-(as_of - t) / half_life).  The aggregate's
 * state is the running sum itself, a float8 kept by value in the aggregate's hash entry as sum(float8)
 * keeps its own: no allocation per group, nothing to serialize, and partial sums from parallel workers
 * (or from the nodes of a distributed engine) combine by float8 addition.  Each row decays with its own
 * as_of and half_life, so a partial sum means the same wherever it was taken.  The price is plain
 * summation: for weights of one sign the relative error is at most (n - 1) x 2^-53 over n rows
 * (1.1e-10 at a million rows), and test/primitives_accuracy.sql measures it against an exact reference.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/timestamp.h"

#include "health_score.h"

#define AS_OF_HINT "Pass the moment the sum is taken at, such as now() or a constant timestamp."

/*
 * The half-life a call site last saw and its -1 / half-life in microseconds, kept in fn_extra: a query
 * passes one half-life to every row, and an interval is compared faster than it is converted.
 */
typedef struct HalfLifeCache
{
	Interval	half_life;
	double		exponent_per_usec;
} HalfLifeCache;

PG_FUNCTION_INFO_V1(hs_decayed_sum_step);
PG_FUNCTION_INFO_V1(hs_decayed_sum_step_unweighted);
PG_FUNCTION_INFO_V1(hs_decayed_sum_value);
PG_FUNCTION_INFO_V1(hs_decay_factor);

static double
exponent_per_usec(FunctionCallInfo fcinfo, const Interval *half_life)
{
	HalfLifeCache *cache = (HalfLifeCache *) fcinfo->flinfo->fn_extra;

	if (likely(cache != NULL && half_life != NULL && half_life->time == cache->half_life.time &&
			   half_life->day == cache->half_life.day && half_life->month == cache->half_life.month))
		return cache->exponent_per_usec;
	if (cache == NULL)
		cache = fcinfo->flinfo->fn_extra = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(HalfLifeCache));
	/* (raises 22023 for a NULL or non-positive half-life before caching anything) */
	cache->exponent_per_usec = -1.0 / (hs_half_life_seconds(half_life, "half_life") * USECS_PER_SEC);
	cache->half_life = *half_life;
	return cache->exponent_per_usec;
}

/*
 * The transition step of both decayed_sum aggregates: the sum so far plus this row's decayed weight.
 * weight_arg is the argument holding the weight, or -1 when every row weighs 1; as_of and half_life
 * follow occurred_at and the weight.  Inlined into each caller so that weight_arg is a constant there.
 * The state starts at 0 (INITCOND) and is never NULL.
 */
static pg_attribute_always_inline Datum
decayed_sum_step(FunctionCallInfo fcinfo, int weight_arg)
{
	int			as_of_arg = weight_arg < 0 ? 2 : 3;
	double		sum = PG_GETARG_FLOAT8(0);
	double		exponent;
	TimestampTz as_of;
	TimestampTz occurred_at;
	double		weight = 1.0;

	if (PG_ARGISNULL(as_of_arg))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must not be null"),
				 errhint(AS_OF_HINT)));
	as_of = PG_GETARG_TIMESTAMPTZ(as_of_arg);
	if (unlikely(TIMESTAMP_NOT_FINITE(as_of)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite timestamp"),
				 errhint(AS_OF_HINT)));
	exponent = exponent_per_usec(fcinfo, PG_ARGISNULL(as_of_arg + 1) ? NULL : PG_GETARG_INTERVAL_P(as_of_arg + 1));

	if (weight_arg >= 0)
	{
		if (PG_ARGISNULL(weight_arg))
			PG_RETURN_FLOAT8(sum);
		weight = PG_GETARG_FLOAT8(weight_arg);
		if (unlikely(isinf(weight) || isnan(weight)))
			hs_weight_not_finite_error(true);
	}
	if (PG_ARGISNULL(1))
		PG_RETURN_FLOAT8(sum);
	occurred_at = PG_GETARG_TIMESTAMPTZ(1);

	/* Events after as_of have not happened yet at as_of; -infinity decays to nothing. */
	if (occurred_at > as_of || TIMESTAMP_IS_NOBEGIN(occurred_at))
		PG_RETURN_FLOAT8(sum);
	PG_RETURN_FLOAT8(sum + weight * hs_decay_term(as_of, occurred_at, exponent));
}

/* decayed_sum(occurred_at, weight, as_of, half_life) transition */
Datum
hs_decayed_sum_step(PG_FUNCTION_ARGS)
{
	return decayed_sum_step(fcinfo, 2);
}

/* decayed_sum(occurred_at, as_of, half_life) transition: every row weighs 1 */
Datum
hs_decayed_sum_step_unweighted(PG_FUNCTION_ARGS)
{
	return decayed_sum_step(fcinfo, -1);
}

/* The decayed sum of a group: the state, unless it overflowed. */
Datum
hs_decayed_sum_value(PG_FUNCTION_ARGS)
{
	double		sum = PG_GETARG_FLOAT8(0);

	/* Finite weights times factors of at most 1 reach infinity or NaN only by overflowing the sum. */
	if (unlikely(isinf(sum) || isnan(sum)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("decayed_sum is out of range for type double precision"),
				 errhint("Scale the weights down.")));
	PG_RETURN_FLOAT8(sum);
}

/* decay_factor(elapsed, half_life): 2^(-elapsed / half_life), to carry a decayed sum forward */
Datum
hs_decay_factor(PG_FUNCTION_ARGS)
{
	double		half_life;
	double		result;

	/* A bad half_life is an error even when elapsed is NULL, as in decayed_sum. */
	half_life = hs_half_life_seconds(PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1), "half_life");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();

	result = exp2(-hs_interval_seconds(PG_GETARG_INTERVAL_P(0)) / half_life);
	if (unlikely(isinf(result)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("decay_factor is out of range for type double precision"),
				 errhint("A negative elapsed interval grows the sum; make it shorter or half_life longer.")));
	PG_RETURN_FLOAT8(result);
}
