/* dx/teleport.h - teleport: zero-copy buffers of fixed-layout records and
 * strings, and the rowset encoding of query results built on them
 * (contract: this header is its specification;
 * docs/architecture.md section 3 says why it lives in libdx).
 *
 * A teleport buffer is one contiguous block: a 48-byte header, the records
 * (aligned for their type), then a string table. Every header integer is
 * little-endian and read byte by byte:
 *
 *      0  "DXTP"   magic                 24  u32 record_count
 *      4  u16      version (1)           28  u32 records_offset
 *      6  u16      header_size (48)      32  u32 strings_offset
 *      8  u8       byte_order (1 LE,     36  u32 strings_length
 *                  2 BE), 3 bytes of 0   40  u32 aux0 (format-defined)
 *     12  u32      tag (record type id)  44  u32 aux1 (format-defined)
 *     16  u32      record_size
 *     20  u32      record_align
 *
 * records_offset is a multiple of record_align and at least header_size;
 * records end at or before strings_offset; the string table ends exactly at
 * the end of the buffer. A string is a dx_tp_str {offset, length} into the
 * string table, and the byte after its last is always a NUL the writer puts
 * there (so a string is also a C string, cut at its first NUL if it holds
 * one); offset 0 is an empty string every table starts with.
 *
 * Records are C structs in the host's native layout: integers inside them
 * (dx_tp_str included) are native-endian. byte_order records the writer's
 * host and a reader refuses a foreign one (-ENOTSUP), so in practice a
 * buffer of native records moves between little-endian hosts only. A format
 * whose records are explicit little-endian bytes (the rowset below) sets
 * DX_TP_PORTABLE and reads on any host.
 *
 * Reading. dx_tp_open() checks everything once: the buffer's alignment, the
 * header, that each section lies inside the buffer (record_size x
 * record_count without overflow), that the type matches the caller's
 * (tag, size, alignment), and every string reference of every record. After
 * that, dx_tp_record() and dx_tp_string() return pointers into the buffer:
 * no copy, no allocation, and each call still checks its index or reference.
 * A truncated, corrupted or hostile buffer is an error, never a crash or a
 * read outside the buffer.
 *
 * Alignment. The reader never copies, so records must sit aligned in
 * memory: the caller passes a buffer aligned to at least DX_TP_BUF_ALIGN (8)
 * - malloc's is - and dx_tp_open() returns -EINVAL for a misaligned one (a
 * buffer read from the network at an odd offset: copy it into a malloc'd
 * block first). Types may need at most DX_TP_MAX_ALIGN.
 *
 * Errors are negative (dx/error.h): -EINVAL for bad arguments or a
 * misaligned buffer, DX_EPROTO for a malformed, truncated or wrong-type
 * buffer, -ENOTSUP for another version or a foreign byte order, -ENOMEM,
 * -E2BIG for a buffer past 4 GiB, DX_ESTATE for a writer call out of order.
 *
 * Threads: a writer belongs to one thread. A reader (dx_tp_reader,
 * dx_rowset) is immutable after open: any number of threads may read it at
 * once, as long as the buffer outlives them and nobody writes to it.
 *
 * Example: the user record below.
 *
 *     dx_tp_writer w;
 *     dx_tp_user u = {.id = 42};
 *     uint8_t *buf;
 *     size_t len;
 *     dx_tp_writer_init(&w, &dx_tp_user_type);
 *     dx_tp_add_string(&w, "Ann", 3, &u.name);
 *     dx_tp_add_string(&w, "ann@example.org", 15, &u.email);
 *     dx_tp_append(&w, &u);
 *     int rc = dx_tp_writer_finish(&w, &buf, &len); // the first error, if any
 *     dx_tp_writer_free(&w);
 *     ... send buf, len; free(buf) ...
 *
 *     dx_tp_reader r;                      // on the receiving side
 *     if (dx_tp_open(buf, len, &dx_tp_user_type, &r) == 0)
 *             for (size_t i = 0; i < dx_tp_count(&r); i++) {
 *                     const dx_tp_user *p = DX_TP_RECORD(&r, i, dx_tp_user);
 *                     size_t n;
 *                     const char *name = dx_tp_string(&r, p->name, &n);
 *             }
 */
#ifndef DX_TELEPORT_H
#define DX_TELEPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <dx/error.h>

#ifdef __cplusplus
extern "C" {
#define DX_TP_STATIC_ASSERT static_assert
#define DX_TP_ALIGNOF alignof
#else
#define DX_TP_STATIC_ASSERT _Static_assert
#define DX_TP_ALIGNOF _Alignof
#endif

#define DX_TP_VERSION 1u
#define DX_TP_HEADER_SIZE 48u
#define DX_TP_BUF_ALIGN 8u  /* the caller's buffer, at least */
#define DX_TP_MAX_ALIGN 16u /* a record type's alignment, at most */

/* Pins a teleportable type's layout: the build fails where the compiler
 * would lay it out otherwise (another ABI, a changed field). Use at file
 * scope next to the type: DX_TELEPORT_LAYOUT(dx_tp_user, 24, 8); */
#define DX_TELEPORT_LAYOUT(type, size, align)                                  \
	DX_TP_STATIC_ASSERT(sizeof(type) == (size),                            \
			    "teleport: sizeof(" #type ") is not " #size);      \
	DX_TP_STATIC_ASSERT(DX_TP_ALIGNOF(type) == (align),                    \
			    "teleport: alignment of " #type " is not " #align)

/* A four-character type tag, stored little-endian: DX_TP_TAG('U','S','R','1'). */
#define DX_TP_TAG(a, b, c, d)                                                  \
	((uint32_t)(uint8_t)(a) | (uint32_t)(uint8_t)(b) << 8 |                \
	 (uint32_t)(uint8_t)(c) << 16 | (uint32_t)(uint8_t)(d) << 24)

/* A string in a record: bytes [offset, offset + length) of the string table,
 * followed by a NUL. Native-endian like the rest of the record. */
typedef struct dx_tp_str {
	uint32_t offset;
	uint32_t length;
} dx_tp_str;
DX_TELEPORT_LAYOUT(dx_tp_str, 8, 4);

/* dx_tp_type.flags */
enum {
	/* Records are explicit little-endian bytes (no native integers):
	 * readable on any host. */
	DX_TP_PORTABLE = 1u,
};

/* What a record type looks like, shared by writer and reader. The reader
 * refuses a buffer whose tag, size or alignment differ, and checks every
 * dx_tp_str field listed in str_offsets. Static data, never freed. */
typedef struct dx_tp_type {
	uint32_t tag;                /* DX_TP_TAG(...): names the type */
	uint32_t size;               /* sizeof(type), a multiple of align */
	uint32_t align;              /* _Alignof(type), a power of two */
	uint32_t flags;              /* DX_TP_PORTABLE or 0 */
	uint32_t nstr;               /* how many dx_tp_str fields */
	const uint32_t *str_offsets; /* offsetof() each dx_tp_str field */
} dx_tp_type;

/* The example teleportable type: a user record. */
typedef struct dx_tp_user {
	uint64_t id;
	dx_tp_str name;
	dx_tp_str email;
} dx_tp_user;
DX_TELEPORT_LAYOUT(dx_tp_user, 24, 8);

/* Its type: tag "USR1", strings name and email. Define your own the same
 * way:
 *     static const uint32_t user_strs[] = {offsetof(dx_tp_user, name),
 *                                          offsetof(dx_tp_user, email)};
 *     const dx_tp_type dx_tp_user_type = {DX_TP_TAG('U','S','R','1'),
 *             sizeof(dx_tp_user), _Alignof(dx_tp_user), 0, 2, user_strs}; */
extern const dx_tp_type dx_tp_user_type;

/* --- Writer ------------------------------------------------------------- */

/* Grows its own buffers (malloc). Fields are private. Calls after the first
 * error do nothing and return it again; dx_tp_writer_finish reports it. */
typedef struct dx_tp_writer {
	const dx_tp_type *type;
	uint8_t *buf; /* header room, then records */
	size_t len, cap;
	uint8_t *str; /* the string table */
	size_t str_len, str_cap;
	uint32_t count, rec_off;
	uint32_t aux[2];
	int err;
} dx_tp_writer;

/* Starts a buffer of records of *type (which must outlive the writer). 0,
 * -EINVAL for an unusable type, -ENOMEM. Call dx_tp_writer_free whatever
 * the outcome. */
int dx_tp_writer_init(dx_tp_writer *w, const dx_tp_type *type);

/* Copies len bytes at s (which may hold NULs; NULL when len is 0) into the
 * string table and sets *out to its reference. The empty string costs
 * nothing. */
int dx_tp_add_string(dx_tp_writer *w, const void *s, size_t len,
		     dx_tp_str *out);

/* Appends one record: copies type->size bytes from rec (the caller keeps
 * rec). Its dx_tp_str fields must come from dx_tp_add_string on this
 * writer. Padding bytes inside rec are copied as they are: zero them. */
int dx_tp_append(dx_tp_writer *w, const void *rec);

/* Sets the header's aux0/aux1 words (for formats built on teleport). */
void dx_tp_writer_set_aux(dx_tp_writer *w, uint32_t aux0, uint32_t aux1);

/* Finishes the buffer: on 0, *buf is a malloc'd block of *len bytes that
 * the caller owns (free()); it is aligned for dx_tp_open. Otherwise the
 * first error of the writer, and *buf is untouched. Either way the writer
 * is spent: only dx_tp_writer_free may follow. */
int dx_tp_writer_finish(dx_tp_writer *w, uint8_t **buf, size_t *len);

/* Frees what the writer still holds (not a finished buffer). Idempotent. */
void dx_tp_writer_free(dx_tp_writer *w);

/* --- Reader ------------------------------------------------------------- */

/* Pointers into the caller's buffer, valid while it lives. Read-only
 * fields; use the functions. */
typedef struct dx_tp_reader {
	const uint8_t *buf;
	size_t len;
	const uint8_t *records;
	uint32_t count, size;
	const char *strings;
	uint32_t strings_len;
	uint32_t aux[2];
} dx_tp_reader;

/* Validates buf[0, len) - exactly the encoded length - as a buffer of
 * *type records (see the top of this file) and fills *r. 0 or a negative
 * code; on error *r is zeroed (an empty reader). No allocation. */
int dx_tp_open(const void *buf, size_t len, const dx_tp_type *type,
	       dx_tp_reader *r);

/* Number of records. */
static inline size_t dx_tp_count(const dx_tp_reader *r)
{
	return r->count;
}

/* Record i, inside the buffer and aligned for its type, or NULL when i is
 * out of range. */
const void *dx_tp_record(const dx_tp_reader *r, size_t i);
#define DX_TP_RECORD(r, i, type) ((const type *)dx_tp_record((r), (i)))

/* The bytes of s, followed by a NUL, or NULL when s does not lie inside
 * the string table. *len (if len is not NULL) gets s.length, or 0. */
const char *dx_tp_string(const dx_tp_reader *r, dx_tp_str s, size_t *len);

/* --- Rowset: query results ----------------------------------------------
 *
 * A teleport buffer of DX_TP_PORTABLE 8-byte cells, tag "RSET",
 * aux0 = ncols, aux1 = nrows, record_count = 2 * ncols + nrows * ncols:
 *
 *   columns  for each column, two cells (16 bytes): u32 name offset,
 *            u32 name length, u32 type OID, u32 0 (reserved);
 *   values   row-major, one cell per row and column: u32 offset,
 *            u32 length, or offset 0 and length DX_ROWSET_NULL for NULL.
 *
 * All little-endian; names and values are in the string table, each
 * followed by a NUL. Values are in libpq's form (text, or binary if the
 * query asked for it): PQgetvalue's bytes and PQgetlength's length.
 * A rowset without columns (SELECT FROM t) has rows that cost no bytes:
 * it may have no more rows than its buffer has bytes (the writer refuses
 * more with -E2BIG, the reader with DX_EPROTO), so a header cannot make
 * a reader loop 2^32 times.
 *
 * It maps a PGresult one to one:
 *
 *     dx_rowset_writer w;
 *     int nc = PQnfields(res), nr = PQntuples(res);
 *     dx_rowset_begin(&w, nc);
 *     for (int c = 0; c < nc; c++)
 *             dx_rowset_column(&w, PQfname(res, c), PQftype(res, c));
 *     for (int r = 0; r < nr; r++) {
 *             dx_rowset_row(&w);
 *             for (int c = 0; c < nc; c++)
 *                     dx_rowset_put(&w, PQgetisnull(res, r, c) ? NULL :
 *                                   PQgetvalue(res, r, c),
 *                                   PQgetlength(res, r, c));
 *     }
 *     rc = dx_rowset_finish(&w, &buf, &len);
 *     dx_rowset_writer_free(&w);
 *
 * and reads back the same way: dx_rowset_ncols ~ PQnfields,
 * dx_rowset_colname ~ PQfname, dx_rowset_coltype ~ PQftype,
 * dx_rowset_nrows ~ PQntuples, dx_rowset_value ~ PQgetvalue (+ length,
 * + isnull; "" for NULL as libpq does).
 */

#define DX_ROWSET_NULL 0xFFFFFFFFu
#define DX_ROWSET_TAG DX_TP_TAG('R', 'S', 'E', 'T')

/* The rowset's cell type, for dx_tp_open on a rowset if ever needed. */
extern const dx_tp_type dx_rowset_cell_type;

/* Fields are private. Errors are sticky, as for dx_tp_writer. */
typedef struct dx_rowset_writer {
	dx_tp_writer tp;
	uint32_t ncols, cols_added; /* declared, and so far */
	uint32_t nrows;             /* rows begun */
	uint32_t col;               /* values put in the current row */
} dx_rowset_writer;

/* Starts a rowset of ncols columns. Then exactly ncols dx_rowset_column,
 * then for each row dx_rowset_row and exactly ncols dx_rowset_put, then
 * dx_rowset_finish; anything else out of that order is DX_ESTATE. Call
 * dx_rowset_writer_free whatever the outcome. */
int dx_rowset_begin(dx_rowset_writer *w, uint32_t ncols);

/* Declares the next column: its name (a C string, copied) and type OID. */
int dx_rowset_column(dx_rowset_writer *w, const char *name, uint32_t oid);

/* Begins the next row (the previous one must be complete). */
int dx_rowset_row(dx_rowset_writer *w);

/* Puts the next value of the current row: len bytes at data (copied), or
 * SQL NULL when data is NULL (len is then ignored). */
int dx_rowset_put(dx_rowset_writer *w, const void *data, size_t len);

/* As dx_tp_writer_finish: on 0, *buf (malloc'd, the caller frees it) holds
 * *len bytes. */
int dx_rowset_finish(dx_rowset_writer *w, uint8_t **buf, size_t *len);

void dx_rowset_writer_free(dx_rowset_writer *w);

/* A validated rowset: read-only fields, pointers into the caller's buffer. */
typedef struct dx_rowset {
	dx_tp_reader tp;
	uint32_t ncols, nrows;
	const uint8_t *cols; /* 16 bytes per column */
	const uint8_t *vals; /* 8 bytes per value */
} dx_rowset;

/* Validates buf[0, len) as a rowset - header, sections, every column name
 * and every value reference - and fills *rs. Same alignment rule and codes
 * as dx_tp_open. No allocation; *rs is zeroed on error. */
int dx_rowset_open(const void *buf, size_t len, dx_rowset *rs);

static inline uint32_t dx_rowset_ncols(const dx_rowset *rs)
{
	return rs->ncols;
}
static inline uint32_t dx_rowset_nrows(const dx_rowset *rs)
{
	return rs->nrows;
}

/* Column col's name (NUL-terminated; *len, if not NULL, gets its length),
 * or NULL when col is out of range. O(1). */
const char *dx_rowset_colname(const dx_rowset *rs, uint32_t col, size_t *len);

/* Column col's type OID, or 0 (InvalidOid) when col is out of range. */
uint32_t dx_rowset_coltype(const dx_rowset *rs, uint32_t col);

/* The value at (row, col): a pointer into the buffer to its bytes,
 * followed by a NUL; "" with *isnull = 1 for SQL NULL; NULL when row or
 * col is out of range. *len and *isnull may be NULL. O(1), no allocation. */
const char *dx_rowset_value(const dx_rowset *rs, uint32_t row, uint32_t col,
			    size_t *len, int *isnull);

/* Prints rs as a table, psql-style (values left-aligned, NULL empty,
 * control characters and invalid UTF-8 shown as \n, \r, \t or \xHH, then
 * "(N rows)"). 0, -ENOMEM, or -EIO when writing to f failed. */
int dx_rowset_print_table(const dx_rowset *rs, FILE *f);

/* Prints rs as JSON, then a newline:
 *     {
 *       "columns": [
 *         {"name": "id", "type": 23}
 *       ],
 *       "rows": [
 *         ["1"],
 *         [null]
 *       ]
 *     }
 * Values are JSON strings (their text form) or null. The output is ASCII:
 * quotes, backslashes and control characters are escaped, and non-ASCII
 * UTF-8 becomes \uXXXX (surrogate pairs above U+FFFF); a byte that is not
 * valid UTF-8 becomes \ufffd. 0, or -EIO when writing to f failed. */
int dx_rowset_print_json(const dx_rowset *rs, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
