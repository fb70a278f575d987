/*
 * The C(x + y) loop of the ZIP-FIT kernel in C, for many pairs per call.
 *
 * It calls the very compressor code the Python bindings use, so sizes are identical:
 *  - deflate (gzip, zlib): the process's zlib, the one Python's zlib module is linked to
 *    (compressors.py checks the versions match before using this);
 *  - lz4 frames: LZ4F_compressFrame looked up in python-lz4's own extension module, called
 *    with the preferences lz4.frame.compress(data, level) builds;
 *  - lz4 blocks: the calls lz4.block.compress(data, store_size=False) makes (a reset stream,
 *    then LZ4_compress_fast_continue), looked up in python-lz4's block extension.
 * What is saved is Python's per-call work: argument parsing, concatenation, a bytes object
 * per result. Level 0 deflate is not handled here (stored-block boundaries depend on how
 * output space is offered).
 *
 * The conditional loops give C(y | x), y compressed with x as its dictionary, building
 * x's dictionary state once per x where the library allows it:
 *  - deflate: deflateSetDictionary(x) on a reset stream, then y, as
 *    zlib.compressobj(level, DEFLATED, wbits, 8, strategy, zdict=x) does;
 *  - lz4 blocks: LZ4_loadDict(x) once, attached (LZ4_attach_dictionary) to a stream
 *    reset for each y, where lz4.block.compress(y, store_size=False, dict=x) loads x
 *    again on every call: another path inside LZ4, with the same output on 63,750 real
 *    and fuzzed pairs (tests/kernel/test_conditional.py keeps checking it);
 *  - zstd: the calls python-zstandard's ZstdCompressor(level, dict_data=x as raw content)
 *    makes, one context per loop with x loaded once; the functions are those of
 *    python-zstandard's own cffi module (its C extension exports none), found by address.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---------------------------------------------------------------- shared helpers */

typedef struct {
    PyObject *fast; /* a list or tuple holding the bytes objects alive */
    Py_ssize_t count;
    const char **data;
    Py_ssize_t *size;
    Py_ssize_t max_size;
} texts_t;

static void texts_free(texts_t *t) {
    Py_XDECREF(t->fast);
    PyMem_Free(t->data);
    PyMem_Free(t->size);
}

static int texts_from(PyObject *seq, texts_t *t) {
    t->fast = PySequence_Fast(seq, "expected a sequence of bytes");
    if (t->fast == NULL) return -1;
    t->count = PySequence_Fast_GET_SIZE(t->fast);
    t->data = PyMem_Calloc(t->count ? t->count : 1, sizeof *t->data);
    t->size = PyMem_Calloc(t->count ? t->count : 1, sizeof *t->size);
    if (t->data == NULL || t->size == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < t->count; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(t->fast, i);
        char *data;
        if (PyBytes_AsStringAndSize(item, &data, &t->size[i]) < 0) return -1;
        t->data[i] = data;
        if (t->size[i] > t->max_size) t->max_size = t->size[i];
    }
    return 0;
}

/* The output: a writable, contiguous int64 buffer of exactly rows * cols items. */
static int out_from(PyObject *obj, Py_buffer *view, Py_ssize_t rows, Py_ssize_t cols) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (view->itemsize != 8 || view->len != rows * cols * 8 ||
        (view->format != NULL && strcmp(view->format, "q") != 0 && strcmp(view->format, "l") != 0 &&
         strcmp(view->format, "<q") != 0 && strcmp(view->format, "<l") != 0)) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "out must be a C-contiguous int64 array of shape (n, m)");
        return -1;
    }
    return 0;
}

/* A pair loop's inputs: the texts xs and ys, and out (see out_from) for their sizes. */
static int pairs_from(PyObject *xs_obj, PyObject *ys_obj, PyObject *out_obj, texts_t *xs,
                      texts_t *ys, Py_buffer *view) {
    if (texts_from(xs_obj, xs) < 0 || texts_from(ys_obj, ys) < 0) return -1;
    return out_from(out_obj, view, xs->count, ys->count);
}

/* Free a pair loop's buffers; None, or RuntimeError(`failure`) if the loop failed. */
static PyObject *finish_pairs(void *scratch, void *joined, Py_buffer *view, int failed,
                              const char *failure) {
    free(scratch);
    free(joined);
    PyBuffer_Release(view);
    if (failed) {
        PyErr_SetString(PyExc_RuntimeError, failure);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* C(data) by one compressor call; `context` holds its state and output buffer; -1 fails. */
typedef long (*size_fn)(void *context, const char *data, size_t size);

/* row[j] = size_of(x + ys[j]) for every j, joining the pair in `joined`; 0, or -1 if a call
 * failed. */
static int joined_row(const char *x, Py_ssize_t nx, const texts_t *ys, int64_t *row,
                      char *joined, size_fn size_of, void *context) {
    memcpy(joined, x, (size_t)nx);
    for (Py_ssize_t j = 0; j < ys->count; j++) {
        memcpy(joined + nx, ys->data[j], (size_t)ys->size[j]);
        long size = size_of(context, joined, (size_t)(nx + ys->size[j]));
        if (size < 0) return -1;
        row[j] = size;
    }
    return 0;
}

/* ---------------------------------------------------------------- deflate */

#define MEM_LEVEL 8 /* zlib's DEF_MEM_LEVEL, what zlib.compress and zlib.compressobj use */

typedef struct {
    z_stream stream;
    Bytef *out;
    uLong out_size;
} deflate_context;

/* C(data) in one call on a reset stream: the bytes zlib.compress(data, level, wbits) gives. */
static long deflate_size(void *context, const char *data, size_t size) {
    deflate_context *c = context;
    z_stream *stream = &c->stream;
    if (deflateReset(stream) != Z_OK) return -1;
    stream->next_in = (Bytef *)data;
    stream->avail_in = (uInt)size;
    stream->next_out = c->out;
    stream->avail_out = (uInt)c->out_size;
    if (deflate(stream, Z_FINISH) != Z_STREAM_END) return -1;
    return (long)stream->total_out;
}

/* The rest of x + y after x was fed to `prefix` (which is left untouched). */
static long deflate_tail_size(z_stream *prefix, const char *y, Py_ssize_t size, Bytef *out,
                              uLong out_size) {
    z_stream tail;
    if (deflateCopy(&tail, prefix) != Z_OK) return -1;
    tail.next_in = (Bytef *)y;
    tail.avail_in = (uInt)size;
    tail.next_out = out;
    tail.avail_out = (uInt)out_size;
    int status = deflate(&tail, Z_FINISH);
    long total = (long)tail.total_out;
    deflateEnd(&tail);
    return status == Z_STREAM_END ? total : -1;
}

static PyObject *deflate_pair_sizes(PyObject *self, PyObject *args) {
    PyObject *xs_obj, *ys_obj, *out_obj;
    int level, wbits, strategy;
    Py_ssize_t prefix_min_bytes;
    if (!PyArg_ParseTuple(args, "OOiiinO", &xs_obj, &ys_obj, &level, &wbits, &strategy,
                          &prefix_min_bytes, &out_obj))
        return NULL;
    if (level < 1 || level > 9) {
        PyErr_SetString(PyExc_ValueError, "level must be 1..9");
        return NULL;
    }
    texts_t xs = {0}, ys = {0};
    Py_buffer view;
    PyObject *result = NULL;
    if (pairs_from(xs_obj, ys_obj, out_obj, &xs, &ys, &view) < 0) goto done_texts;

    int64_t *out = view.buf;
    deflate_context one_shot;
    z_stream prefix;
    memset(&one_shot, 0, sizeof one_shot);
    memset(&prefix, 0, sizeof prefix);
    uLong out_size = deflateBound(NULL, (uLong)(xs.max_size + ys.max_size)) + 64;
    Bytef *scratch = malloc(out_size);
    char *joined = malloc((size_t)(xs.max_size + ys.max_size) + 1);
    one_shot.out = scratch;
    one_shot.out_size = out_size;
    int failed = scratch == NULL || joined == NULL ||
                 deflateInit2(&one_shot.stream, level, Z_DEFLATED, wbits, MEM_LEVEL, strategy) !=
                     Z_OK;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < xs.count && !failed; i++) {
        const char *x = xs.data[i];
        Py_ssize_t nx = xs.size[i];
        int64_t *row = out + i * ys.count;
        if (nx >= prefix_min_bytes) {
            /* compress x once; copy its state for every y */
            failed =
                deflateInit2(&prefix, level, Z_DEFLATED, wbits, MEM_LEVEL, strategy) != Z_OK;
            if (failed) break;
            prefix.next_in = (Bytef *)x;
            prefix.avail_in = (uInt)nx;
            prefix.next_out = scratch;
            prefix.avail_out = (uInt)out_size;
            failed = deflate(&prefix, Z_NO_FLUSH) != Z_OK;
            long head = (long)prefix.total_out;
            for (Py_ssize_t j = 0; j < ys.count && !failed; j++) {
                long tail = deflate_tail_size(&prefix, ys.data[j], ys.size[j],
                                              scratch + head, out_size - head);
                failed = tail < 0;
                row[j] = tail; /* total_out of the copy counts x's output too */
            }
            deflateEnd(&prefix);
        } else {
            failed = joined_row(x, nx, &ys, row, joined, deflate_size, &one_shot);
        }
    }
    Py_END_ALLOW_THREADS
    deflateEnd(&one_shot.stream);
    result = finish_pairs(scratch, joined, &view, failed, "deflate failed");
done_texts:
    texts_free(&xs);
    texts_free(&ys);
    return result;
}

static PyObject *linked_zlib_version(PyObject *self, PyObject *unused) {
    return PyUnicode_FromString(zlibVersion());
}

/* ---------------------------------------------------------------- lz4 frame */

/* The LZ4 frame API's preferences, as laid out in its public header (lz4frame.h). */
typedef struct {
    unsigned block_size_id;
    unsigned block_mode;
    unsigned content_checksum;
    unsigned frame_type;
    unsigned long long content_size;
    unsigned dict_id;
    unsigned block_checksum;
} lz4_frame_info;

typedef struct {
    lz4_frame_info frame_info;
    int compression_level;
    unsigned auto_flush;
    unsigned favor_dec_speed;
    unsigned reserved[3];
} lz4_preferences;

typedef size_t (*compress_frame_fn)(void *, size_t, const void *, size_t, const lz4_preferences *);
typedef size_t (*compress_frame_bound_fn)(size_t, const lz4_preferences *);
typedef unsigned (*is_error_fn)(size_t);

static compress_frame_fn lz4_compress_frame = NULL;
static compress_frame_bound_fn lz4_compress_frame_bound = NULL;
static is_error_fn lz4_is_error = NULL;

/* The LZ4 block API (lz4.h); a stream is opaque here, made and reset by the library. */
typedef void *(*create_stream_fn)(void);
typedef void (*reset_stream_fn)(void *);
typedef int (*free_stream_fn)(void *);
typedef int (*compress_continue_fn)(void *, const char *, char *, int, int, int);
typedef int (*compress_bound_fn)(int);

typedef int (*load_dict_fn)(void *, const char *, int);
typedef void (*attach_dictionary_fn)(void *, const void *);

static create_stream_fn lz4_create_stream = NULL;
static reset_stream_fn lz4_reset_stream = NULL;
static free_stream_fn lz4_free_stream = NULL;
static compress_continue_fn lz4_compress_fast_continue = NULL;
static compress_bound_fn lz4_compress_bound = NULL;
static load_dict_fn lz4_load_dict = NULL;
static reset_stream_fn lz4_reset_stream_fast = NULL;
static attach_dictionary_fn lz4_attach_dictionary = NULL;

/* Find LZ4F_* and LZ4_* in python-lz4's lz4.frame._frame and lz4.block._block objects. */
static PyObject *load_lz4(PyObject *self, PyObject *args) {
    const char *frame_path, *block_path;
    if (!PyArg_ParseTuple(args, "ss", &frame_path, &block_path)) return NULL;
    void *frame = dlopen(frame_path, RTLD_NOW | RTLD_LOCAL);
    void *block = dlopen(block_path, RTLD_NOW | RTLD_LOCAL);
    if (frame == NULL || block == NULL) Py_RETURN_FALSE;
    lz4_compress_frame = (compress_frame_fn)dlsym(frame, "LZ4F_compressFrame");
    lz4_compress_frame_bound = (compress_frame_bound_fn)dlsym(frame, "LZ4F_compressFrameBound");
    lz4_is_error = (is_error_fn)dlsym(frame, "LZ4F_isError");
    lz4_create_stream = (create_stream_fn)dlsym(block, "LZ4_createStream");
    lz4_reset_stream = (reset_stream_fn)dlsym(block, "LZ4_resetStream");
    lz4_free_stream = (free_stream_fn)dlsym(block, "LZ4_freeStream");
    lz4_compress_fast_continue = (compress_continue_fn)dlsym(block, "LZ4_compress_fast_continue");
    lz4_compress_bound = (compress_bound_fn)dlsym(block, "LZ4_compressBound");
    lz4_load_dict = (load_dict_fn)dlsym(block, "LZ4_loadDict");
    lz4_reset_stream_fast = (reset_stream_fn)dlsym(block, "LZ4_resetStream_fast");
    lz4_attach_dictionary = (attach_dictionary_fn)dlsym(block, "LZ4_attach_dictionary");
    return PyBool_FromLong(lz4_load_dict && lz4_reset_stream_fast && lz4_attach_dictionary && lz4_compress_frame && lz4_compress_frame_bound && lz4_is_error &&
                           lz4_create_stream && lz4_reset_stream && lz4_free_stream &&
                           lz4_compress_fast_continue && lz4_compress_bound);
}

typedef struct {
    lz4_preferences preferences;
    char *out;
    size_t out_size;
} lz4_frame_context;

/* C(data): the frame lz4.frame.compress(data, level) makes. */
static long lz4_frame_size(void *context, const char *data, size_t size) {
    lz4_frame_context *c = context;
    c->preferences.frame_info.content_size = size;
    size_t written = lz4_compress_frame(c->out, c->out_size, data, size, &c->preferences);
    return lz4_is_error(written) ? -1 : (long)written;
}

static PyObject *lz4_pair_sizes(PyObject *self, PyObject *args) {
    PyObject *xs_obj, *ys_obj, *out_obj;
    int level;
    if (!PyArg_ParseTuple(args, "OOiO", &xs_obj, &ys_obj, &level, &out_obj)) return NULL;
    if (lz4_compress_frame == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "load_lz4() has not found LZ4F_compressFrame");
        return NULL;
    }
    texts_t xs = {0}, ys = {0};
    Py_buffer view;
    PyObject *result = NULL;
    if (pairs_from(xs_obj, ys_obj, out_obj, &xs, &ys, &view) < 0) goto done_texts;

    int64_t *out = view.buf;
    /* what lz4.frame.compress(data, level) asks for: all zero but the level and size */
    lz4_frame_context context;
    memset(&context, 0, sizeof context);
    context.preferences.compression_level = level;
    size_t longest = (size_t)(xs.max_size + ys.max_size);
    context.preferences.frame_info.content_size = longest;
    context.out_size = lz4_compress_frame_bound(longest, &context.preferences);
    context.out = malloc(context.out_size);
    char *joined = malloc(longest + 1);
    int failed = context.out == NULL || joined == NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < xs.count && !failed; i++)
        failed = joined_row(xs.data[i], xs.size[i], &ys, out + i * ys.count, joined,
                            lz4_frame_size, &context);
    Py_END_ALLOW_THREADS
    result = finish_pairs(context.out, joined, &view, failed, "LZ4F_compressFrame failed");
done_texts:
    texts_free(&xs);
    texts_free(&ys);
    return result;
}

typedef struct {
    void *stream;
    char *out;
    int out_size;
} lz4_block_context;

/* C(data): the block lz4.block.compress(data, store_size=False) makes, by the same calls. */
static long lz4_block_size(void *context, const char *data, size_t size) {
    lz4_block_context *c = context;
    lz4_reset_stream(c->stream);
    int written =
        lz4_compress_fast_continue(c->stream, data, c->out, (int)size, c->out_size, 1);
    return written <= 0 && size > 0 ? -1 : written;
}

static PyObject *lz4_block_pair_sizes(PyObject *self, PyObject *args) {
    PyObject *xs_obj, *ys_obj, *out_obj;
    if (!PyArg_ParseTuple(args, "OOO", &xs_obj, &ys_obj, &out_obj)) return NULL;
    if (lz4_compress_fast_continue == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "load_lz4() has not found the LZ4 block API");
        return NULL;
    }
    texts_t xs = {0}, ys = {0};
    Py_buffer view;
    PyObject *result = NULL;
    if (pairs_from(xs_obj, ys_obj, out_obj, &xs, &ys, &view) < 0) goto done_texts;
    if (xs.max_size + ys.max_size > INT32_MAX / 2) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_OverflowError, "input too large for the LZ4 block API");
        goto done_texts;
    }

    int64_t *out = view.buf;
    int longest = (int)(xs.max_size + ys.max_size);
    lz4_block_context context;
    /* a capacity of at least the bound python-lz4 gives each call: the same code path */
    context.out_size = lz4_compress_bound(longest);
    context.out = malloc((size_t)context.out_size + 1);
    context.stream = lz4_create_stream();
    char *joined = malloc((size_t)longest + 1);
    int failed = context.out == NULL || joined == NULL || context.stream == NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < xs.count && !failed; i++)
        failed = joined_row(xs.data[i], xs.size[i], &ys, out + i * ys.count, joined,
                            lz4_block_size, &context);
    Py_END_ALLOW_THREADS
    if (context.stream != NULL) lz4_free_stream(context.stream);
    result = finish_pairs(context.out, joined, &view, failed, "LZ4_compress_fast_continue failed");
done_texts:
    texts_free(&xs);
    texts_free(&ys);
    return result;
}

/* ---------------------------------------------------------------- conditional: C(y | x) */

static PyObject *deflate_conditional_sizes(PyObject *self, PyObject *args) {
    PyObject *xs_obj, *ys_obj, *out_obj;
    int level, wbits, strategy;
    if (!PyArg_ParseTuple(args, "OOiiiO", &xs_obj, &ys_obj, &level, &wbits, &strategy, &out_obj))
        return NULL;
    texts_t xs = {0}, ys = {0};
    Py_buffer view;
    PyObject *result = NULL;
    if (pairs_from(xs_obj, ys_obj, out_obj, &xs, &ys, &view) < 0) goto done_texts;

    int64_t *out = view.buf;
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    uLong out_size = deflateBound(NULL, (uLong)ys.max_size) + 64;
    Bytef *scratch = malloc(out_size);
    int failed = scratch == NULL ||
                 deflateInit2(&stream, level, Z_DEFLATED, wbits, MEM_LEVEL, strategy) != Z_OK;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < xs.count && !failed; i++) {
        for (Py_ssize_t j = 0; j < ys.count && !failed; j++) {
            failed = deflateReset(&stream) != Z_OK ||
                     deflateSetDictionary(&stream, (const Bytef *)xs.data[i],
                                          (uInt)xs.size[i]) != Z_OK;
            if (failed) break;
            stream.next_in = (Bytef *)ys.data[j];
            stream.avail_in = (uInt)ys.size[j];
            stream.next_out = scratch;
            stream.avail_out = (uInt)out_size;
            failed = deflate(&stream, Z_FINISH) != Z_STREAM_END;
            out[i * ys.count + j] = (int64_t)stream.total_out;
        }
    }
    Py_END_ALLOW_THREADS
    deflateEnd(&stream);
    result = finish_pairs(scratch, NULL, &view, failed, "deflate with a dictionary failed");
done_texts:
    texts_free(&xs);
    texts_free(&ys);
    return result;
}

static PyObject *lz4_block_conditional_sizes(PyObject *self, PyObject *args) {
    PyObject *xs_obj, *ys_obj, *out_obj;
    if (!PyArg_ParseTuple(args, "OOO", &xs_obj, &ys_obj, &out_obj)) return NULL;
    if (lz4_load_dict == NULL || lz4_attach_dictionary == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "load_lz4() has not found LZ4_loadDict");
        return NULL;
    }
    texts_t xs = {0}, ys = {0};
    Py_buffer view;
    PyObject *result = NULL;
    if (pairs_from(xs_obj, ys_obj, out_obj, &xs, &ys, &view) < 0) goto done_texts;
    if (xs.max_size > INT32_MAX / 2 || ys.max_size > INT32_MAX / 2) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_OverflowError, "input too large for the LZ4 block API");
        goto done_texts;
    }

    int64_t *out = view.buf;
    /* a capacity of at least the bound python-lz4 gives each call: the same code path */
    int out_size = lz4_compress_bound((int)ys.max_size);
    char *scratch = malloc((size_t)out_size + 1);
    void *loaded = lz4_create_stream(); /* x's dictionary, loaded once */
    void *work = lz4_create_stream();   /* reset for each y, with x attached */
    int failed = scratch == NULL || loaded == NULL || work == NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < xs.count && !failed; i++) {
        lz4_reset_stream(loaded);
        lz4_load_dict(loaded, xs.data[i], (int)xs.size[i]);
        for (Py_ssize_t j = 0; j < ys.count && !failed; j++) {
            lz4_reset_stream_fast(work);
            lz4_attach_dictionary(work, loaded);
            int written = lz4_compress_fast_continue(work, ys.data[j], scratch, (int)ys.size[j],
                                                     out_size, 1);
            failed = written <= 0 && ys.size[j] > 0;
            out[i * ys.count + j] = written;
        }
    }
    Py_END_ALLOW_THREADS
    if (loaded != NULL) lz4_free_stream(loaded);
    if (work != NULL) lz4_free_stream(work);
    result = finish_pairs(scratch, NULL, &view, failed, "LZ4 with a dictionary failed");
done_texts:
    texts_free(&xs);
    texts_free(&ys);
    return result;
}

/* The zstd API (zstd.h), its stable enum values and buffers. */
typedef struct { void *dst; size_t size; size_t pos; } zstd_out_buffer;
typedef struct { const void *src; size_t size; size_t pos; } zstd_in_buffer;
enum {
    ZSTD_C_COMPRESSION_LEVEL = 100,
    ZSTD_C_CONTENT_SIZE_FLAG = 200,
    ZSTD_C_CHECKSUM_FLAG = 201,
    ZSTD_C_DICT_ID_FLAG = 202,
    ZSTD_DLM_BY_REF = 1,
    ZSTD_DCT_RAW_CONTENT = 1,
    ZSTD_RESET_SESSION_ONLY = 1,
    ZSTD_E_END = 2,
};
typedef void *(*zstd_create_cctx_fn)(void);
typedef size_t (*zstd_free_cctx_fn)(void *);
typedef size_t (*zstd_set_parameter_fn)(void *, int, int);
typedef size_t (*zstd_load_dictionary_fn)(void *, const void *, size_t, int, int);
typedef size_t (*zstd_reset_fn)(void *, int);
typedef size_t (*zstd_pledge_fn)(void *, unsigned long long);
typedef size_t (*zstd_compress_stream2_fn)(void *, zstd_out_buffer *, zstd_in_buffer *, int);
typedef unsigned (*zstd_is_error_fn)(size_t);
typedef size_t (*zstd_bound_fn)(size_t);

static struct {
    zstd_create_cctx_fn create_cctx;
    zstd_free_cctx_fn free_cctx;
    zstd_set_parameter_fn set_parameter;
    zstd_load_dictionary_fn load_dictionary;
    zstd_reset_fn reset;
    zstd_pledge_fn pledge;
    zstd_compress_stream2_fn compress_stream2;
    zstd_is_error_fn is_error;
    zstd_bound_fn bound;
} zstd = {0};

/* Take the addresses of ZSTD_createCCtx, ZSTD_freeCCtx, ZSTD_CCtx_setParameter,
 * ZSTD_CCtx_loadDictionary_advanced, ZSTD_CCtx_reset, ZSTD_CCtx_setPledgedSrcSize,
 * ZSTD_compressStream2, ZSTD_isError and ZSTD_compressBound, in that order. */
static PyObject *load_zstd(PyObject *self, PyObject *args) {
    unsigned long long a[9];
    if (!PyArg_ParseTuple(args, "KKKKKKKKK", &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &a[6],
                          &a[7], &a[8]))
        return NULL;
    zstd.create_cctx = (zstd_create_cctx_fn)(uintptr_t)a[0];
    zstd.free_cctx = (zstd_free_cctx_fn)(uintptr_t)a[1];
    zstd.set_parameter = (zstd_set_parameter_fn)(uintptr_t)a[2];
    zstd.load_dictionary = (zstd_load_dictionary_fn)(uintptr_t)a[3];
    zstd.reset = (zstd_reset_fn)(uintptr_t)a[4];
    zstd.pledge = (zstd_pledge_fn)(uintptr_t)a[5];
    zstd.compress_stream2 = (zstd_compress_stream2_fn)(uintptr_t)a[6];
    zstd.is_error = (zstd_is_error_fn)(uintptr_t)a[7];
    zstd.bound = (zstd_bound_fn)(uintptr_t)a[8];
    Py_RETURN_NONE;
}

/* 1 if any zstd call in `results` failed. */
static int zstd_failed(const size_t *results, int count) {
    for (int k = 0; k < count; k++)
        if (zstd.is_error(results[k])) return 1;
    return 0;
}

static PyObject *zstd_conditional_sizes(PyObject *self, PyObject *args) {
    PyObject *xs_obj, *ys_obj, *out_obj;
    int level, content_size, checksum, dict_id;
    if (!PyArg_ParseTuple(args, "OOiiiiO", &xs_obj, &ys_obj, &level, &content_size, &checksum,
                          &dict_id, &out_obj))
        return NULL;
    if (zstd.compress_stream2 == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "load_zstd() has not been given the zstd API");
        return NULL;
    }
    texts_t xs = {0}, ys = {0};
    Py_buffer view;
    PyObject *result = NULL;
    if (pairs_from(xs_obj, ys_obj, out_obj, &xs, &ys, &view) < 0) goto done_texts;

    int64_t *out = view.buf;
    size_t out_size = zstd.bound((size_t)ys.max_size);
    char *scratch = malloc(out_size + 1);
    /* what ZstdCompressor(level, dict_data=..., write_content_size=..., write_checksum=...,
       write_dict_id=...) sets on its context */
    void *cctx = zstd.create_cctx();
    int failed = scratch == NULL || cctx == NULL;
    if (!failed) {
        size_t set[4] = {
            zstd.set_parameter(cctx, ZSTD_C_COMPRESSION_LEVEL, level),
            zstd.set_parameter(cctx, ZSTD_C_CONTENT_SIZE_FLAG, content_size),
            zstd.set_parameter(cctx, ZSTD_C_CHECKSUM_FLAG, checksum),
            zstd.set_parameter(cctx, ZSTD_C_DICT_ID_FLAG, dict_id),
        };
        failed = zstd_failed(set, 4);
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < xs.count && !failed; i++) {
        size_t loaded = zstd.load_dictionary(cctx, xs.data[i], (size_t)xs.size[i],
                                             ZSTD_DLM_BY_REF, ZSTD_DCT_RAW_CONTENT);
        failed = zstd.is_error(loaded);
        for (Py_ssize_t j = 0; j < ys.count && !failed; j++) {
            zstd_out_buffer output = {scratch, out_size, 0};
            zstd_in_buffer input = {ys.data[j], (size_t)ys.size[j], 0};
            size_t steps[3] = {
                zstd.reset(cctx, ZSTD_RESET_SESSION_ONLY),
                zstd.pledge(cctx, (unsigned long long)ys.size[j]),
                zstd.compress_stream2(cctx, &output, &input, ZSTD_E_END),
            };
            failed = zstd_failed(steps, 3) || steps[2] != 0; /* 0: the frame is complete */
            out[i * ys.count + j] = (int64_t)output.pos;
        }
    }
    Py_END_ALLOW_THREADS
    if (cctx != NULL) zstd.free_cctx(cctx);
    result = finish_pairs(scratch, NULL, &view, failed, "zstd with a dictionary failed");
done_texts:
    texts_free(&xs);
    texts_free(&ys);
    return result;
}

/* ---------------------------------------------------------------- module */

static PyMethodDef methods[] = {
    {"deflate_pair_sizes", deflate_pair_sizes, METH_VARARGS,
     "deflate_pair_sizes(xs, ys, level, wbits, strategy, prefix_min_bytes, out): out[i, j] = "
     "the length of xs[i] + ys[j] deflated by zlib.compressobj(level, DEFLATED, wbits, 8, "
     "strategy)"},
    {"linked_zlib_version", linked_zlib_version, METH_NOARGS, "the zlib this module runs"},
    {"load_lz4", load_lz4, METH_VARARGS,
     "load_lz4(frame_path, block_path): find the LZ4 frame and block APIs in python-lz4's "
     "extensions; True if found"},
    {"lz4_pair_sizes", lz4_pair_sizes, METH_VARARGS,
     "lz4_pair_sizes(xs, ys, level, out): "
     "out[i, j] = len(lz4.frame.compress(xs[i] + ys[j], level))"},
    {"lz4_block_pair_sizes", lz4_block_pair_sizes, METH_VARARGS,
     "lz4_block_pair_sizes(xs, ys, out): "
     "out[i, j] = len(lz4.block.compress(xs[i] + ys[j], store_size=False))"},
    {"deflate_conditional_sizes", deflate_conditional_sizes, METH_VARARGS,
     "deflate_conditional_sizes(xs, ys, level, wbits, strategy, out): out[i, j] = the length "
     "of ys[j] deflated by zlib.compressobj(level, DEFLATED, wbits, 8, strategy, zdict=xs[i])"},
    {"lz4_block_conditional_sizes", lz4_block_conditional_sizes, METH_VARARGS,
     "lz4_block_conditional_sizes(xs, ys, out): "
     "out[i, j] = len(lz4.block.compress(ys[j], store_size=False, dict=xs[i]))"},
    {"load_zstd", load_zstd, METH_VARARGS,
     "load_zstd(*addresses): the zstd functions to call (see the source for their order)"},
    {"zstd_conditional_sizes", zstd_conditional_sizes, METH_VARARGS,
     "zstd_conditional_sizes(xs, ys, level, content_size, checksum, dict_id, out): out[i, j] = "
     "the length of ys[j] compressed by python-zstandard's ZstdCompressor(level, dict_data="
     "xs[i] as raw content, write_content_size=..., write_checksum=..., write_dict_id=...)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
