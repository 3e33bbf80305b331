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

/* The diploid tally of one called genotype (ploidy alleles, all equal to its first a0 when hom): a het, a 0/0 or
 * a 1/1 adds to *het, *hr or *hv; other ploidies and homozygotes of a higher allele add nothing. Shared by the
 * dense and the sparse row kernels, which must count alike. */
static inline void tally_diploid(int ploidy, int hom, int8_t a0, int64_t *het, int64_t *hr, int64_t *hv) {
    if (ploidy != 2) return;
    if (!hom)
        (*het)++;
    else if (a0 == 0)
        (*hr)++;
    else if (a0 == 1)
        (*hv)++;
}

/* Add row j's sums (kept in registers while its calls were walked) to the per-row outputs. */
static inline void add_row_sums(int64_t j, int64_t called, int64_t het, int64_t hr, int64_t hv, int64_t *n_called,
                                int64_t *n_het, int64_t *hom_ref, int64_t *hom_var) {
    n_called[j] += called;
    n_het[j] += het;
    hom_ref[j] += hr;
    hom_var[j] += hv;
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
            tally_diploid(ploidy, hom, a0, &het, &hr, &hv);
        }
        add_row_sums(j, called, het, hr, hv, n_called, n_het, hom_ref, hom_var);
    }
}

/* What one listed (not all-reference) call of a sparse row changes: d [N_SAMPLE], the deltas of its sample's
 * counters from the all-reference call counted up front; *called, *het, *hr, *hv, the row's. col [a] is the
 * sample counter of ALT allele a (1 .. max_a; -1 none); single: whether a copy of allele a is a singleton. */
static inline void sparse_call(const int8_t *call, int64_t pl, const int *col, int64_t max_a, int any_single,
                               const int32_t *acj, int64_t width, int64_t n_allele, int64_t *d, int64_t *called,
                               int64_t *het, int64_t *hr, int64_t *hv) {
    int8_t a0 = call[0];
    if (a0 == -1) { /* not the all-reference call counted up front */
        d[S_NOT_CALLED] += 1;
        d[S_CALLED] -= 1;
        d[S_HOM_REF] -= 1;
        return;
    }
    (*called)++;
    int ploidy = 0, hom = 1, allref = 1;
    for (int64_t k = 0; k < pl; k++) {
        int8_t a = call[k];
        if (a == -2) break;
        ploidy++;
        hom &= a == a0;
        if (a > 0) {
            allref = 0;
            int c = a <= max_a ? col[a] : -1;
            if (c >= 0) d[c] += 1;
            if (any_single && a < width && a < n_allele && acj[a] == 1) d[S_SINGLETON] += 1;
        }
    }
    if (!allref) {
        d[S_HOM_REF] -= 1;
        if (!hom) d[S_HET] += 1;
    }
    tally_diploid(ploidy, hom, a0, het, hr, hv);
}

/* Diploid calls of alleles -2 .. 14 as one code of 17 x 17: the effect of each code on its sample and row is
 * worked out once per row (sparse_call), then added per call without branches. */
enum { CODE_BASE = 17, N_CODES = 17 * 17, MAX_TABLE_ALLELE = 14 };
typedef struct {
    int64_t d[N_SAMPLE]; /* as wide as the counters: their sum is a few vector additions */
    int64_t called, het, hr, hv;
} call_effect;

/* Rows [0, n_rows) of sparse calls (the side file of genotypes/unpacked_calls.py): row j lists its calls that
 * are not all-reference, entries ends[j - 1] .. ends[j] (ends[-1] = 0): the sample samples[e] (uint16 when
 * sample_bytes is 2, else uint32) and its call calls[e][pl]; every other sample's call is pl zeros. Same
 * counts, by the same rules, as pmo_gt_general_rows of the dense rows (the all-reference calls are added to
 * every sample up front and taken back for the listed ones); n_alleles [n_rows] and atype [n_rows][aw] are the
 * rows' own. Returns 0, or -1 for a sample index >= ns or entries out of order (a corrupt input). */
int pmo_gt_sparse_rows(const int64_t *ends, const void *samples, int64_t sample_bytes, const int8_t *calls,
                       int64_t pl, int64_t ns, int64_t n_rows, const int64_t *n_alleles, const int8_t *atype,
                       int64_t aw, int32_t *ac, int64_t width, int64_t *n_called, int64_t *n_het, int64_t *hom_ref,
                       int64_t *hom_var, int64_t *sample) {
    const uint16_t *s16 = (const uint16_t *)samples;
    const uint32_t *s32 = (const uint32_t *)samples;
    for (int64_t s = 0; s < ns; s++) {
        sample[s * N_SAMPLE + S_CALLED] += n_rows;
        sample[s * N_SAMPLE + S_HOM_REF] += n_rows;
    }
    call_effect table[N_CODES];
    uint8_t known[N_CODES];
    int32_t hist[2][N_CODES]; /* two histograms, alternate calls: no chain of increments of one counter */
    int16_t used[N_CODES];
    int64_t e0 = 0;
    for (int64_t j = 0; j < n_rows; j++) {
        int64_t e1 = ends[j];
        if (e1 < e0 || e1 - e0 > ns) return -1;
        int64_t implicit = ns - (e1 - e0);
        int32_t *acj = ac + j * width;
        acj[0] += (int32_t)(implicit * pl);
        /* diploid calls of alleles -2 .. 14 (nearly all): counted by their code, each code's effect worked out once */
        int table_ok = pl == 2;
        int64_t n_used = 0;
        if (table_ok) {
            memset(known, 0, sizeof known);
            for (int64_t e = e0; e < e1; e++) {
                int8_t a0 = calls[2 * e], a1 = calls[2 * e + 1];
                if (a0 < -2 || a0 > MAX_TABLE_ALLELE || a1 < -2 || a1 > MAX_TABLE_ALLELE) {
                    table_ok = 0;
                    break;
                }
                int code = (a0 + 2) * CODE_BASE + a1 + 2;
                if (!known[code]) {
                    known[code] = 1;
                    used[n_used++] = (int16_t)code;
                    hist[0][code] = hist[1][code] = 0;
                }
                hist[e & 1][code]++;
            }
        }
        if (table_ok) { /* allele counts from the codes' counts (a call's alleles up to its first below 0) */
            for (int64_t u = 0; u < n_used; u++) {
                int code = used[u], a0 = code / CODE_BASE - 2, a1 = code % CODE_BASE - 2;
                int64_t m = (int64_t)hist[0][code] + hist[1][code];
                if (a0 < 0) continue;
                if (a0 < width) acj[a0] += (int32_t)m;
                if (a1 >= 0 && a1 < width) acj[a1] += (int32_t)m;
            }
        } else {
            for (int64_t e = e0; e < e1; e++)
                for (int64_t k = 0; k < pl; k++) {
                    int8_t a = calls[e * pl + k];
                    if (a < 0) break;
                    if (a < width) acj[a] += 1;
                }
        }
        int64_t called = implicit, het = 0, hr = pl == 2 ? implicit : 0, hv = 0;
        /* per ALT allele a (1 .. aw): the sample counter its copies add to (-1: none), and whether the row has a
         * singleton at all */
        int col[128];
        int any_single = 0;
        for (int64_t a = 1; a <= aw && a < 128; a++) {
            int8_t t = atype[j * aw + a - 1];
            col[a] = t == T_TRANSITION ? S_TS : t == T_TRANSVERSION ? S_TV : t == T_INSERTION ? S_INS
                     : t == T_DELETION ? S_DEL : -1;
            if (a < width && a < n_alleles[j] && acj[a] == 1) any_single = 1;
        }
        int64_t max_a = aw < 127 ? aw : 127;
        if (table_ok) {
            for (int64_t u = 0; u < n_used; u++) {
                int code = used[u];
                int8_t call[2] = {(int8_t)(code / CODE_BASE - 2), (int8_t)(code % CODE_BASE - 2)};
                call_effect *t = &table[code];
                memset(t, 0, sizeof *t);
                sparse_call(call, 2, col, max_a, any_single, acj, width, n_alleles[j], t->d, &t->called, &t->het,
                            &t->hr, &t->hv);
                int64_t m = (int64_t)hist[0][code] + hist[1][code];
                called += m * t->called;
                het += m * t->het;
                hr += m * t->hr;
                hv += m * t->hv;
            }
            for (int64_t e = e0; e < e1; e++) {
                int64_t s = sample_bytes == 2 ? (int64_t)s16[e] : (int64_t)s32[e];
                if (s >= ns) return -1;
                int code = (calls[2 * e] + 2) * CODE_BASE + calls[2 * e + 1] + 2;
                int64_t *smp = sample + s * N_SAMPLE;
                const int64_t *d = table[code].d;
                for (int c = 0; c < N_SAMPLE; c++) smp[c] += d[c];
            }
        } else {
            for (int64_t e = e0; e < e1; e++) {
                int64_t s = sample_bytes == 2 ? (int64_t)s16[e] : (int64_t)s32[e];
                if (s >= ns) return -1;
                sparse_call(calls + e * pl, pl, col, max_a, any_single, acj, width, n_alleles[j],
                            sample + s * N_SAMPLE, &called, &het, &hr, &hv);
            }
        }
        add_row_sums(j, called, het, hr, hv, n_called, n_het, hom_ref, hom_var);
        e0 = e1;
    }
    return 0;
}

/* Allele types of ALT alleles (genotypes/alleles.py, Hail's numeric_allele_type), from REF and ALT strings. */
enum { A_UNKNOWN, A_TRANSITION, A_TRANSVERSION, A_MNP, A_INSERTION, A_DELETION, A_COMPLEX, A_STAR, A_SYMBOLIC };

static inline int is_base(uint8_t c) {
    return c == 'A' || c == 'C' || c == 'G' || c == 'T' || c == 'N' || c == 'M';
}

static inline int all_bases(const uint8_t *s, int64_t n) {
    if (n == 0) return 0;
    for (int64_t i = 0; i < n; i++)
        if (!is_base(s[i])) return 0;
    return 1;
}

static inline int snp_type(uint8_t r, uint8_t a) {
    int ts = (r == 'A' && a == 'G') || (r == 'G' && a == 'A') || (r == 'C' && a == 'T') || (r == 'T' && a == 'C');
    return ts ? A_TRANSITION : A_TRANSVERSION;
}

/* Type of ALT allele alt [al bytes] against ref [rl bytes]; ref_bases: whether REF is all ACGTNM. */
static int classify_one(const uint8_t *ref, int64_t rl, int ref_bases, const uint8_t *alt, int64_t al) {
    if (!ref_bases) return A_UNKNOWN;
    if (all_bases(alt, al)) {
        if (rl == al) {
            int64_t diffs = 0, at = 0;
            for (int64_t i = 0; i < rl; i++)
                if (ref[i] != alt[i]) {
                    if (diffs == 0) at = i;
                    diffs++;
                }
            if (rl == 1) return diffs == 0 ? A_UNKNOWN : snp_type(ref[0], alt[0]);
            if (diffs == 1) return snp_type(ref[at], alt[at]);
            return A_MNP;
        }
        /* alt ends with ref[1:] (insertion) / ref ends with alt[1:] (deletion) */
        if (rl < al && ref[0] == alt[0] && memcmp(alt + al - (rl - 1), ref + 1, (size_t)(rl - 1)) == 0)
            return A_INSERTION;
        if (ref[0] == alt[0] && al - 1 <= rl && memcmp(ref + rl - (al - 1), alt + 1, (size_t)(al - 1)) == 0)
            return A_DELETION;
        return A_COMPLEX;
    }
    if (al == 1 && alt[0] == '*') return A_STAR;
    if (al > 0 && (alt[0] == '.' || alt[al - 1] == '.' || alt[0] == '<' || alt[al - 1] == '>')) return A_SYMBOLIC;
    for (int64_t i = 0; i < al; i++)
        if (alt[i] == '[' || alt[i] == ']') return A_SYMBOLIC;
    return A_UNKNOWN;
}

/* out [n][width] (filled with -1 by the caller): the type of each comma-separated ALT allele k < width of
 * variants i with n_alleles[i] > 1; REF of variant i is ref[ref_off[i] .. ref_off[i + 1]), ALT likewise. */
void pmo_classify_alleles(const uint8_t *ref, const int64_t *ref_off, const uint8_t *alt, const int64_t *alt_off,
                          const int64_t *n_alleles, int64_t n, int8_t *out, int64_t width) {
    for (int64_t i = 0; i < n; i++) {
        if (n_alleles[i] <= 1) continue;
        const uint8_t *r = ref + ref_off[i], *a = alt + alt_off[i];
        int64_t rl = ref_off[i + 1] - ref_off[i], al = alt_off[i + 1] - alt_off[i];
        int8_t *o = out + i * width;
        if (rl == 1 && al == 1) { /* nearly every site: one base each */
            o[0] = (int8_t)(!is_base(r[0]) ? A_UNKNOWN
                            : is_base(a[0]) ? (r[0] == a[0] ? A_UNKNOWN : snp_type(r[0], a[0]))
                            : a[0] == '*'   ? A_STAR
                            : (a[0] == '.' || a[0] == '<' || a[0] == '>' || a[0] == '[' || a[0] == ']') ? A_SYMBOLIC
                                                                                                         : A_UNKNOWN);
            continue;
        }
        int rb = all_bases(r, rl);
        int64_t k = 0, start = 0;
        for (int64_t p = 0; p <= al && k < width; p++) {
            if (p == al || a[p] == ',') {
                o[k++] = (int8_t)classify_one(r, rl, rb, a + start, p - start);
                start = p + 1;
            }
        }
    }
}

/* The allele-count columns of variant_qc: for variants [0, n) of ac [n][width] (int32), an[i] = the sum of row i
 * and its first n_alleles[i] counts in flat_ac, and AC / AN (as doubles, NaN for 0 / 0, as numpy divides) in
 * flat_af, from offsets[i] on (offsets [n + 1], offsets[0] = 0); one pass, no temporaries. flat_ac and flat_af
 * hold the sum of n_alleles. Returns the number of values, or -1 for an n_alleles outside [0, width] or more
 * than 2^31 - 1 values. */
int64_t pmo_allele_lists(const int32_t *ac, int64_t width, const int64_t *n_alleles, int64_t n, int32_t *an,
                         int32_t *offsets, int32_t *flat_ac, double *flat_af) {
    int64_t k = 0;
    offsets[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        const int32_t *row = ac + i * width;
        int64_t m = n_alleles[i];
        if (m < 0 || m > width || k + m > INT32_MAX) return -1;
        uint32_t sum = 0; /* wraps as numpy's int32 sum does */
        for (int64_t a = 0; a < width; a++) sum += (uint32_t)row[a];
        an[i] = (int32_t)sum;
        double total = (double)(int32_t)sum;
        for (int64_t a = 0; a < m; a++) {
            flat_ac[k + a] = row[a];
            flat_af[k + a] = (double)row[a] / total;
        }
        k += m;
        offsets[i + 1] = (int32_t)k;
    }
    return k;
}
