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
