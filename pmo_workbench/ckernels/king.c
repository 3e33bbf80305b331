/* KING-robust pair counts (qc/kinship.py) over bit-packed genotype indicators.
 *
 * A block of sites holds, per sample, three bit planes of w 64-bit words (sites of the block): het, hom-ref and
 * hom-alt (a missing call sets none). For each pair (i, j), i < j, over the sites called in both:
 *   hethet[i][j] += both het;      het_hom[i][j] += i het, j hom;   het_hom[j][i] += j het, i hom;
 *   homhom[j][i] += both hom;      ibs0[i][j] += opposite homs.
 * homhom is stored transposed (lower triangle), so that hethet and homhom may share one matrix. Counters are
 * 32-bit (a pair's count is at most the number of sites): at 2,500 samples the three matrices take 75 MB.
 * Two rows i are counted together against each j (the j words are loaded once for both), eight words at a time
 * with AVX-512 VPOPCNTDQ where the CPU has it (chosen at run time), else one word at a time with POPCNT; callers
 * split the rows over threads (ctypes releases the GIL), each thread owning its rows of the count matrices.
 */
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PMO_X86 1
#endif

#define PC(x) ((uint64_t)__builtin_popcountll(x))

typedef struct {
    const uint64_t *het, *ref, *alt;
    int64_t n, w;
    uint32_t *hethet, *het_hom, *homhom, *ibs0;
} planes;

static inline void store_counts(const planes *p, int64_t i, int64_t j, uint64_t hh, uint64_t hm, uint64_t mh,
                                uint64_t mm, uint64_t z) {
    int64_t n = p->n;
    p->hethet[i * n + j] += (uint32_t)hh;
    p->het_hom[i * n + j] += (uint32_t)hm;
    p->het_hom[j * n + i] += (uint32_t)mh;
    p->homhom[j * n + i] += (uint32_t)mm;
    p->ibs0[i * n + j] += (uint32_t)z;
}

/* Rows i0 < i1 (i1 = -1: i0 alone) against rows j in [j0, j1), one 64-bit word at a time. */
#define SCALAR_ROWS(NAME, ATTR)                                                                                   \
    ATTR static void NAME(const planes *p, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {                       \
        const int64_t w = p->w;                                                                                    \
        const int64_t k1 = i1 < 0 ? i0 : i1;                                                                       \
        const uint64_t *h0 = p->het + i0 * w, *r0 = p->ref + i0 * w, *a0 = p->alt + i0 * w;                        \
        const uint64_t *h1 = p->het + k1 * w, *r1 = p->ref + k1 * w, *a1 = p->alt + k1 * w;                        \
        for (int64_t j = j0; j < j1; j++) {                                                                        \
            const uint64_t *hj = p->het + j * w, *rj = p->ref + j * w, *aj = p->alt + j * w;                      \
            uint64_t hh0 = 0, hm0 = 0, mh0 = 0, mm0 = 0, z0 = 0, hh1 = 0, hm1 = 0, mh1 = 0, mm1 = 0, z1 = 0;       \
            for (int64_t t = 0; t < w; t++) {                                                                      \
                uint64_t H = hj[t], R = rj[t], A = aj[t], M = R | A;                                               \
                uint64_t m0 = r0[t] | a0[t], m1 = r1[t] | a1[t];                                                   \
                hh0 += PC(h0[t] & H);                                                                              \
                hm0 += PC(h0[t] & M);                                                                              \
                mh0 += PC(H & m0);                                                                                 \
                mm0 += PC(m0 & M);                                                                                 \
                z0 += PC((r0[t] & A) | (a0[t] & R));                                                               \
                hh1 += PC(h1[t] & H);                                                                              \
                hm1 += PC(h1[t] & M);                                                                              \
                mh1 += PC(H & m1);                                                                                 \
                mm1 += PC(m1 & M);                                                                                 \
                z1 += PC((r1[t] & A) | (a1[t] & R));                                                               \
            }                                                                                                      \
            store_counts(p, i0, j, hh0, hm0, mh0, mm0, z0);                                                        \
            if (i1 >= 0) store_counts(p, i1, j, hh1, hm1, mh1, mm1, z1);                                           \
        }                                                                                                          \
    }

SCALAR_ROWS(rows_default, )
#ifdef PMO_X86
SCALAR_ROWS(rows_popcnt, __attribute__((target("popcnt"))))

/* AVX-512 with VPOPCNTDQ: eight words per step (a masked load for the last words of a row). */
__attribute__((target("avx512f,avx512vpopcntdq"))) static void rows_avx512(const planes *p, int64_t i0, int64_t i1,
                                                                          int64_t j0, int64_t j1) {
    const int64_t w = p->w;
    const int64_t k1 = i1 < 0 ? i0 : i1;
    const uint64_t *h0 = p->het + i0 * w, *r0 = p->ref + i0 * w, *a0 = p->alt + i0 * w;
    const uint64_t *h1 = p->het + k1 * w, *r1 = p->ref + k1 * w, *a1 = p->alt + k1 * w;
    for (int64_t j = j0; j < j1; j++) {
        const uint64_t *hj = p->het + j * w, *rj = p->ref + j * w, *aj = p->alt + j * w;
        __m512i hh0 = _mm512_setzero_si512(), hm0 = hh0, mh0 = hh0, mm0 = hh0, z0 = hh0;
        __m512i hh1 = hh0, hm1 = hh0, mh1 = hh0, mm1 = hh0, z1 = hh0;
        for (int64_t t = 0; t < w; t += 8) {
            __mmask8 k = w - t >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (w - t)) - 1);
            __m512i H = _mm512_maskz_loadu_epi64(k, hj + t), R = _mm512_maskz_loadu_epi64(k, rj + t),
                    A = _mm512_maskz_loadu_epi64(k, aj + t);
            __m512i M = _mm512_or_si512(R, A);
            __m512i x0 = _mm512_maskz_loadu_epi64(k, h0 + t), p0 = _mm512_maskz_loadu_epi64(k, r0 + t),
                    q0 = _mm512_maskz_loadu_epi64(k, a0 + t);
            __m512i m0 = _mm512_or_si512(p0, q0);
            hh0 = _mm512_add_epi64(hh0, _mm512_popcnt_epi64(_mm512_and_si512(x0, H)));
            hm0 = _mm512_add_epi64(hm0, _mm512_popcnt_epi64(_mm512_and_si512(x0, M)));
            mh0 = _mm512_add_epi64(mh0, _mm512_popcnt_epi64(_mm512_and_si512(H, m0)));
            mm0 = _mm512_add_epi64(mm0, _mm512_popcnt_epi64(_mm512_and_si512(m0, M)));
            /* (p0 & A) | (q0 & R): 0xEA = (a & b) | c with c = q0 & R */
            z0 = _mm512_add_epi64(z0, _mm512_popcnt_epi64(
                                          _mm512_ternarylogic_epi64(p0, A, _mm512_and_si512(q0, R), 0xEA)));
            if (i1 >= 0) {
                __m512i x1 = _mm512_maskz_loadu_epi64(k, h1 + t), p1 = _mm512_maskz_loadu_epi64(k, r1 + t),
                        q1 = _mm512_maskz_loadu_epi64(k, a1 + t);
                __m512i m1 = _mm512_or_si512(p1, q1);
                hh1 = _mm512_add_epi64(hh1, _mm512_popcnt_epi64(_mm512_and_si512(x1, H)));
                hm1 = _mm512_add_epi64(hm1, _mm512_popcnt_epi64(_mm512_and_si512(x1, M)));
                mh1 = _mm512_add_epi64(mh1, _mm512_popcnt_epi64(_mm512_and_si512(H, m1)));
                mm1 = _mm512_add_epi64(mm1, _mm512_popcnt_epi64(_mm512_and_si512(m1, M)));
                z1 = _mm512_add_epi64(z1, _mm512_popcnt_epi64(
                                              _mm512_ternarylogic_epi64(p1, A, _mm512_and_si512(q1, R), 0xEA)));
            }
        }
        store_counts(p, i0, j, (uint64_t)_mm512_reduce_add_epi64(hh0), (uint64_t)_mm512_reduce_add_epi64(hm0),
                     (uint64_t)_mm512_reduce_add_epi64(mh0), (uint64_t)_mm512_reduce_add_epi64(mm0),
                     (uint64_t)_mm512_reduce_add_epi64(z0));
        if (i1 >= 0)
            store_counts(p, i1, j, (uint64_t)_mm512_reduce_add_epi64(hh1), (uint64_t)_mm512_reduce_add_epi64(hm1),
                         (uint64_t)_mm512_reduce_add_epi64(mh1), (uint64_t)_mm512_reduce_add_epi64(mm1),
                         (uint64_t)_mm512_reduce_add_epi64(z1));
    }
}
#endif

typedef void (*rows_fn)(const planes *, int64_t, int64_t, int64_t, int64_t);

static rows_fn pick_rows(void) {
#ifdef PMO_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq")) return rows_avx512;
    if (__builtin_cpu_supports("popcnt")) return rows_popcnt;
#endif
    return rows_default;
}

/* Add the pair counts of one block (planes [n][w]) for the rows rows[0, n_rows): every pair (i, j > i). A row
 * followed in rows by i + 1 is counted together with it. */
void pmo_king_counts(const uint64_t *het, const uint64_t *ref, const uint64_t *alt, int64_t n, int64_t w,
                     const int64_t *rows, int64_t n_rows, uint32_t *hethet, uint32_t *het_hom, uint32_t *homhom,
                     uint32_t *ibs0) {
    const rows_fn count = pick_rows();
    const planes p = {het, ref, alt, n, w, hethet, het_hom, homhom, ibs0};
    for (int64_t r = 0; r < n_rows; r++) {
        int64_t i = rows[r];
        if (r + 1 < n_rows && rows[r + 1] == i + 1 && i + 1 < n) {
            count(&p, i, -1, i + 1, i + 2); /* the pair (i, i + 1) */
            count(&p, i, i + 1, i + 2, n);
            r++;
        } else {
            count(&p, i, -1, i + 1, n);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PMO_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PMO_CLONES
#endif

/* Bit planes of a dosage block d [sites][n] (int8: 0, 1, 2 ALT copies; anything else not called): het, ref,
 * alt [n][w] words, site k at bit k % 64 of word k / 64 (bits past the last site 0). Per word, the 64 sites'
 * bits are gathered for all samples at once in scratch [3][n] (vectorised over samples), then stored. */
PMO_CLONES
void pmo_king_planes(const int8_t *d, int64_t sites, int64_t n, int64_t w, uint64_t *het, uint64_t *ref,
                     uint64_t *alt, uint64_t *scratch) {
    uint64_t *H = scratch, *R = scratch + n, *A = scratch + 2 * n;
    for (int64_t t = 0; t < w; t++) {
        for (int64_t s = 0; s < 3 * n; s++) scratch[s] = 0;
        int64_t nb = sites - 64 * t < 64 ? sites - 64 * t : 64;
        for (int64_t b = 0; b < nb; b++) {
            const int8_t *row = d + (64 * t + b) * n;
            for (int64_t s = 0; s < n; s++) {
                int8_t v = row[s];
                H[s] |= (uint64_t)(v == 1) << b;
                R[s] |= (uint64_t)(v == 0) << b;
                A[s] |= (uint64_t)(v == 2) << b;
            }
        }
        for (int64_t s = 0; s < n; s++) {
            het[s * w + t] = H[s];
            ref[s * w + t] = R[s];
            alt[s * w + t] = A[s];
        }
    }
}

/* The same bit planes from 2-bit packed rows (genotypes/packed_calls.py: 0 hom-ref, 1 het, 2 hom-alt, 3 missing;
 * sample s at bits 2 * (s % 4) of byte s / 4), rows[0, sites) of packed [*][row_bytes]: no int8 dosage block. */
PMO_CLONES
void pmo_king_planes_packed(const uint8_t *packed, int64_t row_bytes, const int64_t *rows, int64_t sites,
                            int64_t n, int64_t w, uint64_t *het, uint64_t *ref, uint64_t *alt, uint64_t *scratch) {
    uint64_t *H = scratch, *R = scratch + n, *A = scratch + 2 * n;
    for (int64_t t = 0; t < w; t++) {
        for (int64_t s = 0; s < 3 * n; s++) scratch[s] = 0;
        int64_t nb = sites - 64 * t < 64 ? sites - 64 * t : 64;
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *row = packed + rows[64 * t + b] * row_bytes;
            for (int64_t s = 0; s < n; s++) {
                unsigned v = (row[s >> 2] >> (2 * (s & 3))) & 3u;
                H[s] |= (uint64_t)(v == 1) << b;
                R[s] |= (uint64_t)(v == 0) << b;
                A[s] |= (uint64_t)(v == 2) << b;
            }
        }
        for (int64_t s = 0; s < n; s++) {
            het[s * w + t] = H[s];
            ref[s * w + t] = R[s];
            alt[s * w + t] = A[s];
        }
    }
}

/* KING-robust kinship phi [n][n] (symmetric, NaN on the diagonal and without informative sites) from the
 * upper-triangle counts, as plink2 --make-king-table computes it. */
static inline double king_phi(const uint32_t *hethet, const uint32_t *het_hom, const uint32_t *ibs0, int64_t n,
                              int64_t i, int64_t j);

void pmo_king_phi(const uint32_t *hethet, const uint32_t *het_hom, const uint32_t *ibs0, int64_t n, double *phi) {
    for (int64_t i = 0; i < n; i++) {
        phi[i * n + i] = __builtin_nan("");
        for (int64_t j = i + 1; j < n; j++) {
            double val = king_phi(hethet, het_hom, ibs0, n, i, j);
            phi[i * n + j] = val;
            phi[j * n + i] = val;
        }
    }
}

static inline double king_phi(const uint32_t *hethet, const uint32_t *het_hom, const uint32_t *ibs0, int64_t n,
                              int64_t i, int64_t j) {
    int64_t a = het_hom[i * n + j], b = het_hom[j * n + i];
    double denom = 4.0 * (double)((int64_t)hethet[i * n + j] + (a < b ? a : b));
    if (!(denom > 0)) return __builtin_nan("");
    return 0.5 - (4.0 * (double)ibs0[i * n + j] + (double)a + (double)b) / denom;
}

/* The pairs i < j (row by row) whose kinship (as pmo_king_phi) is above cut, or NaN when keep_nan: their i, j
 * and kinship into out_i, out_j, out_phi, at most cap of them; returns how many there are (call again with a
 * larger cap when that is more than cap). No n x n kinship matrix. */
int64_t pmo_king_select(const uint32_t *hethet, const uint32_t *het_hom, const uint32_t *ibs0, int64_t n,
                        double cut, int32_t keep_nan, int64_t *out_i, int64_t *out_j, double *out_phi,
                        int64_t cap) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = i + 1; j < n; j++) {
            double v = king_phi(hethet, het_hom, ibs0, n, i, j);
            if (v > cut || (keep_nan && v != v)) {
                if (k < cap) {
                    out_i[k] = i;
                    out_j[k] = j;
                    out_phi[k] = v;
                }
                k++;
            }
        }
    }
    return k;
}

/* The kinship of the pairs (i[k], j[k]), i < j: as pmo_king_phi, for a few pairs. */
void pmo_king_pair_phi(const uint32_t *hethet, const uint32_t *het_hom, const uint32_t *ibs0, int64_t n,
                       const int64_t *i, const int64_t *j, int64_t m, double *out) {
    for (int64_t k = 0; k < m; k++) out[k] = king_phi(hethet, het_hom, ibs0, n, i[k], j[k]);
}
