/* Per-sample and per-variant genotype counts over rows of 2-bit packed calls (see genotypes/packed_calls.py).
 *
 * Each call is two bits, sample s at bit 2 * (s % 32) of 64-bit word s / 32: 0 hom-ref, 1 het, 2 hom-var,
 * 3 missing; padding samples are 0. Per row: het / hom-var / missing counts by popcounts. Per sample and allele
 * type: a sparse row's non-hom-ref calls are walked one by one; a dense row's het, hom-var and missing masks
 * are added to vertical counters with one 4-bit lane per sample (a few word operations per 32 calls, which the
 * compiler vectorises), moved to byte lanes every 15 rows and to the int32 counters every 255 rows.
 *
 * One call counts the rows it is given into the caller's counters; callers run one call per thread, each with
 * its own counters (ctypes releases the GIL). pmo_count_packed_chunks reads the rows itself, from the store's
 * chunk files, decoding each Blosc/LZ4 block (blosc_lz4.c) into a small buffer and counting its rows at once.
 */
#define _POSIX_C_SOURCE 200809L /* open, read, fstat under -std=c11 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blosc_lz4.h"

#define M1 0x5555555555555555ULL /* the low bit of each 2-bit call */
#define M4 0x1111111111111111ULL /* the low bit of each 4-bit lane */
#define M8 0x0F0F0F0F0F0F0F0FULL /* the low nibble of each byte */
#ifndef DENSE_FACTOR
#define DENSE_FACTOR 128 /* a row is dense when more than ns / DENSE_FACTOR of its calls are not hom-ref: at 2,500 x 1M with
                            * 1 % missing calls the lanes cost less than walking 20 or more calls (0.29 -> 0.20 s) */
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* popcnt and wide vectors where the CPU has them, chosen at load time; the portable build otherwise */
#define PMO_CLONES __attribute__((target_clones("arch=x86-64-v3", "popcnt", "default")))
#else
#define PMO_CLONES
#endif

/* Move 4-bit lane counters acc4 [2][nw] (even / odd samples) into byte lanes acc8 [4][nw]. */
static inline void spill4(uint64_t *restrict acc4, uint64_t *restrict acc8, int64_t nw) {
    for (int par = 0; par < 2; par++) {
        uint64_t *a = acc4 + par * nw, *lo = acc8 + (2 * par) * nw, *hi = acc8 + (2 * par + 1) * nw;
        for (int64_t w = 0; w < nw; w++) {
            uint64_t x = a[w];
            lo[w] += x & M8;
            hi[w] += (x >> 4) & M8;
            a[w] = 0;
        }
    }
}

/* Add byte-lane counters acc8 [4][nw] to the per-sample counters out and clear them.
 * Byte j of lane set q of word w counts sample 32 w + 4 j + 2 (q & 1) + (q >> 1). */
static inline void flush8(uint64_t *restrict acc8, int64_t nw, int64_t ns, int32_t *restrict out) {
    for (int q = 0; q < 4; q++) {
        int64_t off = 2 * (q & 1) + (q >> 1);
        uint64_t *a = acc8 + q * nw;
        for (int64_t w = 0; w < nw; w++) {
            uint64_t x = a[w];
            if (x == 0) continue;
            for (int j = 0; j < 8; j++) {
                int64_t s = 32 * w + 4 * j + off;
                if (s < ns) out[s] += (int32_t)((x >> (8 * j)) & 255);
            }
            a[w] = 0;
        }
    }
}

/* Add one row's het / hom-var / missing calls to 4-bit lane counters (even and odd samples); branch-free. */
static inline void add_lanes(const uint64_t *restrict words, int64_t nw, uint64_t *restrict h0, uint64_t *restrict h1,
                             uint64_t *restrict v0, uint64_t *restrict v1, uint64_t *restrict m0,
                             uint64_t *restrict m1) {
    for (int64_t w = 0; w < nw; w++) {
        uint64_t x = words[w];
        uint64_t a = x & M1, b = (x >> 1) & M1;
        uint64_t het = a & ~b, hv = b & ~a, mi = a & b;
        h0[w] += het & M4;
        h1[w] += (het >> 2) & M4;
        v0[w] += hv & M4;
        v1[w] += (hv >> 2) & M4;
        m0[w] += mi & M4;
        m1[w] += (mi >> 2) & M4;
    }
}

/* One thread's counters of rows (the caller's per-thread arrays, and the lanes in between). */
typedef struct {
    int64_t nw, ns, n_types;
    uint64_t *acc4, *acc8, *acc4m, *acc8m; /* acc4 [type][het/hom-var][even/odd][nw], acc8 [type][het/hom-var][4][nw];
                                            * the missing lanes for all types */
    int64_t *pend4, *pend8;                /* rows in the 4-bit / byte lanes of each type */
    int64_t pend4m, pend8m;
    int32_t *het_acc, *hv_acc, *miss_acc;
    int64_t *singles;
} counter;

static void counter_free(counter *c) {
    free(c->acc4);
    free(c->acc8);
    free(c->acc4m);
    free(c->acc8m);
    free(c->pend4);
    free(c->pend8);
}

/* Returns 0, or -1 when memory runs out. */
static int counter_open(counter *c, int64_t nw, int64_t ns, int64_t n_types, int32_t *het_acc, int32_t *hv_acc,
                        int32_t *miss_acc, int64_t *singles) {
    c->nw = nw;
    c->ns = ns;
    c->n_types = n_types;
    c->acc4 = calloc((size_t)(n_types * 4 * nw), sizeof(uint64_t));
    c->acc8 = calloc((size_t)(n_types * 8 * nw), sizeof(uint64_t));
    c->acc4m = calloc((size_t)(2 * nw), sizeof(uint64_t));
    c->acc8m = calloc((size_t)(4 * nw), sizeof(uint64_t));
    c->pend4 = calloc((size_t)n_types, sizeof(int64_t));
    c->pend8 = calloc((size_t)n_types, sizeof(int64_t));
    c->pend4m = c->pend8m = 0;
    c->het_acc = het_acc;
    c->hv_acc = hv_acc;
    c->miss_acc = miss_acc;
    c->singles = singles;
    if (!c->acc4 || !c->acc8 || !c->acc4m || !c->acc8m || !c->pend4 || !c->pend8) {
        counter_free(c);
        return -1;
    }
    return 0;
}

/* Add the lanes still pending to the per-sample counters, and free the lanes. */
static void counter_close(counter *c) {
    int64_t nw = c->nw, ns = c->ns;
    for (int64_t ty = 0; ty < c->n_types; ty++) {
        if (c->pend4[ty] + c->pend8[ty] > 0) {
            uint64_t *t4 = c->acc4 + ty * 4 * nw, *t8 = c->acc8 + ty * 8 * nw;
            if (c->pend8[ty] + c->pend4[ty] > 255) {
                flush8(t8, nw, ns, c->het_acc + ty * ns);
                flush8(t8 + 4 * nw, nw, ns, c->hv_acc + ty * ns);
            }
            spill4(t4, t8, nw);
            spill4(t4 + 2 * nw, t8 + 4 * nw, nw);
            flush8(t8, nw, ns, c->het_acc + ty * ns);
            flush8(t8 + 4 * nw, nw, ns, c->hv_acc + ty * ns);
        }
    }
    if (c->pend4m + c->pend8m > 0) {
        if (c->pend8m + c->pend4m > 255) flush8(c->acc8m, nw, ns, c->miss_acc);
        spill4(c->acc4m, c->acc8m, nw);
        flush8(c->acc8m, nw, ns, c->miss_acc);
    }
    counter_free(c);
}

/* Count one row (nw words) of allele type ty (0 <= ty < n_types): its het, hom-var and missing calls go to *het,
 * *hv, *miss; per sample, to the counters of c. */
static inline __attribute__((always_inline)) void count_row(counter *c, const uint64_t *row, int64_t ty,
                                                            int64_t *het, int64_t *hv, int64_t *miss) {
    int64_t nw = c->nw, ns = c->ns;
    int64_t het_n = 0, hv_n = 0, miss_n = 0;
    for (int64_t w = 0; w < nw; w++) {
        uint64_t x = row[w];
        uint64_t a = x & M1, b = (x >> 1) & M1;
        het_n += __builtin_popcountll(a & ~b);
        hv_n += __builtin_popcountll(b & ~a);
        miss_n += __builtin_popcountll(a & b);
    }
    *het = het_n;
    *hv = hv_n;
    *miss = miss_n;
    if (DENSE_FACTOR * (het_n + hv_n + miss_n) > ns) { /* dense: vertical counters */
        uint64_t *t4 = c->acc4 + ty * 4 * nw, *t8 = c->acc8 + ty * 8 * nw;
        if (c->pend4[ty] == 15) {
            if (c->pend8[ty] == 255) {
                flush8(t8, nw, ns, c->het_acc + ty * ns);
                flush8(t8 + 4 * nw, nw, ns, c->hv_acc + ty * ns);
                c->pend8[ty] = 0;
            }
            spill4(t4, t8, nw);
            spill4(t4 + 2 * nw, t8 + 4 * nw, nw);
            c->pend8[ty] += 15;
            c->pend4[ty] = 0;
        }
        if (c->pend4m == 15) {
            if (c->pend8m == 255) {
                flush8(c->acc8m, nw, ns, c->miss_acc);
                c->pend8m = 0;
            }
            spill4(c->acc4m, c->acc8m, nw);
            c->pend8m += 15;
            c->pend4m = 0;
        }
        c->pend4[ty] += 1;
        c->pend4m += 1;
        add_lanes(row, nw, t4, t4 + nw, t4 + 2 * nw, t4 + 3 * nw, c->acc4m, c->acc4m + nw);
    } else { /* sparse: walk the non-hom-ref calls */
        int32_t *het_t = c->het_acc + ty * ns, *hv_t = c->hv_acc + ty * ns, *miss_t = c->miss_acc;
        for (int64_t w = 0; w < nw; w++) { /* the row is in cache: looking again costs less than keeping a list */
            uint64_t x = row[w];
            while (x != 0) {
                int lane = __builtin_ctzll(x) >> 1;
                uint64_t code = (x >> (2 * lane)) & 3;
                x &= ~(3ULL << (2 * lane));
                int64_t s = 32 * w + lane;
                if (code == 1)
                    het_t[s] += 1;
                else if (code == 2)
                    hv_t[s] += 1;
                else
                    miss_t[s] += 1;
            }
        }
    }
    if (het_n == 1 && hv_n == 0) {
        for (int64_t w = 0; w < nw; w++) {
            uint64_t x = row[w];
            uint64_t hit = (x & M1) & ~((x >> 1) & M1);
            if (hit != 0) {
                c->singles[32 * w + (__builtin_ctzll(hit) >> 1)] += 1;
                break;
            }
        }
    }
}

/* Count rows rows[0..nr) of words (row v at words + v * nw) into:
 *   hist [nr][3]: het, hom-var, missing calls of each row;
 *   het_acc, hv_acc [n_types][ns]: het / hom-var calls per allele type (rtype[j] of row j) and sample;
 *   miss_acc [ns]: missing calls per sample; singles [ns]: rows whose only ALT allele is the sample's het.
 * Returns 0, -1 when memory runs out, -2 for an allele type outside [0, n_types). */
PMO_CLONES
int pmo_count_packed_rows(const uint64_t *words, int64_t nw, const int64_t *rows, int64_t nr, const int64_t *rtype,
                          int64_t n_types, int64_t ns, int64_t *hist, int32_t *het_acc, int32_t *hv_acc,
                          int32_t *miss_acc, int64_t *singles) {
    for (int64_t j = 0; j < nr; j++)
        if (rtype[j] < 0 || rtype[j] >= n_types) return -2;
    counter c;
    if (counter_open(&c, nw, ns, n_types, het_acc, hv_acc, miss_acc, singles) != 0) return -1;
    for (int64_t j = 0; j < nr; j++)
        count_row(&c, words + rows[j] * nw, rtype[j], hist + 3 * j, hist + 3 * j + 1, hist + 3 * j + 2);
    counter_close(&c);
    return 0;
}

/* Results of pmo_count_packed_chunks beyond the decoder's (blosc_lz4.h) */
enum { CHUNK_IO = -10, CHUNK_NO_MEMORY = -11, CHUNK_TYPE = -12 };

/* Record the first failure of any thread: status [0] its code, [1] its chunk, [2] errno of an I/O failure;
 * status [3] becomes 1, which stops the other threads. */
static void fail(int64_t *status, int64_t code, int64_t chunk, int64_t err) {
    int64_t zero = 0;
    if (__atomic_compare_exchange_n(&status[3], &zero, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        status[0] = code;
        status[1] = chunk;
        status[2] = err;
    }
}

/* Read the whole file path into *buf (grown as needed, its size in *cap); returns its length, or -1 with errno
 * set. */
static int64_t read_file(const char *path, uint8_t **buf, int64_t *cap) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    int64_t size = (int64_t)st.st_size;
    if (size > *cap) {
        int64_t want = size + size / 4 + 64;
        uint8_t *grown = realloc(*buf, (size_t)want);
        if (!grown) {
            close(fd);
            errno = ENOMEM;
            return -1;
        }
        *buf = grown;
        *cap = want;
    }
    int64_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, *buf + got, (size_t)(size - got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break; /* a file that shrank: its frame is then found truncated */
        got += r;
    }
    close(fd);
    return got;
}

/* The QC pass over a store's 2-bit copy, straight from its chunk files: one call per thread, the threads taking
 * chunks in turn from the shared counter *next. Chunk c (rows c * chunk_rows ..) is the file
 * "<dir>/<c><sep>0", a Blosc 1 frame of LZ4 blocks (blosc_lz4.c) of chunk_rows rows of nw words; each block is
 * decoded into a small buffer of this thread and its whole rows are counted at once (still in cache). A chunk
 * file that does not exist holds the fill value (0: all hom-ref).
 *
 * Rows v0 <= v < nv with packable[v - v0] are counted, as pmo_count_packed_rows counts them (allele type
 * rtype[v - v0]); per variant n_called, n_het, n_hom_ref, n_hom_var [nv - v0] and ac [nv - v0][width] (REF, ALT)
 * are written at v - v0, per sample the thread's counters het_acc, hv_acc [n_types][ns], miss_acc and singles [ns]
 * are added to. A range of rows (a QC pass written in batches) starts *next at chunk v0 / chunk_rows and sets
 * n_chunks to the chunk after row nv - 1; rows of those chunks outside [v0, nv) are skipped.
 *
 * Returns 0, or a negative code after recording the first failure in status (see fail): a decoder code of
 * blosc_lz4.h (PMO_BLOSC_UNSUPPORTED: read this store another way), CHUNK_IO, CHUNK_NO_MEMORY or CHUNK_TYPE. */
PMO_CLONES
int pmo_count_packed_chunks(const char *dir, int32_t sep, int64_t n_chunks, int64_t chunk_rows, int64_t v0,
                            int64_t nv, int64_t nw, const uint8_t *packable, const int64_t *rtype, int64_t n_types,
                            int64_t ns, int32_t fill, int64_t *next, int64_t *status, int64_t *n_called, int64_t *n_het,
                            int64_t *n_hom_ref, int64_t *n_hom_var, int32_t *ac, int64_t width, int32_t *het_acc,
                            int32_t *hv_acc, int32_t *miss_acc, int64_t *singles) {
    int64_t rb = 8 * nw;
    size_t plen = strlen(dir) + 48;
    char *path = malloc(plen);
    uint8_t *cbuf = NULL, *rbuf = NULL;
    int64_t ccap = 0, rcap = 0;
    counter c;
    if (!path || counter_open(&c, nw, ns, n_types, het_acc, hv_acc, miss_acc, singles) != 0) {
        free(path);
        fail(status, CHUNK_NO_MEMORY, -1, 0);
        return CHUNK_NO_MEMORY;
    }
    int64_t rc = 0, chunk = -1;
    while (rc == 0 && !__atomic_load_n(&status[3], __ATOMIC_ACQUIRE)) {
        chunk = __atomic_fetch_add(next, 1, __ATOMIC_ACQ_REL);
        if (chunk >= n_chunks) break;
        int64_t first = chunk * chunk_rows;
        int64_t rows = nv - first < chunk_rows ? nv - first : chunk_rows;
        for (int64_t r = first < v0 ? v0 - first : 0; r < rows; r++) {
            int64_t t = rtype[first + r - v0];
            if (packable[first + r - v0] && (t < 0 || t >= n_types)) rc = CHUNK_TYPE;
        }
        if (rc != 0) break;
        snprintf(path, plen, "%s/%lld%c0", dir, (long long)chunk, (char)sep);
        int64_t n_src = read_file(path, &cbuf, &ccap);
        pmo_blosc_frame f;
        if (n_src < 0 && errno == ENOENT) { /* never written: the fill value */
            if (fill != 0) {
                rc = PMO_BLOSC_UNSUPPORTED;
                break;
            }
            f.nbytes = chunk_rows * rb;
            f.blocksize = rb;
            f.nblocks = chunk_rows;
            f.memcpyed = -1;
        } else if (n_src < 0) {
            rc = CHUNK_IO;
            fail(status, rc, chunk, errno);
            break;
        } else {
            rc = pmo_blosc_parse(cbuf, n_src, &f);
            if (rc != 0) break;
            if (f.nbytes != chunk_rows * rb) {
                rc = PMO_BLOSC_WRONG_SIZE;
                break;
            }
        }
        int64_t need = rb + f.blocksize + PMO_BLOSC_SLACK;
        if (need > rcap) {
            uint8_t *grown = realloc(rbuf, (size_t)need);
            if (!grown) {
                rc = CHUNK_NO_MEMORY;
                break;
            }
            rbuf = grown;
            rcap = need;
        }
        /* rbuf: the carried start of a row cut by the block end, then the next block */
        int64_t carry = 0, row = 0;
        for (int64_t j = 0; j < f.nblocks && row < rows; j++) {
            int64_t got;
            if (f.memcpyed == -1) {
                memset(rbuf + carry, 0, (size_t)rb);
                got = rb;
            } else {
                got = pmo_blosc_block(cbuf, &f, j, rbuf + carry);
            }
            if (got < 0) {
                rc = got;
                break;
            }
            int64_t avail = carry + got, whole = avail / rb;
            for (int64_t r = 0; r < whole && row + r < rows; r++) {
                int64_t v = first + row + r - v0; /* the row's place in the per-variant arrays */
                if (v < 0 || !packable[v]) continue;
                int64_t het, hv, miss;
                count_row(&c, (const uint64_t *)(rbuf + r * rb), rtype[v], &het, &hv, &miss);
                int64_t called = ns - miss;
                n_called[v] = called;
                n_het[v] = het;
                n_hom_var[v] = hv;
                n_hom_ref[v] = called - het - hv;
                ac[v * width] = (int32_t)(2 * (called - hv) - het);
                ac[v * width + 1] = (int32_t)(het + 2 * hv);
            }
            row += whole;
            carry = avail - whole * rb;
            if (carry) memmove(rbuf, rbuf + whole * rb, (size_t)carry);
        }
    }
    if (rc != 0 && rc != CHUNK_IO) fail(status, rc, chunk, 0);
    counter_close(&c);
    free(path);
    free(cbuf);
    free(rbuf);
    return (int)rc;
}
