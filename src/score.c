/*
 * score.c
 *	  Turning measurements into 0-100 scores and bands: engagement_score, composite and band.
 *
 * These run once per account and component, often inside a refresh over every account, so they
 * validate their arguments strictly (a silently wrong score is worse than an error) but do no
 * catalog or name lookups per call.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "health_score.h"

#define THRESHOLD_HINT "Pass a number, or leave the argument out for the default (poor_below 40, good_from 70)."

/* The OIDs of health_band's labels, looked up once per call site. */
typedef struct BandLabels
{
	Oid			poor;
	Oid			average;
	Oid			good;
} BandLabels;

PG_FUNCTION_INFO_V1(hs_engagement_score);
PG_FUNCTION_INFO_V1(hs_composite);
PG_FUNCTION_INFO_V1(hs_band);

static void
reject_nan(double value, const char *argname, const char *hint)
{
	if (isnan(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be NaN", argname),
				 errhint("%s", hint)));
}

/* A float8 argument that may be neither NULL nor NaN. */
static double
required_float8(FunctionCallInfo fcinfo, int argno, const char *argname, const char *hint)
{
	double		value;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be null", argname),
				 errhint("%s", hint)));
	value = PG_GETARG_FLOAT8(argno);
	reject_nan(value, argname, hint);
	return value;
}

/* engagement_score(decayed, expected_per_day, half_life): 0-100 against the steady-state decayed sum */
Datum
hs_engagement_score(PG_FUNCTION_ARGS)
{
	const char *expected_hint = "Pass how many events a day a fully engaged account has, such as 1.";
	double		expected_per_day;
	double		half_life_days;
	double		decayed;
	double		ratio;

	/* Bad parameters are errors even for a NULL decayed sum, so they surface on the first account. */
	expected_per_day = required_float8(fcinfo, 1, "expected_per_day", expected_hint);
	if (!(expected_per_day > 0) || isinf(expected_per_day))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expected_per_day must be a positive finite number"),
				 errhint("%s", expected_hint)));
	half_life_days = hs_half_life_seconds(PG_ARGISNULL(2) ? NULL : PG_GETARG_INTERVAL_P(2),
										  "half_life") / SECS_PER_DAY;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	decayed = PG_GETARG_FLOAT8(0);
	reject_nan(decayed, "decayed", "Pass the result of decayed_sum, or NULL for an account without data.");
	if (!(decayed > 0))
		PG_RETURN_FLOAT8(0.0);

	/*
	 * expected_per_day events a day, each decaying with half_life, add up to
	 * expected_per_day * half_life_days / ln 2.  The ratio is NaN only for an infinite decayed sum
	 * over an infinite steady state, and that account is as engaged as can be.
	 */
	ratio = decayed / (expected_per_day * half_life_days / M_LN2);
	PG_RETURN_FLOAT8(ratio < 1.0 ? 100.0 * ratio : 100.0);
}

/* One element's subscript as the user wrote the array, for error details. */
static int
subscript(ArrayType *array, int index)
{
	return ARR_LBOUND(array)[0] + index;
}

/* composite(scores, weights): weighted mean of the scores present, weights re-normalised over them */
Datum
hs_composite(PG_FUNCTION_ARGS)
{
	ArrayType  *scores = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *weights = PG_GETARG_ARRAYTYPE_P(1);
	int			nscores;
	int			nweights;
	Datum	   *score_values;
	bool	   *score_nulls;
	Datum	   *weight_values;
	bool	   *weight_nulls;
	double		max_weight = 0.0;
	double		weight_sum = 0.0;
	double		weighted_sum = 0.0;
	double		result;
	int			i;

	if (ARR_NDIM(scores) > 1 || ARR_NDIM(weights) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scores and weights must be one-dimensional arrays"),
				 errhint("Pass one score and one weight per component, such as ARRAY[80, 55] and ARRAY[2, 1].")));
	nscores = ARR_NDIM(scores) == 0 ? 0 : ARR_DIMS(scores)[0];
	nweights = ARR_NDIM(weights) == 0 ? 0 : ARR_DIMS(weights)[0];
	if (nscores != nweights)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scores and weights must have the same length"),
				 errdetail("scores has %d elements, weights has %d.", nscores, nweights),
				 errhint("Pass one weight per score; a NULL score leaves its component out.")));
	if (nscores == 0)
		PG_RETURN_NULL();

	deconstruct_array(scores, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &score_values, &score_nulls, &nscores);
	deconstruct_array(weights, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &weight_values, &weight_nulls, &nweights);

	/* Every element is checked, present or not, so bad input fails whatever data arrives. */
	for (i = 0; i < nscores; i++)
	{
		double		weight;
		double		score;

		if (weight_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("weights must not contain nulls"),
					 errdetail("weights[%d] is null.", subscript(weights, i)),
					 errhint("Leave a component out by passing a NULL score, not a NULL weight.")));
		weight = DatumGetFloat8(weight_values[i]);
		if (isnan(weight) || isinf(weight))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("weights must be finite"),
					 errdetail("weights[%d] is not a finite number.", subscript(weights, i)),
					 errhint("Pass a finite, non-negative weight for every component.")));
		if (weight < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("weights must not be negative"),
					 errdetail("weights[%d] is negative.", subscript(weights, i)),
					 errhint("Pass a finite, non-negative weight for every component.")));
		if (score_nulls[i])
			continue;
		score = DatumGetFloat8(score_values[i]);
		if (!(score >= 0 && score <= 100))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("scores must be between 0 and 100"),
					 errdetail("scores[%d] is outside [0, 100].", subscript(scores, i)),
					 errhint("Scale each component to a 0-100 score first, or pass NULL for a missing one.")));
		if (weight > max_weight)
			max_weight = weight;
	}
	if (max_weight == 0)
		PG_RETURN_NULL();

	/* Dividing by the largest weight keeps the sums finite however large the weights are. */
	for (i = 0; i < nscores; i++)
	{
		double		weight;

		if (score_nulls[i])
			continue;
		weight = DatumGetFloat8(weight_values[i]) / max_weight;
		weight_sum += weight;
		weighted_sum += weight * DatumGetFloat8(score_values[i]);
	}

	/* A mean of scores in [0, 100] can round a hair outside it; the contract promises the range. */
	result = weighted_sum / weight_sum;
	PG_RETURN_FLOAT8(Min(Max(result, 0.0), 100.0));
}

static Oid
band_label_oid(Oid enumtype, const char *label)
{
	Oid			result;

	result = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
							 ObjectIdGetDatum(enumtype), CStringGetDatum(label));
	if (!OidIsValid(result))
		elog(ERROR, "type %s has no label \"%s\"", format_type_be(enumtype), label);
	return result;
}

/*
 * The labels of the type band is declared to return.  Found through the function's own OID rather
 * than by name, so no search_path can substitute another type.
 */
static const BandLabels *
band_labels(FunctionCallInfo fcinfo)
{
	BandLabels *labels = (BandLabels *) fcinfo->flinfo->fn_extra;

	if (labels == NULL)
	{
		Oid			enumtype = get_func_rettype(fcinfo->flinfo->fn_oid);

		labels = (BandLabels *) MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(BandLabels));
		labels->poor = band_label_oid(enumtype, "poor");
		labels->average = band_label_oid(enumtype, "average");
		labels->good = band_label_oid(enumtype, "good");
		fcinfo->flinfo->fn_extra = labels;
	}
	return labels;
}

/* band(score, poor_below, good_from): poor below poor_below, good from good_from, else average */
Datum
hs_band(PG_FUNCTION_ARGS)
{
	double		poor_below = required_float8(fcinfo, 1, "poor_below", THRESHOLD_HINT);
	double		good_from = required_float8(fcinfo, 2, "good_from", THRESHOLD_HINT);
	const BandLabels *labels;
	double		score;

	if (poor_below > good_from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("poor_below must not be greater than good_from"),
				 errhint("Swap the thresholds, or make them equal to have no average band.")));
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	score = PG_GETARG_FLOAT8(0);
	reject_nan(score, "score", "Pass a score, or NULL for an account without one.");

	labels = band_labels(fcinfo);
	if (score < poor_below)
		PG_RETURN_OID(labels->poor);
	if (score >= good_from)
		PG_RETURN_OID(labels->good);
	PG_RETURN_OID(labels->average);
}
