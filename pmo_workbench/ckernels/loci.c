/* "contig:position" strings of variants, written straight into Arrow's offsets and data buffers. */
#include <stdint.h>
#include <string.h>

/* Write names[code]:position of variants [0, n) into data [datalen bytes]; offsets[i + 1] gets the end of
 * variant i (offsets[0] is the caller's). Contig code c names bytes name_ends[c] .. name_ends[c + 1] of names.
 * Returns the bytes written, -1 for a code outside [0, n_names), -2 when data is too small. */
int64_t pmo_format_loci(const int64_t *codes, const int64_t *position, int64_t n, const uint8_t *names,
                        const int64_t *name_ends, int64_t n_names, int64_t *offsets, uint8_t *data,
                        int64_t datalen) {
    int64_t k = offsets[0];
    char digits[24];
    for (int64_t i = 0; i < n; i++) {
        int64_t c = codes[i];
        if (c < 0 || c >= n_names) return -1;
        int64_t len = name_ends[c + 1] - name_ends[c];
        if (k + len + 22 > datalen) return -2;
        memcpy(data + k, names + name_ends[c], (size_t)len);
        k += len;
        data[k++] = ':';
        int64_t p = position[i];
        uint64_t u = p < 0 ? (uint64_t)0 - (uint64_t)p : (uint64_t)p;
        if (p < 0) data[k++] = '-';
        int nd = 0;
        do {
            digits[nd++] = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        while (nd > 0) data[k++] = (uint8_t)digits[--nd];
        offsets[i + 1] = k;
    }
    return k;
}

/* The alleles of variants [0, n) as a list of strings per variant: the text "REF,ALT" (just "REF" when ALT is
 * empty) split at commas. REF of variant i is ref[ref_off[i] .. ref_off[i + 1]), ALT likewise. Variant i gets
 * values lists[i] .. lists[i + 1] (lists[0] = 0); value j is data[values[j] .. values[j + 1]) (values[0] = 0).
 * values holds room for max_values + 1 offsets, data for the bytes of REF and ALT. Returns the number of values,
 * or -1 when there would be more than max_values. */
/* Append the comma-separated values of text [len bytes] to data (from *k) as values (from *m): each comma ends a
 * value. Returns -1 when a value would be the one past max_values - reserve (the caller's end of the variant
 * takes `reserve` more), else 0. */
static inline int split_commas(const uint8_t *text, int64_t len, uint8_t *data, int64_t *k, int64_t *values,
                               int64_t *m, int64_t max_values, int64_t reserve) {
    for (int64_t p = 0; p < len; p++) {
        if (text[p] == ',') {
            values[++*m] = *k;
            if (*m + reserve > max_values) return -1;
        } else {
            data[(*k)++] = text[p];
        }
    }
    return 0;
}

int64_t pmo_split_alleles(const uint8_t *ref, const int64_t *ref_off, const uint8_t *alt, const int64_t *alt_off,
                          int64_t n, int64_t *lists, int64_t *values, int64_t max_values, uint8_t *data) {
    int64_t k = 0, m = 0;
    lists[0] = 0;
    values[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t rl = ref_off[i + 1] - ref_off[i], al = alt_off[i + 1] - alt_off[i];
        if (m + 2 > max_values) return -1;
        /* REF (a comma in it splits it, as the text would be), then ALT when there is one */
        if (split_commas(ref + ref_off[i], rl, data, &k, values, &m, max_values, 2) != 0) return -1;
        values[++m] = k;
        if (al > 0) {
            if (split_commas(alt + alt_off[i], al, data, &k, values, &m, max_values, 1) != 0) return -1;
            values[++m] = k;
        }
        lists[i + 1] = m;
    }
    return m;
}
