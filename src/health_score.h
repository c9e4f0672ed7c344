/*
 * health_score.h
 *	  Declarations shared by the health_score C files: argument checks that several
 *	  functions apply with the same wording, so every error reads alike.
 */
#ifndef HEALTH_SCORE_H
#define HEALTH_SCORE_H

#include "postgres.h"
#include "datatype/timestamp.h"

/* Seconds in an interval exactly as EXTRACT(EPOCH FROM interval) counts them (a month is 30 days). */
extern double hs_interval_seconds(const Interval *interval);

/*
 * The half-life in seconds; raises 22023 naming argname when it is NULL (pass NULL) or not positive.
 */
extern double hs_half_life_seconds(const Interval *half_life, const char *argname);

#endif							/* HEALTH_SCORE_H */
