/* loader_win.c - loader_fs.h on Windows.
 *
 * The path is made absolute and final (links resolved) from a handle on
 * the file, and LoadLibraryExW is given that full path, never a bare name
 * the DLL search path could answer. The permission rule reads the DACL of
 * the file and of its directory: an allow entry that grants a write right
 * (data, append, add file, delete child, delete, DACL, owner, generic
 * write or all) to anyone but the owner, SYSTEM or Administrators refuses
 * the plugin, as group or other write bits do on POSIX; so does a NULL
 * DACL (everyone may do anything). Deny entries are not weighed: a DACL
 * that grants such a right and denies it again is refused, which errs on
 * the safe side. While the DLL is mapped a handle that shares reading only
 * is held, so nobody can write, rename or delete the file between the
 * check and LoadLibraryExW. Paths are UTF-8 outside, UTF-16 to the system.
 *
 * Under wine the DACL of a file is made up from its Unix mode (the owner,
 * and Everyone for the other bits), so chmod o+w on Linux shows as an
 * Everyone write entry; the tests (tests/win) rely on that. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <dx/plugin.h>

#include "dl.h"
#include "loader_fs.h"
#include "loader_win.h"

/* The rights that let a holder change what gets loaded from a file or a
 * directory. FILE_WRITE_DATA and FILE_APPEND_DATA are FILE_ADD_FILE and
 * FILE_ADD_SUBDIRECTORY on a directory. */
#define DX_WRITE_RIGHTS                                                        \
	(FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_DELETE_CHILD | DELETE |     \
	 WRITE_DAC | WRITE_OWNER | GENERIC_WRITE | GENERIC_ALL)

static int dx_win_errno(DWORD e)
{
	switch (e) {
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
	case ERROR_INVALID_NAME:
	case ERROR_INVALID_DRIVE:
	case ERROR_BAD_NETPATH: return ENOENT;
	case ERROR_ACCESS_DENIED: return EACCES;
	case ERROR_SHARING_VIOLATION:
	case ERROR_LOCK_VIOLATION: return EBUSY;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY: return ENOMEM;
	case ERROR_FILENAME_EXCED_RANGE: return ENAMETOOLONG;
	default: return EIO;
	}
}

wchar_t *dx_wide(const char *s)
{
	int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL,
				    0);
	wchar_t *w = n > 0 ? malloc((size_t)n * sizeof *w) : NULL;
	if (w && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w,
				     n) != n) {
		free(w);
		w = NULL;
	}
	return w;
}

/* UTF-16 to a malloc'd UTF-8 string, or NULL. */
static char *dx_narrow(const wchar_t *w)
{
	int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
	char *s = n > 0 ? malloc((size_t)n) : NULL;
	if (s &&
	    WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL) != n) {
		free(s);
		s = NULL;
	}
	return s;
}

/* path opened for reading, sharing reading only (or everything, for a
 * look that must not get in anyone's way). INVALID_HANDLE_VALUE with
 * GetLastError set on failure. */
static HANDLE dx_open_file(const char *path, bool exclusive)
{
	wchar_t *w = dx_wide(path);
	if (!w) {
		SetLastError(ERROR_INVALID_NAME);
		return INVALID_HANDLE_VALUE;
	}
	DWORD share = exclusive ? FILE_SHARE_READ :
				  FILE_SHARE_READ | FILE_SHARE_WRITE |
					  FILE_SHARE_DELETE;
	/* BACKUP_SEMANTICS lets a directory be opened too; loading one
	 * then fails in LoadLibraryExW, with the system's reason. */
	HANDLE h = CreateFileW(w, GENERIC_READ, share, NULL, OPEN_EXISTING,
			       FILE_FLAG_BACKUP_SEMANTICS, NULL);
	DWORD e = GetLastError();
	free(w);
	SetLastError(e);
	return h;
}

/* The final path of an open file, without the \\?\ prefix, malloc'd;
 * NULL with GetLastError saying why (a handle on something with no path
 * on a volume, such as the pipe file system's root, has none). */
static char *dx_final_path(HANDLE h)
{
	DWORD n = GetFinalPathNameByHandleW(h, NULL, 0, VOLUME_NAME_DOS);
	if (!n)
		return NULL;
	wchar_t *w = malloc(((size_t)n + 1) * sizeof *w);
	if (!w) {
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	DWORD got = GetFinalPathNameByHandleW(h, w, n + 1, VOLUME_NAME_DOS);
	char *s = NULL;
	if (got && got <= n) {
		const wchar_t *p = w;
		if (wcsncmp(p, L"\\\\?\\UNC\\", 8) == 0) {
			p += 6; /* keep "\\" of "\\server\share" */
			w[6] = L'\\';
		} else if (wcsncmp(p, L"\\\\?\\", 4) == 0) {
			p += 4;
		}
		s = dx_narrow(p);
		if (!s)
			SetLastError(ERROR_NOT_ENOUGH_MEMORY);
	} else if (got) { /* it grew between the two calls */
		SetLastError(ERROR_FILENAME_EXCED_RANGE);
	}
	free(w);
	return s;
}

char *dx_full_path(const char *path, int *err)
{
	HANDLE h = dx_open_file(path, false);
	if (h == INVALID_HANDLE_VALUE) {
		*err = dx_win_errno(GetLastError());
		return NULL;
	}
	char *real = dx_final_path(h);
	int e = real ? 0 : dx_win_errno(GetLastError());
	CloseHandle(h);
	/* It opened, yet has no path on a volume: a device, or the pipe
	 * file system's root, \\.\pipe\ (wine says ERROR_GEN_FAILURE;
	 * Windows, not checked here, another error with no errno of its
	 * own). */
	*err = e == EIO ? ENODEV : e;
	return real;
}

char *dx_loader_resolve(const char *path, dx_diag *d, int *rc)
{
	int e;
	char *real = dx_full_path(path, &e);
	*rc = -e;
	if (!real && e == ENOMEM)
		dx_diag_add(d, "%s: cannot open: cannot resolve its full path",
			    path);
	else if (!real)
		dx_diag_add(d, "%s: cannot open: %s", path, strerror(e));
	return real;
}

/* "S-1-1-0 (\Everyone)" for a SID, into buf. */
static void dx_sid_name(PSID sid, char *buf, size_t len)
{
	char *str = NULL;
	char name[128] = "", dom[128] = "";
	DWORD nn = sizeof name, dn = sizeof dom;
	SID_NAME_USE use;
	ConvertSidToStringSidA(sid, &str);
	if (LookupAccountSidA(NULL, sid, name, &nn, dom, &dn, &use))
		snprintf(buf, len, "%s (%s%s%s)", str ? str : "a SID", dom,
			 *dom ? "\\" : "", name);
	else
		snprintf(buf, len, "%s", str ? str : "an unnamed SID");
	LocalFree(str);
}

/* Whether sid is one the rule trusts to write: the owner, SYSTEM or the
 * Administrators group. */
static bool dx_sid_trusted(PSID sid, PSID owner)
{
	return (owner && EqualSid(sid, owner)) ||
	       IsWellKnownSid(sid, WinLocalSystemSid) ||
	       IsWellKnownSid(sid, WinBuiltinAdministratorsSid);
}

int dx_dacl_writer(PACL dacl, PSID owner, char *who, size_t len)
{
	if (!dacl) {
		snprintf(who, len, "everyone (it has no DACL)");
		return 1;
	}
	for (DWORD i = 0; i < dacl->AceCount; i++) {
		ACE_HEADER *ace;
		if (!GetAce(dacl, i, (void **)&ace))
			continue;
		if (ace->AceType != ACCESS_ALLOWED_ACE_TYPE ||
		    (ace->AceFlags & INHERIT_ONLY_ACE))
			continue;
		ACCESS_ALLOWED_ACE *allow = (ACCESS_ALLOWED_ACE *)ace;
		PSID sid = (PSID)&allow->SidStart;
		if (!(allow->Mask & DX_WRITE_RIGHTS) ||
		    dx_sid_trusted(sid, owner))
			continue;
		dx_sid_name(sid, who, len);
		return 1;
	}
	return 0;
}

static int dx_perm_check_one(const char *what, const char *path,
			     const char *file, dx_diag *d)
{
	wchar_t *w = dx_wide(path);
	PSID owner = NULL;
	PACL dacl = NULL;
	PSECURITY_DESCRIPTOR sd = NULL;
	DWORD e = w ? GetNamedSecurityInfoW(w, SE_FILE_OBJECT,
					    OWNER_SECURITY_INFORMATION |
						    DACL_SECURITY_INFORMATION,
					    &owner, NULL, &dacl, NULL, &sd) :
		      ERROR_INVALID_NAME;
	free(w);
	if (e != ERROR_SUCCESS) {
		int err = dx_win_errno(e);
		dx_diag_add(d, "%s: cannot stat %s %s: %s (Windows error %lu)",
			    file, what, path, strerror(err), (unsigned long)e);
		return -err;
	}
	char who[256];
	int rc = 0;
	if (dx_dacl_writer(dacl, owner, who, sizeof who)) {
		dx_diag_add(d,
			    "%s: refusing to load: its %s %s is writable by "
			    "%s, not only by its owner, SYSTEM and "
			    "Administrators; remove that access (icacls), or "
			    "set \"allow_writable\": true for this plugin in "
			    "the manifest",
			    file, what, path, who);
		rc = DX_EUNSAFE;
	}
	LocalFree(sd);
	return rc;
}

int dx_loader_perms(char *real, const char *file, dx_diag *d)
{
	/* The file, and the directory it sits in: whoever can write there
	 * can replace the file. */
	int rc = dx_perm_check_one("file", real, file, d);
	if (rc < 0)
		return rc;
	char *sep = strrchr(real, '\\');
	if (!sep)
		return 0;
	/* "C:\x.dll" -> "C:\", "C:\dir\x.dll" -> "C:\dir" */
	bool root = sep > real && sep[-1] == ':';
	char saved = sep[root];
	sep[root] = '\0';
	rc = dx_perm_check_one("directory", real, file, d);
	sep[root] = saved;
	return rc;
}

/* Seconds since 1970 from a FILETIME (100 ns since 1601). */
static int64_t dx_unix_time(FILETIME ft)
{
	uint64_t t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
	return (int64_t)(t / 10000000u) - INT64_C(11644473600);
}

int dx_loader_map(const char *real, const char *path, dx_module *out, char *why,
		  size_t whylen, dx_diag *d)
{
	/* Held until the DLL is mapped: it shares reading only, so the file
	 * cannot be written, renamed over or deleted meanwhile. */
	HANDLE h = dx_open_file(real, true);
	BY_HANDLE_FILE_INFORMATION st, before;
	if (h == INVALID_HANDLE_VALUE || !GetFileInformationByHandle(h, &st)) {
		int e = dx_win_errno(GetLastError());
		dx_diag_add(d, "%s: cannot open: %s", path, strerror(e));
		if (h != INVALID_HANDLE_VALUE)
			CloseHandle(h);
		return -e;
	}
	/* The name still leads to the file opened (as loader_posix.c
	 * compares stat with fstat). */
	HANDLE again = dx_open_file(real, false);
	bool same = again != INVALID_HANDLE_VALUE &&
		    GetFileInformationByHandle(again, &before) &&
		    before.dwVolumeSerialNumber == st.dwVolumeSerialNumber &&
		    before.nFileIndexHigh == st.nFileIndexHigh &&
		    before.nFileIndexLow == st.nFileIndexLow;
	if (again != INVALID_HANDLE_VALUE)
		CloseHandle(again);
	if (!same) {
		dx_diag_add(d,
			    "%s: the file was replaced while it was being "
			    "loaded; try again",
			    path);
		CloseHandle(h);
		return -EAGAIN;
	}
	out->size = ((uint64_t)st.nFileSizeHigh << 32) | st.nFileSizeLow;
	out->mtime = dx_unix_time(st.ftLastWriteTime);
	out->loaded_at = (int64_t)time(NULL);
	out->handle = dx_dl_open(real, why, whylen);
	CloseHandle(h);
	return out->handle ? 0 : DX_ENOTSO;
}
