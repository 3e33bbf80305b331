/* Polygenic-score sums over rows of 2-bit packed calls (see genotypes/packed_calls.py and model/pgs_kernels.py).
 *
 * Each call is two bits, sample s at bit 2 * (s % 32) of 64-bit word s / 32: 0 hom-ref, 1 het, 2 hom-var,
 * 3 missing; padding samples are 0. For row j (packed row rows[j]) and score k the plan gives a[j][k] (weight per
 * ALT allele) and c2[j][k] (twice the weight per called allele that does not depend on the genotype, which the
 * caller adds to every sample and this kernel takes back from missing calls). One pass per row: popcounts give
 * the row's ALT allele sum and missing count (the mean fill), then each non-hom-ref call adds val[code][k]
 * (a, 2a, fill - c2) to acc[s][k], walking the set calls of each non-zero word, and a missing call adds
 * member[j][k] to miss_ct[s][k].
 *
 * One call adds the rows it is given to the caller's accumulators; callers run one call per thread, each with
 * its own accumulators (ctypes releases the GIL).
 */
#include <stdint.h>
#include <stdlib.h>

#define M1 0x5555555555555555ULL /* the low bit of each 2-bit call */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PMO_CLONES __attribute__((target_clones("arch=x86-64-v3", "popcnt", "default")))
#else
#define PMO_CLONES
#endif

/* Add rows rows[0..nr) of packed (row v at packed + v * row_bytes; row_bytes a multiple of 8) to
 * acc [ns][nk] and miss_ct [ns][nk]; a, c2, member [nr][nk]. mean_fill: a missing call takes the row's mean
 * contribution (else nothing). Returns 0, or -1 when memory runs out. */
PMO_CLONES
int pmo_pgs_score_rows(const uint8_t *packed, int64_t row_bytes, const int64_t *rows, int64_t nr, int64_t ns,
                       const double *a, const double *c2, const int64_t *member, int64_t nk, int32_t mean_fill,
                       double *acc, int64_t *miss_ct) {
    int64_t nw = row_bytes / 8;
    double *val = malloc(sizeof(double) * 4 * (size_t)nk);
    if (val == NULL) return -1;
    for (int64_t j = 0; j < nr; j++) {
        const uint64_t *w = (const uint64_t *)(packed + rows[j] * row_bytes);
        int64_t het = 0, hv = 0, nm = 0;
        for (int64_t q = 0; q < nw; q++) {
            uint64_t x = w[q], lo = x & M1, hi = (x >> 1) & M1;
            het += __builtin_popcountll(lo & ~hi);
            hv += __builtin_popcountll(hi & ~lo);
            nm += __builtin_popcountll(lo & hi);
        }
        int64_t called = ns - nm;
        double mean = called > 0 ? (double)(het + 2 * hv) / (double)called : 0.0;
        const double *aj = a + j * nk, *cj = c2 + j * nk;
        const int64_t *mj = member + j * nk;
        for (int64_t k = 0; k < nk; k++) {
            val[k] = 0.0;
            val[nk + k] = aj[k];
            val[2 * nk + k] = 2.0 * aj[k];
            val[3 * nk + k] = (mean_fill ? aj[k] * mean + cj[k] : 0.0) - cj[k];
        }
        if (nk == 1) {
            double v[4] = {0.0, val[1], val[2], val[3]};
            for (int64_t q = 0; q < nw; q++) {
                uint64_t x = w[q];
                uint64_t set = (x | (x >> 1)) & M1;
                while (set) {
                    int t = __builtin_ctzll(set);
                    int64_t s = 32 * q + t / 2;
                    unsigned code = (unsigned)(x >> t) & 3u;
                    acc[s] += v[code];
                    if (code == 3) miss_ct[s] += mj[0];
                    set &= set - 1;
                }
            }
            continue;
        }
        for (int64_t q = 0; q < nw; q++) {
            uint64_t x = w[q];
            uint64_t set = (x | (x >> 1)) & M1;
            while (set) {
                int t = __builtin_ctzll(set);
                int64_t s = 32 * q + t / 2;
                unsigned code = (unsigned)(x >> t) & 3u;
                const double *vc = val + code * nk;
                double *as = acc + s * nk;
                for (int64_t k = 0; k < nk; k++) as[k] += vc[k];
                if (code == 3) {
                    int64_t *ms = miss_ct + s * nk;
                    for (int64_t k = 0; k < nk; k++) ms[k] += mj[k];
                }
                set &= set - 1;
            }
        }
    }
    free(val);
    return 0;
}
