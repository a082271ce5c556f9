/* test_teleport_prop.c - property tests for the teleport format.
 *
 * (a) round trips: random user records (strings empty, with NULs inside,
 *     long) and random rowsets (random columns, OIDs, NULLs, empty strings,
 *     zero rows, zero columns) read back identically;
 * (b) every truncation of a valid buffer is an error, never a fault;
 * (c) random byte flips in valid buffers give an error or a valid read
 *     whose every pointer, walked to the end, stays inside the buffer.
 *
 * Each input is an exactly-sized malloc copy, so ASan sees an overread.
 * The seed comes from DX_TEST_SEED when set, else from the clock; every
 * failure message carries it ("seed N case K"), so DX_TEST_SEED=N replays
 * the run exactly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include <dx/teleport.h>

#include "check_main.h"

#define CASES 300
#define TRUNC_CASES 40
#define FLIPS 3000

#include "prop_rng.h"

static uint8_t *copy_exact(const uint8_t *src, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(p);
	if (n)
		memcpy(p, src, n);
	return p;
}

/* A random string: empty, short, with NULs inside, or long; no NULs when
 * cstr (column names are C strings). big = 0 keeps it short. */
typedef struct bytes {
	uint8_t *p;
	size_t n;
} bytes;

static bytes rnd_bytes(rng *r, int cstr, int big)
{
	bytes b;
	switch (rnd_below(r, 6)) {
	case 0: b.n = 0; break;
	case 1: b.n = big ? 1000 + rnd_below(r, 5000) : rnd_below(r, 40); break;
	default: b.n = 1 + rnd_below(r, 24);
	}
	b.p = malloc(b.n + 1);
	ck_assert_ptr_nonnull(b.p);
	int text = rnd_below(r, 2);
	for (size_t i = 0; i < b.n; i++) {
		uint8_t c = text ? (uint8_t)(' ' + rnd_below(r, 95)) :
				   (uint8_t)rnd(r);
		if (cstr && !c)
			c = 'z';
		if (!cstr && !text && rnd_below(r, 8) == 0)
			c = 0;
		b.p[i] = c;
	}
	b.p[b.n] = 0;
	return b;
}

/* --- Users -------------------------------------------------------------- */

typedef struct users {
	size_t n;
	uint64_t *id;
	bytes *name, *email;
} users;

static users rnd_users(rng *r, size_t max, int big)
{
	users u;
	u.n = rnd_below(r, max + 1);
	u.id = calloc(u.n + 1, sizeof *u.id);
	u.name = calloc(u.n + 1, sizeof *u.name);
	u.email = calloc(u.n + 1, sizeof *u.email);
	for (size_t i = 0; i < u.n; i++) {
		u.id[i] = rnd(r);
		u.name[i] = rnd_bytes(r, 0, big);
		u.email[i] = rnd_bytes(r, 0, big);
	}
	return u;
}

static void users_free(users *u)
{
	for (size_t i = 0; i < u->n; i++) {
		free(u->name[i].p);
		free(u->email[i].p);
	}
	free(u->id);
	free(u->name);
	free(u->email);
}

static uint8_t *users_encode(const users *u, size_t *len)
{
	dx_tp_writer w;
	uint8_t *buf = NULL;
	ck_assert_int_eq(dx_tp_writer_init(&w, &dx_tp_user_type), 0);
	for (size_t i = 0; i < u->n; i++) {
		dx_tp_user rec;
		memset(&rec, 0, sizeof rec);
		rec.id = u->id[i];
		dx_tp_add_string(&w, u->name[i].p, u->name[i].n, &rec.name);
		dx_tp_add_string(&w, u->email[i].p, u->email[i].n, &rec.email);
		dx_tp_append(&w, &rec);
	}
	ck_assert_int_eq(dx_tp_writer_finish(&w, &buf, len), 0);
	dx_tp_writer_free(&w);
	return buf;
}

static int same(const char *s, size_t n, const bytes *b)
{
	return s && n == b->n && !memcmp(s, b->p, n) && s[n] == '\0';
}

START_TEST(users_round_trip)
{
	rng r = rng_seeded();
	for (int k = 0; k < CASES; k++) {
		users u = rnd_users(&r, 40, 1);
		size_t len;
		uint8_t *src = users_encode(&u, &len);
		uint8_t *buf = copy_exact(src, len);
		dx_tp_reader rd;
		int rc = dx_tp_open(buf, len, &dx_tp_user_type, &rd);
		FAILIF(rc, &r, k, "open: %d", rc);
		FAILIF(dx_tp_count(&rd) != u.n, &r, k, "count %zu, want %zu",
		       dx_tp_count(&rd), u.n);
		for (size_t i = 0; i < u.n; i++) {
			const dx_tp_user *p = DX_TP_RECORD(&rd, i, dx_tp_user);
			size_t n;
			FAILIF(!p || p->id != u.id[i], &r, k, "record %zu id",
			       i);
			const char *s = dx_tp_string(&rd, p->name, &n);
			FAILIF(!same(s, n, &u.name[i]), &r, k,
			       "record %zu name", i);
			s = dx_tp_string(&rd, p->email, &n);
			FAILIF(!same(s, n, &u.email[i]), &r, k,
			       "record %zu email", i);
		}
		free(buf);
		free(src);
		users_free(&u);
	}
}
END_TEST

/* --- Rowsets ------------------------------------------------------------ */

typedef struct rows {
	uint32_t ncols, nrows;
	bytes *name;
	uint32_t *oid;
	bytes *val; /* row-major; p NULL for SQL NULL */
} rows;

static rows rnd_rows(rng *r, int big)
{
	rows t;
	t.ncols = rnd_below(r, 8) == 0 ? 0 : (uint32_t)rnd_below(r, 9);
	t.nrows = rnd_below(r, 6) == 0 ? 0 : (uint32_t)rnd_below(r, 25);
	size_t nv = (size_t)t.ncols * t.nrows;
	t.name = calloc(t.ncols + 1, sizeof *t.name);
	t.oid = calloc(t.ncols + 1, sizeof *t.oid);
	t.val = calloc(nv + 1, sizeof *t.val);
	for (uint32_t c = 0; c < t.ncols; c++) {
		t.name[c] = rnd_bytes(r, 1, 0);
		t.oid[c] = rnd_below(r, 2) ? (uint32_t)rnd(r) : 23;
	}
	for (size_t i = 0; i < nv; i++) {
		if (rnd_below(r, 5) == 0)
			t.val[i].p = NULL, t.val[i].n = 0;
		else
			t.val[i] = rnd_bytes(r, 0, big);
	}
	return t;
}

static void rows_free(rows *t)
{
	for (uint32_t c = 0; c < t->ncols; c++)
		free(t->name[c].p);
	for (size_t i = 0; i < (size_t)t->ncols * t->nrows; i++)
		free(t->val[i].p);
	free(t->name);
	free(t->oid);
	free(t->val);
}

static uint8_t *rows_encode(const rows *t, size_t *len)
{
	dx_rowset_writer w;
	uint8_t *buf = NULL;
	ck_assert_int_eq(dx_rowset_begin(&w, t->ncols), 0);
	for (uint32_t c = 0; c < t->ncols; c++)
		dx_rowset_column(&w, (const char *)t->name[c].p, t->oid[c]);
	for (uint32_t i = 0; i < t->nrows; i++) {
		dx_rowset_row(&w);
		for (uint32_t c = 0; c < t->ncols; c++) {
			const bytes *v = &t->val[(size_t)i * t->ncols + c];
			dx_rowset_put(&w, v->p, v->n);
		}
	}
	ck_assert_int_eq(dx_rowset_finish(&w, &buf, len), 0);
	dx_rowset_writer_free(&w);
	return buf;
}

START_TEST(rowset_round_trip)
{
	rng r = rng_seeded();
	for (int k = 0; k < CASES; k++) {
		rows t = rnd_rows(&r, 1);
		size_t len;
		uint8_t *src = rows_encode(&t, &len);
		uint8_t *buf = copy_exact(src, len);
		dx_rowset rs;
		int rc = dx_rowset_open(buf, len, &rs);
		FAILIF(rc, &r, k, "open: %d", rc);
		FAILIF(dx_rowset_ncols(&rs) != t.ncols ||
			       dx_rowset_nrows(&rs) != t.nrows,
		       &r, k, "shape %ux%u, want %ux%u", dx_rowset_nrows(&rs),
		       dx_rowset_ncols(&rs), t.nrows, t.ncols);
		for (uint32_t c = 0; c < t.ncols; c++) {
			size_t n;
			const char *s = dx_rowset_colname(&rs, c, &n);
			FAILIF(!same(s, n, &t.name[c]), &r, k, "name %u", c);
			FAILIF(dx_rowset_coltype(&rs, c) != t.oid[c], &r, k,
			       "oid %u", c);
		}
		for (uint32_t i = 0; i < t.nrows; i++)
			for (uint32_t c = 0; c < t.ncols; c++) {
				const bytes *v =
					&t.val[(size_t)i * t.ncols + c];
				size_t n;
				int isnull;
				const char *s =
					dx_rowset_value(&rs, i, c, &n, &isnull);
				FAILIF(isnull != !v->p, &r, k, "null at %u,%u",
				       i, c);
				FAILIF(v->p ? !same(s, n, v) :
					      strcmp(s, "") || n,
				       &r, k, "value at %u,%u", i, c);
			}
		free(buf);
		free(src);
		rows_free(&t);
	}
}
END_TEST

/* --- Truncation and flips ----------------------------------------------- */

/* A small valid buffer, users or rowset (kind 0 or 1). */
static uint8_t *rnd_valid(rng *r, int kind, size_t *len)
{
	uint8_t *buf;
	if (kind == 0) {
		users u = rnd_users(r, 8, 0);
		buf = users_encode(&u, len);
		users_free(&u);
	} else {
		rows t = rnd_rows(r, 0);
		buf = rows_encode(&t, len);
		rows_free(&t);
	}
	return buf;
}

/* p[0, n] (the NUL included) lies inside b[0, len). Reads every byte. */
static int inside(const uint8_t *b, size_t len, const char *p, size_t n)
{
	const uint8_t *q = (const uint8_t *)p;
	if (!q || q < b || q > b + len || n >= (size_t)(b + len - q))
		return 0;
	volatile uint8_t sink = 0;
	for (size_t i = 0; i <= n; i++)
		sink ^= q[i];
	(void)sink;
	return q[n] == 0;
}

/* Opens b[0, len) as kind; on success walks everything the reader hands
 * out. 0 for an error or a sound read, else 1 (the test fails). */
static int open_and_walk(const uint8_t *b, size_t len, int kind, int *rc)
{
	if (kind == 0) {
		dx_tp_reader rd;
		*rc = dx_tp_open(b, len, &dx_tp_user_type, &rd);
		if (*rc)
			return *rc >= 0;
		for (size_t i = 0; i < dx_tp_count(&rd); i++) {
			const dx_tp_user *u = DX_TP_RECORD(&rd, i, dx_tp_user);
			const uint8_t *q = (const uint8_t *)u;
			if (!u || q < b || q + sizeof *u > b + len ||
			    (uintptr_t)q % _Alignof(dx_tp_user))
				return 1;
			size_t n;
			const char *s = dx_tp_string(&rd, u->name, &n);
			if (!inside(b, len, s, n))
				return 1;
			s = dx_tp_string(&rd, u->email, &n);
			if (!inside(b, len, s, n))
				return 1;
		}
		return 0;
	}
	dx_rowset rs;
	*rc = dx_rowset_open(b, len, &rs);
	if (*rc)
		return *rc >= 0;
	uint32_t nc = dx_rowset_ncols(&rs), nr = dx_rowset_nrows(&rs);
	/* Columns outside: a flipped row count with no columns costs nothing. */
	for (uint32_t c = 0; c < nc; c++) {
		size_t n;
		const char *name = dx_rowset_colname(&rs, c, &n);
		if (!inside(b, len, name, n))
			return 1;
		(void)dx_rowset_coltype(&rs, c);
		for (uint32_t i = 0; i < nr; i++) {
			int isnull;
			const char *s = dx_rowset_value(&rs, i, c, &n, &isnull);
			if (isnull ? !s || *s || n : !inside(b, len, s, n))
				return 1;
		}
	}
	if ((uint64_t)nr * (nc + 1) < 10000) { /* the printers, too */
		FILE *f = fopen("/dev/null", "w");
		ck_assert_ptr_nonnull(f);
		int bad = dx_rowset_print_table(&rs, f) ||
			  dx_rowset_print_json(&rs, f);
		fclose(f);
		if (bad)
			return 1;
	}
	return 0;
}

START_TEST(every_truncation)
{
	rng r = rng_seeded();
	for (int k = 0; k < TRUNC_CASES; k++) {
		size_t len;
		int kind = k % 2, rc;
		uint8_t *src = rnd_valid(&r, kind, &len);
		for (size_t n = 0; n < len; n++) {
			uint8_t *b = copy_exact(src, n);
			FAILIF(open_and_walk(b, n, kind, &rc), &r, k,
			       "kind %d prefix %zu of %zu: rc %d", kind, n, len,
			       rc);
			FAILIF(!rc, &r, k, "kind %d prefix %zu of %zu opened",
			       kind, n, len);
			free(b);
		}
		uint8_t *b = copy_exact(src, len);
		FAILIF(open_and_walk(b, len, kind, &rc) || rc, &r, k,
		       "kind %d whole buffer: rc %d", kind, rc);
		free(b);
		free(src);
	}
}
END_TEST

START_TEST(random_flips)
{
	rng r = rng_seeded();
	int errors = 0, valid = 0;
	for (int k = 0; k < FLIPS; k++) {
		size_t len;
		int kind = k % 2, rc;
		uint8_t *b = rnd_valid(&r, kind, &len);
		int nflips = 1 + (int)rnd_below(&r, 4);
		for (int i = 0; i < nflips; i++) {
			size_t at = rnd_below(&r, len);
			if (rnd_below(&r, 2))
				b[at] ^= (uint8_t)(1u << rnd_below(&r, 8));
			else
				b[at] = (uint8_t)rnd(&r);
		}
		uint8_t *c = copy_exact(b, len);
		FAILIF(open_and_walk(c, len, kind, &rc), &r, k,
		       "kind %d, %d flips in %zu bytes: rc %d", kind, nflips,
		       len, rc);
		if (rc)
			errors++;
		else
			valid++;
		free(c);
		free(b);
	}
	/* Both outcomes must occur, or the test is not testing much. */
	FAILIF(!errors || !valid, &r, FLIPS, "%d errors, %d valid reads",
	       errors, valid);
}
END_TEST

static Suite *prop_suite(void)
{
	Suite *s = suite_create("teleport-prop");
	TCase *tc = tcase_create("prop");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, users_round_trip);
	tcase_add_test(tc, rowset_round_trip);
	tcase_add_test(tc, every_truncation);
	tcase_add_test(tc, random_flips);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* One seed for every test of the run (each calls rng_seeded). */
	rng r = rng_seeded();
	char seed[32];
	snprintf(seed, sizeof seed, "%llu", r.seed);
	setenv("DX_TEST_SEED", seed, 1);
	printf("teleport-prop: seed %llu (DX_TEST_SEED=%llu replays)\n", r.seed,
	       r.seed);
	return dx_check_run(prop_suite());
}
