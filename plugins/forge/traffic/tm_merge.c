/* tm_merge.c - the traffic light of one file, and its three-way merge.
 *
 * The base after an install: Green and Yellow files get the new content as
 * their base (the project now holds the new version, plus the user's edits
 * for Yellow). Red files keep their old base: the user has not taken the
 * new version in yet, and merging the next update against the old base is
 * what keeps their edit and the skipped version's changes both visible
 * (ucf does the same). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "tm_int.h"

static void tm_set(tm_out *out, dx_tm_light l, dx_tm_action a, const char *why)
{
	out->light = l;
	out->action = a;
	out->why = why;
}

static int tm_merge3(const tm_in *in, tm_out *out, dx_diag *d)
{
	/* Designated initialisers rather than GIT_MERGE_FILE_INPUT_INIT,
	 * which sets only the version and trips -Wmissing-field-initializers;
	 * path and mode stay NULL and 0: we merge contents only. */
	git_merge_file_input base = {.version = GIT_MERGE_FILE_INPUT_VERSION,
				     .ptr = in->base->data,
				     .size = in->base->len};
	git_merge_file_input ours = {.version = GIT_MERGE_FILE_INPUT_VERSION,
				     .ptr = in->user->data,
				     .size = in->user->len};
	git_merge_file_input theirs = {.version = GIT_MERGE_FILE_INPUT_VERSION,
				       .ptr = in->new->data,
				       .size = in->new->len};
	git_merge_file_result r;
	memset(&r, 0, sizeof r);
	if (git_merge_file(&r, &base, &ours, &theirs, NULL) < 0) {
		const git_error *e = git_error_last();
		dx_diag_add(d, "three-way merge failed: %s",
			    e && e->message ? e->message : "libgit2 error");
		return -EIO;
	}
	if (!r.automergeable) {
		tm_set(out, DX_TM_RED, DX_TM_CONFLICT,
		       "changed by you; the merge conflicts");
		out->keep_base = true;
	} else {
		out->merged.data = malloc(r.len + 1);
		if (!out->merged.data) {
			git_merge_file_result_free(&r);
			return -ENOMEM;
		}
		memcpy(out->merged.data, r.ptr, r.len);
		out->merged.data[r.len] = '\0';
		out->merged.len = r.len;
		tm_set(out, DX_TM_YELLOW, DX_TM_MERGE,
		       "changed by you; merges cleanly");
	}
	git_merge_file_result_free(&r);
	return 0;
}

/* No file in the project. */
static void tm_classify_absent(const tm_in *in, tm_out *out)
{
	if (!in->installed)
		tm_set(out, DX_TM_GREEN, DX_TM_WRITE, "absent");
	else if (in->restore_deleted)
		tm_set(out, DX_TM_GREEN, DX_TM_WRITE,
		       "deleted by you; restored (--restore-deleted)");
	else
		tm_set(out, DX_TM_GREEN, DX_TM_KEEP_DELETED,
		       "deleted by you; stays deleted (--restore-deleted "
		       "brings it back)");
}

int tm_classify(const tm_in *in, tm_out *out, dx_diag *d)
{
	memset(out, 0, sizeof *out);
	if (!in->user) {
		tm_classify_absent(in, out);
		return 0;
	}
	if (tm_buf_eq(in->user, in->new)) {
		tm_set(out, DX_TM_GREEN, DX_TM_UNCHANGED,
		       "identical to the new version");
		return 0;
	}
	if (in->base && tm_buf_eq(in->user, in->base)) {
		tm_set(out, DX_TM_GREEN, DX_TM_WRITE,
		       "unchanged since installed");
		return 0;
	}
	/* From here the user's file differs from both: it must survive. */
	out->keep_base = true;
	if (!in->base) {
		tm_set(out, DX_TM_RED, DX_TM_CONFLICT,
		       in->installed ?
			       "changed by you, and its base copy is "
			       "missing or altered (nothing to merge against)" :
			       "exists and differs, and forge did not "
			       "install it (nothing to merge against)");
		return 0;
	}
	if (tm_is_binary(in->user) || tm_is_binary(in->new) ||
	    tm_is_binary(in->base)) {
		tm_set(out, DX_TM_RED, DX_TM_CONFLICT,
		       "binary, and changed by you");
		return 0;
	}
	out->keep_base = false;
	if (tm_buf_eq(in->base, in->new)) {
		tm_set(out, DX_TM_YELLOW, DX_TM_KEEP,
		       "changed by you; the new version did not change it");
		return 0;
	}
	return tm_merge3(in, out, d);
}
