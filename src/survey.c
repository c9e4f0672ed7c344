/*
 * survey.c
 *	  nps(rating): the Net Promoter Score of 0-10 survey answers, 100 x (share of promoters, 9-10, minus
 *	  share of detractors, 0-6); passives (7-8) count only in the denominator.
 *
 * The state is one bigint, kept by value as count(*) keeps its own: each answer adds 2^32 plus 1 for a
 * promoter, 0 for a passive, -1 for a detractor, so the state is answers x 2^32 + (promoters -
 * detractors).  The sum of two states is the state of both groups of answers: partial states combine by
 * int8pl, and an engine that ships them between nodes needs nothing of ours.  As |promoters - detractors|
 * never exceeds the answers, both parts are read back exactly while there are fewer than 2^31 answers.
 */
#include "postgres.h"

#include "fmgr.h"

#include "health_score.h"

#define NPS_ANSWER		(INT64CONST(1) << 32)
/* the state a group reaches with 2^31 - 1 answers, all promoters: one more would make answers ambiguous */
#define NPS_MAX_STATE	(((INT64CONST(1) << 31) - 1) * (NPS_ANSWER + 1))

PG_FUNCTION_INFO_V1(hs_nps_step);
PG_FUNCTION_INFO_V1(hs_nps_value);

static void
nps_too_many(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("nps counts at most 2147483647 ratings per group"),
			 errhint("Group the ratings more finely, or sample them.")));
}

/* nps transition: adds a 0-10 rating to the state (STRICT: NULL ratings never reach it). */
Datum
hs_nps_step(PG_FUNCTION_ARGS)
{
	int64		state = PG_GETARG_INT64(0);
	int32		rating = PG_GETARG_INT32(1);

	if (rating < 0 || rating > 10)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rating must be between 0 and 10"),
				 errdetail("Got %d.", rating),
				 errhint("Pass answers to \"How likely are you to recommend us?\" on the 0-10 scale; "
						 "map other scales first.")));
	if (unlikely(state >= NPS_MAX_STATE - NPS_ANSWER))
		nps_too_many();
	PG_RETURN_INT64(state + NPS_ANSWER + (rating >= 9 ? 1 : rating >= 7 ? 0 : -1));
}

/* nps final: the score between -100 and 100, NULL without ratings. */
Datum
hs_nps_value(PG_FUNCTION_ARGS)
{
	int64		state = PG_GETARG_INT64(0);
	int64		answers;
	int64		net;

	/* (states combined by int8pl can pass the bound the transition keeps) */
	if (unlikely(state > NPS_MAX_STATE))
		nps_too_many();
	if (unlikely(state < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%lld is not a state of nps", (long long) state),
				 errhint("nps_value reads the states nps_step builds.")));
	/* the nearest multiple of 2^32: |net| < 2^31 */
	answers = (state + (NPS_ANSWER >> 1)) >> 32;
	if (answers == 0)
		PG_RETURN_NULL();
	net = state - answers * NPS_ANSWER;
	PG_RETURN_FLOAT8(100.0 * (float8) net / (float8) answers);
}
