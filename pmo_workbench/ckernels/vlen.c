/* Copy the items of a numcodecs VLenUTF8 buffer (uint32 LE item count, then per item a uint32 LE byte length
 * and the bytes) into one Arrow-style string buffer. */
#include <stdint.h>
#include <string.h>

/* Copy the first n items of buf [buflen bytes] into data [datalen bytes] from byte base; offsets[i + 1] gets
 * item i's end. Returns the end of the last item, or -1 when buf is shorter than its lengths say (or data too
 * small): a corrupt chunk is reported, never read past. */
int64_t pmo_unpack_vlen(const uint8_t *buf, int64_t buflen, int64_t n, int64_t *offsets, uint8_t *data,
                        int64_t datalen, int64_t base) {
    int64_t pos = 4, k = base;
    for (int64_t i = 0; i < n; i++) {
        if (pos + 4 > buflen) return -1;
        int64_t len = (int64_t)buf[pos] | ((int64_t)buf[pos + 1] << 8) | ((int64_t)buf[pos + 2] << 16) |
                      ((int64_t)buf[pos + 3] << 24);
        pos += 4;
        if (len > buflen - pos || len > datalen - k) return -1;
        memcpy(data + k, buf + pos, (size_t)len);
        pos += len;
        k += len;
        offsets[i + 1] = k;
    }
    return k;
}

/* Item i of a string column: bytes start[i * stride] .. + len[i * stride] of data. */

/* Encode items [0, n) as a numcodecs VLenUTF8 buffer of n_items items (those past n are empty, as zarr pads
 * an edge chunk); with dot_empty a "." is written as an empty string. Returns the bytes written, or -1 when out
 * [cap bytes] is too small. */
int64_t pmo_pack_vlen(const uint8_t *data, const int64_t *start, const int32_t *len, int64_t stride, int64_t n,
                      int64_t n_items, int32_t dot_empty, uint8_t *out, int64_t cap) {
    int64_t k = 4;
    if (cap < 4 + 4 * n_items) return -1;
    uint32_t m = (uint32_t)n_items;
    memcpy(out, &m, 4);
    for (int64_t i = 0; i < n_items; i++) {
        int64_t a = 0, l = 0;
        if (i < n) {
            a = start[i * stride];
            l = len[i * stride];
            if (dot_empty && l == 1 && data[a] == '.') l = 0;
        }
        if (k + 4 + l > cap) return -1;
        uint32_t l32 = (uint32_t)l;
        memcpy(out + k, &l32, 4);
        memcpy(out + k + 4, data + a, (size_t)l);
        k += 4 + l;
    }
    return k;
}

/* Indices i of items that differ from item i - 1 (item 0 always): the starts of runs of equal strings.
 * Returns their number. */
int64_t pmo_string_runs(const uint8_t *data, const int64_t *start, const int32_t *len, int64_t stride, int64_t n,
                        int64_t *runs) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i > 0) {
            int64_t a = start[i * stride], b = start[(i - 1) * stride];
            int32_t l = len[i * stride];
            if (l == len[(i - 1) * stride] && memcmp(data + a, data + b, (size_t)l) == 0) continue;
        }
        runs[m++] = i;
    }
    return m;
}
