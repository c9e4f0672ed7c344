/*
 * health_score.h
 *	  Declarations shared by the health_score C files: argument checks that several
 *	  functions apply with the same wording, so every error reads alike, and the decay
 *	  arithmetic that decayed_sum and _activity_measures must compute to the same bit.
 */
#ifndef HEALTH_SCORE_H
#define HEALTH_SCORE_H

#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"

/* Seconds in an interval exactly as EXTRACT(EPOCH FROM interval) counts them (a month is 30 days). */
extern double hs_interval_seconds(const Interval *interval);

/*
 * The half-life in seconds; raises 22023 naming argname when it is NULL (pass NULL) or not positive.
 */
extern double hs_half_life_seconds(const Interval *half_life, const char *argname);

/*
 * Neumaier's variant of Kahan summation, which also compensates when a term outweighs the sum so far:
 * a million terms added naively lose up to a million roundings. The result is sum + compensation.
 */
static inline void
hs_compensated_add(double *sum, double *compensation, double term)
{
	double		total = *sum + term;

	if (fabs(*sum) >= fabs(term))
		*compensation += (*sum - total) + term;
	else
		*compensation += (term - total) + *sum;
	*sum = total;
}

/*
 * 2^(-(as_of - occurred_at) / half_life) for an event at or before as_of, given -1 / half-life in
 * microseconds: a multiply and an exp2 per row.
 */
static inline double
hs_decay_term(TimestampTz as_of, TimestampTz occurred_at, double exponent_per_usec)
{
	int64		elapsed_usecs;

	/* Only a span from about 4713 BC to beyond 290000 AD overflows, and then doubles are precise enough. */
	if (likely(!pg_sub_s64_overflow(as_of, occurred_at, &elapsed_usecs)))
		return exp2((double) elapsed_usecs * exponent_per_usec);
	return exp2(((double) as_of - (double) occurred_at) * exponent_per_usec);
}

/* Key features as bits fill a bigint without its sign bit, as refresh() stores them. */
#define MAX_KEY_FEATURES 62

/* Raises 22023: argname, a per-group constant of an aggregate, differs between rows of a group. */
extern void hs_differing_group_constant_error(const char *argname) pg_attribute_noreturn();

/*
 * Aggregate state helpers (users.c, survey.c, auc.c).
 *
 * hs_agg_context returns the aggregate memory context, the only place an internal state may live
 * across rows; fname names the caller in the error raised outside an aggregate. hs_return_state returns
 * a state from a transition or combine function, SQL NULL while there is none.
 *
 * Deserialization reads a bytea written by one of our serialize functions. Anything else is rejected
 * with 22P03 (invalid_binary_representation) naming the aggregate: hs_state_need before each read
 * (nbytes is 64-bit so callers can multiply counts without overflow), hs_state_malformed for a value
 * out of range, hs_state_end when the state should be used up.
 */
extern MemoryContext hs_agg_context(FunctionCallInfo fcinfo, const char *fname);
extern Datum hs_return_state(FunctionCallInfo fcinfo, void *state);
extern void hs_state_begin(StringInfo buf, bytea *sstate);
extern void hs_state_need(StringInfo buf, uint64 nbytes, const char *aggname);
extern void hs_state_malformed(const char *aggname, const char *detail) pg_attribute_noreturn();
extern void hs_state_end(StringInfo buf, const char *aggname);

#endif							/* HEALTH_SCORE_H */
