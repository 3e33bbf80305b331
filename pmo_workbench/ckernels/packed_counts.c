/* Per-sample and per-variant genotype counts over rows of 2-bit packed calls (see genotypes/packed_calls.py).
 *
 * Each call is two bits, sample s at bit 2 * (s % 32) of 64-bit word s / 32: 0 hom-ref, 1 het, 2 hom-var,
 * 3 missing; padding samples are 0. Per row: het / hom-var / missing counts by popcounts. Per sample and allele
 * type: a sparse row's non-hom-ref calls are walked one by one; a dense row's het, hom-var and missing masks
 * are added to vertical counters with one 4-bit lane per sample (a few word operations per 32 calls, which the
 * compiler vectorises), moved to byte lanes every 15 rows and to the int32 counters every 255 rows.
 *
 * One call counts the rows it is given into the caller's counters; callers run one call per thread, each with
 * its own counters (ctypes releases the GIL).
 */
#include <stdint.h>
#include <stdlib.h>

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
    /* acc4 [type][het/hom-var][even/odd][nw], acc8 [type][het/hom-var][4][nw]; the missing lanes for all types */
    uint64_t *acc4 = calloc((size_t)(n_types * 4 * nw), sizeof(uint64_t));
    uint64_t *acc8 = calloc((size_t)(n_types * 8 * nw), sizeof(uint64_t));
    uint64_t *acc4m = calloc((size_t)(2 * nw), sizeof(uint64_t));
    uint64_t *acc8m = calloc((size_t)(4 * nw), sizeof(uint64_t));
    int64_t *pend4 = calloc((size_t)n_types, sizeof(int64_t)); /* rows in the 4-bit lanes of each type */
    int64_t *pend8 = calloc((size_t)n_types, sizeof(int64_t)); /* rows in the byte lanes of each type */
    int64_t *nonzero = malloc((size_t)nw * sizeof(int64_t));     /* the words of a row holding a non-hom-ref call */
    int rc = 0;
    if (!acc4 || !acc8 || !acc4m || !acc8m || !pend4 || !pend8 || !nonzero) {
        rc = -1;
        goto done;
    }
    int64_t pend4m = 0, pend8m = 0;
    for (int64_t j = 0; j < nr; j++) {
        const uint64_t *row = words + rows[j] * nw;
        int64_t ty = rtype[j];
        int64_t het_n = 0, hv_n = 0, miss_n = 0, n_nonzero = 0;
        for (int64_t w = 0; w < nw; w++) {
            uint64_t x = row[w];
            uint64_t a = x & M1, b = (x >> 1) & M1;
            het_n += __builtin_popcountll(a & ~b);
            hv_n += __builtin_popcountll(b & ~a);
            miss_n += __builtin_popcountll(a & b);
            nonzero[n_nonzero] = w;
            n_nonzero += x != 0;
        }
        hist[3 * j] = het_n;
        hist[3 * j + 1] = hv_n;
        hist[3 * j + 2] = miss_n;
        if (DENSE_FACTOR * (het_n + hv_n + miss_n) > ns) { /* dense: vertical counters */
            uint64_t *t4 = acc4 + ty * 4 * nw, *t8 = acc8 + ty * 8 * nw;
            if (pend4[ty] == 15) {
                if (pend8[ty] == 255) {
                    flush8(t8, nw, ns, het_acc + ty * ns);
                    flush8(t8 + 4 * nw, nw, ns, hv_acc + ty * ns);
                    pend8[ty] = 0;
                }
                spill4(t4, t8, nw);
                spill4(t4 + 2 * nw, t8 + 4 * nw, nw);
                pend8[ty] += 15;
                pend4[ty] = 0;
            }
            if (pend4m == 15) {
                if (pend8m == 255) {
                    flush8(acc8m, nw, ns, miss_acc);
                    pend8m = 0;
                }
                spill4(acc4m, acc8m, nw);
                pend8m += 15;
                pend4m = 0;
            }
            pend4[ty] += 1;
            pend4m += 1;
            add_lanes(row, nw, t4, t4 + nw, t4 + 2 * nw, t4 + 3 * nw, acc4m, acc4m + nw);
        } else { /* sparse: walk the non-hom-ref calls */
            int32_t *het_t = het_acc + ty * ns, *hv_t = hv_acc + ty * ns;
            for (int64_t i = 0; i < n_nonzero; i++) {
                int64_t w = nonzero[i];
                uint64_t x = row[w];
                while (x != 0) {
                    int lane = __builtin_ctzll(x) >> 1;
                    uint64_t c = (x >> (2 * lane)) & 3;
                    x &= ~(3ULL << (2 * lane));
                    int64_t s = 32 * w + lane;
                    if (c == 1)
                        het_t[s] += 1;
                    else if (c == 2)
                        hv_t[s] += 1;
                    else
                        miss_acc[s] += 1;
                }
            }
        }
        if (het_n == 1 && hv_n == 0) {
            for (int64_t i = 0; i < n_nonzero; i++) {
                int64_t w = nonzero[i];
                uint64_t x = row[w];
                uint64_t hit = (x & M1) & ~((x >> 1) & M1);
                if (hit != 0) {
                    singles[32 * w + (__builtin_ctzll(hit) >> 1)] += 1;
                    break;
                }
            }
        }
    }
    for (int64_t ty = 0; ty < n_types; ty++) {
        if (pend4[ty] + pend8[ty] > 0) {
            uint64_t *t4 = acc4 + ty * 4 * nw, *t8 = acc8 + ty * 8 * nw;
            if (pend8[ty] + pend4[ty] > 255) {
                flush8(t8, nw, ns, het_acc + ty * ns);
                flush8(t8 + 4 * nw, nw, ns, hv_acc + ty * ns);
            }
            spill4(t4, t8, nw);
            spill4(t4 + 2 * nw, t8 + 4 * nw, nw);
            flush8(t8, nw, ns, het_acc + ty * ns);
            flush8(t8 + 4 * nw, nw, ns, hv_acc + ty * ns);
        }
    }
    if (pend4m + pend8m > 0) {
        if (pend8m + pend4m > 255) flush8(acc8m, nw, ns, miss_acc);
        spill4(acc4m, acc8m, nw);
        flush8(acc8m, nw, ns, miss_acc);
    }
done:
    free(acc4);
    free(acc8);
    free(acc4m);
    free(acc8m);
    free(pend4);
    free(pend8);
    free(nonzero);
    return rc;
}
