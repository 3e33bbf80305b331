/* A decoder of Blosc 1 frames compressed with LZ4: the chunks of a store's 2-bit copy (genotypes/packed_calls.py,
 * written by numcodecs' Blosc with cname "lz4", no shuffle, typesize 1), decoded block by block inside the QC
 * pass's counting threads (packed_counts.c), each block into a small buffer that is counted while it is in cache.
 *
 * A Blosc 1 frame (c-blosc 1.x, which numcodecs bundles) is a 16-byte header -- version, compressor version,
 * flags, typesize (one byte each), then nbytes (decoded size), blocksize and cbytes (the frame's size) as
 * little-endian int32 -- and either the decoded bytes as they are (flag 0x02, "memcpyed") or a table of
 * nblocks = ceil(nbytes / blocksize) int32 offsets (the start of each block in the frame), each block being, per
 * split stream (one for typesize 1), an int32 compressed size and the stream: raw bytes when that size equals the
 * block's decoded size, else an LZ4 block. The compressor is flags >> 5 (1: LZ4 and LZ4HC, the same block format).
 *
 * Supported: format versions 1 and 2, LZ4 (and zstd, below) streams, no shuffle (a byte shuffle of typesize 1
 * is no change), and memcpyed frames. Anything else (bit shuffle, byte shuffle of larger types, other
 * compressors) is PMO_BLOSC_UNSUPPORTED: the caller reads that store with numcodecs instead. Every read and copy is checked against the frame's and the block's bounds, so a truncated or
 * corrupt frame gives an error code, never a read or write outside the buffers.
 *
 * The LZ4 streams are decoded by liblz4's LZ4_decompress_safe (Debian's liblz4-1, the library c-blosc itself
 * uses: safe on any input, and faster than the decoder here) when pmo_lz4_load() found it, else by
 * pmo_lz4_decode below. Frames of the zstd compressor (the store's other arrays, read by
 * genotypes/store_arrays.py without numcodecs) are decoded by libzstd's ZSTD_decompress where pmo_zstd_load()
 * found it, and are PMO_BLOSC_UNSUPPORTED otherwise; so is any shuffle of a typesize above 1. A typesize above 1
 * without shuffle splits each whole block into typesize streams unless flag 0x10 says not to (c-blosc's rule).
 */
#include "blosc_lz4.h"

#include <dlfcn.h>
#include <string.h>

#define HEADER 16
#define F_SHUFFLE 0x01
#define F_MEMCPYED 0x02
#define F_BITSHUFFLE 0x04
#define F_RESERVED 0x08
#define F_NOSPLIT 0x10
#define FORMAT_LZ4 1
#define FORMAT_ZSTD 4

typedef int (*lz4_safe_fn)(const char *, char *, int, int);
static lz4_safe_fn lz4_safe;

/* Decode LZ4 streams with LZ4_decompress_safe of the library at path (e.g. "liblz4.so.1"), or with
 * pmo_lz4_decode when path is NULL. Returns 0, or -1 when the library or its function is missing (the decoder
 * here is then used). Called before any decoding thread starts. */
int pmo_lz4_load(const char *path) {
    if (!path) {
        lz4_safe = NULL;
        return 0;
    }
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) return -1;
    lz4_safe_fn fn = (lz4_safe_fn)dlsym(lib, "LZ4_decompress_safe");
    if (!fn) return -1;
    lz4_safe = fn;
    return 0;
}

typedef size_t (*zstd_fn)(void *, size_t, const void *, size_t);
typedef unsigned (*zstd_error_fn)(size_t);
static zstd_fn zstd_decompress;
static zstd_error_fn zstd_is_error;

/* Decode zstd streams with ZSTD_decompress of the library at path (e.g. "libzstd.so.1"). Returns 0, or -1 when it
 * or its functions are missing (zstd frames are then unsupported). Called before any decoding thread starts. */
int pmo_zstd_load(const char *path) {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) return -1;
    zstd_fn d = (zstd_fn)dlsym(lib, "ZSTD_decompress");
    zstd_error_fn e = (zstd_error_fn)dlsym(lib, "ZSTD_isError");
    if (!d || !e) return -1;
    zstd_is_error = e;
    zstd_decompress = d;
    return 0;
}

static inline int32_t le32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

/* Read the header of the frame src [n_src bytes] into f. Returns PMO_BLOSC_OK or a negative code. */
int pmo_blosc_parse(const uint8_t *src, int64_t n_src, pmo_blosc_frame *f) {
    if (n_src < HEADER) return PMO_BLOSC_TRUNCATED;
    int version = src[0], flags = src[2], typesize = src[3];
    int32_t nbytes = le32(src + 4), blocksize = le32(src + 8), cbytes = le32(src + 12);
    if (version != 1 && version != 2) return PMO_BLOSC_UNSUPPORTED;
    if (nbytes < 0 || cbytes < HEADER || blocksize < 0 || (nbytes > 0 && blocksize == 0))
        return PMO_BLOSC_BAD_HEADER;
    if (cbytes > n_src) return PMO_BLOSC_TRUNCATED;
    f->nbytes = nbytes;
    f->blocksize = blocksize;
    f->cbytes = cbytes;
    f->nblocks = nbytes == 0 ? 0 : ((int64_t)nbytes + blocksize - 1) / blocksize;
    f->memcpyed = (flags & F_MEMCPYED) != 0;
    f->zstd = f->nosplit = 0;
    f->typesize = typesize;
    if (f->memcpyed) return (int64_t)HEADER + nbytes <= cbytes ? PMO_BLOSC_OK : PMO_BLOSC_TRUNCATED;
    int format = flags >> 5;
    if (!(format == FORMAT_LZ4 || (format == FORMAT_ZSTD && zstd_decompress)) || typesize == 0
        || (flags & (F_BITSHUFFLE | F_RESERVED)) || ((flags & F_SHUFFLE) && typesize > 1))
        return PMO_BLOSC_UNSUPPORTED;
    f->zstd = format == FORMAT_ZSTD;
    f->nosplit = (flags & F_NOSPLIT) != 0;
    f->typesize = typesize;
    if (HEADER + 4 * f->nblocks > cbytes) return PMO_BLOSC_TRUNCATED;
    return PMO_BLOSC_OK;
}

/* Decode block j of the parsed frame src into dst, which has room for the block and PMO_BLOSC_SLACK bytes more.
 * Returns the block's decoded size or a negative code. */
int64_t pmo_blosc_block(const uint8_t *src, const pmo_blosc_frame *f, int64_t j, uint8_t *dst) {
    if (j < 0 || j >= f->nblocks) return PMO_BLOSC_BAD_BLOCK;
    int64_t size = f->blocksize;
    if (j == f->nblocks - 1 && f->nbytes % f->blocksize) size = f->nbytes % f->blocksize;
    if (f->memcpyed) {
        memcpy(dst, src + HEADER + j * f->blocksize, (size_t)size);
        return size;
    }
    int64_t table = HEADER + 4 * f->nblocks;
    int64_t at = le32(src + HEADER + 4 * j);
    if (at < table || at > f->cbytes) return PMO_BLOSC_BAD_BLOCK;
    /* c-blosc's rule: a whole block of typesize > 1 is split into typesize streams unless flag 0x10 is set */
    int leftover = size != f->blocksize;
    int64_t nsplits = (!f->nosplit && f->typesize <= 16 && f->blocksize / f->typesize >= 128 && !leftover)
                          ? f->typesize : 1;
    int64_t part = size / nsplits;
    for (int64_t k = 0; k < nsplits; k++, dst += part) {
        if (at > f->cbytes - 4) return PMO_BLOSC_BAD_BLOCK;
        int64_t csize = le32(src + at);
        at += 4;
        if (csize <= 0 || csize > f->cbytes - at) return PMO_BLOSC_BAD_BLOCK;
        int64_t got;
        if (csize == part) { /* stored as it is */
            memcpy(dst, src + at, (size_t)part);
            got = part;
        } else if (f->zstd) {
            size_t z = zstd_decompress(dst, (size_t)part, src + at, (size_t)csize);
            got = zstd_is_error(z) ? -1 : (int64_t)z;
        } else if (lz4_safe) {
            got = lz4_safe((const char *)src + at, (char *)dst, (int)csize, (int)part);
        } else {
            got = pmo_lz4_decode(src + at, csize, dst, part);
        }
        if (got != part) return PMO_BLOSC_BAD_LZ4;
        at += csize;
    }
    return size;
}

/* Decode the LZ4 block src [n_src bytes] into dst, which must come to exactly n_dst bytes (dst has room for
 * PMO_BLOSC_SLACK bytes more, which the copies may overwrite). Returns n_dst or PMO_BLOSC_BAD_LZ4.
 *
 * The block format: sequences of a token (literal length in the high nibble, match length - 4 in the low one; 15
 * continues in bytes of 255 and a last smaller one), the literals, a 2-byte little-endian offset back into the
 * output and the match's extra length bytes; the last sequence ends after its literals. */
int64_t pmo_lz4_decode(const uint8_t *src, int64_t n_src, uint8_t *dst, int64_t n_dst) {
    static const unsigned inc32[8] = {0, 1, 2, 1, 0, 4, 4, 4};
    static const int dec64[8] = {0, 0, 0, -1, -4, 1, 2, 3};
    const uint8_t *ip = src, *const iend = src + n_src;
    uint8_t *op = dst, *const oend = dst + n_dst;
    for (;;) {
        if (ip >= iend) return PMO_BLOSC_BAD_LZ4;
        unsigned token = *ip++;
        size_t lit = token >> 4;
        if (lit == 15) {
            unsigned b;
            do {
                if (ip >= iend) return PMO_BLOSC_BAD_LZ4;
                b = *ip++;
                lit += b;
            } while (b == 255);
        }
        if (lit > (size_t)(iend - ip) || lit > (size_t)(oend - op)) return PMO_BLOSC_BAD_LZ4;
        if (lit <= 16 && iend - ip >= 16)
            memcpy(op, ip, 16); /* op + 16 <= oend + 16: within the slack */
        else
            memcpy(op, ip, lit);
        ip += lit;
        op += lit;
        if (ip == iend) break; /* the last sequence: literals only */
        if (iend - ip < 2) return PMO_BLOSC_BAD_LZ4;
        size_t off = (size_t)ip[0] | (size_t)ip[1] << 8;
        ip += 2;
        if (off == 0 || off > (size_t)(op - dst)) return PMO_BLOSC_BAD_LZ4;
        size_t ml = token & 15;
        if (ml == 15) {
            unsigned b;
            do {
                if (ip >= iend) return PMO_BLOSC_BAD_LZ4;
                b = *ip++;
                ml += b;
            } while (b == 255);
        }
        ml += 4;
        if (ml > (size_t)(oend - op)) return PMO_BLOSC_BAD_LZ4;
        /* the first 8 bytes (an offset below 8 spelled out as liblz4 does), then pieces of 8 or 16 bytes, each
         * read from output written before it: they write at most 15 bytes past op + ml, within the slack */
        const uint8_t *m = op - off;
        uint8_t *const cpy = op + ml, *o = op;
        if (off == 1 || off == 2 || off == 4) { /* a run of 1, 2 or 4 bytes: an 8-byte pattern in a register */
            uint64_t v;
            if (off == 1) {
                v = m[0] * 0x0101010101010101ULL;
            } else if (off == 2) {
                uint16_t x;
                memcpy(&x, m, 2);
                v = x * 0x0001000100010001ULL;
            } else {
                uint32_t x;
                memcpy(&x, m, 4);
                v = x * 0x0000000100000001ULL;
            }
            for (; o < cpy; o += 8) memcpy(o, &v, 8);
            op = cpy;
            continue;
        }
        if (off < 8) {
            o[0] = m[0];
            o[1] = m[1];
            o[2] = m[2];
            o[3] = m[3];
            m += inc32[off];
            memcpy(o + 4, m, 4);
            m -= dec64[off]; /* from here o - m is a multiple of off and at least 8 */
        } else {
            memcpy(o, m, 8);
            m += 8;
        }
        o += 8;
        if (off >= 16) {
            for (; o < cpy; o += 16, m += 16) memcpy(o, m, 16);
        } else {
            for (; o < cpy; o += 8, m += 8) memcpy(o, m, 8);
        }
        op += ml;
    }
    return op == oend ? n_dst : PMO_BLOSC_BAD_LZ4;
}

/* The header of the frame src [n_src bytes]: info = nbytes, blocksize, cbytes, nblocks, memcpyed. Returns
 * PMO_BLOSC_OK or a negative code. */
int pmo_blosc_info(const uint8_t *src, int64_t n_src, int64_t *info) {
    pmo_blosc_frame f;
    int rc = pmo_blosc_parse(src, n_src, &f);
    if (rc != PMO_BLOSC_OK) return rc;
    info[0] = f.nbytes;
    info[1] = f.blocksize;
    info[2] = f.cbytes;
    info[3] = f.nblocks;
    info[4] = f.memcpyed;
    return PMO_BLOSC_OK;
}

/* Decode the whole frame src [n_src bytes] into dst [cap bytes, at least nbytes + PMO_BLOSC_SLACK]. Returns the
 * decoded size or a negative code. */
int64_t pmo_blosc_decode(const uint8_t *src, int64_t n_src, uint8_t *dst, int64_t cap) {
    pmo_blosc_frame f;
    int rc = pmo_blosc_parse(src, n_src, &f);
    if (rc != PMO_BLOSC_OK) return rc;
    if (f.nbytes + PMO_BLOSC_SLACK > cap) return PMO_BLOSC_WRONG_SIZE;
    for (int64_t j = 0; j < f.nblocks; j++) {
        int64_t got = pmo_blosc_block(src, &f, j, dst + j * f.blocksize);
        if (got < 0) return got;
    }
    return f.nbytes;
}
