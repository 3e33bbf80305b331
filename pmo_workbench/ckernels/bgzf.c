/* BGZF (blocked gzip) blocks: find them, and inflate runs of them with libdeflate.
 *
 * libdeflate (Debian's libdeflate0, which htslib and so bcftools depend on) is loaded at run time by
 * pmo_inflate_load(), so the package builds without its headers; pmo_workbench.genotypes.vcf_source falls back
 * to ISA-L through Python where it is missing. Callers inflate disjoint runs of blocks on several threads.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>

typedef void *(*alloc_fn)(void);
typedef int (*decompress_fn)(void *, const void *, size_t, void *, size_t, size_t *);
typedef void (*free_fn)(void *);
typedef uint32_t (*crc32_fn)(uint32_t, const void *, size_t);

static alloc_fn deflate_alloc;
static decompress_fn deflate_decompress;
static free_fn deflate_free;
static crc32_fn deflate_crc32;

/* Load libdeflate from path (e.g. "libdeflate.so.0"). Returns 0, or -1 when it or a function is missing. */
int pmo_inflate_load(const char *path) {
    if (deflate_decompress) return 0;
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) return -1;
    alloc_fn a = (alloc_fn)dlsym(lib, "libdeflate_alloc_decompressor");
    decompress_fn d = (decompress_fn)dlsym(lib, "libdeflate_deflate_decompress");
    free_fn f = (free_fn)dlsym(lib, "libdeflate_free_decompressor");
    crc32_fn c = (crc32_fn)dlsym(lib, "libdeflate_crc32");
    if (!a || !d || !f || !c) return -1;
    deflate_alloc = a;
    deflate_free = f;
    deflate_crc32 = c;
    deflate_decompress = d;
    return 0;
}

static inline uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Find the complete BGZF blocks of data[0, n): offsets[k] of block k and isize[k], its inflated size, for at
 * most cap blocks. Returns the number of blocks; *used is the offset after the last one. Returns -1 when the
 * bytes at *used are not a BGZF block, -2 for a gzip member without the BGZF block size field. */
int64_t pmo_bgzf_scan(const uint8_t *data, int64_t n, int64_t *offsets, int64_t *isize, int64_t cap,
                      int64_t *used) {
    int64_t pos = 0, k = 0;
    while (k < cap && n - pos >= 18) {
        const uint8_t *h = data + pos;
        if (h[0] != 0x1F || h[1] != 0x8B || !(h[3] & 4)) {
            *used = pos;
            return -1;
        }
        int64_t xlen = h[10] | (h[11] << 8), bsize = -1;
        int64_t x = pos + 12, xend = pos + 12 + xlen;
        while (x + 4 <= (xend < n ? xend : n)) {
            int64_t slen = data[x + 2] | (data[x + 3] << 8);
            if (data[x] == 'B' && data[x + 1] == 'C' && x + 6 <= n) bsize = data[x + 4] | (data[x + 5] << 8);
            x += 4 + slen;
        }
        if (bsize < 0) {
            if (xend > n) break;
            *used = pos;
            return -2;
        }
        if (pos + bsize + 1 > n) break;
        offsets[k] = pos;
        isize[k] = le32(data + pos + bsize + 1 - 4);
        k++;
        pos += bsize + 1;
    }
    *used = pos;
    return k;
}

/* Inflate blocks at offsets[0, n_blocks) of data into out, one after the other (out_cap bytes; the blocks'
 * isize values add up to the size needed), checking each block's size and CRC32. Returns the bytes written;
 * -1 - k when block k is corrupt; -(1 << 40) without libdeflate or memory. */
int64_t pmo_bgzf_inflate(const uint8_t *data, const int64_t *offsets, int64_t n_blocks, uint8_t *out,
                         int64_t out_cap) {
    if (!deflate_decompress) return -((int64_t)1 << 40);
    void *d = deflate_alloc();
    if (!d) return -((int64_t)1 << 40);
    int64_t k = 0;
    for (int64_t b = 0; b < n_blocks; b++) {
        const uint8_t *h = data + offsets[b];
        int64_t xlen = h[10] | (h[11] << 8), bsize = -1;
        for (int64_t x = 12; x + 4 <= 12 + xlen; x += 4 + (h[x + 2] | (h[x + 3] << 8)))
            if (h[x] == 'B' && h[x + 1] == 'C') bsize = h[x + 4] | (h[x + 5] << 8);
        const uint8_t *payload = h + 12 + xlen, *footer = h + bsize + 1 - 8;
        int64_t isize = le32(footer + 4), clen = footer - payload;
        size_t got = 0;
        if (bsize < 0 || clen < 0 || k + isize > out_cap ||
            deflate_decompress(d, payload, (size_t)clen, out + k, (size_t)isize, &got) != 0 ||
            (int64_t)got != isize || deflate_crc32(0, out + k, got) != le32(footer)) {
            deflate_free(d);
            return -1 - b;
        }
        k += isize;
    }
    deflate_free(d);
    return k;
}
