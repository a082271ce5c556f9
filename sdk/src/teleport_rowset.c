/* teleport_rowset.c - query results as a teleport buffer of little-endian
 * cells: the rowset writer and its validating reader (dx/teleport.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dx/hbtp.h> /* dx_hbtp_le32() and friends */
#include <dx/teleport.h>

#define CELL 8u /* one cell: two u32 */
#define COL (2 * CELL)

const dx_tp_type dx_rowset_cell_type = {DX_ROWSET_TAG,  CELL, 4,
					DX_TP_PORTABLE, 0,    NULL};

/* --- Writer ------------------------------------------------------------- */

static int put_cell(dx_rowset_writer *w, uint32_t a, uint32_t b)
{
	uint8_t c[CELL];
	dx_hbtp_put_le32(c, a);
	dx_hbtp_put_le32(c + 4, b);
	return dx_tp_append(&w->tp, c);
}

static int misuse(dx_rowset_writer *w, int err)
{
	if (!w->tp.err)
		w->tp.err = err;
	return w->tp.err;
}

int dx_rowset_begin(dx_rowset_writer *w, uint32_t ncols)
{
	if (!w)
		return -EINVAL;
	memset(w, 0, sizeof *w);
	int rc = dx_tp_writer_init(&w->tp, &dx_rowset_cell_type);
	if (rc)
		return rc;
	w->ncols = ncols;
	return 0;
}

int dx_rowset_column(dx_rowset_writer *w, const char *name, uint32_t oid)
{
	if (!w)
		return -EINVAL;
	if (w->tp.err)
		return w->tp.err;
	if (!name)
		return misuse(w, -EINVAL);
	if (w->cols_added == w->ncols)
		return misuse(w, DX_ESTATE);
	dx_tp_str s;
	int rc = dx_tp_add_string(&w->tp, name, strlen(name), &s);
	if (!rc)
		rc = put_cell(w, s.offset, s.length);
	if (!rc)
		rc = put_cell(w, oid, 0);
	if (!rc)
		w->cols_added++;
	return rc;
}

int dx_rowset_row(dx_rowset_writer *w)
{
	if (!w)
		return -EINVAL;
	if (w->tp.err)
		return w->tp.err;
	if (w->cols_added != w->ncols || (w->nrows && w->col != w->ncols))
		return misuse(w, DX_ESTATE);
	if (w->nrows == UINT32_MAX)
		return misuse(w, -E2BIG);
	w->nrows++;
	w->col = 0;
	return 0;
}

int dx_rowset_put(dx_rowset_writer *w, const void *data, size_t len)
{
	if (!w)
		return -EINVAL;
	if (w->tp.err)
		return w->tp.err;
	if (!w->nrows || w->col == w->ncols)
		return misuse(w, DX_ESTATE);
	if (!data) {
		int rc = put_cell(w, 0, DX_ROWSET_NULL);
		if (!rc)
			w->col++;
		return rc;
	}
	dx_tp_str s;
	int rc = dx_tp_add_string(&w->tp, data, len, &s);
	if (!rc)
		rc = put_cell(w, s.offset, s.length);
	if (!rc)
		w->col++;
	return rc;
}

int dx_rowset_finish(dx_rowset_writer *w, uint8_t **buf, size_t *len)
{
	if (!w || !buf || !len)
		return -EINVAL;
	if (!w->tp.err &&
	    (w->cols_added != w->ncols || (w->nrows && w->col != w->ncols)))
		misuse(w, DX_ESTATE);
	dx_tp_writer_set_aux(&w->tp, w->ncols, w->nrows);
	int rc = dx_tp_writer_finish(&w->tp, buf, len);
	/* What a reader accepts (dx_rowset_open): without columns, no more
	 * rows than the buffer has bytes. */
	if (rc == 0 && w->ncols == 0 && w->nrows > *len) {
		free(*buf);
		*buf = NULL;
		*len = 0;
		rc = -E2BIG;
	}
	return rc;
}

void dx_rowset_writer_free(dx_rowset_writer *w)
{
	if (w)
		dx_tp_writer_free(&w->tp);
}

/* --- Reader ------------------------------------------------------------- */

/* A reference into the string table, with its NUL after it. */
static int ref_ok(const dx_tp_reader *r, uint32_t off, uint32_t len)
{
	dx_tp_str s = {off, len};
	return dx_tp_string(r, s, NULL) != NULL;
}

static int check_cells(const dx_rowset *rs)
{
	for (uint32_t c = 0; c < rs->ncols; c++) {
		const uint8_t *p = rs->cols + (size_t)c * COL;
		if (!ref_ok(&rs->tp, dx_hbtp_le32(p), dx_hbtp_le32(p + 4)) ||
		    dx_hbtp_le32(p + 12) != 0)
			return DX_EPROTO;
	}
	size_t nvals = (size_t)rs->nrows * rs->ncols;
	for (size_t i = 0; i < nvals; i++) {
		const uint8_t *p = rs->vals + i * CELL;
		uint32_t off = dx_hbtp_le32(p), len = dx_hbtp_le32(p + 4);
		if (len == DX_ROWSET_NULL ? off != 0 :
					    !ref_ok(&rs->tp, off, len))
			return DX_EPROTO;
	}
	return 0;
}

int dx_rowset_open(const void *buf, size_t len, dx_rowset *rs)
{
	if (!rs)
		return -EINVAL;
	memset(rs, 0, sizeof *rs);
	int rc = dx_tp_open(buf, len, &dx_rowset_cell_type, &rs->tp);
	if (rc)
		return rc;
	uint64_t ncols = rs->tp.aux[0], nrows = rs->tp.aux[1];
	/* Both u32, so the product fits in u64 and cannot wrap. */
	/* Without columns a row costs no bytes, so nothing above bounds
	 * nrows: a reader, or a printer looping over it, would trust 2^32
	 * rows from a 48-byte buffer. Allow no more rows than the buffer
	 * has bytes (dx_rowset_finish writes no more). */
	if (2 * ncols + nrows * ncols != rs->tp.count ||
	    (ncols == 0 && nrows > len)) {
		memset(rs, 0, sizeof *rs);
		return DX_EPROTO;
	}
	rs->ncols = (uint32_t)ncols;
	rs->nrows = (uint32_t)nrows;
	rs->cols = rs->tp.records;
	rs->vals = rs->tp.records + (size_t)ncols * COL;
	rc = check_cells(rs);
	if (rc)
		memset(rs, 0, sizeof *rs);
	return rc;
}

const char *dx_rowset_colname(const dx_rowset *rs, uint32_t col, size_t *len)
{
	if (len)
		*len = 0;
	if (!rs || col >= rs->ncols)
		return NULL;
	const uint8_t *p = rs->cols + (size_t)col * COL;
	dx_tp_str s = {dx_hbtp_le32(p), dx_hbtp_le32(p + 4)};
	return dx_tp_string(&rs->tp, s, len);
}

uint32_t dx_rowset_coltype(const dx_rowset *rs, uint32_t col)
{
	if (!rs || col >= rs->ncols)
		return 0;
	return dx_hbtp_le32(rs->cols + (size_t)col * COL + 8);
}

const char *dx_rowset_value(const dx_rowset *rs, uint32_t row, uint32_t col,
			    size_t *len, int *isnull)
{
	if (len)
		*len = 0;
	if (isnull)
		*isnull = 0;
	if (!rs || row >= rs->nrows || col >= rs->ncols)
		return NULL;
	const uint8_t *p = rs->vals + ((size_t)row * rs->ncols + col) * CELL;
	dx_tp_str s = {dx_hbtp_le32(p), dx_hbtp_le32(p + 4)};
	if (s.length == DX_ROWSET_NULL) {
		if (isnull)
			*isnull = 1;
		return "";
	}
	return dx_tp_string(&rs->tp, s, len);
}
