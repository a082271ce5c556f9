/* hbtp_lz4.c - the COMPRESSED flag: LZ4 frame format (liblz4's lz4frame).
 *
 * Decompression is the dangerous direction: the input is hostile and tiny
 * input can claim gigabytes of output. The destination is capped at cap and
 * the first byte that would not fit ends it with -E2BIG; nothing is sized
 * from the frame's own claims. */
#include <errno.h>

#include <lz4frame.h>

#include <dx/hbtp.h>

size_t dx_hbtp_compress_bound(size_t n)
{
	return LZ4F_compressFrameBound(n, NULL);
}

long dx_hbtp_compress(const void *src, size_t n, void *dst, size_t cap)
{
	/* The content size in the frame header lets any LZ4 reader size its
	 * output; ours ignores it (see above). */
	LZ4F_preferences_t prefs = {0};
	prefs.frameInfo.contentSize = n;
	if (cap < LZ4F_compressFrameBound(n, &prefs))
		return -E2BIG;
	size_t rc = LZ4F_compressFrame(dst, cap, src, n, &prefs);
	if (LZ4F_isError(rc))
		return -EIO;
	return (long)rc;
}

/* The loop of dx_hbtp_decompress over one dctx. */
static long dx_hbtp_inflate(LZ4F_dctx *dctx, const uint8_t *src, size_t n,
			    uint8_t *dst, size_t cap)
{
	size_t in = 0, out = 0;
	for (;;) {
		size_t ssz = n - in, dsz = cap - out;
		size_t hint = LZ4F_decompress(dctx, dst ? dst + out : NULL,
					      &dsz, src + in, &ssz, NULL);
		if (LZ4F_isError(hint))
			return DX_EPROTO;
		in += ssz;
		out += dsz;
		if (hint == 0) /* the frame ended: trailing bytes are junk */
			return in == n ? (long)out : DX_EPROTO;
		if (ssz == 0 && dsz == 0) {
			/* No progress: either the input ran out (a truncated
			 * frame) or the output is full and more would follow. */
			return in == n ? DX_EPROTO : -E2BIG;
		}
	}
}

long dx_hbtp_decompress(const void *src, size_t n, void *dst, size_t cap)
{
	LZ4F_dctx *dctx = NULL;
	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
		return -ENOMEM;
	long rc = dx_hbtp_inflate(dctx, src, n, dst, cap);
	LZ4F_freeDecompressionContext(dctx);
	return rc;
}
