/* expect_msg.h - the expected-message matcher of the validation tests
 * (tests/manifest/test_manifest.c, tests/forge_tools/test_forge_schema.c):
 * a message that starts with a prefix and contains some words. */
#ifndef DX_TEST_EXPECT_MSG_H
#define DX_TEST_EXPECT_MSG_H

#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "diag.h"

#define MAX_WORDS 4

/* A message is expected that starts with prefix and contains every word. */
typedef struct expect {
	const char *prefix;
	const char *words[MAX_WORDS];
} expect;

static inline bool matches(const char *msg, const expect *e)
{
	if (strncmp(msg, e->prefix, strlen(e->prefix)))
		return false;
	for (size_t i = 0; i < MAX_WORDS && e->words[i]; i++)
		if (!strstr(msg, e->words[i]))
			return false;
	return true;
}

/* Fail with every message shown, so a mismatch is easy to read. */
static inline void expect_msg(const dx_diag *d, const expect *e, const char *what)
{
	for (size_t i = 0; i < d->count; i++)
		if (matches(d->msgs[i], e))
			return;
	char all[4096] = "";
	for (size_t i = 0; i < d->count; i++) {
		strncat(all, "\n  ", sizeof all - strlen(all) - 1);
		strncat(all, d->msgs[i], sizeof all - strlen(all) - 1);
	}
	ck_abort_msg("%s: no message starting with '%s' (with %s%s%s); got:%s",
		     what, e->prefix, e->words[0] ? e->words[0] : "-",
		     e->words[1] ? ", " : "", e->words[1] ? e->words[1] : "",
		     all);
}

#endif
