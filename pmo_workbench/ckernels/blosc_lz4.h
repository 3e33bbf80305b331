/* Blosc 1 frames with the LZ4 codec (and zstd through libzstd) (ckernels/blosc_lz4.c): the decoder the QC pass runs
 * in its counting threads. */
#ifndef PMO_BLOSC_LZ4_H
#define PMO_BLOSC_LZ4_H
#include <stdint.h>

/* bytes a caller leaves writable after each decoded block (the LZ4 copies write up to 16 bytes past the end) */
#define PMO_BLOSC_SLACK 32

/* results (negative) of the decoder; pmo_blosc_message names them */
enum {
    PMO_BLOSC_OK = 0,
    PMO_BLOSC_TRUNCATED = -1,   /* shorter than its header, its block table or a block's stream says */
    PMO_BLOSC_BAD_HEADER = -2,  /* sizes in the header that do not fit each other */
    PMO_BLOSC_UNSUPPORTED = -3, /* another codec, a shuffle, a typesize other than 1, another format version */
    PMO_BLOSC_BAD_BLOCK = -4,   /* a block start outside the frame, or a stream size out of range */
    PMO_BLOSC_BAD_LZ4 = -5,     /* an LZ4 (or zstd) stream that does not decode to its block's size */
    PMO_BLOSC_WRONG_SIZE = -6,  /* a frame whose decoded size is not the one expected */
};

typedef struct {
    int64_t nbytes;    /* decoded bytes */
    int64_t blocksize; /* decoded bytes of each block but the last */
    int64_t cbytes;    /* the frame's bytes */
    int64_t nblocks;
    int memcpyed;      /* the blocks are stored as they are, after the header */
    int zstd;          /* zstd streams (else LZ4) */
    int nosplit;       /* flag 0x10: no block is split into typesize streams */
    int64_t typesize;
} pmo_blosc_frame;

int pmo_blosc_parse(const uint8_t *src, int64_t n_src, pmo_blosc_frame *f);
int64_t pmo_blosc_block(const uint8_t *src, const pmo_blosc_frame *f, int64_t j, uint8_t *dst);
int64_t pmo_lz4_decode(const uint8_t *src, int64_t n_src, uint8_t *dst, int64_t n_dst);

#endif
