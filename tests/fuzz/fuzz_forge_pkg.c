/* fuzz_forge_pkg - forge's package manifest, REGISTRY/NAME/VERSION/
 * package.json, as `dx forge install` reads it (plugins/forge/traffic/
 * tm_pkg.c through tm_pkg_load, linked from the traffic manager's
 * library).
 *
 * A registry in a temporary directory holds pkg/1.0/ with two files, a
 * subdirectory and a symlink that points out of the version directory; the
 * input is written as its package.json and loaded. Checked: a refused
 * package says why; an accepted one has its name and version, and every
 * file's "from" and "to" pass the lexical path checks, its content was
 * read from inside the version directory (the symlink never is), and no
 * two files share a "to". */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "tm_int.h"

static char reg[64];
static char json_path[128];

static void put(const char *rel, const char *text)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", reg, rel);
	FILE *f = fopen(p, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		abort();
}

static void cleanup(void)
{
	static const char *const rel[] = {
		"pkg/1.0/package.json", "pkg/1.0/a.txt", "pkg/1.0/sub/b.txt",
		"pkg/1.0/out", "pkg/1.0/sub", "pkg/1.0", "pkg", "secret", ""};
	for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
		char p[256];
		snprintf(p, sizeof p, "%s/%s", reg, rel[i]);
		if (unlink(p) < 0)
			rmdir(p);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(reg, sizeof reg, "/tmp/dx-fuzz-forge-XXXXXX");
	if (!mkdtemp(reg))
		return -1;
	atexit(cleanup);
	char p[256];
	snprintf(p, sizeof p, "%s/pkg", reg);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/pkg/1.0", reg);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/pkg/1.0/sub", reg);
	mkdir(p, 0700);
	put("pkg/1.0/a.txt", "alpha\n");
	put("pkg/1.0/sub/b.txt", "beta\n");
	put("secret", "outside the version directory\n");
	snprintf(p, sizeof p, "%s/pkg/1.0/out", reg);
	if (symlink("../../secret", p) < 0)
		return -1;
	snprintf(json_path, sizeof json_path, "%s/pkg/1.0/package.json", reg);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = open(json_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0, "open: %s", strerror(errno));
	FUZZ_CHECK(write(fd, data, size) == (ssize_t)size, "write");
	close(fd);
	tm_pkg p;
	dx_diag d = DX_DIAG_INIT;
	int rc = tm_pkg_load(reg, "pkg", "1.0", &p, &d);
	if (rc < 0) {
		FUZZ_CHECK(d.count > 0, "refused (%d) without a reason", rc);
	} else {
		FUZZ_CHECK(p.name && strcmp(p.name, "pkg") == 0 && p.version &&
				   strcmp(p.version, "1.0") == 0,
			   "name or version");
		for (size_t i = 0; i < p.count; i++) {
			const tm_pfile *f = &p.files[i];
			FUZZ_CHECK(f->from && f->to, "file %zu", i);
			FUZZ_CHECK(!dx_fx_path_why(f->from, TM_PATH_REL) &&
					   !dx_fx_path_why(f->to, TM_PATH_TO),
				   "file %zu: unsafe path accepted: %s -> %s", i,
				   f->from, f->to);
			FUZZ_CHECK(f->content.len < 7 ||
					   memcmp(f->content.data, "outside", 7) !=
						   0,
				   "file %zu: read through the symlink: %s", i,
				   f->from);
			for (size_t j = 0; j < i; j++)
				FUZZ_CHECK(strcmp(p.files[j].to, f->to) != 0,
					   "files %zu and %zu both write %s", j,
					   i, f->to);
		}
		tm_pkg_free(&p);
	}
	dx_diag_clear(&d);
	return 0;
}
