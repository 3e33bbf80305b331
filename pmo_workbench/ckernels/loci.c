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
