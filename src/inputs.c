/*
 * inputs.c
 *	  _inputs(...): account_health.inputs for the six built-in components, the measures behind each (null
 *	  for a component without data), exactly as jsonb_build_object builds it from the same values: numbers
 *	  as jsonb numbers (NaN and the infinities as strings), the rounded ones rounded as round(x::numeric, n)
 *	  rounds, times as JSON strings, arrays of text as arrays of strings. jsonb_build_object looks every
 *	  argument's type up again on every call, about 30 microseconds a row here; the results stage builds
 *	  inputs for every account whose row it rewrites, all of them on a day's first refresh.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(hs_inputs);

static void
push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &v);
}

static void
push_null(JsonbParseState **state)
{
	JsonbValue	v;

	v.type = jbvNull;
	pushJsonbValue(state, WJB_VALUE, &v);
}

static void
push_string(JsonbParseState **state, char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = s;
	v.val.string.len = strlen(s);
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* A numeric as jsonb_build_object stores one: NaN and the infinities, which JSON lacks, as their names. */
static void
push_numeric(JsonbParseState **state, Numeric n)
{
	JsonbValue	v;

	if (numeric_is_nan(n) || numeric_is_inf(n))
	{
		push_string(state, DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n))));
		return;
	}
	v.type = jbvNumeric;
	v.val.numeric = n;
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* Argument i, a bigint (or NULL). */
static void
push_int8_arg(JsonbParseState **state, FunctionCallInfo fcinfo, int i)
{
	if (PG_ARGISNULL(i))
		push_null(state);
	else
		push_numeric(state, int64_to_numeric(PG_GETARG_INT64(i)));
}

/* Argument i, a float8, as its shortest text reads back (what jsonb_build_object stores), or rounded. */
static void
push_float8_arg(JsonbParseState **state, FunctionCallInfo fcinfo, int i, int round_to)
{
	Datum		n;

	if (PG_ARGISNULL(i))
	{
		push_null(state);
		return;
	}
	if (round_to < 0)
	{
		char	   *text = DatumGetCString(DirectFunctionCall1(float8out, PG_GETARG_DATUM(i)));

		if (strchr(text, 'N') != NULL || strchr(text, 'n') != NULL)
		{
			push_string(state, text);
			return;
		}
		n = DirectFunctionCall3(numeric_in, CStringGetDatum(text), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	}
	else
		n = DirectFunctionCall2(numeric_round, DirectFunctionCall1(float8_numeric, PG_GETARG_DATUM(i)),
								Int32GetDatum(round_to));
	push_numeric(state, DatumGetNumeric(n));
}

static void
push_timestamptz_arg(JsonbParseState **state, FunctionCallInfo fcinfo, int i)
{
	if (PG_ARGISNULL(i))
		push_null(state);
	else
		push_string(state, JsonEncodeDateTime(NULL, PG_GETARG_DATUM(i), TIMESTAMPTZOID, NULL));
}

static void
push_text_array_arg(JsonbParseState **state, FunctionCallInfo fcinfo, int i)
{
	Datum	   *elements;
	bool	   *nulls;
	int			n;

	if (PG_ARGISNULL(i))
	{
		push_null(state);
		return;
	}
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(i), TEXTOID, -1, false, TYPALIGN_INT, &elements, &nulls, &n);
	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	for (int k = 0; k < n; k++)
	{
		JsonbValue	v;

		if (nulls[k])
			v.type = jbvNull;
		else
		{
			text	   *t = DatumGetTextPP(elements[k]);

			v.type = jbvString;
			v.val.string.val = VARDATA_ANY(t);
			v.val.string.len = VARSIZE_ANY_EXHDR(t);
		}
		pushJsonbValue(state, WJB_ELEM, &v);
	}
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
}

static void
push_jsonb_arg(JsonbParseState **state, FunctionCallInfo fcinfo, int i)
{
	Jsonb	   *j;
	JsonbValue	v;

	if (PG_ARGISNULL(i))
	{
		push_null(state);
		return;
	}
	j = PG_GETARG_JSONB_P(i);
	if (JB_ROOT_IS_SCALAR(j))
		JsonbExtractScalar(&j->root, &v);
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &j->root;
		v.val.binary.len = VARSIZE(j) - VARHDRSZ;
	}
	pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * Starts component key's object, or stores null for it when its first argument (whether the component has
 * data) is not true: returns whether the object was started.
 */
static bool
begin_component(JsonbParseState **state, FunctionCallInfo fcinfo, const char *key, int i)
{
	push_key(state, key);
	if (PG_ARGISNULL(i) || !PG_GETARG_BOOL(i))
	{
		push_null(state);
		return false;
	}
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	return true;
}

/*
 * The arguments, in order: engagement (has data, decayed_events rounded to 3, expected_per_day, events_30d,
 * last_activity_at), utilisation (has data, active_users_30d, seats, ratio rounded to 3), adoption (has
 * data, key_features, used_30d), support (has data, open_cases, aged_open_cases, cases_30d,
 * cases_previous_90d), sentiment (has data, responses_90d, nps_90d rounded to 1, average_rating_90d
 * rounded to 2, promoters_90d, detractors_90d), relationship (has data, open_observations,
 * unanswered_outbound_30d, last_response_at).
 */
Datum
hs_inputs(PG_FUNCTION_ARGS)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (begin_component(&state, fcinfo, "engagement", 0))
	{
		push_key(&state, "decayed_events");
		push_float8_arg(&state, fcinfo, 1, 3);
		push_key(&state, "expected_per_day");
		push_float8_arg(&state, fcinfo, 2, -1);
		push_key(&state, "events_30d");
		push_int8_arg(&state, fcinfo, 3);
		push_key(&state, "last_activity_at");
		push_timestamptz_arg(&state, fcinfo, 4);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	if (begin_component(&state, fcinfo, "utilisation", 5))
	{
		push_key(&state, "active_users_30d");
		push_int8_arg(&state, fcinfo, 6);
		push_key(&state, "seats");
		if (PG_ARGISNULL(7))
			push_null(&state);
		else
			push_numeric(&state, int64_to_numeric(PG_GETARG_INT32(7)));
		push_key(&state, "ratio");
		push_float8_arg(&state, fcinfo, 8, 3);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	if (begin_component(&state, fcinfo, "adoption", 9))
	{
		push_key(&state, "key_features");
		push_text_array_arg(&state, fcinfo, 10);
		push_key(&state, "used_30d");
		push_text_array_arg(&state, fcinfo, 11);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	if (begin_component(&state, fcinfo, "support", 12))
	{
		push_key(&state, "open_cases");
		push_int8_arg(&state, fcinfo, 13);
		push_key(&state, "aged_open_cases");
		push_int8_arg(&state, fcinfo, 14);
		push_key(&state, "cases_30d");
		push_int8_arg(&state, fcinfo, 15);
		push_key(&state, "cases_previous_90d");
		push_int8_arg(&state, fcinfo, 16);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	if (begin_component(&state, fcinfo, "sentiment", 17))
	{
		push_key(&state, "responses_90d");
		push_int8_arg(&state, fcinfo, 18);
		push_key(&state, "nps_90d");
		push_float8_arg(&state, fcinfo, 19, 1);
		push_key(&state, "average_rating_90d");
		push_float8_arg(&state, fcinfo, 20, 2);
		push_key(&state, "promoters_90d");
		push_int8_arg(&state, fcinfo, 21);
		push_key(&state, "detractors_90d");
		push_int8_arg(&state, fcinfo, 22);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	if (begin_component(&state, fcinfo, "relationship", 23))
	{
		push_key(&state, "open_observations");
		push_jsonb_arg(&state, fcinfo, 24);
		push_key(&state, "unanswered_outbound_30d");
		push_int8_arg(&state, fcinfo, 25);
		push_key(&state, "last_response_at");
		push_timestamptz_arg(&state, fcinfo, 26);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	PG_RETURN_JSONB_P(JsonbValueToJsonb(result));
}
