/* fuzz_db_body - the db.get / db.subscribe body decoder the db_teleport
 * plugin runs on every request (libdx's db_teleport_codec.c).
 *
 * Checked: split, check and decode agree (decode succeeds exactly when
 * check does, into a string buffer of the parameter part's own size, as
 * the header promises); every decoded parameter lies in that buffer and
 * holds no NUL; and a decoded body encodes back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dx/db_teleport.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dx_db_body b;
	if (dx_db_body_split(data, size, &b) < 0)
		return 0;
	FUZZ_CHECK(b.name_len <= DX_DB_NAME_MAX && b.params_len >= 1 &&
			   (const uint8_t *)b.name + b.name_len == b.params &&
			   b.params + b.params_len == data + size,
		   "split: name %zu params %zu of %zu", b.name_len,
		   b.params_len, size);
	int np = dx_db_params_check(b.params, b.params_len);
	const char *vals[DX_DB_NPARAMS_MAX];
	char *strbuf = malloc(b.params_len);
	FUZZ_CHECK(strbuf != NULL, "malloc");
	int nd = dx_db_params_decode(b.params, b.params_len, vals,
				     DX_DB_NPARAMS_MAX, strbuf, b.params_len);
	FUZZ_CHECK(nd == np, "check says %d, decode %d", np, nd);
	if (nd < 0) {
		free(strbuf);
		return 0;
	}
	for (int i = 0; i < nd; i++)
		FUZZ_CHECK(!vals[i] || (vals[i] >= strbuf &&
					vals[i] + strlen(vals[i]) <
						strbuf + b.params_len),
			   "parameter %d outside the buffer", i);
	/* Back through the encoder: the same bytes (a name with a NUL or of
	 * length 0 cannot be given to it as a C string). */
	char name[DX_DB_NAME_MAX + 1];
	memcpy(name, b.name, b.name_len);
	name[b.name_len] = '\0';
	if (b.name_len && !memchr(b.name, 0, b.name_len)) {
		size_t want = dx_db_body_size(name, vals, (unsigned)nd);
		FUZZ_CHECK(want == size, "size %zu of %zu", want, size);
		uint8_t *out = malloc(want);
		FUZZ_CHECK(out != NULL, "malloc");
		long n = dx_db_body_encode(out, want, name, vals, (unsigned)nd);
		FUZZ_CHECK(n == (long)size && memcmp(out, data, size) == 0,
			   "re-encoded %ld bytes differ from %zu", n, size);
		free(out);
	}
	free(strbuf);
	return 0;
}
