/*
 * health_score.c
 *	  Module entry point and the argument checks shared by the other files.
 */
#include "postgres.h"

#include "fmgr.h"
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
