/* The VCF record parser of the embedded import (vcf_parse.c) and the BGZF inflater (bgzf.c).
 *
 * pmo_vcf_parse() turns a block of complete VCF record lines (text after the #CHROM line) into arrays: POS,
 * the number of alleles, the CHROM/ID/REF/ALT/QUAL/FILTER bytes, GT as int8 allele indices and, where asked
 * for and present in FORMAT, DP, GQ and AD; and the 2-bit packed copy of the biallelic diploid calls
 * (genotypes/packed_calls.py). It checks what the Python reader checked (pmo_workbench.genotypes.vcf_reader
 * turns the codes below into messages naming the file, line and field). Blocks are independent: a caller may
 * parse several blocks on several threads at once (the function keeps no state between calls; ctypes releases
 * the GIL). Python wraps it as pmo_workbench.genotypes.vcf_kernels.parse_records.
 *
 * Genotype encoding (VCF Zarr call_genotype): allele index, -1 missing, -2 no further allele. A haploid call
 * 1 is [1, -2]; half calls 0/. and ./1 are read as haploid [0, -2], [1, -2]; '.' is [-1, -2]; ./. is [-1, -1].
 */
#ifndef PMO_VCF_H
#define PMO_VCF_H
#include <stdint.h>

/* err[0] codes; err[1] record (in the block), err[2] sample, err[3] aux, err[4] byte offset in the block */
enum {
    PMO_ERR_NONE = 0,
    PMO_ERR_FEW_COLUMNS = 1,    /* fewer than 8 fixed columns (aux = columns found) */
    PMO_ERR_POS = 2,            /* POS not a non-negative integer */
    PMO_ERR_SAMPLE_COLUMNS = 3, /* sample columns differ from the header's (aux = columns found) */
    PMO_ERR_GT_CHAR = 4,        /* GT holds something other than allele indices, '.', '/' and '|' */
    PMO_ERR_GT_ALLELE = 5,      /* allele index beyond the record's alleles (aux = index) */
    PMO_ERR_GT_BIG = 6,         /* allele index above 127 */
    PMO_ERR_PLOIDY = 7,         /* more alleles in a call than spec.ploidy (aux = ploidy needed) */
    PMO_ERR_NO_FORMAT = 8,      /* samples in the header but no FORMAT column */
    PMO_ERR_HEADER_LINE = 9,    /* a line starting with '#' */
    PMO_ERR_EXTRA_COLUMNS = 10, /* sample columns although the header names no samples */
    PMO_ERR_MANY_ALLELES = 11,  /* more than 127 alleles */
};

/* warn[k][0] count, warn[k][1] first record, warn[k][2], warn[k][3] byte span of its token in the block */
enum {
    PMO_W_REF = 0,         /* REF has characters other than A, C, G, T, N (any case) */
    PMO_W_INFO_KEY = 1,    /* INFO key not declared in the header */
    PMO_W_FORMAT_KEY = 2,  /* FORMAT key not declared in the header */
    PMO_W_POS_ZERO = 3,    /* POS 0 */
    PMO_W_POS_BIG = 4,     /* POS above 2^31 - 1 */
    PMO_W_AD_LENGTH = 5,   /* AD with more values than alleles */
    PMO_W_BAD_NUMBER = 6,  /* DP/GQ/AD value that is not an integer (read as missing) */
    PMO_W_NEGATIVE = 7,    /* negative DP/GQ/AD (read as missing) */
    PMO_N_WARN = 8
};

/* return codes of pmo_vcf_parse besides >= 0 (records parsed) */
#define PMO_NEED_CAP (-1)      /* more records than out.cap: out.n holds the number needed */
#define PMO_NEED_AD_WIDTH (-2) /* a record has more alleles than out.ad_width: out.ad_need holds the width */
#define PMO_NO_MEMORY (-3)

#define PMO_WANT_DP 1
#define PMO_WANT_GQ 2
#define PMO_WANT_AD 4
#define PMO_N_STRINGS 6 /* CHROM, ID, REF, ALT, QUAL, FILTER */

typedef struct {
    int64_t n_samples;           /* sample columns named by the header */
    int64_t ploidy;              /* width of the allele axis of gt (>= 2) */
    int64_t want;                /* PMO_WANT_* bits: FORMAT fields to read (each only where FORMAT has it) */
    const uint64_t *info_keys;   /* sorted pmo_hash_key() of the declared INFO IDs */
    int64_t n_info_keys;         /* 0: INFO keys are not checked */
    const uint64_t *format_keys; /* the same for FORMAT IDs */
    int64_t n_format_keys;
} pmo_vcf_spec;

/* Arrays of the caller, cap records each (row-major; NULL where marked optional). */
typedef struct {
    int64_t cap;         /* records the arrays hold */
    int64_t ad_width;    /* width of the allele axis of ad */
    int64_t *line;       /* [cap] 0-based index of the record's line among the block's lines */
    int64_t *pos;        /* [cap] POS */
    int32_t *n_alleles;  /* [cap] 1 + number of ALT alleles (1 when ALT is '.') */
    int8_t *gt;          /* [cap][n_samples][ploidy] */
    int32_t *dp;         /* [cap][n_samples], -1 missing; optional */
    int16_t *gq;         /* [cap][n_samples], -1 missing; optional */
    int32_t *ad;         /* [cap][n_samples][ad_width], -1 missing; optional */
    uint8_t *packed;     /* [cap][pmo_packed_row_bytes(n_samples)]; optional (with packable) */
    uint8_t *packable;   /* [cap] 1 when the row's calls are all in packed */
    uint8_t *strings;    /* the PMO_N_STRINGS columns' bytes, record after record; optional (with string_len) */
    int64_t strings_cap; /* size of strings (the block's length always suffices) */
    int32_t *string_len; /* [cap][PMO_N_STRINGS] */
    /* results */
    int64_t n;           /* records parsed (or needed, with PMO_NEED_CAP) */
    int64_t n_lines;     /* lines in the block, empty ones included */
    int64_t n_blank;     /* empty lines (skipped) */
    int64_t ad_need;     /* with PMO_NEED_AD_WIDTH: the width needed */
    int64_t err[5];
    int64_t warn[PMO_N_WARN][4];
} pmo_vcf_out;

/* Parse the complete lines of buf[0, len) (each ends with '\n'; bytes after the last '\n' are ignored; a '\r'
 * before the '\n' is dropped; empty lines are skipped). Returns the number of records, or PMO_NEED_CAP /
 * PMO_NEED_AD_WIDTH (nothing written to the record arrays: call again with larger ones) or PMO_NO_MEMORY.
 * With err[0] != 0 the arrays are incomplete. */
int64_t pmo_vcf_parse(const uint8_t *buf, int64_t len, const pmo_vcf_spec *spec, pmo_vcf_out *out);

/* FNV-1a 64-bit hash of a header ID (the keys of pmo_vcf_spec). */
uint64_t pmo_hash_key(const uint8_t *key, int64_t len);

/* Bytes per packed row: 2 bits per sample, in whole 64-bit words (at least one). */
int64_t pmo_packed_row_bytes(int64_t n_samples);

/* Pack int8 calls gt [n][n_samples][ploidy] into packed [n][row bytes] and packable [n] (packed_calls.py). */
void pmo_pack_calls(const int8_t *gt, int64_t n, int64_t n_samples, int64_t ploidy, uint8_t *packed,
                    uint8_t *packable);

/* Offset of the first (reverse = 0) or last (reverse = 1) byte b in buf[0, len), or -1. */
int64_t pmo_find_byte(const uint8_t *buf, int64_t len, int32_t b, int32_t reverse);

/* ALT allele counts (int8, -1 missing) and ploidy (2, or 0 when missing) of packed rows [nr][row_bytes]. */
void pmo_unpack_dosage(const uint8_t *packed, int64_t nr, int64_t row_bytes, int64_t ns, int8_t *dosage,
                       int8_t *ploidy);

#endif
