/* Call counts of call_genotype rows that are not in the 2-bit copy (genotypes/call_counts.py): the rows of
 * table-classified diploid calls (haploid and half calls of biallelic sites) and the general rows (any ploidy,
 * any number of alleles, Hail's rules). Ports of that module's former numba kernels, same arithmetic. */
#include <stdint.h>
#include <string.h>

enum { S_CALLED, S_NOT_CALLED, S_HOM_REF, S_HET, S_SINGLETON, S_TS, S_TV, S_INS, S_DEL, N_SAMPLE };
enum { T_TRANSITION = 1, T_TRANSVERSION = 2, T_INSERTION = 4, T_DELETION = 5 };
enum { C_HOM_REF, C_HET, C_HOM_VAR, C_HAP_REF, C_HAP_ALT, C_MISSING, C_OTHER, N_CLASS = 6, N_SLOTS = 7 };

/* Rows rows[0, n_rows) of codes [rows][ns] (the uint16 view of diploid calls), classified by lut [65536]:
 * hist [n_rows][6] per row; per-sample counters scounts [ns][n_types * 7] (slot atype[row] * 7 + class);
 * a row with a call of class "other" is undone and flagged; a row with one ALT allele gives its carrier a
 * singleton. */
void pmo_gt_fast_rows(const uint16_t *codes, int64_t ns, const int64_t *rows, int64_t n_rows, const int64_t *atype,
                      const int8_t *lut, int64_t *hist, uint8_t *flagged, int32_t *scounts, int64_t n_cols,
                      int64_t *singles) {
    for (int64_t j = 0; j < n_rows; j++) {
        int64_t v = rows[j], h[8] = {0};
        int64_t base = atype[v] * N_SLOTS;
        const uint16_t *row = codes + v * ns;
        for (int64_t s = 0; s < ns; s++) {
            int c = lut[row[s]];
            h[c] += 1;
            scounts[s * n_cols + base + c] += 1;
        }
        for (int c = 0; c < N_CLASS; c++) hist[j * N_CLASS + c] = h[c];
        if (h[C_OTHER] > 0) {
            flagged[j] = 1;
            for (int64_t s = 0; s < ns; s++) scounts[s * n_cols + base + lut[row[s]]] -= 1;
            continue;
        }
        if (h[C_HET] + 2 * h[C_HOM_VAR] + h[C_HAP_ALT] == 1) {
            for (int64_t s = 0; s < ns; s++) {
                int c = lut[row[s]];
                if (c == C_HET || c == C_HAP_ALT) {
                    singles[s] += 1;
                    break;
                }
            }
        }
    }
}

/* Rows rows[0, n_rows) of gt [rows][ns][pl]: allele counts ac [n_rows][width], per row n_called, n_het,
 * hom_ref, hom_var [n_rows], and per-sample counters sample [ns][9]; atype [rows][aw] is the type of each
 * ALT allele. */
void pmo_gt_general_rows(const int8_t *gt, int64_t ns, int64_t pl, const int64_t *rows, int64_t n_rows,
                         const int64_t *n_alleles, const int8_t *atype, int64_t aw, int32_t *ac, int64_t width,
                         int64_t *n_called, int64_t *n_het, int64_t *hom_ref, int64_t *hom_var, int64_t *sample) {
    for (int64_t j = 0; j < n_rows; j++) {
        int64_t v = rows[j];
        const int8_t *row = gt + v * ns * pl;
        int32_t *acj = ac + j * width;
        for (int64_t s = 0; s < ns; s++)
            for (int64_t k = 0; k < pl; k++) {
                int8_t a = row[s * pl + k];
                if (a < 0) break;
                acj[a] += 1;
            }
        /* the row's counters in registers (the output arrays may alias as far as the compiler knows) */
        int64_t called = 0, het = 0, hr = 0, hv = 0;
        for (int64_t s = 0; s < ns; s++) {
            const int8_t *call = row + s * pl;
            int64_t *smp = sample + s * N_SAMPLE;
            int8_t a0 = call[0];
            if (a0 == -1) {
                smp[S_NOT_CALLED] += 1;
                continue;
            }
            if (pl == 2 && a0 == 0 && call[1] == 0) { /* diploid 0/0, most calls: as the general case below */
                smp[S_CALLED] += 1;
                smp[S_HOM_REF] += 1;
                called++;
                hr++;
                continue;
            }
            smp[S_CALLED] += 1;
            called++;
            int ploidy = 0, hom = 1, allref = 1;
            for (int64_t k = 0; k < pl; k++) {
                int8_t a = call[k];
                if (a == -2) break;
                ploidy++;
                if (a != a0) hom = 0;
                if (a > 0) {
                    allref = 0;
                    int8_t t = atype[v * aw + a - 1];
                    if (t == T_TRANSITION)
                        smp[S_TS] += 1;
                    else if (t == T_TRANSVERSION)
                        smp[S_TV] += 1;
                    else if (t == T_INSERTION)
                        smp[S_INS] += 1;
                    else if (t == T_DELETION)
                        smp[S_DEL] += 1;
                    if (a < width && a < n_alleles[v] && acj[a] == 1) smp[S_SINGLETON] += 1;
                }
            }
            if (allref)
                smp[S_HOM_REF] += 1;
            else if (!hom)
                smp[S_HET] += 1;
            if (ploidy == 2) {
                if (!hom)
                    het++;
                else if (a0 == 0)
                    hr++;
                else if (a0 == 1)
                    hv++;
            }
        }
        n_called[j] += called;
        n_het[j] += het;
        hom_ref[j] += hr;
        hom_var[j] += hv;
    }
}
