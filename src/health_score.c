/*
 * health_score.c
 *	  Module entry point and the argument checks shared by the other files.
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"

#include "health_score.h"

PG_MODULE_MAGIC;

double
hs_interval_seconds(const Interval *interval)
{
	/* Same arithmetic as interval_part(EPOCH): a year is 365.25 days, a month 30 days. */
	return interval->time / (double) USECS_PER_SEC
		+ (double) (DAYS_PER_YEAR * SECS_PER_DAY) * (interval->month / MONTHS_PER_YEAR)
		+ (double) (DAYS_PER_MONTH * SECS_PER_DAY) * (interval->month % MONTHS_PER_YEAR)
		+ (double) SECS_PER_DAY * interval->day;
}

double
hs_half_life_seconds(const Interval *half_life, const char *argname)
{
	double		seconds;

	if (half_life == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be null", argname),
				 errhint("Pass a positive interval such as '14 days'.")));
	seconds = hs_interval_seconds(half_life);
	if (!(seconds > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive interval", argname),
				 errhint("Pass a positive interval such as '14 days'.")));
	return seconds;
}

void
hs_weight_not_finite_error(bool null_skips)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("weight must be finite"),
			 errhint("Filter out or replace NaN and infinite weights; a NULL weight %s.",
					 null_skips ? "skips the row" : "weighs 1")));
}

void
hs_differing_group_constant_error(const char *argname)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be the same for every row of a group", argname),
			 errhint("Pass a constant, or GROUP BY %s.", argname)));
}

MemoryContext
hs_agg_context(FunctionCallInfo fcinfo)
{
	MemoryContext aggctx;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s can only be called by an aggregate", format_procedure(fcinfo->flinfo->fn_oid)),
				 errhint("Call the aggregate it belongs to, or create one with it as SFUNC or COMBINEFUNC.")));
	return aggctx;
}

Datum
hs_return_state(FunctionCallInfo fcinfo, void *state)
{
	if (state == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(state);
}

void
hs_state_begin(StringInfo buf, bytea *sstate)
{
	/* Read in place: the bytea outlives the deserialize call that reads it. */
	buf->data = VARDATA_ANY(sstate);
	buf->len = VARSIZE_ANY_EXHDR(sstate);
	buf->maxlen = buf->len;
	buf->cursor = 0;
}

void
hs_state_malformed(const char *aggname, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("malformed serialized %s state", aggname),
			 errdetail("%s", detail)));
}

void
hs_state_need(StringInfo buf, uint64 nbytes, const char *aggname)
{
	/* pq_getmsg* would raise a protocol violation instead, which misdescribes a bad state. */
	if (nbytes > (uint64) (buf->len - buf->cursor))
		hs_state_malformed(aggname, "The state ends early.");
}

void
hs_state_end(StringInfo buf, const char *aggname)
{
	if (buf->cursor != buf->len)
		hs_state_malformed(aggname, "The state has trailing bytes.");
	pq_getmsgend(buf);
}
