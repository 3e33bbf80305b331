/* Exact Hardy-Weinberg test with mid-p correction (Wigginton et al. 2005; Graffelman & Moreno 2013).
 * See qc/hwe.py for the definition. The sums start at the mode of the Levene-Haldane distribution of the het
 * count and run outward; each side stops once the rest of it is below EPS of the observed count's probability
 * (as plink2 does), so a site costs O(standard deviations of the het count) rather than O(minor allele count).
 * Compiled without floating-point contraction: every operation is rounded as written.
 */
#include <math.h>
#include <stdint.h>

#define TIE (1.0 + 1e-7) /* probabilities within this factor of the observed one count as ties (half) */
#define EPS 1e-17        /* relative size of a side's neglected rest */

/* Two-sided mid-p (*two) and one-sided excess-het mid-p (*excess) of one site; NaN without calls.
 *
 * Probabilities are relative to the mode's (no underflow near the mode). The distribution is log-concave:
 * away from the mode each step's ratio r is below 1 and falls, so once a term t has t r / (1 - r) below
 * EPS * P(observed) the rest of that side, all less likely than the observed count, changes none of the three
 * sums (total, two-sided, upper tail) by more than EPS relative. */
static void hwe_midp(int64_t n_hom_ref, int64_t n_het, int64_t n_hom_var, double *out_two, double *out_excess) {
    int64_t n = n_hom_ref + n_het + n_hom_var;
    if (n == 0) {
        *out_two = NAN;
        *out_excess = NAN;
        return;
    }
    int64_t n_ref = 2 * n_hom_ref + n_het, n_var = 2 * n_hom_var + n_het;
    int64_t rare = n_ref < n_var ? n_ref : n_var; /* het counts have the parity of rare */
    int64_t mid = (rare * (2 * n - rare)) / (2 * n);
    if ((mid % 2) != (rare % 2)) mid += 1;
    /* the observed count's probability relative to mid's */
    double p_obs = 1.0;
    int64_t hi = mid;
    while (hi > n_het && p_obs > 0.0) { /* P(het = h - 2) / P(het = h) */
        int64_t hom_r = (rare - hi) / 2, hom_c = n - hi - hom_r;
        p_obs *= (double)hi * ((double)hi - 1.0) / (4.0 * ((double)hom_r + 1.0) * ((double)hom_c + 1.0));
        hi -= 2;
    }
    while (hi < n_het && p_obs > 0.0) { /* P(het = h + 2) / P(het = h) */
        int64_t hom_r = (rare - hi) / 2, hom_c = n - hi - hom_r;
        p_obs *= 4.0 * (double)hom_r * (double)hom_c / (((double)hi + 2.0) * ((double)hi + 1.0));
        hi += 2;
    }
    double hi_obs = p_obs * TIE, stop = EPS * p_obs;
    double total = 1.0;
    double two = TIE < p_obs ? 1.0 : (1.0 <= hi_obs ? 0.5 : 0.0); /* ties (within 1e-7) count half */
    double upper = mid > n_het ? 1.0 : 0.0;
    /* down from the mode: het counts h < mid (hom counts as floats, updated as h moves) */
    double t = 1.0, h = (double)mid;
    double hom_r = (double)((rare - mid) / 2), hom_c = (double)(n - mid - (rare - mid) / 2);
    while (h >= 2.0) {
        hom_r += 1.0;
        hom_c += 1.0;
        double r = h * (h - 1.0) / (4.0 * hom_r * hom_c);
        h -= 2.0;
        t *= r;
        total += t;
        if (t * TIE < p_obs)
            two += t;
        else if (t <= hi_obs)
            two += 0.5 * t;
        if (h > (double)n_het) upper += t;
        if (t == 0.0 || (r < 1.0 && t * r < stop * (1.0 - r))) break;
    }
    /* up from the mode */
    t = 1.0;
    h = (double)mid;
    hom_r = (double)((rare - mid) / 2);
    hom_c = (double)(n - mid - (rare - mid) / 2);
    while (hom_r >= 1.0) {
        double r = 4.0 * hom_r * hom_c / ((h + 2.0) * (h + 1.0));
        hom_r -= 1.0;
        hom_c -= 1.0;
        h += 2.0;
        t *= r;
        total += t;
        if (t * TIE < p_obs)
            two += t;
        else if (t <= hi_obs)
            two += 0.5 * t;
        if (h > (double)n_het) upper += t;
        if (t == 0.0 || (r < 1.0 && t * r < stop * (1.0 - r))) break;
    }
    double p = two / total;
    *out_two = p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
    double e = (upper + 0.5 * p_obs) / total;
    *out_excess = e > 1.0 ? 1.0 : e;
}

/* hwe_midp for sites [0, n); a negative hom-ref count marks a site to skip (NaN), e.g. a multi-allelic one. */
void pmo_hwe_midp(const int64_t *hom_ref, const int64_t *het, const int64_t *hom_var, int64_t n, double *two,
                  double *excess) {
    for (int64_t i = 0; i < n; i++) {
        if (hom_ref[i] < 0) {
            two[i] = NAN;
            excess[i] = NAN;
        } else {
            hwe_midp(hom_ref[i], het[i], hom_var[i], two + i, excess + i);
        }
    }
}
