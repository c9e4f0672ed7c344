/*
 * survey.c
 *	  nps(rating): the Net Promoter Score of 0-10 survey answers, 100 x (share of promoters, 9-10, minus
 *	  share of detractors, 0-6); passives (7-8) count only in the denominator.
 *
 * The state is three counters, so partial states from parallel workers simply add up.
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"

#include "health_score.h"

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
	MemoryContext aggctx = hs_agg_context(fcinfo, "nps");
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
	MemoryContext aggctx = hs_agg_context(fcinfo, "hs_nps_combine");
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
