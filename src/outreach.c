/*
 * outreach.c
 *	  _unanswered(occurred_at, is_response, is_outreach, from_a, from_b): of a group's touchpoints, the
 *	  outreach after the customer's last response, counted from each of two times (bigint[2]): the touchpoints
 *	  stage's unanswered outreach over its two windows, in the same pass as the rest of that stage.
 *
 * The count depends on the group's last response, known only once every row is read, so the state keeps
 * the outreach times later than the earlier start (a few per account) beside the latest response. It
 * combines, so that parallel workers can share the scan; array_agg, which does the same in SQL, does not
 * combine before PostgreSQL 16.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "health_score.h"

PG_FUNCTION_INFO_V1(hs_unanswered_transition);
PG_FUNCTION_INFO_V1(hs_unanswered_combine);
PG_FUNCTION_INFO_V1(hs_unanswered_final);

typedef struct UnansweredState
{
	HsState		hs;				/* first: the state is an expanded object */
	/* what every row reads, next to the header, which every row reads too */
	TimestampTz from_a;
	TimestampTz from_b;
	TimestampTz *times;			/* outreach later than least(from_a, from_b) */
	int32		count;
	int32		capacity;
	TimestampTz last_response;
	bool		has_response;
	MemoryContext ctx;			/* where the times live */
} UnansweredState;

static const HsStateKind unanswered_state;

/* Sets up a zeroed state whose later allocations go to ctx. */
static UnansweredState *
state_init(UnansweredState *state, MemoryContext ctx, TimestampTz from_a, TimestampTz from_b, int32 capacity)
{
	state->ctx = ctx;
	state->from_a = from_a;
	state->from_b = from_b;
	state->capacity = Max(capacity, 4);
	state->times = MemoryContextAlloc(ctx, sizeof(TimestampTz) * state->capacity);
	return state;
}

static UnansweredState *
state_new(FunctionCallInfo fcinfo, TimestampTz from_a, TimestampTz from_b, int32 capacity)
{
	MemoryContext ctx;
	UnansweredState *state = hs_state_alloc(fcinfo, &unanswered_state, sizeof(UnansweredState), &ctx);

	return state_init(state, ctx, from_a, from_b, capacity);
}

static void
state_add_time(UnansweredState *state, TimestampTz at)
{
	if (state->count == state->capacity)
	{
		if (state->capacity > (int32) (MaxAllocSize / sizeof(TimestampTz) / 2))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many unanswered outreach touchpoints in one account")));
		state->capacity *= 2;
		state->times = repalloc(state->times, sizeof(TimestampTz) * state->capacity);
	}
	state->times[state->count++] = at;
}

static void
state_add_response(UnansweredState *state, bool has_response, TimestampTz at)
{
	if (has_response && (!state->has_response || at > state->last_response))
	{
		state->has_response = true;
		state->last_response = at;
	}
}

/* The transition: from_a and from_b must be the same for every row of the group. */
Datum
hs_unanswered_transition(PG_FUNCTION_ARGS)
{
	UnansweredState *state = (UnansweredState *) hs_state_modify(fcinfo, 0, &unanswered_state, HS_STATE_BYTEA);
	TimestampTz from_a;
	TimestampTz from_b;
	TimestampTz at;

	if (PG_ARGISNULL(4) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("from_a and from_b must not be null")));
	from_a = PG_GETARG_TIMESTAMPTZ(4);
	from_b = PG_GETARG_TIMESTAMPTZ(5);
	if (state == NULL)
		state = state_new(fcinfo, from_a, from_b, 4);
	else if (state->from_a != from_a)
		hs_differing_group_constant_error("from_a");
	else if (state->from_b != from_b)
		hs_differing_group_constant_error("from_b");
	if (PG_ARGISNULL(1))
		return hs_state_return(fcinfo, &state->hs, HS_STATE_BYTEA);
	at = PG_GETARG_TIMESTAMPTZ(1);
	if (!PG_ARGISNULL(2) && PG_GETARG_BOOL(2))
		state_add_response(state, true, at);
	else if (!PG_ARGISNULL(3) && PG_GETARG_BOOL(3) && at > Min(from_a, from_b))
	{
		MemoryContext old = MemoryContextSwitchTo(state->ctx);

		state_add_time(state, at);
		MemoryContextSwitchTo(old);
	}
	return hs_state_return(fcinfo, &state->hs, HS_STATE_BYTEA);
}

Datum
hs_unanswered_combine(PG_FUNCTION_ARGS)
{
	UnansweredState *into = (UnansweredState *) hs_state_modify(fcinfo, 0, &unanswered_state, HS_STATE_BYTEA);
	const UnansweredState *from = (const UnansweredState *) hs_state_read(fcinfo, 1, &unanswered_state,
																		  HS_STATE_BYTEA);
	MemoryContext old;

	if (from == NULL)
		return hs_state_return(fcinfo, (HsState *) into, HS_STATE_BYTEA);
	if (into == NULL)
		into = state_new(fcinfo, from->from_a, from->from_b, from->count);
	else if (into->from_a != from->from_a)
		hs_differing_group_constant_error("from_a");
	else if (into->from_b != from->from_b)
		hs_differing_group_constant_error("from_b");
	state_add_response(into, from->has_response, from->last_response);
	old = MemoryContextSwitchTo(into->ctx);
	for (int32 i = 0; i < from->count; i++)
		state_add_time(into, from->times[i]);
	MemoryContextSwitchTo(old);
	return hs_state_return(fcinfo, &into->hs, HS_STATE_BYTEA);
}

static Size
unanswered_flat_size(const HsState *hs)
{
	return VARHDRSZ + 8 + 8 + 1 + 8 + 4 + (Size) ((const UnansweredState *) hs)->count * 8;
}

static bytea *
unanswered_flatten(const HsState *hs)
{
	const UnansweredState *state = (const UnansweredState *) hs;
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, state->from_a);
	pq_sendint64(&buf, state->from_b);
	pq_sendbyte(&buf, state->has_response);
	pq_sendint64(&buf, state->last_response);
	pq_sendint32(&buf, state->count);
	for (int32 i = 0; i < state->count; i++)
		pq_sendint64(&buf, state->times[i]);
	return pq_endtypsend(&buf);
}

/* Validates what it reads: a state that does not parse is an error, never a wrong count. */
static HsState *
unanswered_read(bytea *bytes, bool own)
{
	StringInfoData buf;
	UnansweredState *state;
	TimestampTz from_a;
	TimestampTz from_b;
	int			has_response;
	TimestampTz last_response;
	int32		count;

	hs_state_begin(&buf, bytes);
	hs_state_need(&buf, 8 + 8 + 1 + 8 + 4, "_unanswered");
	from_a = (TimestampTz) pq_getmsgint64(&buf);
	from_b = (TimestampTz) pq_getmsgint64(&buf);
	has_response = pq_getmsgbyte(&buf);
	last_response = (TimestampTz) pq_getmsgint64(&buf);
	count = (int32) pq_getmsgint(&buf, 4);
	if (has_response != 0 && has_response != 1)
		hs_state_malformed("_unanswered", "The response flag is neither 0 nor 1.");
	if (count < 0)
		hs_state_malformed("_unanswered", "The count of times is negative.");
	hs_state_need(&buf, (uint64) count * 8, "_unanswered");
	state = state_init(palloc0(sizeof(UnansweredState)), CurrentMemoryContext, from_a, from_b, count);
	state->has_response = has_response == 1;
	state->last_response = last_response;
	for (int32 i = 0; i < count; i++)
	{
		TimestampTz at = (TimestampTz) pq_getmsgint64(&buf);

		if (at <= Min(from_a, from_b))
			hs_state_malformed("_unanswered", "A time is not after the earlier start.");
		state->times[state->count++] = at;
	}
	hs_state_end(&buf, "_unanswered");
	return &state->hs;
}

static const HsStateKind unanswered_state = HS_STATE_KIND("_unanswered", unanswered_flat_size, unanswered_flatten,
														   unanswered_read);

/* Final: {outreach after from_a, outreach after from_b}, each after the last response when there is one. */
Datum
hs_unanswered_final(PG_FUNCTION_ARGS)
{
	const UnansweredState *state = (const UnansweredState *) hs_state_read(fcinfo, 0, &unanswered_state,
																		   HS_STATE_BYTEA);
	int64		after_a = 0;
	int64		after_b = 0;
	Datum		counts[2];

	if (state == NULL)
		PG_RETURN_NULL();
	for (int32 i = 0; i < state->count; i++)
	{
		TimestampTz at = state->times[i];

		if (state->has_response && at <= state->last_response)
			continue;
		after_a += at > state->from_a;
		after_b += at > state->from_b;
	}
	counts[0] = Int64GetDatum(after_a);
	counts[1] = Int64GetDatum(after_b);
	PG_RETURN_ARRAYTYPE_P(construct_array(counts, 2, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
