/* VCF record lines -> arrays (see vcf.h for the API and the codes).
 *
 * Per block: the lines are found with memchr; each line's fixed columns are located and checked (POS, REF,
 * allele count, INFO and FORMAT keys against the header's); then the sample columns are decoded. A record
 * whose FORMAT is just GT takes a vector path that checks and decodes runs of 16 three-byte calls ("a/b", "a|b",
 * "./.") at a time and packs them into the 2-bit copy as it goes, decoding a haploid or '.' call on its own
 * between runs; any other record (other FORMAT fields, half calls, multi-digit alleles, polyploid stores,
 * anything malformed) takes the general path, which reads field by field (the common GT forms in one step) and
 * finds the error to report. Both paths give the same arrays.
 */
#include <stdlib.h>
#include <string.h>

#include "vcf.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define N_FIXED 9 /* CHROM POS ID REF ALT QUAL FILTER INFO FORMAT */

uint64_t pmo_hash_key(const uint8_t *key, int64_t len) {
    uint64_t h = 14695981039346656037ULL;
    for (int64_t k = 0; k < len; k++) h = (h ^ key[k]) * 1099511628211ULL;
    return h;
}

int64_t pmo_packed_row_bytes(int64_t n_samples) {
    int64_t words = (n_samples + 31) / 32;
    return (words < 1 ? 1 : words) * 8;
}

static int contains(const uint64_t *sorted, int64_t n, uint64_t h) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (sorted[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && sorted[lo] == h;
}

static inline void note(pmo_vcf_out *out, int slot, int64_t rec, int64_t a, int64_t b) {
    int64_t *w = out->warn[slot];
    if (w[0] == 0) {
        w[1] = rec;
        w[2] = a;
        w[3] = b;
    }
    w[0] += 1;
}

static inline void fail(pmo_vcf_out *out, int64_t code, int64_t rec, int64_t sample, int64_t aux, int64_t off) {
    out->err[0] = code;
    out->err[1] = rec;
    out->err[2] = sample;
    out->err[3] = aux;
    out->err[4] = off;
}

/* Per-record scratch of the fixed-column scan. */
typedef struct {
    int64_t start, end, sample_start;
    int64_t span[N_FIXED][2];
    int32_t fmt[4]; /* index of GT, DP, GQ, AD in FORMAT (-1 absent) */
} record;

/* Locate the fixed columns of one line; parse POS, count alleles, find GT/DP/GQ/AD; check REF, INFO and
 * FORMAT keys. Returns 0, or 1 after recording an error. */
static int scan_fixed(const uint8_t *buf, record *r, int64_t i, const pmo_vcf_spec *spec, pmo_vcf_out *out) {
    int64_t p = r->start, end = r->end, col = 0;
    r->span[0][0] = p;
    r->sample_start = end;
    for (int64_t q = p; q < end && col < N_FIXED; q++) {
        if (buf[q] == '\t') {
            r->span[col][1] = q;
            col++;
            if (col < N_FIXED)
                r->span[col][0] = q + 1;
            else
                r->sample_start = q + 1;
        }
    }
    if (col < N_FIXED) {
        r->span[col][1] = end;
        int64_t ncols = col + 1;
        for (int64_t c = ncols; c < N_FIXED; c++) r->span[c][0] = r->span[c][1] = end;
        if (ncols < 8) {
            fail(out, PMO_ERR_FEW_COLUMNS, i, 0, ncols, p);
            return 1;
        }
        if (spec->n_samples > 0) {
            fail(out, ncols == 8 ? PMO_ERR_NO_FORMAT : PMO_ERR_SAMPLE_COLUMNS, i, 0, 0, p);
            return 1;
        }
    }
    /* POS */
    int64_t a = r->span[1][0], b = r->span[1][1];
    if (a == b) {
        fail(out, PMO_ERR_POS, i, 0, 0, a);
        return 1;
    }
    int64_t v = 0;
    for (int64_t k = a; k < b; k++) {
        uint8_t c = buf[k];
        if (c < '0' || c > '9' || k - a > 18) {
            fail(out, PMO_ERR_POS, i, 0, 0, a);
            return 1;
        }
        v = v * 10 + (c - '0');
    }
    out->pos[i] = v;
    if (v == 0)
        note(out, PMO_W_POS_ZERO, i, a, b);
    else if (v > 2147483647)
        note(out, PMO_W_POS_BIG, i, a, b);
    /* REF */
    a = r->span[3][0];
    b = r->span[3][1];
    int bad = a == b;
    for (int64_t k = a; k < b; k++) {
        uint8_t c = buf[k] | 32;
        if (c != 'a' && c != 'c' && c != 'g' && c != 't' && c != 'n') bad = 1;
    }
    if (bad) note(out, PMO_W_REF, i, a, b);
    /* ALT -> number of alleles */
    a = r->span[4][0];
    b = r->span[4][1];
    if (b - a == 1 && buf[a] == '.') {
        out->n_alleles[i] = 1;
    } else {
        int32_t cnt = 2;
        for (int64_t k = a; k < b; k++) cnt += buf[k] == ',';
        out->n_alleles[i] = cnt;
    }
    /* INFO keys */
    if (spec->n_info_keys > 0) {
        a = r->span[7][0];
        b = r->span[7][1];
        if (!(b - a == 1 && buf[a] == '.')) {
            int64_t k = a;
            while (k < b) {
                int64_t ks = k;
                while (k < b && buf[k] != '=' && buf[k] != ';') k++;
                if (k > ks && !contains(spec->info_keys, spec->n_info_keys, pmo_hash_key(buf + ks, k - ks)))
                    note(out, PMO_W_INFO_KEY, i, ks, k);
                while (k < b && buf[k] != ';') k++;
                k++;
            }
        }
    }
    /* FORMAT keys -> index of GT, DP, GQ, AD */
    for (int f = 0; f < 4; f++) r->fmt[f] = -1;
    a = r->span[8][0];
    b = r->span[8][1];
    int64_t k = a;
    int32_t idx = 0;
    while (k < b) {
        int64_t ks = k;
        while (k < b && buf[k] != ':') k++;
        if (k - ks == 2) {
            uint8_t c0 = buf[ks], c1 = buf[ks + 1];
            if (c0 == 'G' && c1 == 'T')
                r->fmt[0] = idx;
            else if (c0 == 'D' && c1 == 'P')
                r->fmt[1] = idx;
            else if (c0 == 'G' && c1 == 'Q')
                r->fmt[2] = idx;
            else if (c0 == 'A' && c1 == 'D')
                r->fmt[3] = idx;
        }
        if (spec->n_format_keys > 0 && k > ks && !(k - ks == 1 && buf[ks] == '.') &&
            !contains(spec->format_keys, spec->n_format_keys, pmo_hash_key(buf + ks, k - ks)))
            note(out, PMO_W_FORMAT_KEY, i, ks, k);
        idx++;
        k++;
    }
    return 0;
}

/* An integer at k up to ':', ',', '\t' or end: its value, or -1 (missing '.', empty, not a number -- with a
 * warning -- or negative -- with a warning unless -0). Values stop growing at 10 digits. */
static inline int64_t parse_int(const uint8_t *buf, int64_t *kp, int64_t end, pmo_vcf_out *out, int64_t rec) {
    int64_t k = *kp;
    /* the common case: up to 9 digits, then ':', ',', a tab or the end (one test per digit) */
    if (k < end) {
        unsigned d = (unsigned)buf[k] - '0';
        if (d < 10) {
            int64_t v = d, q = k + 1;
            while (q < end && (d = (unsigned)buf[q] - '0') < 10 && v < 100000000) {
                v = v * 10 + d;
                q++;
            }
            if (q >= end || buf[q] == ':' || buf[q] == ',' || buf[q] == '\t') {
                *kp = q;
                return v;
            }
        }
    }
    if (k >= end || buf[k] == ':' || buf[k] == '\t' || buf[k] == ',') return -1;
    if (buf[k] == '.') {
        *kp = k + 1;
        return -1;
    }
    int neg = 0;
    if (buf[k] == '-') {
        neg = 1;
        k++;
    }
    int64_t v = 0;
    int ok = k < end;
    while (k < end) {
        uint8_t c = buf[k];
        if (c == ':' || c == '\t' || c == ',') break;
        if (c < '0' || c > '9')
            ok = 0;
        else if (v < 1000000000)
            v = v * 10 + (c - '0');
        k++;
    }
    *kp = k;
    if (!ok) {
        note(out, PMO_W_BAD_NUMBER, rec, k, k);
        return -1;
    }
    if (neg) {
        if (v != 0) note(out, PMO_W_NEGATIVE, rec, k, k);
        return -1;
    }
    return v;
}

static inline int64_t skip_field(const uint8_t *buf, int64_t k, int64_t end) {
    while (k < end && buf[k] != ':' && buf[k] != '\t') k++;
    return k;
}

/* 2-bit code of a diploid call, -1 when it has none (packed_calls.py). */
static inline int call_code(int8_t a0, int8_t a1) {
    if ((a0 == 0 || a0 == 1) && (a1 == 0 || a1 == 1)) return a0 + a1;
    if (a0 == -1 && (a1 == -1 || a1 == -2)) return 3;
    return -1;
}

static void pack_row(const int8_t *gt, int64_t ns, int64_t ploidy, uint8_t *packed, int64_t row_bytes,
                     uint8_t *packable) {
    memset(packed, 0, (size_t)row_bytes);
    if (ns == 0) {
        *packable = 1;
        return;
    }
    if (ploidy != 2) {
        *packable = 0;
        return;
    }
    for (int64_t s = 0; s < ns; s++) {
        int c = call_code(gt[2 * s], gt[2 * s + 1]);
        if (c < 0) {
            memset(packed, 0, (size_t)row_bytes);
            *packable = 0;
            return;
        }
        packed[s >> 2] |= (uint8_t)(c << ((s & 3) * 2));
    }
    *packable = 1;
}

void pmo_pack_calls(const int8_t *gt, int64_t n, int64_t n_samples, int64_t ploidy, uint8_t *packed,
                    uint8_t *packable) {
    int64_t rb = pmo_packed_row_bytes(n_samples);
    for (int64_t i = 0; i < n; i++)
        pack_row(gt + i * n_samples * ploidy, n_samples, ploidy, packed + i * rb, rb, packable + i);
}

/* ALT allele counts (int8, -1 missing) and ploidy (2, or 0 when missing) of packed 2-bit rows [nr][row_bytes]
 * (genotypes/packed_calls.py): each packed byte gives four samples' bytes through a 256-entry table. */
void pmo_unpack_dosage(const uint8_t *packed, int64_t nr, int64_t row_bytes, int64_t ns, int8_t *dosage,
                       int8_t *ploidy) {
    static const int8_t dose[4] = {0, 1, 2, -1}, pl[4] = {2, 2, 2, 0};
    uint32_t dose4[256], pl4[256];
    for (int c = 0; c < 256; c++) {
        uint8_t dd[4], pp[4];
        for (int k = 0; k < 4; k++) {
            dd[k] = (uint8_t)dose[(c >> (2 * k)) & 3];
            pp[k] = (uint8_t)pl[(c >> (2 * k)) & 3];
        }
        memcpy(dose4 + c, dd, 4);
        memcpy(pl4 + c, pp, 4);
    }
    for (int64_t i = 0; i < nr; i++) {
        const uint8_t *row = packed + i * row_bytes;
        int8_t *d = dosage + i * ns, *p = ploidy + i * ns;
        int64_t s = 0;
        for (; s + 4 <= ns; s += 4) {
            memcpy(d + s, dose4 + row[s >> 2], 4);
            memcpy(p + s, pl4 + row[s >> 2], 4);
        }
        for (; s < ns; s++) {
            int c = (row[s >> 2] >> ((s & 3) * 2)) & 3;
            d[s] = dose[c];
            p[s] = pl[c];
        }
    }
}

/* Interleave the bits of two 16-bit masks: bit k of lo -> bit 2k, bit k of hi -> bit 2k + 1. */
static inline uint32_t interleave16(uint32_t lo, uint32_t hi) {
    uint32_t x[2] = {lo, hi};
    for (int j = 0; j < 2; j++) {
        uint32_t v = x[j];
        v = (v | (v << 8)) & 0x00FF00FFu;
        v = (v | (v << 4)) & 0x0F0F0F0Fu;
        v = (v | (v << 2)) & 0x33333333u;
        v = (v | (v << 1)) & 0x55555555u;
        x[j] = v;
    }
    return x[0] | (x[1] << 1);
}

/* GT of a diploid store in its common forms -- "a/b" or "a|b" with one-digit alleles below na or both '.',
 * and the haploid "a" or "." -- followed by ':', a tab or the line end: writes g[0..1] as the field-by-field
 * parse below would, moves *kp past the GT and returns 1; otherwise returns 0 and moves nothing (half calls
 * such as 0/., multi-digit alleles and anything malformed are left to that parse). */
static inline int fast_gt(const uint8_t *buf, int64_t *kp, int64_t end, int na, int8_t *g) {
    int64_t k = *kp;
    if (k >= end) return 0;
    uint8_t c0 = buf[k];
    uint8_t c1 = k + 1 < end ? buf[k + 1] : '\t';
    if (c1 == ':' || c1 == '\t') { /* haploid */
        if (c0 == '.') {
            g[0] = -1;
        } else if ((unsigned)(c0 - '0') < (unsigned)na) {
            g[0] = (int8_t)(c0 - '0');
        } else {
            return 0;
        }
        g[1] = -2;
        *kp = k + 1;
        return 1;
    }
    if ((c1 != '/' && c1 != '|') || k + 2 >= end) return 0;
    uint8_t c2 = buf[k + 2];
    uint8_t c3 = k + 3 < end ? buf[k + 3] : '\t';
    if (c3 != ':' && c3 != '\t') return 0;
    if (c0 == '.' && c2 == '.') {
        g[0] = g[1] = -1;
    } else if ((unsigned)(c0 - '0') < (unsigned)na && (unsigned)(c2 - '0') < (unsigned)na) {
        g[0] = (int8_t)(c0 - '0');
        g[1] = (int8_t)(c2 - '0');
    } else {
        return 0;
    }
    *kp = k + 3;
    return 1;
}

/* The vector path: the sample columns p[0, len) of a GT-only record. Runs of 16 three-byte calls ("a/b", "a|b",
 * "./.", each followed by a tab) are checked and decoded 16 at a time, and packed into the 2-bit copy as they go;
 * any other call of a form fast_gt() knows (a haploid "a" or ".", as on chrX of males or where a caller writes
 * '.' for a missing call) is decoded on its own, and the runs go on after it. Writes gt [ns][2] and, when packed
 * is not NULL, the packed row. Returns 1, or 0 when some call is of another form or the columns do not fit
 * (gt then holds partial results; the caller parses the record again). */
static int parse_simple_row(const uint8_t *p, int64_t len, int64_t ns, int na, int8_t *gt, uint8_t *packed,
                            int64_t row_bytes, uint8_t *packable) {
    int64_t s = 0, q = 0;
    int pack_ok = packed != NULL;
    if (packed) memset(packed, 0, (size_t)row_bytes);
#if defined(__SSE2__)
    const __m128i zero = _mm_set1_epi8('0'), dot = _mm_set1_epi8('.'), slash = _mm_set1_epi8('/'),
                  bar = _mm_set1_epi8('|'), tab = _mm_set1_epi8('\t');
    const __m128i top = _mm_set1_epi8((char)(na - 1));
    /* byte roles within each 4-byte call: allele, separator, allele, tab */
    const __m128i m_allele = _mm_set1_epi32(0x00FF00FF), m_sep = _mm_set1_epi32(0x0000FF00),
                  m_tab = _mm_set1_epi32((int)0xFF000000u), low = _mm_set1_epi16(0x00FF);
    const __m128i one = _mm_set1_epi8(1), fe = _mm_set1_epi8((char)0xFE);
    __m128i not_packable = _mm_setzero_si128();
#endif
    while (s < ns) {
#if defined(__SSE2__)
        /* 16 calls (64 bytes) at a time from a sample whose packed bits start a byte; the last call (no tab
         * after it) is left to the scalar step */
        if ((s & 3) == 0 && s + 16 < ns && q + 64 <= len) {
            const uint8_t *w = p + q;
            __m128i g[4];
            int ok = 0xFFFF;
            int half = 0;
            for (int j = 0; j < 4; j++) {
                __m128i v = _mm_loadu_si128((const __m128i *)(w + 16 * j));
                __m128i d = _mm_sub_epi8(v, zero);
                __m128i isdot = _mm_cmpeq_epi8(v, dot);
                __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(d, top), d); /* d <= na - 1, unsigned */
                __m128i allele = _mm_and_si128(_mm_or_si128(digit, isdot), m_allele);
                __m128i sep = _mm_and_si128(_mm_or_si128(_mm_cmpeq_epi8(v, slash), _mm_cmpeq_epi8(v, bar)), m_sep);
                __m128i tb = _mm_and_si128(_mm_cmpeq_epi8(v, tab), m_tab);
                ok &= _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(allele, sep), tb));
                /* a call with exactly one '.' (a half call) is not of this form */
                __m128i dots = _mm_and_si128(isdot, m_allele);
                half |= _mm_movemask_epi8(_mm_xor_si128(dots, _mm_srli_epi32(dots, 16))) & 0x1111;
                g[j] = _mm_or_si128(d, isdot); /* allele index, or -1 for '.' */
            }
            if (ok == 0xFFFF && !half) {
                /* the alleles are the even bytes: a0 b0 a1 b1 ... */
                __m128i e01 = _mm_packus_epi16(_mm_and_si128(g[0], low), _mm_and_si128(g[1], low));
                __m128i e23 = _mm_packus_epi16(_mm_and_si128(g[2], low), _mm_and_si128(g[3], low));
                _mm_storeu_si128((__m128i *)(gt + 2 * s), e01);
                _mm_storeu_si128((__m128i *)(gt + 2 * s + 16), e23);
                if (pack_ok) {
                    __m128i a = _mm_packus_epi16(_mm_and_si128(e01, low), _mm_and_si128(e23, low));
                    __m128i b = _mm_packus_epi16(_mm_srli_epi16(e01, 8), _mm_srli_epi16(e23, 8));
                    /* packable: both alleles 0/1, or both missing */
                    __m128i both01 = _mm_cmpeq_epi8(_mm_and_si128(_mm_or_si128(a, b), fe), _mm_setzero_si128());
                    __m128i both_missing = _mm_cmpeq_epi8(_mm_and_si128(a, b), _mm_set1_epi8(-1));
                    not_packable = _mm_or_si128(not_packable, _mm_andnot_si128(_mm_or_si128(both01, both_missing),
                                                                               _mm_set1_epi8(-1)));
                    /* low bit: het or missing; high bit: hom-var or missing (bit 7 of each byte, for movemask) */
                    __m128i lo = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(_mm_xor_si128(a, b), one), 7), a);
                    __m128i hi = _mm_slli_epi16(_mm_and_si128(_mm_and_si128(a, b), one), 7);
                    uint32_t word = interleave16((uint32_t)_mm_movemask_epi8(lo), (uint32_t)_mm_movemask_epi8(hi));
                    memcpy(packed + s / 4, &word, 4);
                }
                s += 16;
                q += 64;
                continue;
            }
        }
#endif
        /* one call of any form fast_gt() decodes, then a tab (or the line end after the last sample) */
        int8_t *g = gt + 2 * s;
        int64_t k = q;
        if (!fast_gt(p, &k, len, na, g)) return 0;
        if (s < ns - 1) {
            if (k >= len || p[k] != '\t') return 0;
            k++;
        } else if (k != len) {
            return 0;
        }
        if (pack_ok) {
            int c = call_code(g[0], g[1]);
            if (c < 0)
                pack_ok = 0;
            else
                packed[s >> 2] |= (uint8_t)(c << ((s & 3) * 2));
        }
        q = k;
        s++;
    }
#if defined(__SSE2__)
    if (pack_ok && _mm_movemask_epi8(not_packable)) pack_ok = 0;
#endif
    if (packed) {
        if (!pack_ok) memset(packed, 0, (size_t)row_bytes);
        *packable = (uint8_t)pack_ok;
    }
    return 1;
}

/* The general path: decode the sample columns of record i field by field; AD values beyond the first ad_cut
 * (the block's largest allele count) are dropped. Returns 0, or 1 after recording an error. */
static int parse_samples(const uint8_t *buf, const record *r, int64_t i, const pmo_vcf_spec *spec,
                         pmo_vcf_out *out, int64_t ad_cut) {
    const int64_t ns = spec->n_samples, pl = spec->ploidy, adw = out->ad_width;
    const int64_t end = r->end;
    int64_t k = r->sample_start;
    const int32_t gi = r->fmt[0];
    const int32_t di = (spec->want & PMO_WANT_DP) && out->dp ? r->fmt[1] : -1;
    const int32_t qi = (spec->want & PMO_WANT_GQ) && out->gq ? r->fmt[2] : -1;
    const int32_t ai = (spec->want & PMO_WANT_AD) && out->ad ? r->fmt[3] : -1;
    int32_t last = gi;
    if (di > last) last = di;
    if (qi > last) last = qi;
    if (ai > last) last = ai;
    const int na = out->n_alleles[i];
    const int gt_only = gi == 0 && last == 0 && pl == 2 && na <= 10;
    int8_t *gt = out->gt + i * ns * pl;
    int32_t *dp = di >= 0 ? out->dp + i * ns : NULL;
    int16_t *gq = qi >= 0 ? out->gq + i * ns : NULL;
    int32_t *ad = ai >= 0 ? out->ad + i * ns * adw : NULL;
    for (int64_t s = 0; s < ns; s++) {
        int8_t *g = gt + s * pl;
        if (gt_only && k + 3 <= end) { /* one-digit diploid call followed by a tab or the line end */
            uint8_t nxt = k + 3 < end ? buf[k + 3] : '\t';
            uint8_t c0 = buf[k], c1 = buf[k + 1], c2 = buf[k + 2];
            if ((c1 == '/' || c1 == '|') && nxt == '\t' && c0 >= '0' && c2 >= '0' && c0 - '0' < na &&
                c2 - '0' < na) {
                g[0] = (int8_t)(c0 - '0');
                g[1] = (int8_t)(c2 - '0');
                k += 4;
                if (s == ns - 1 && k <= end) {
                    fail(out, PMO_ERR_SAMPLE_COLUMNS, i, 0, ns + 1, k);
                    return 1;
                }
                if (s < ns - 1 && k > end) {
                    fail(out, PMO_ERR_SAMPLE_COLUMNS, i, 0, s + 1, k);
                    return 1;
                }
                continue;
            }
        }
        if (k > end || (k == end && s > 0 && buf[k - 1] != '\t')) {
            fail(out, PMO_ERR_SAMPLE_COLUMNS, i, 0, s, k);
            return 1;
        }
        if (gi < 0)
            for (int64_t p = 0; p < pl; p++) g[p] = -1;
        int32_t field = 0;
        for (;;) {
            if (field > last) { /* the rest of the sample column (PL, ... in GATK/DRAGEN output) */
                const uint8_t *tab = memchr(buf + k, '\t', (size_t)(end - k));
                k = tab ? tab - buf : end;
                break;
            }
            if (field == gi && pl == 2 && fast_gt(buf, &k, end, na, g)) {
                /* the common forms, decoded as below */
            } else if (field == gi) {
                int64_t fs = k;
                if (k < end && (buf[k] == '/' || buf[k] == '|')) k++; /* VCF 4.4 leading phase prefix */
                int64_t nal = 0, nmiss = 0;
                for (;;) {
                    uint8_t c = k >= end ? '\t' : buf[k];
                    int64_t val;
                    if (c == '.') {
                        val = -1;
                        nmiss++;
                        k++;
                    } else if (c >= '0' && c <= '9') {
                        val = 0;
                        while (k < end && buf[k] >= '0' && buf[k] <= '9') {
                            val = val * 10 + (buf[k] - '0');
                            if (val > 127) {
                                fail(out, PMO_ERR_GT_BIG, i, s, val, fs);
                                return 1;
                            }
                            k++;
                        }
                        if (val >= na) {
                            fail(out, PMO_ERR_GT_ALLELE, i, s, val, fs);
                            return 1;
                        }
                    } else {
                        fail(out, PMO_ERR_GT_CHAR, i, s, 0, fs);
                        return 1;
                    }
                    if (nal >= pl) { /* count the full ploidy so the caller can parse again with a wider array */
                        int64_t need = nal + 1;
                        while (k < end && buf[k] != ':' && buf[k] != '\t') {
                            if (buf[k] == '/' || buf[k] == '|') need++;
                            k++;
                        }
                        fail(out, PMO_ERR_PLOIDY, i, s, need, fs);
                        return 1;
                    }
                    g[nal++] = (int8_t)val;
                    if (k < end && (buf[k] == '/' || buf[k] == '|')) {
                        k++;
                        continue;
                    }
                    if (k < end && buf[k] != ':' && buf[k] != '\t') {
                        fail(out, PMO_ERR_GT_CHAR, i, s, 0, fs);
                        return 1;
                    }
                    break;
                }
                if (nal == 2 && nmiss == 1) { /* half call 0/. -> haploid */
                    if (g[0] == -1) g[0] = g[1];
                    g[1] = -2;
                } else if (nal == 1) {
                    g[1] = -2;
                }
                for (int64_t p = nal > 2 ? nal : 2; p < pl; p++) g[p] = -2;
            } else if (field == di) {
                int64_t v = parse_int(buf, &k, end, out, i);
                dp[s] = (int32_t)v;
                k = skip_field(buf, k, end);
            } else if (field == qi) {
                int64_t v = parse_int(buf, &k, end, out, i);
                gq[s] = (int16_t)(v < 32767 ? v : 32767);
                k = skip_field(buf, k, end);
            } else if (field == ai) {
                int64_t j = 0;
                for (;;) {
                    int64_t v = parse_int(buf, &k, end, out, i);
                    if (j < ad_cut) ad[s * adw + j] = (int32_t)v;
                    j++;
                    if (k < end && buf[k] == ',') {
                        k++;
                        continue;
                    }
                    break;
                }
                if (j > na && j != 1) note(out, PMO_W_AD_LENGTH, i, k, k);
                k = skip_field(buf, k, end);
            } else {
                k = skip_field(buf, k, end);
            }
            if (k < end && buf[k] == ':') {
                k++;
                field++;
                continue;
            }
            break;
        }
        /* fields absent from this sample (trailing fields may be dropped) */
        if (gi >= 0 && field < gi)
            for (int64_t p = 0; p < pl; p++) g[p] = -1;
        if (k < end && buf[k] == '\t') {
            k++;
            if (s == ns - 1) {
                fail(out, PMO_ERR_SAMPLE_COLUMNS, i, 0, ns + 1, k);
                return 1;
            }
        } else if (s < ns - 1) {
            fail(out, PMO_ERR_SAMPLE_COLUMNS, i, 0, s + 1, k);
            return 1;
        }
    }
    return 0;
}

static const int STRING_COLUMNS[PMO_N_STRINGS] = {0, 2, 3, 4, 5, 6};

int64_t pmo_vcf_parse(const uint8_t *buf, int64_t len, const pmo_vcf_spec *spec, pmo_vcf_out *out) {
    const int64_t ns = spec->n_samples, pl = spec->ploidy;
    memset(out->err, 0, sizeof(out->err));
    memset(out->warn, 0, sizeof(out->warn));
    out->n = out->n_lines = out->n_blank = out->ad_need = 0;
    /* the lines: records and their line indices */
    int64_t cap_lines = len / 64 + 16, n = 0, n_lines = 0, first_hash = -1;
    record *recs = malloc((size_t)cap_lines * sizeof(record));
    int64_t *line_of = malloc((size_t)cap_lines * sizeof(int64_t));
    if (!recs || !line_of) goto nomem;
    for (int64_t pos = 0; pos < len;) {
        const uint8_t *nl = memchr(buf + pos, '\n', (size_t)(len - pos));
        if (!nl) break;
        int64_t off = nl - buf, end = off;
        if (end > pos && buf[end - 1] == '\r') end--;
        if (end > pos) {
            if (n == cap_lines) {
                cap_lines *= 2;
                record *r2 = realloc(recs, (size_t)cap_lines * sizeof(record));
                int64_t *l2 = realloc(line_of, (size_t)cap_lines * sizeof(int64_t));
                if (r2) recs = r2;
                if (l2) line_of = l2;
                if (!r2 || !l2) goto nomem;
            }
            if (first_hash < 0 && buf[pos] == '#') first_hash = n;
            recs[n].start = pos;
            recs[n].end = end;
            line_of[n] = n_lines;
            n++;
        } else {
            out->n_blank++;
        }
        n_lines++;
        pos = off + 1;
    }
    out->n_lines = n_lines;
    out->n = n;
    if (n > out->cap) {
        free(recs);
        free(line_of);
        return PMO_NEED_CAP;
    }
    memcpy(out->line, line_of, (size_t)n * sizeof(int64_t));
    free(line_of);
    line_of = NULL;
    if (first_hash >= 0) {
        fail(out, PMO_ERR_HEADER_LINE, first_hash, 0, 0, recs[first_hash].start);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        if (scan_fixed(buf, recs + i, i, spec, out)) goto done;
    int32_t max_alleles = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ns == 0 && recs[i].sample_start < recs[i].end) {
            fail(out, PMO_ERR_EXTRA_COLUMNS, i, 0, 0, recs[i].start);
            goto done;
        }
        if (out->n_alleles[i] > max_alleles) max_alleles = out->n_alleles[i];
    }
    for (int64_t i = 0; i < n; i++)
        if (out->n_alleles[i] > 127) {
            fail(out, PMO_ERR_MANY_ALLELES, i, 0, out->n_alleles[i], recs[i].start);
            goto done;
        }
    if ((spec->want & PMO_WANT_AD) && out->ad && max_alleles > out->ad_width) {
        out->ad_need = max_alleles;
        free(recs);
        return PMO_NEED_AD_WIDTH;
    }
    /* the sample columns */
    const int64_t rb = pmo_packed_row_bytes(ns);
    if (out->dp)
        for (int64_t j = 0; j < n * ns; j++) out->dp[j] = -1;
    if (out->gq)
        for (int64_t j = 0; j < n * ns; j++) out->gq[j] = -1;
    if (out->ad)
        for (int64_t j = 0; j < n * ns * out->ad_width; j++) out->ad[j] = -1;
    for (int64_t i = 0; i < n; i++) {
        record *r = recs + i;
        uint8_t *packed = out->packed ? out->packed + i * rb : NULL;
        int simple = 0;
        if (ns > 0 && pl == 2 && r->fmt[0] == 0 && out->n_alleles[i] <= 10 && r->sample_start < r->end &&
            r->span[8][1] - r->span[8][0] == 2) /* FORMAT is GT alone */
            simple = parse_simple_row(buf + r->sample_start, r->end - r->sample_start, ns, out->n_alleles[i],
                                      out->gt + i * ns * 2, packed, rb, out->packable ? out->packable + i : NULL);
        if (!simple) {
            if (parse_samples(buf, r, i, spec, out, max_alleles)) goto done;
            if (packed) pack_row(out->gt + i * ns * pl, ns, pl, packed, rb, out->packable + i);
        }
    }
    /* the string columns */
    if (out->strings) {
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            for (int c = 0; c < PMO_N_STRINGS; c++) {
                int64_t a = recs[i].span[STRING_COLUMNS[c]][0], b = recs[i].span[STRING_COLUMNS[c]][1];
                if (k + (b - a) > out->strings_cap) goto nomem;
                memcpy(out->strings + k, buf + a, (size_t)(b - a));
                k += b - a;
                out->string_len[i * PMO_N_STRINGS + c] = (int32_t)(b - a);
            }
    }
done:
    free(recs);
    return n;
nomem:
    free(recs);
    free(line_of);
    return PMO_NO_MEMORY;
}

/* Offset of the first (reverse = 0) or last (reverse = 1) byte b in buf[0, len), or -1. */
int64_t pmo_find_byte(const uint8_t *buf, int64_t len, int32_t b, int32_t reverse) {
    if (!reverse) {
        const uint8_t *p = memchr(buf, b, (size_t)len);
        return p ? p - buf : -1;
    }
    for (int64_t k = len - 1; k >= 0; k--)
        if (buf[k] == b) return k;
    return -1;
}
