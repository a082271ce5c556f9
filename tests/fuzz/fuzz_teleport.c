/* fuzz_teleport - the teleport reader and the rowset reader with both
 * printers (libdx's teleport.c, teleport_rowset.c, teleport_print.c), as
 * `dx call` reads a db.get answer from the network.
 *
 * Input: one byte choosing the reader (even: a rowset through
 * dx_db_answer_open, odd: dx_tp_open of user records), then the buffer.
 * Checked: every pointer the readers hand out lies inside the buffer and
 * is NUL-terminated where the header says; an accepted rowset holds no
 * more rows than its buffer has bytes (issue 11 item 3: 0 columns and
 * 4,294,967,295 rows passed, and the printers then ran for ever); both
 * printers finish and succeed on every rowset the reader accepts.
 *
 * DX_FUZZ_KNOWN_BUGS=1 lets item 3's rowsets pass unprinted (the printers
 * would run for ever on them), so a long run can look for other bugs while
 * it is open. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dx/db_teleport.h>
#include <dx/teleport.h>

#include "fuzz_check.h"

static FILE *devnull;
static int known_bugs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	devnull = fopen("/dev/null", "w");
	const char *k = getenv("DX_FUZZ_KNOWN_BUGS");
	known_bugs = k && *k == '1';
	return devnull ? 0 : -1;
}

static void check_str(const char *s, size_t len, const uint8_t *buf,
		      size_t size, const char *what)
{
	FUZZ_CHECK((const uint8_t *)s >= buf &&
			   (const uint8_t *)s + len < buf + size &&
			   s[len] == '\0',
		   "%s of %zu bytes outside the buffer or not NUL-ended", what,
		   len);
}

static void fuzz_users(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	FUZZ_CHECK(buf != NULL, "malloc");
	memcpy(buf, data, size);
	dx_tp_reader r;
	if (dx_tp_open(buf, size, &dx_tp_user_type, &r) == 0) {
		FUZZ_CHECK((uint64_t)dx_tp_count(&r) * sizeof(dx_tp_user) <=
				   size,
			   "%zu records in %zu bytes", dx_tp_count(&r), size);
		for (size_t i = 0; i < dx_tp_count(&r); i++) {
			const dx_tp_user *u = DX_TP_RECORD(&r, i, dx_tp_user);
			FUZZ_CHECK(u && (const uint8_t *)u >= buf &&
					   (const uint8_t *)(u + 1) <= buf + size,
				   "record %zu", i);
			size_t n;
			const char *s = dx_tp_string(&r, u->name, &n);
			FUZZ_CHECK(s, "record %zu: name refused after open", i);
			check_str(s, n, buf, size, "name");
			s = dx_tp_string(&r, u->email, &n);
			FUZZ_CHECK(s, "record %zu: email refused after open", i);
			check_str(s, n, buf, size, "email");
		}
		FUZZ_CHECK(!dx_tp_record(&r, dx_tp_count(&r)),
			   "record past the count");
	}
	free(buf);
}

static void fuzz_rowset(const uint8_t *data, size_t size)
{
	void *buf = NULL;
	dx_rowset rs;
	if (dx_db_answer_open(data, size, &buf, &rs) == 0) {
		uint32_t nc = dx_rowset_ncols(&rs), nr = dx_rowset_nrows(&rs);
		if (known_bugs && nc == 0 && nr > size) {
			free(buf); /* issue 11 item 3, still open */
			return;
		}
		FUZZ_CHECK((uint64_t)nc * nr <= size / 8 && nr <= size,
			   "%u rows of %u columns accepted from %zu bytes", nr,
			   nc, size);
		for (uint32_t c = 0; c < nc; c++) {
			size_t n;
			const char *s = dx_rowset_colname(&rs, c, &n);
			FUZZ_CHECK(s, "column %u has no name", c);
			check_str(s, n, buf, size, "column name");
		}
		FUZZ_CHECK(!dx_rowset_colname(&rs, nc, NULL), "column past");
		for (uint32_t r = 0; r < nr; r++)
			for (uint32_t c = 0; c < nc; c++) {
				size_t n;
				int isnull;
				const char *v =
					dx_rowset_value(&rs, r, c, &n, &isnull);
				FUZZ_CHECK(v, "value %u,%u", r, c);
				if (!isnull)
					check_str(v, n, buf, size, "value");
			}
		FUZZ_CHECK(!dx_rowset_value(&rs, nr, 0, NULL, NULL),
			   "row past the count");
		FUZZ_CHECK(dx_rowset_print_table(&rs, devnull) == 0, "table");
		FUZZ_CHECK(dx_rowset_print_json(&rs, devnull) == 0, "json");
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_users(data + 1, size - 1);
	else
		fuzz_rowset(data + 1, size - 1);
	return 0;
}
