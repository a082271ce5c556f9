/* test_win_loader.c - the plugin loader on Windows (loader.c over
 * loader_win.c and dl_win.c), under wine, with DLLs of the cross build:
 * a good plugin loads and is described; every refusal class of
 * tests/plugins/tp_refusals.h gives the Linux test's code and message; a
 * file that is no DLL and a missing one; a bare name loads the file in the
 * current directory that was checked, not one the DLL search path finds
 * (the test's own directory holds another good.dll); dx_dl_open refuses a
 * path that is not full; the permission rule over DACLs (an Everyone
 * write entry on the file or on its directory, a NULL DACL) and its
 * override, and on DACLs built in memory for the rights wine cannot keep
 * on a file (it stores a Unix mode); and routes_hello.dll and
 * routes_echo.dll load.
 *
 * The test plugins are built beside this executable, which finds them
 * through its own path. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>
#include <aclapi.h>

#include <dx/plugin.h>
#include <dx/routes.h>

#include "dl.h"
#include "loader.h"
#include "loader_win.h"
#include "tp_refusals.h"
#include "wintest.h"

static const dx_load_opts any_mode = {.allow_writable = true};

/* The directory of this executable, "C:\...\tests\win". */
static char exe_dir[MAX_PATH];
/* Where routes_hello.dll and routes_echo.dll were built: "..\..\plugins"
 * from here, which the loader resolves to a full path. */
static char routes_dir[MAX_PATH];

static char *str_printf(const char *fmt, ...) DX_PRINTF(1, 2);
static char *str_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = malloc((size_t)n + 1);
	WT_ASSERT(s != NULL);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static char *tp(const char *name)
{
	return str_printf("%s\\%s.dll", exe_dir, name);
}

static const char *diag_all(const dx_diag *d)
{
	static char buf[4096];
	buf[0] = '\0';
	for (size_t i = 0; i < d->count; i++) {
		strncat(buf, d->msgs[i], sizeof buf - strlen(buf) - 2);
		strcat(buf, "\n");
	}
	return buf;
}

/* A fresh directory under the temporary directory, malloc'd. */
static char *make_tmpdir(void)
{
	static unsigned seq;
	char tmp[MAX_PATH];
	DWORD n = GetTempPathA(sizeof tmp, tmp);
	WT_ASSERT(n > 0 && n < sizeof tmp);
	/* Wine hands out the same small process ids run after run, and a
	 * failed case leaves its directory behind: take the next free name. */
	for (;;) {
		char *dir = str_printf("%sdx-win-loader-%lu-%u", tmp,
				       (unsigned long)GetCurrentProcessId(),
				       ++seq);
		if (CreateDirectoryA(dir, NULL))
			return dir;
		WT_CHECK(GetLastError() == ERROR_ALREADY_EXISTS,
			 "CreateDirectory %s: %lu", dir,
			 (unsigned long)GetLastError());
		free(dir);
	}
}

static void copy_file(const char *from, const char *to)
{
	WT_CHECK(CopyFileA(from, to, FALSE), "CopyFile %s %s: %lu", from, to,
		 (unsigned long)GetLastError());
}

static void good_loads(void)
{
	char *path = tp("good");
	dx_module m;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_module_open(path, &any_mode, &m, &d);
	WT_CHECK(rc == 0, "rc %d: %s", rc, diag_all(&d));
	WT_INT_EQ(d.count, 0);
	WT_ASSERT(m.handle != NULL);
	WT_ASSERT(strcmp(m.path, path) == 0);
	WT_ASSERT(m.copy == NULL); /* Windows maps the file itself */
	WT_ASSERT(m.size > 0);
	WT_ASSERT(m.mtime > 1500000000); /* a FILETIME turned into Unix time */
	const dx_plugin *p = m.desc;
	WT_INT_EQ(p->magic, DX_PLUGIN_MAGIC);
	WT_INT_EQ(p->abi_major, DX_ABI_MAJOR);
	WT_ASSERT(strcmp(p->name, "good") == 0);
	WT_ASSERT(strcmp(p->version, "1.2.3") == 0);
	WT_INT_EQ(p->facet_count, 2);

	FILE *out = tmpfile();
	WT_ASSERT(out != NULL);
	dx_module_describe(&m, out);
	char text[2048];
	rewind(out);
	size_t n = fread(text, 1, sizeof text - 1, out);
	text[n] = '\0';
	fclose(out);
	WT_STR_HAS(text, "ROUTES good_routes");
	WT_STR_HAS(text, "SERVICE good_svc");
	WT_STR_HAS(text, "route 100 good.ping");

	dx_module_close(&m);
	WT_ASSERT(m.handle == NULL && m.path == NULL);
	dx_diag_clear(&d);
	free(path);
}

static void refusal_classes(void)
{
	for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
		const struct refusal *t = &refusals[i];
		char *path = tp(t->plugin);
		dx_module m;
		dx_diag d = DX_DIAG_INIT;
		int rc = dx_module_open(path, &any_mode, &m, &d);
		WT_CHECK(rc == t->code, "%s: rc %d (%s), expected %s: %s",
			 t->plugin, rc, dx_err_name(rc), dx_err_name(t->code),
			 diag_all(&d));
		/* Nothing stays loaded. */
		WT_ASSERT(m.handle == NULL && m.path == NULL && m.desc == NULL);
		WT_INT_EQ(d.count, 1);
		WT_STR_HAS(d.msgs[0], path);
		for (int k = 0; k < 3 && t->says[k]; k++)
			WT_STR_HAS(d.msgs[0], t->says[k]);
		dx_diag_clear(&d);
		free(path);
	}
}

static void not_a_dll(void)
{
	char *dir = make_tmpdir();
	char *path = str_printf("%s\\text.dll", dir);
	FILE *f = fopen(path, "w");
	WT_ASSERT(f != NULL);
	fputs("this is not a PE file\n", f);
	fclose(f);
	dx_module m;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_module_open(path, NULL, &m, &d);
	WT_CHECK(rc == DX_ENOTSO, "rc %d: %s", rc, diag_all(&d));
	WT_ASSERT(m.handle == NULL);
	WT_STR_HAS(diag_all(&d), path);
	WT_STR_HAS(diag_all(&d), "not a loadable shared object");
	WT_STR_HAS(diag_all(&d), "LoadLibrary error");
	dx_diag_clear(&d);
	WT_ASSERT(DeleteFileA(path) && RemoveDirectoryA(dir));
	free(path);
	free(dir);
}

static void missing_file(void)
{
	char *path = tp("no_such_plugin");
	dx_module m;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_module_open(path, NULL, &m, &d);
	WT_CHECK(rc == -ENOENT, "rc %d: %s", rc, diag_all(&d));
	WT_ASSERT(m.handle == NULL);
	WT_STR_HAS(diag_all(&d), path);
	WT_STR_HAS(diag_all(&d), "cannot open");
	dx_diag_clear(&d);
	free(path);
}

/* A bare "good.dll": the loader must load .\good.dll, the file it
 * checked, not the good.dll beside this executable, which the DLL search
 * path finds first. The local good.dll is really rec_a. */
static void bare_name_loads_checked_file(void)
{
	char *rec = tp("rec_a");
	char *dir = make_tmpdir();
	char *file = str_printf("%s\\good.dll", dir);
	copy_file(rec, file);
	char cwd[MAX_PATH];
	WT_ASSERT(GetCurrentDirectoryA(sizeof cwd, cwd) > 0);
	WT_ASSERT(SetCurrentDirectoryA(dir));
	dx_module m;
	dx_diag d = DX_DIAG_INIT;
	int rc = dx_module_open("good.dll", &any_mode, &m, &d);
	char name[64] = "";
	if (rc == 0) {
		snprintf(name, sizeof name, "%s", m.desc->name);
		dx_module_close(&m);
	}
	WT_ASSERT(SetCurrentDirectoryA(cwd));
	WT_ASSERT(DeleteFileA(file) && RemoveDirectoryA(dir));
	WT_CHECK(rc == 0 && strcmp(name, "rec_a") == 0,
		 "dx_module_open(\"good.dll\") in a directory holding rec_a as "
		 "good.dll: rc %d (%s), loaded \"%s\": %s",
		 rc, dx_err_name(rc), name, diag_all(&d));
	dx_diag_clear(&d);
	free(file);
	free(dir);
	free(rec);
}

/* dx_dl_open maps full paths only: never a name for the search path. */
static void dl_open_wants_full_path(void)
{
	char why[256] = "";
	WT_ASSERT(dx_dl_open("good.dll", why, sizeof why) == NULL);
	WT_STR_HAS(why, "not a full path");
	WT_ASSERT(dx_dl_open("tests\\win\\good.dll", why, sizeof why) == NULL);
	char *path = tp("good");
	void *h = dx_dl_open(path, why, sizeof why);
	WT_CHECK(h != NULL, "%s: %s", path, why);
	WT_ASSERT(dx_dl_func(h, DX_PLUGIN_SYMBOL) != NULL);
	WT_ASSERT(dx_dl_func(h, "no_such_symbol") == NULL);
	dx_dl_close(h);
	WT_ASSERT(strcmp(dx_dl_suffix, ".dll") == 0);
	free(path);
}

/* Add an allow entry for Everyone with rights to path's DACL (acl NULL),
 * or set the DACL to acl itself (NULL DACL when null_dacl). The old DACL
 * is returned through *old for restore_dacl. */
static void set_dacl(const char *path, DWORD rights, bool null_dacl,
		     PSECURITY_DESCRIPTOR *old_sd, PACL *old)
{
	PACL dacl = NULL, fresh = NULL;
	DWORD e = GetNamedSecurityInfoA(path, SE_FILE_OBJECT,
					DACL_SECURITY_INFORMATION, NULL, NULL,
					&dacl, NULL, old_sd);
	WT_CHECK(e == ERROR_SUCCESS, "GetNamedSecurityInfo %s: %lu", path,
		 (unsigned long)e);
	*old = dacl;
	if (!null_dacl) {
		SID_IDENTIFIER_AUTHORITY world = {SECURITY_WORLD_SID_AUTHORITY};
		PSID everyone = NULL;
		WT_ASSERT(AllocateAndInitializeSid(&world, 1,
						   SECURITY_WORLD_RID, 0, 0, 0,
						   0, 0, 0, 0, &everyone));
		EXPLICIT_ACCESS_A ea = {0};
		ea.grfAccessPermissions = rights;
		ea.grfAccessMode = GRANT_ACCESS;
		ea.grfInheritance = NO_INHERITANCE;
		ea.Trustee.TrusteeForm = TRUSTEE_IS_SID;
		ea.Trustee.TrusteeType = TRUSTEE_IS_WELL_KNOWN_GROUP;
		ea.Trustee.ptstrName = (LPSTR)everyone;
		e = SetEntriesInAclA(1, &ea, dacl, &fresh);
		FreeSid(everyone);
		WT_CHECK(e == ERROR_SUCCESS, "SetEntriesInAcl: %lu",
			 (unsigned long)e);
	}
	e = SetNamedSecurityInfoA((LPSTR)path, SE_FILE_OBJECT,
				  DACL_SECURITY_INFORMATION, NULL, NULL, fresh,
				  NULL);
	LocalFree(fresh);
	WT_CHECK(e == ERROR_SUCCESS, "SetNamedSecurityInfo %s: %lu", path,
		 (unsigned long)e);
}

static void restore_dacl(const char *path, PSECURITY_DESCRIPTOR sd, PACL old)
{
	DWORD e = SetNamedSecurityInfoA((LPSTR)path, SE_FILE_OBJECT,
					DACL_SECURITY_INFORMATION, NULL, NULL,
					old, NULL);
	LocalFree(sd);
	WT_CHECK(e == ERROR_SUCCESS, "restoring the DACL of %s: %lu", path,
		 (unsigned long)e);
}

/* A copy of good.dll in a fresh directory. */
struct perm_fixture {
	char *dir;
	char *file;
};

static void perm_setup(struct perm_fixture *f)
{
	char *good = tp("good");
	f->dir = make_tmpdir();
	f->file = str_printf("%s\\good.dll", f->dir);
	copy_file(good, f->file);
	free(good);
}

static void perm_teardown(struct perm_fixture *f)
{
	WT_ASSERT(DeleteFileA(f->file) && RemoveDirectoryA(f->dir));
	free(f->file);
	free(f->dir);
}

static int perm_open(const struct perm_fixture *f, const dx_load_opts *opts,
		     dx_diag *d)
{
	dx_module m;
	int rc = dx_module_open(f->file, opts, &m, d);
	if (rc == 0) {
		WT_ASSERT(strcmp(m.desc->name, "good") == 0);
		dx_module_close(&m);
	} else {
		WT_ASSERT(m.handle == NULL);
	}
	return rc;
}

static void perms_safe_loads(void)
{
	struct perm_fixture f;
	perm_setup(&f);
	dx_diag d = DX_DIAG_INIT;
	int rc = perm_open(&f, NULL, &d);
	WT_CHECK(rc == 0, "rc %d: %s", rc, diag_all(&d));
	WT_INT_EQ(dx_module_check_perms(f.file, &d), 0);
	WT_INT_EQ(d.count, 0);
	perm_teardown(&f);
}

/* An Everyone entry with each write right, on what ("file" or
 * "directory"): refused, naming what, the path, Everyone's SID and the
 * override; loaded with the override. */
static void perms_refused(const char *what)
{
	static const DWORD rights[] = {FILE_WRITE_DATA, FILE_APPEND_DATA,
				       GENERIC_WRITE, GENERIC_ALL};
	struct perm_fixture f;
	perm_setup(&f);
	bool dir = strcmp(what, "directory") == 0;
	const char *target = dir ? f.dir : f.file;
	for (size_t i = 0; i < sizeof rights / sizeof rights[0]; i++) {
		PSECURITY_DESCRIPTOR sd = NULL;
		PACL old = NULL;
		set_dacl(target, rights[i], false, &sd, &old);
		dx_diag d = DX_DIAG_INIT;
		int rc = perm_open(&f, NULL, &d);
		WT_CHECK(rc == DX_EUNSAFE, "%s, right 0x%lx: rc %d: %s", what,
			 (unsigned long)rights[i], rc, diag_all(&d));
		WT_INT_EQ(d.count, 1);
		WT_STR_HAS(d.msgs[0], "writable by S-1-1-0");
		WT_STR_HAS(d.msgs[0], what);
		WT_STR_HAS(d.msgs[0], f.file);
		WT_STR_HAS(d.msgs[0], "allow_writable");
		dx_diag_clear(&d);
		WT_INT_EQ(dx_module_check_perms(f.file, &d), DX_EUNSAFE);
		dx_diag_clear(&d);
		/* The manifest's override. */
		rc = perm_open(&f, &any_mode, &d);
		WT_CHECK(rc == 0, "rc %d: %s", rc, diag_all(&d));
		dx_diag_clear(&d);
		restore_dacl(target, sd, old);
		/* And safe again once the entry is gone. */
		WT_INT_EQ(perm_open(&f, NULL, &d), 0);
	}
	/* Reading and running are no one's to refuse. */
	PSECURITY_DESCRIPTOR sd = NULL;
	PACL old = NULL;
	set_dacl(target, GENERIC_READ | GENERIC_EXECUTE, false, &sd, &old);
	dx_diag d = DX_DIAG_INIT;
	int rc = perm_open(&f, NULL, &d);
	WT_CHECK(rc == 0, "read + execute for Everyone: rc %d: %s", rc,
		 diag_all(&d));
	restore_dacl(target, sd, old);
	perm_teardown(&f);
}

static void perms_file_writable(void)
{
	perms_refused("file");
}

static void perms_dir_writable(void)
{
	perms_refused("directory");
}

/* A NULL DACL on the file: refused. Under wine it reads back as an
 * Everyone entry (wine keeps a Unix mode, 0777 here); on Windows as no
 * DACL; dacl_rule checks the wording of the latter. */
static void perms_null_dacl(void)
{
	struct perm_fixture f;
	perm_setup(&f);
	PSECURITY_DESCRIPTOR sd = NULL;
	PACL old = NULL;
	set_dacl(f.file, 0, true, &sd, &old);
	dx_diag d = DX_DIAG_INIT;
	int rc = perm_open(&f, NULL, &d);
	WT_CHECK(rc == DX_EUNSAFE, "NULL DACL: rc %d: %s", rc, diag_all(&d));
	WT_STR_HAS(diag_all(&d), "writable by");
	dx_diag_clear(&d);
	restore_dacl(f.file, sd, old);
	perm_teardown(&f);
}

static PSID well_known(WELL_KNOWN_SID_TYPE type)
{
	DWORD n = SECURITY_MAX_SID_SIZE;
	PSID sid = malloc(n);
	WT_ASSERT(sid && CreateWellKnownSid(type, NULL, sid, &n));
	return sid;
}

/* A DACL of one allow entry (sid, mask, flags), in buf. */
static PACL one_entry(void *buf, DWORD len, PSID sid, DWORD mask, DWORD flags)
{
	PACL acl = buf;
	WT_ASSERT(InitializeAcl(acl, len, ACL_REVISION));
	WT_ASSERT(AddAccessAllowedAceEx(acl, ACL_REVISION, flags, mask, sid));
	return acl;
}

/* The DACL rule on DACLs built in memory, for what wine cannot keep on a
 * file: every write right for a stranger is refused and named; the
 * owner, SYSTEM and Administrators may write; reading is fine; an
 * inherit-only entry does not apply; no DACL at all is refused. */
static void dacl_rule(void)
{
	PSID owner = well_known(WinBuiltinUsersSid); /* any SID will do */
	PSID everyone = well_known(WinWorldSid);
	PSID system = well_known(WinLocalSystemSid);
	PSID admins = well_known(WinBuiltinAdministratorsSid);
	PSID guests = well_known(WinBuiltinGuestsSid);
	static const DWORD writes[] = {
		FILE_WRITE_DATA, FILE_APPEND_DATA, FILE_DELETE_CHILD,
		DELETE,          WRITE_DAC,        WRITE_OWNER,
		GENERIC_WRITE,   GENERIC_ALL,      FILE_ALL_ACCESS,
	};
	union {
		ACL acl;
		char bytes[256];
	} buf;
	char who[256];
	for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
		PACL acl = one_entry(&buf, sizeof buf, everyone, writes[i], 0);
		who[0] = '\0';
		WT_CHECK(dx_dacl_writer(acl, owner, who, sizeof who) == 1,
			 "right 0x%lx for Everyone passed",
			 (unsigned long)writes[i]);
		WT_STR_HAS(who, "S-1-1-0");
		acl = one_entry(&buf, sizeof buf, guests, writes[i], 0);
		WT_INT_EQ(dx_dacl_writer(acl, owner, who, sizeof who), 1);
		WT_STR_HAS(who, "S-1-5-32-546");
		PSID trusted[] = {owner, system, admins};
		for (size_t k = 0; k < 3; k++) {
			acl = one_entry(&buf, sizeof buf, trusted[k], writes[i],
					0);
			WT_INT_EQ(dx_dacl_writer(acl, owner, who, sizeof who),
				  0);
		}
		acl = one_entry(&buf, sizeof buf, everyone, writes[i],
				INHERIT_ONLY_ACE | OBJECT_INHERIT_ACE);
		WT_INT_EQ(dx_dacl_writer(acl, owner, who, sizeof who), 0);
	}
	PACL acl = one_entry(&buf, sizeof buf, everyone,
			     FILE_GENERIC_READ | FILE_GENERIC_EXECUTE, 0);
	WT_INT_EQ(dx_dacl_writer(acl, owner, who, sizeof who), 0);
	/* An empty DACL grants nothing; no DACL grants everything. */
	WT_ASSERT(InitializeAcl(&buf.acl, sizeof buf, ACL_REVISION));
	WT_INT_EQ(dx_dacl_writer(&buf.acl, owner, who, sizeof who), 0);
	WT_INT_EQ(dx_dacl_writer(NULL, owner, who, sizeof who), 1);
	WT_STR_HAS(who, "no DACL");
	free(owner);
	free(everyone);
	free(system);
	free(admins);
	free(guests);
}

static void routes_plugins_load(void)
{
	static const struct {
		const char *file, *name, *route;
	} want[] = {
		{"routes_hello\\routes_hello.dll", "routes_hello",
		 "route 1 hello"},
		{"routes_echo\\routes_echo.dll", "routes_echo", "route 2 echo"},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		char *path = str_printf("%s\\%s", routes_dir, want[i].file);
		dx_module m;
		dx_diag d = DX_DIAG_INIT;
		int rc = dx_module_open(path, &any_mode, &m, &d);
		WT_CHECK(rc == 0, "%s: rc %d: %s", path, rc, diag_all(&d));
		WT_ASSERT(strcmp(m.desc->name, want[i].name) == 0);
		FILE *out = tmpfile();
		WT_ASSERT(out != NULL);
		dx_module_describe(&m, out);
		char text[2048];
		rewind(out);
		size_t n = fread(text, 1, sizeof text - 1, out);
		text[n] = '\0';
		fclose(out);
		WT_STR_HAS(text, want[i].route);
		dx_module_close(&m);
		free(path);
	}
}

int main(void)
{
	DWORD n = GetModuleFileNameA(NULL, exe_dir, sizeof exe_dir);
	char *sep = n && n < sizeof exe_dir ? strrchr(exe_dir, '\\') : NULL;
	if (!sep) {
		fprintf(stderr, "test_win_loader: cannot find its directory\n");
		return 2;
	}
	*sep = '\0';
	snprintf(routes_dir, sizeof routes_dir, "%s\\..\\..\\plugins", exe_dir);
	static const wt_test tests[] = {
		{"good_loads", good_loads},
		{"refusal_classes", refusal_classes},
		{"not_a_dll", not_a_dll},
		{"missing_file", missing_file},
		{"bare_name_loads_checked_file", bare_name_loads_checked_file},
		{"dl_open_wants_full_path", dl_open_wants_full_path},
		{"perms_safe_loads", perms_safe_loads},
		{"perms_file_writable", perms_file_writable},
		{"perms_dir_writable", perms_dir_writable},
		{"perms_null_dacl", perms_null_dacl},
		{"dacl_rule", dacl_rule},
		{"routes_plugins_load", routes_plugins_load},
	};
	return wt_run("test_win_loader", tests, sizeof tests / sizeof tests[0]);
}
