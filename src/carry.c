/*
 * carry.c
 *	  The incremental refresh's arithmetic on its state. _carry_decayed: a decayed sum taken at ref_at is
 *	  the same sum taken at as_of once multiplied by 2^(-(as_of - ref_at) / half_life), so the state keeps
 *	  one sum per half-life and adds only the new rows' terms. _count_after: the users active in a window,
 *	  from the state's array of their times. _feature_bits: the key features used in the windows, from the
 *	  state's arrays of their times.
 *
 * The factor is computed exactly as _activity_measures computes a row's term (the same exponent per
 * microsecond, the same exp2), so that a carried sum differs from a recomputed one only by the roundings
 * of the additions.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/timestamp.h"

#include "health_score.h"

PG_FUNCTION_INFO_V1(hs_carry_decayed);

/* The elements of a float8 array, which must have no NULLs. */
static float8 *
float8_elements(ArrayType *array, int *n, const char *argname)
{
	Datum	   *values;
	bool	   *nulls;
	float8	   *elements;

	deconstruct_array(array, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &values, &nulls, n);
	elements = palloc(sizeof(float8) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain nulls", argname)));
		elements[i] = DatumGetFloat8(values[i]);
	}
	return elements;
}

/*
 * _carry_decayed(decayed, ref_at, as_of, half_lives, added): for each half-life i,
 * decayed[i] * 2^(-(as_of - ref_at) / half_lives[i]) + added[i]. A NULL decayed or added (or ref_at)
 * counts as zeros; the arrays have one element per half-life.
 */
Datum
hs_carry_decayed(PG_FUNCTION_ARGS)
{
	ArrayType  *halves_array;
	Datum	   *halves;
	bool	   *halves_null;
	int			nhalf;
	int			ndecayed = 0;
	int			nadded = 0;
	float8	   *decayed = NULL;
	float8	   *added = NULL;
	Datum	   *result;
	TimestampTz as_of;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	as_of = PG_GETARG_TIMESTAMPTZ(2);
	halves_array = PG_GETARG_ARRAYTYPE_P(3);
	deconstruct_array(halves_array, INTERVALOID, sizeof(Interval), false, TYPALIGN_DOUBLE,
					  &halves, &halves_null, &nhalf);
	if (!PG_ARGISNULL(0) && !PG_ARGISNULL(1))
		decayed = float8_elements(PG_GETARG_ARRAYTYPE_P(0), &ndecayed, "decayed");
	if (!PG_ARGISNULL(4))
		added = float8_elements(PG_GETARG_ARRAYTYPE_P(4), &nadded, "added");
	if ((decayed != NULL && ndecayed != nhalf) || (added != NULL && nadded != nhalf))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("decayed and added must have one element per half-life (%d)", nhalf)));

	result = palloc(sizeof(Datum) * Max(nhalf, 1));
	for (int i = 0; i < nhalf; i++)
	{
		double		sum = 0.0;

		if (halves_null[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("half_lives must not contain nulls")));
		if (decayed != NULL)
		{
			double		exponent_per_usec =
				-1.0 / (hs_half_life_seconds(DatumGetIntervalP(halves[i]), "half_lives") * USECS_PER_SEC);

			sum = decayed[i] * hs_decay_term(as_of, PG_GETARG_TIMESTAMPTZ(1), exponent_per_usec);
		}
		if (added != NULL)
			sum += added[i];
		result[i] = Float8GetDatum(sum);
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(result, nhalf, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
										  TYPALIGN_DOUBLE));
}

PG_FUNCTION_INFO_V1(hs_count_after);

/*
 * _count_after(times, after): how many of times are later than after (NULLs are not): the users of the
 * state active in a window, without unnesting the array.
 */
Datum
hs_count_after(PG_FUNCTION_ARGS)
{
	ArrayType  *times = PG_GETARG_ARRAYTYPE_P(0);
	TimestampTz after = PG_GETARG_TIMESTAMPTZ(1);
	Datum	   *values;
	bool	   *nulls;
	int			n;
	int64		count = 0;

	deconstruct_array(times, TIMESTAMPTZOID, sizeof(TimestampTz), true, TYPALIGN_DOUBLE, &values, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i] && DatumGetTimestampTz(values[i]) > after)
			count++;
	PG_RETURN_INT64(count);
}

PG_FUNCTION_INFO_V1(hs_feature_bits);

/*
 * _feature_bits(features, first_at, last_at, key_features, used_after, adopted_at): of the state's features
 * (each with its first and last use), the key features as bits, bit i standing for key_features[i + 1]:
 * {used after used_after, first used at or before adopted_at, used after adopted_at}. Features that are not
 * key features, and NULL times, set no bit.
 */
Datum
hs_feature_bits(PG_FUNCTION_ARGS)
{
	ArrayType  *features = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *first_at = PG_GETARG_ARRAYTYPE_P(1);
	ArrayType  *last_at = PG_GETARG_ARRAYTYPE_P(2);
	ArrayType  *key_features = PG_GETARG_ARRAYTYPE_P(3);
	TimestampTz used_after = PG_GETARG_TIMESTAMPTZ(4);
	TimestampTz adopted_at = PG_GETARG_TIMESTAMPTZ(5);
	Datum	   *names;
	bool	   *name_nulls;
	int			n;
	Datum	   *firsts;
	bool	   *first_nulls;
	int			n_first;
	Datum	   *lasts;
	bool	   *last_nulls;
	int			n_last;
	Datum	   *keys;
	bool	   *key_nulls;
	int			n_keys;
	int64		used = 0;
	int64		before_adopt = 0;
	int64		since_adopt = 0;
	Datum		bits[3];

	deconstruct_array(features, TEXTOID, -1, false, TYPALIGN_INT, &names, &name_nulls, &n);
	deconstruct_array(first_at, TIMESTAMPTZOID, sizeof(TimestampTz), true, TYPALIGN_DOUBLE, &firsts, &first_nulls, &n_first);
	deconstruct_array(last_at, TIMESTAMPTZOID, sizeof(TimestampTz), true, TYPALIGN_DOUBLE, &lasts, &last_nulls, &n_last);
	deconstruct_array(key_features, TEXTOID, -1, false, TYPALIGN_INT, &keys, &key_nulls, &n_keys);
	if (n_first != n || n_last != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("first_at and last_at must have one element per feature (%d)", n)));
	/* (the rules _activity_measures applies to its key_features) */
	if (n_keys > MAX_KEY_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key_features must have at most %d elements", MAX_KEY_FEATURES),
				 errdetail("Got %d.", n_keys)));
	for (int k = 0; k < n_keys; k++)
		if (key_nulls[k])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("key_features must not contain nulls")));
	for (int i = 0; i < n; i++)
	{
		text	   *name;
		int			k;

		if (name_nulls[i])
			continue;
		name = DatumGetTextPP(names[i]);
		for (k = 0; k < n_keys; k++)
		{
			text	   *key = DatumGetTextPP(keys[k]);

			if (VARSIZE_ANY_EXHDR(key) == VARSIZE_ANY_EXHDR(name) &&
				memcmp(VARDATA_ANY(key), VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)) == 0)
				break;
		}
		if (k == n_keys)
			continue;
		if (!last_nulls[i] && DatumGetTimestampTz(lasts[i]) > used_after)
			used |= INT64CONST(1) << k;
		if (!first_nulls[i] && DatumGetTimestampTz(firsts[i]) <= adopted_at)
			before_adopt |= INT64CONST(1) << k;
		if (!last_nulls[i] && DatumGetTimestampTz(lasts[i]) > adopted_at)
			since_adopt |= INT64CONST(1) << k;
	}
	bits[0] = Int64GetDatum(used);
	bits[1] = Int64GetDatum(before_adopt);
	bits[2] = Int64GetDatum(since_adopt);
	PG_RETURN_ARRAYTYPE_P(construct_array(bits, 3, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
