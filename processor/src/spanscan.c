/*
 * otel_llm_processor.model._spanscan: a validating, allocation-light reader of serialized
 * ExportTraceServiceRequest bytes (OTLP traces) that returns plain Python values.
 *
 * The public entry point and the pure-Python twin live in otel_llm_processor/model/spanscan.py;
 * both return exactly the same values and reject exactly what upb's ParseFromString rejects:
 *
 *   - every known message of the trace schema is parsed (events, links, scopes, kvlists and
 *     entity refs too) so that invalid UTF-8 anywhere in a string field is an error, as in upb;
 *   - a known field with an unexpected wire type is an unknown field (skipped), as in upb;
 *   - unknown fields are skipped, groups included (nested, with matching end tags);
 *   - tags and lengths are at most 5 bytes, varints at most 10, field number 0 is an error
 *     (except inside an unknown group, where upb skips it too);
 *   - nesting (sub-messages and groups) deeper than 100 levels is an error (upb's default);
 *   - singular fields: last one wins; singular sub-messages merge (Status, Resource, a
 *     KeyValue's AnyValue, whose array_value concatenates when merged into an array).
 *
 * No Python object is created per attribute: keys are looked up in a C hash table over their
 * UTF-8 bytes (the key at the same position in the previous span is tried first); only values of
 * matched keys in candidate spans (and of resources) become objects. Short ASCII strings are
 * reused from a small cache. The input is read twice at most: validated in one pass, and the
 * values of slots re-read when they become objects (a one-field value is decoded in the first).
 * A Scanner is not thread-safe without the GIL (it keeps per-scan scratch state).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 100
#define STR_CACHE_SIZE 1024 /* direct-mapped cache of short str values, power of two */
#define STR_CACHE_MAX_LEN 48
#define PREDICT 64 /* attribute positions whose key is predicted from the previous span */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                     */
/* ------------------------------------------------------------------------------------------ */
static const char ERR_VARINT[] = "truncated or overlong varint";
static const char ERR_TAG[] = "invalid tag";
static const char ERR_LEN[] = "length exceeds the remaining input";
static const char ERR_FIXED[] = "truncated fixed-width field";
static const char ERR_UTF8[] = "invalid UTF-8 in a string field";
static const char ERR_DEPTH[] = "nesting deeper than 100 levels";
static const char ERR_GROUP[] = "unterminated or mismatched group";
static const char ERR_WIRETYPE[] = "invalid wire type";

typedef struct {
    const uint8_t *start; /* of the whole input, for the error offset */
    const char *err;      /* first error, NULL when none */
    const uint8_t *err_at;
    int pyerr; /* a Python exception (MemoryError) is already set */
} Ctx;

static inline int fail(Ctx *c, const char *msg, const uint8_t *at) {
    if (!c->err) {
        c->err = msg;
        c->err_at = at;
    }
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Wire primitives (every read is bounds-checked against `end`)                               */
/* ------------------------------------------------------------------------------------------ */
static inline int rd_varint(Ctx *c, const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) {
        *out = *p;
        *pp = p + 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end) return fail(c, ERR_VARINT, p);
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            *pp = p;
            return 0;
        }
    }
    return fail(c, ERR_VARINT, *pp);
}

/* A varint of at most 5 bytes whose value fits 32 bits (tags and lengths, as upb reads them). */
static inline int rd_varint32(Ctx *c, const uint8_t **pp, const uint8_t *end, uint32_t *out,
                              const char *msg) {
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) {
        *out = *p;
        *pp = p + 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 5; i++) {
        if (p >= end) return fail(c, msg, p);
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (v > 0xffffffffu) return fail(c, msg, *pp);
            *out = (uint32_t)v;
            *pp = p;
            return 0;
        }
    }
    return fail(c, msg, *pp);
}

/* A tag inside an unknown group: upb accepts field number 0 there. */
static inline int rd_tag_raw(Ctx *c, const uint8_t **pp, const uint8_t *end, uint32_t *fn, uint32_t *wt) {
    uint32_t t;
    if (rd_varint32(c, pp, end, &t, ERR_TAG)) return -1;
    *fn = t >> 3;
    *wt = t & 7;
    return 0;
}

/* A tag of a message field: field number 0 is an error. */
static inline int rd_tag(Ctx *c, const uint8_t **pp, const uint8_t *end, uint32_t *fn, uint32_t *wt) {
    const uint8_t *at = *pp;
    if (rd_tag_raw(c, pp, end, fn, wt)) return -1;
    if (*fn == 0) return fail(c, ERR_TAG, at);
    return 0;
}

/* Reads a length prefix and checks the payload fits: on return [*pp, *pp + *len) is readable. */
static inline int rd_len(Ctx *c, const uint8_t **pp, const uint8_t *end, size_t *len) {
    uint32_t n;
    const uint8_t *at = *pp;
    if (rd_varint32(c, pp, end, &n, ERR_LEN)) return -1;
    if (n >= 0x7fffffffu || (size_t)n > (size_t)(end - *pp)) return fail(c, ERR_LEN, at);
    *len = n;
    return 0;
}

static inline uint64_t le64(const uint8_t *p) {
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static int skip_field(Ctx *c, uint32_t fn, uint32_t wt, const uint8_t **pp, const uint8_t *end,
                      int depth);

static int skip_group(Ctx *c, uint32_t start_fn, const uint8_t **pp, const uint8_t *end, int depth) {
    if (depth + 1 > MAX_DEPTH) return fail(c, ERR_DEPTH, *pp);
    for (;;) {
        uint32_t fn, wt;
        const uint8_t *at = *pp;
        if (*pp >= end) return fail(c, ERR_GROUP, at);
        if (rd_tag_raw(c, pp, end, &fn, &wt)) return -1;
        if (wt == WT_EGROUP) {
            if (fn != start_fn) return fail(c, ERR_GROUP, at);
            return 0;
        }
        if (skip_field(c, fn, wt, pp, end, depth + 1)) return -1;
    }
}

static int skip_field(Ctx *c, uint32_t fn, uint32_t wt, const uint8_t **pp, const uint8_t *end,
                      int depth) {
    uint64_t v;
    size_t n;
    switch (wt) {
    case WT_VARINT:
        return rd_varint(c, pp, end, &v);
    case WT_I64:
        if (end - *pp < 8) return fail(c, ERR_FIXED, *pp);
        *pp += 8;
        return 0;
    case WT_LEN:
        if (rd_len(c, pp, end, &n)) return -1;
        *pp += n;
        return 0;
    case WT_I32:
        if (end - *pp < 4) return fail(c, ERR_FIXED, *pp);
        *pp += 4;
        return 0;
    case WT_SGROUP:
        return skip_group(c, fn, pp, end, depth);
    default: /* an end-group tag outside a group, or wire types 6 and 7 */
        return fail(c, ERR_WIRETYPE, *pp);
    }
}

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF), as upb and Python check;
 * from byte i on (the bytes before are ASCII). */
static int utf8_valid_from(const uint8_t *s, size_t n, size_t i) {
    for (;;) {
        while (i < n && s[i] < 0x80) i++;
        if (i >= n) return 1;
        uint8_t b0 = s[i];
        if (b0 >= 0xC2 && b0 <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (b0 >= 0xE0 && b0 <= 0xEF) {
            if (i + 2 >= n) return 0;
            uint8_t b1 = s[i + 1];
            uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
            if (b1 < lo || b1 > hi || (s[i + 2] & 0xC0) != 0x80) return 0;
            i += 3;
        } else if (b0 >= 0xF0 && b0 <= 0xF4) {
            if (i + 3 >= n) return 0;
            uint8_t b1 = s[i + 1];
            uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
            if (b1 < lo || b1 > hi || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80) return 0;
            i += 4;
        } else {
            return 0;
        }
    }
}

/* Valid UTF-8? ASCII (8 bytes at a time, the tail as an overlapping word) inline, the rest not. */
static inline int utf8_valid(const uint8_t *s, size_t n) {
    uint64_t w;
    size_t i = 0;
    if (n >= 8) {
        for (; i + 8 < n; i += 8) {
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) return utf8_valid_from(s, n, i);
        }
        memcpy(&w, s + n - 8, 8);
        return (w & 0x8080808080808080ULL) ? utf8_valid_from(s, n, i) : 1;
    }
    uint8_t any = 0;
    for (; i < n; i++) any |= s[i];
    return (any & 0x80) ? utf8_valid_from(s, n, 0) : 1;
}

static inline int rd_string(Ctx *c, const uint8_t **pp, const uint8_t *end, const uint8_t **s, size_t *n) {
    if (rd_len(c, pp, end, n)) return -1;
    if (!utf8_valid(*pp, *n)) return fail(c, ERR_UTF8, *pp);
    *s = *pp;
    *pp += *n;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Table-driven validation of the messages whose contents are not extracted                   */
/* ------------------------------------------------------------------------------------------ */
enum { K_NONE = 0, K_VARINT, K_I64, K_I32, K_BYTES, K_STR, K_MSG };
static const uint8_t KIND_WT[] = {0xff, WT_VARINT, WT_I64, WT_I32, WT_LEN, WT_LEN, WT_LEN};

typedef struct Desc Desc;
typedef struct {
    uint8_t kind;
    const Desc *sub;
} FieldD;
struct Desc {
    uint32_t n; /* field numbers 0 .. n-1 are described */
    const FieldD *f;
};

static const Desc D_ANYVALUE, D_ARRAYVALUE, D_KVLIST, D_KEYVALUE;

static const FieldD F_ANYVALUE[] = {
    {K_NONE, NULL}, {K_STR, NULL},           {K_VARINT, NULL},     {K_VARINT, NULL}, {K_I64, NULL},
    {K_MSG, &D_ARRAYVALUE}, {K_MSG, &D_KVLIST}, {K_BYTES, NULL}, {K_VARINT, NULL},
};
static const FieldD F_ARRAYVALUE[] = {{K_NONE, NULL}, {K_MSG, &D_ANYVALUE}};
static const FieldD F_KVLIST[] = {{K_NONE, NULL}, {K_MSG, &D_KEYVALUE}};
static const FieldD F_KEYVALUE[] = {{K_NONE, NULL}, {K_STR, NULL}, {K_MSG, &D_ANYVALUE}, {K_VARINT, NULL}};
static const Desc D_ANYVALUE = {9, F_ANYVALUE};
static const Desc D_ARRAYVALUE = {2, F_ARRAYVALUE};
static const Desc D_KVLIST = {2, F_KVLIST};
static const Desc D_KEYVALUE = {4, F_KEYVALUE};

/* InstrumentationScope{1 name, 2 version, 3 attributes, 4 dropped_attributes_count} */
static const FieldD F_SCOPE[] = {
    {K_NONE, NULL}, {K_STR, NULL}, {K_STR, NULL}, {K_MSG, &D_KEYVALUE}, {K_VARINT, NULL}};
static const Desc D_SCOPE = {5, F_SCOPE};
/* Span.Event{1 time fixed64, 2 name, 3 attributes, 4 dropped_attributes_count} */
static const FieldD F_EVENT[] = {
    {K_NONE, NULL}, {K_I64, NULL}, {K_STR, NULL}, {K_MSG, &D_KEYVALUE}, {K_VARINT, NULL}};
static const Desc D_EVENT = {5, F_EVENT};
/* Span.Link{1 trace_id, 2 span_id, 3 trace_state, 4 attributes, 5 dropped, 6 flags fixed32} */
static const FieldD F_LINK[] = {{K_NONE, NULL},      {K_BYTES, NULL},  {K_BYTES, NULL}, {K_STR, NULL},
                                {K_MSG, &D_KEYVALUE}, {K_VARINT, NULL}, {K_I32, NULL}};
static const Desc D_LINK = {7, F_LINK};
/* EntityRef{1 schema_url, 2 type, 3 repeated id_keys, 4 repeated description_keys} */
static const FieldD F_ENTITYREF[] = {
    {K_NONE, NULL}, {K_STR, NULL}, {K_STR, NULL}, {K_STR, NULL}, {K_STR, NULL}};
static const Desc D_ENTITYREF = {5, F_ENTITYREF};

/* Validates the message [p, end) at nesting level `depth` (already checked by the caller). */
static int validate(Ctx *c, const Desc *d, const uint8_t *p, const uint8_t *end, int depth) {
    while (p < end) {
        uint32_t fn, wt;
        if (rd_tag(c, &p, end, &fn, &wt)) return -1;
        uint8_t kind = fn < d->n ? d->f[fn].kind : K_NONE;
        if (kind == K_NONE || wt != KIND_WT[kind]) {
            if (skip_field(c, fn, wt, &p, end, depth)) return -1;
            continue;
        }
        uint64_t v;
        size_t n;
        const uint8_t *s;
        switch (kind) {
        case K_VARINT:
            if (rd_varint(c, &p, end, &v)) return -1;
            break;
        case K_I64:
            if (end - p < 8) return fail(c, ERR_FIXED, p);
            p += 8;
            break;
        case K_I32:
            if (end - p < 4) return fail(c, ERR_FIXED, p);
            p += 4;
            break;
        case K_BYTES:
            if (rd_len(c, &p, end, &n)) return -1;
            p += n;
            break;
        case K_STR:
            if (rd_string(c, &p, end, &s, &n)) return -1;
            break;
        case K_MSG:
            if (rd_len(c, &p, end, &n)) return -1;
            if (depth + 1 > MAX_DEPTH) return fail(c, ERR_DEPTH, p);
            if (validate(c, d->f[fn].sub, p, p + n, depth + 1)) return -1;
            p += n;
            break;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The Scanner object                                                                         */
/* ------------------------------------------------------------------------------------------ */
typedef struct {
    const uint8_t *p;
    size_t n;
} Seg;

/* An attribute value located in the input: its kind and payload (a string's bytes, a varint's or
 * a double's 64 bits), or V_COMPLEX: [p, p + n) is the whole KeyValue body, to be re-read. */
enum { V_COMPLEX = -1, V_NONE = 0, V_STR, V_BOOL, V_INT, V_DOUBLE, V_ARRAY, V_KVLIST, V_BYTES, V_STRINDEX };

typedef struct {
    int kind;
    const uint8_t *p;
    size_t n;
    uint64_t u;
} Val;

typedef struct {
    Val v;          /* the value of the KeyValue that set this slot last */
    uint64_t stamp; /* == Slots.gen when set for the current span / resource */
} SlotRef;

/* The slot values found so far in one span (or one resource). */
typedef struct {
    SlotRef *refs;     /* nkeys */
    int32_t *touched;  /* the slots set in this generation, each once */
    Py_ssize_t ntouched;
    uint64_t gen;
} Slots;

static inline void slots_reset(Slots *sl) {
    sl->gen++;
    sl->ntouched = 0;
}

/* Where the value of slot k goes (the last KeyValue of a key wins). Values are written in place,
 * field by field: copying a Val through the stack costs a store-forwarding stall. */
static inline Val *slot_val(Slots *sl, int32_t k) {
    SlotRef *r = &sl->refs[k];
    if (r->stamp != sl->gen) {
        r->stamp = sl->gen;
        sl->touched[sl->ntouched++] = k;
    }
    return &r->v;
}

typedef struct {
    const uint8_t *key; /* into keybuf */
    uint32_t len;
    int32_t idx; /* the slot, -1 for an empty entry */
} Entry;

typedef struct {
    PyObject_HEAD
    Py_ssize_t nkeys;
    Py_ssize_t ntrigger;
    char *keybuf;        /* the UTF-8 bytes of all keys, back to back */
    Py_ssize_t *koff;    /* key i is keybuf[koff[i] .. koff[i] + klen[i]) */
    Py_ssize_t *klen;
    Entry *table;        /* open addressing, linear probing; idx -1: empty */
    const Entry *guess[PREDICT]; /* the entry the i-th attribute of the last span matched */
    int busy;            /* a scan is running (a finalizer run by the GC must not start another) */
    uint64_t tmask;
    Slots span_slots;
    Slots res_slots;
    PyObject **nones;    /* nkeys borrowed Py_None pointers: the template of a slot list */
    Seg *segs;           /* merged array_value segments of one slot value */
    size_t segcap;
    PyObject **scache;   /* STR_CACHE_SIZE short ASCII str objects (or NULL) */
    uint64_t *smiss;     /* per cache entry: the hash of the last string that missed it */
} Scanner;

static inline uint64_t ld64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t ld32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t a, b, m = 0;
    if (n >= 8) {
        a = ld64(p);
        b = ld64(p + n - 8);
        if (n > 16) m = ld64(p + n / 2 - 4);
    } else if (n >= 4) {
        a = ld32(p);
        b = ld32(p + n - 4);
    } else if (n > 0) {
        a = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
        b = 0;
    } else {
        a = b = 0;
    }
    uint64_t h = (a ^ ((b << 23) | (b >> 41)) ^ ((m << 47) | (m >> 17)) ^ n) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

/* a[0..n) == b[0..n) without a library call (keys are short). */
static inline int bytes_eq(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 < n; i += 8)
            if (ld64(a + i) != ld64(b + i)) return 0;
        return ld64(a + n - 8) == ld64(b + n - 8);
    }
    if (n >= 4) return ld32(a) == ld32(b) && ld32(a + n - 4) == ld32(b + n - 4);
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static inline const Entry *lookup_entry(const Scanner *s, const uint8_t *p, size_t n) {
    uint64_t i = hash_bytes(p, n) & s->tmask;
    for (;;) {
        const Entry *e = &s->table[i];
        if (e->idx < 0) return NULL;
        if (e->len == n && bytes_eq(e->key, p, n)) return e;
        i = (i + 1) & s->tmask;
    }
}

static inline int32_t lookup(const Scanner *s, const uint8_t *p, size_t n) {
    const Entry *e = lookup_entry(s, p, n);
    return e ? e->idx : -1;
}

/* The slot of the key at attribute position `pos`: spans of one instrumentation list their
 * attributes in the same order, so the previous span's key at that position is tried first. */
static inline int32_t lookup_at(Scanner *s, const uint8_t *p, size_t n, size_t pos) {
    if (pos >= PREDICT) return lookup(s, p, n);
    const Entry *e = s->guess[pos];
    if (e && e->len == n && bytes_eq(e->key, p, n)) return e->idx;
    e = lookup_entry(s, p, n);
    s->guess[pos] = e;
    return e ? e->idx : -1;
}

static void scanner_free_buffers(Scanner *s) {
    PyMem_Free(s->keybuf);
    PyMem_Free(s->koff);
    PyMem_Free(s->klen);
    PyMem_Free(s->table);
    PyMem_Free(s->span_slots.refs);
    PyMem_Free(s->span_slots.touched);
    PyMem_Free(s->res_slots.refs);
    PyMem_Free(s->res_slots.touched);
    PyMem_Free(s->nones);
    PyMem_Free(s->segs);
    PyMem_Free(s->smiss);
    s->smiss = NULL;
    if (s->scache) {
        for (size_t i = 0; i < STR_CACHE_SIZE; i++) Py_XDECREF(s->scache[i]);
        PyMem_Free(s->scache);
    }
    s->keybuf = NULL;
    s->koff = s->klen = NULL;
    s->table = NULL;
    s->span_slots.refs = s->res_slots.refs = NULL;
    s->span_slots.touched = s->res_slots.touched = NULL;
    s->nones = NULL;
    s->segs = NULL;
    s->scache = NULL;
}

static void Scanner_dealloc(Scanner *s) {
    scanner_free_buffers(s);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *Scanner_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"keys", "n_trigger", NULL};
    PyObject *keys_arg;
    Py_ssize_t ntrigger;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "On:Scanner", kwlist, &keys_arg, &ntrigger)) return NULL;
    if (PyUnicode_Check(keys_arg) || PyBytes_Check(keys_arg)) {
        PyErr_SetString(PyExc_TypeError, "keys must be a sequence of str, not a single string");
        return NULL;
    }
    PyObject *keys = PySequence_Fast(keys_arg, "keys must be a sequence of str");
    if (!keys) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(keys);
    Scanner *s = NULL;
    if (n > 0x7fffffff) {
        PyErr_SetString(PyExc_ValueError, "too many keys");
        goto error;
    }
    if (ntrigger < 0 || ntrigger > n) {
        PyErr_Format(PyExc_ValueError, "n_trigger must be between 0 and len(keys) (%zd), got %zd", n,
                     ntrigger);
        goto error;
    }
    s = (Scanner *)type->tp_alloc(type, 0);
    if (!s) goto error;
    s->nkeys = n;
    s->ntrigger = ntrigger;
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PySequence_Fast_GET_ITEM(keys, i);
        if (!PyUnicode_Check(k)) {
            PyErr_Format(PyExc_TypeError, "keys[%zd] must be str, not %.100s", i, Py_TYPE(k)->tp_name);
            goto error;
        }
        Py_ssize_t len;
        if (!PyUnicode_AsUTF8AndSize(k, &len)) goto error; /* lone surrogates: UnicodeEncodeError */
        if (len > 0x7fffffff) {
            PyErr_Format(PyExc_ValueError, "keys[%zd] is too long", i);
            goto error;
        }
        total += len;
    }
    uint64_t cap = 8;
    while (cap < (uint64_t)n * 2 + 1) cap <<= 1;
    s->keybuf = PyMem_Malloc(total ? (size_t)total : 1);
    s->koff = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Py_ssize_t));
    s->klen = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Py_ssize_t));
    s->table = PyMem_Malloc((size_t)cap * sizeof(Entry));
    size_t n1 = n ? (size_t)n : 1;
    s->span_slots.refs = PyMem_Calloc(n1, sizeof(SlotRef));
    s->span_slots.touched = PyMem_Calloc(n1, sizeof(int32_t));
    s->res_slots.refs = PyMem_Calloc(n1, sizeof(SlotRef));
    s->res_slots.touched = PyMem_Calloc(n1, sizeof(int32_t));
    s->nones = PyMem_Calloc(n1, sizeof(PyObject *));
    s->scache = PyMem_Calloc(STR_CACHE_SIZE, sizeof(PyObject *));
    s->smiss = PyMem_Calloc(STR_CACHE_SIZE, sizeof(uint64_t));
    s->segcap = 8;
    s->segs = PyMem_Malloc(s->segcap * sizeof(Seg));
    if (!s->keybuf || !s->koff || !s->klen || !s->table || !s->span_slots.refs || !s->span_slots.touched ||
        !s->res_slots.refs || !s->res_slots.touched || !s->nones || !s->scache || !s->smiss || !s->segs) {
        PyErr_NoMemory();
        goto error;
    }
    s->tmask = cap - 1;
    s->span_slots.gen = s->res_slots.gen = 1; /* the refs start stamped 0 */
    for (Py_ssize_t i = 0; i < n; i++) s->nones[i] = Py_None;
    for (uint64_t i = 0; i < cap; i++) s->table[i] = (Entry){NULL, 0, -1};
    Py_ssize_t off = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t len;
        const char *u = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(keys, i), &len);
        memcpy(s->keybuf + off, u, (size_t)len);
        s->koff[i] = off;
        s->klen[i] = len;
        off += len;
        if (lookup(s, (const uint8_t *)u, (size_t)len) >= 0) {
            PyErr_Format(PyExc_ValueError, "keys[%zd] is a duplicate: %R", i,
                         PySequence_Fast_GET_ITEM(keys, i));
            goto error;
        }
        uint64_t h = hash_bytes((const uint8_t *)u, (size_t)len) & s->tmask;
        while (s->table[h].idx >= 0) h = (h + 1) & s->tmask;
        s->table[h] = (Entry){(const uint8_t *)s->keybuf + off - len, (uint32_t)len, (int32_t)i};
    }
    Py_DECREF(keys);
    return (PyObject *)s;
error:
    Py_DECREF(keys);
    Py_XDECREF(s);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Value conversion (input already validated; checks stay as a second line of defence)        */
/* ------------------------------------------------------------------------------------------ */
/* A str from valid UTF-8. Short ASCII strings (model names, operations, providers, span names)
 * come from a direct-mapped cache of STR_CACHE_SIZE entries: a bounded set of references. */
static PyObject *make_str(Scanner *s, Ctx *c, const uint8_t *p, size_t n) {
    if (n == 0 || n > STR_CACHE_MAX_LEN) {
        PyObject *o = PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)n, NULL);
        if (!o) c->pyerr = 1;
        return o;
    }
    uint64_t h = hash_bytes(p, n);
    size_t i = h & (STR_CACHE_SIZE - 1);
    PyObject *o = s->scache[i];
    if (o && PyUnicode_IS_COMPACT_ASCII(o) && (size_t)PyUnicode_GET_LENGTH(o) == n &&
        bytes_eq(PyUnicode_DATA(o), p, n)) {
        Py_INCREF(o);
        return o;
    }
    o = PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)n, NULL);
    if (!o) {
        c->pyerr = 1;
        return NULL;
    }
    /* Admitted when seen twice in a row at this entry: unique values (ids) do not evict. */
    if (s->smiss[i] == h && PyUnicode_IS_COMPACT_ASCII(o)) {
        Py_INCREF(o);
        Py_XSETREF(s->scache[i], o);
    } else {
        s->smiss[i] = h;
    }
    return o;
}

/* Applies the fields of one AnyValue body to `v` (oneof: the last field wins). When `segs` is
 * given, array_value bodies merge (concatenate) into it while the kind stays V_ARRAY. */
static int read_anyvalue(Scanner *s, Ctx *c, const uint8_t *p, const uint8_t *end, Val *v, size_t *nseg) {
    while (p < end) {
        uint32_t fn, wt;
        uint64_t x;
        size_t n;
        if (rd_tag(c, &p, end, &fn, &wt)) return -1;
        int kind = V_NONE;
        switch (fn) {
        case 1: kind = wt == WT_LEN ? V_STR : V_NONE; break;
        case 2: kind = wt == WT_VARINT ? V_BOOL : V_NONE; break;
        case 3: kind = wt == WT_VARINT ? V_INT : V_NONE; break;
        case 4: kind = wt == WT_I64 ? V_DOUBLE : V_NONE; break;
        case 5: kind = wt == WT_LEN ? V_ARRAY : V_NONE; break;
        case 6: kind = wt == WT_LEN ? V_KVLIST : V_NONE; break;
        case 7: kind = wt == WT_LEN ? V_BYTES : V_NONE; break;
        case 8: kind = wt == WT_VARINT ? V_STRINDEX : V_NONE; break;
        }
        if (kind == V_NONE) {
            if (skip_field(c, fn, wt, &p, end, 0)) return -1;
            continue;
        }
        if (wt == WT_VARINT) {
            if (rd_varint(c, &p, end, &x)) return -1;
            v->u = x;
        } else if (wt == WT_I64) {
            if (end - p < 8) return fail(c, ERR_FIXED, p);
            v->u = le64(p);
            p += 8;
        } else {
            if (rd_len(c, &p, end, &n)) return -1;
            if (kind == V_ARRAY && nseg) {
                if (v->kind != V_ARRAY) *nseg = 0;
                if (*nseg == s->segcap) {
                    size_t cap = s->segcap * 2;
                    Seg *grown = PyMem_Realloc(s->segs, cap * sizeof(Seg));
                    if (!grown) {
                        PyErr_NoMemory();
                        c->pyerr = 1;
                        return -1;
                    }
                    s->segs = grown;
                    s->segcap = cap;
                }
                s->segs[*nseg].p = p;
                s->segs[*nseg].n = n;
                (*nseg)++;
            }
            v->p = p;
            v->n = n;
            p += n;
        }
        v->kind = kind;
    }
    return 0;
}

static PyObject *scalar_object(Scanner *s, Ctx *c, const Val *v) {
    PyObject *o;
    double d;
    switch (v->kind) {
    case V_STR:
        return make_str(s, c, v->p, v->n);
    case V_BOOL:
        return PyBool_FromLong(v->u != 0);
    case V_INT:
        o = PyLong_FromLongLong((long long)(int64_t)v->u);
        break;
    case V_DOUBLE:
        memcpy(&d, &v->u, 8);
        o = PyFloat_FromDouble(d);
        break;
    case V_BYTES:
        o = PyBytes_FromStringAndSize((const char *)v->p, (Py_ssize_t)v->n);
        break;
    default:
        Py_RETURN_NONE;
    }
    if (!o) c->pyerr = 1;
    return o;
}

/* The value of one attribute: the (merged) AnyValue of a KeyValue body. */
static PyObject *convert_kv(Scanner *s, Ctx *c, const uint8_t *p, const uint8_t *end) {
    Val v = {V_NONE, NULL, 0, 0};
    size_t nseg = 0;
    while (p < end) {
        uint32_t fn, wt;
        size_t n;
        if (rd_tag(c, &p, end, &fn, &wt)) return NULL;
        if (fn == 2 && wt == WT_LEN) {
            if (rd_len(c, &p, end, &n)) return NULL;
            if (read_anyvalue(s, c, p, p + n, &v, &nseg)) return NULL;
            p += n;
        } else if (skip_field(c, fn, wt, &p, end, 0)) {
            return NULL;
        }
    }
    if (v.kind != V_ARRAY) return scalar_object(s, c, &v);
    /* array_value: a tuple of the scalar elements of every merged segment */
    Py_ssize_t count = 0;
    for (size_t i = 0; i < nseg; i++) {
        const uint8_t *q = s->segs[i].p, *qe = q + s->segs[i].n;
        while (q < qe) {
            uint32_t fn, wt;
            if (rd_tag(c, &q, qe, &fn, &wt)) return NULL;
            if (fn == 1 && wt == WT_LEN) count++;
            if (skip_field(c, fn, wt, &q, qe, 0)) return NULL;
        }
    }
    PyObject *tuple = PyTuple_New(count);
    if (!tuple) {
        c->pyerr = 1;
        return NULL;
    }
    Py_ssize_t k = 0;
    for (size_t i = 0; i < nseg; i++) {
        const uint8_t *q = s->segs[i].p, *qe = q + s->segs[i].n;
        while (q < qe) {
            uint32_t fn, wt;
            size_t n;
            if (rd_tag(c, &q, qe, &fn, &wt)) goto fail;
            if (fn == 1 && wt == WT_LEN) {
                if (rd_len(c, &q, qe, &n)) goto fail;
                Val e = {V_NONE, NULL, 0, 0};
                if (read_anyvalue(s, c, q, q + n, &e, NULL)) goto fail;
                PyObject *o = scalar_object(s, c, &e);
                if (!o) goto fail;
                if (k >= count) { /* cannot happen: counted above */
                    Py_DECREF(o);
                    fail(c, ERR_TAG, q);
                    goto fail;
                }
                PyTuple_SET_ITEM(tuple, k++, o);
                q += n;
            } else if (skip_field(c, fn, wt, &q, qe, 0)) {
                goto fail;
            }
        }
    }
    PyObject_GC_UnTrack(tuple); /* scalars only: cannot be part of a cycle */
    return tuple;
fail:
    Py_DECREF(tuple);
    return NULL;
}

/* Takes n more references to None at once (n < 0: gives -n back; None is never freed). A chain
 * of n increments of one counter would be a serial dependency through memory. */
static inline void incref_none(Py_ssize_t n) {
#ifdef Py_REF_DEBUG
    for (Py_ssize_t i = 0; i < n; i++) Py_INCREF(Py_None);
    for (Py_ssize_t i = 0; i < -n; i++) Py_DECREF(Py_None);
#else
    if (n) Py_SET_REFCNT(Py_None, Py_REFCNT(Py_None) + n);
#endif
}

/* A list of nkeys values: the slots set in this generation, None elsewhere. */
static PyObject *slot_list(Scanner *s, Ctx *c, const Slots *sl) {
    PyObject *list = PyList_New(s->nkeys);
    if (!list) {
        c->pyerr = 1;
        return NULL;
    }
    PyObject **items = ((PyListObject *)list)->ob_item;
    incref_none(s->nkeys); /* one reference per item; those replaced by values are given back below */
    if (s->nkeys) memcpy(items, s->nones, (size_t)s->nkeys * sizeof(PyObject *));
    Py_ssize_t t = 0;
    for (; t < sl->ntouched; t++) {
        int32_t k = sl->touched[t];
        const Val *v = &sl->refs[k].v;
        PyObject *o = v->kind == V_COMPLEX ? convert_kv(s, c, v->p, v->p + v->n) : scalar_object(s, c, v);
        if (!o) break;
        items[k] = o;
    }
    incref_none(-t);
    if (t < sl->ntouched) {
        Py_DECREF(list);
        return NULL;
    }
    return list;
}

/* ------------------------------------------------------------------------------------------ */
/* The request walk                                                                           */
/* ------------------------------------------------------------------------------------------ */
typedef struct {
    Scanner *s;
    Ctx *c;
    PyObject *resources;
    PyObject *rows;
    Py_ssize_t span_count;
} Walk;

/* A one-field AnyValue in its usual encoding (1-byte tag, length below 128): validated and
 * decoded into *v; returns 1, or 0 when the body is anything else (then nothing was checked). */
static int simple_anyvalue(Ctx *c, const uint8_t *p, size_t n, Val *v) {
    if (n == 0) {
        v->kind = V_NONE;
        return 1;
    }
    if (n < 2) return 0;
    const uint8_t *q = p + 1, *end = p + n;
    switch (p[0]) {
    case 1 << 3 | WT_LEN: /* string_value */
    case 7 << 3 | WT_LEN: /* bytes_value */
        if (p[1] >= 0x80 || (size_t)p[1] + 2 != n) return 0;
        if (p[0] == (1 << 3 | WT_LEN)) {
            if (!utf8_valid(p + 2, p[1])) return fail(c, ERR_UTF8, p + 2), 1;
            v->kind = V_STR;
        } else {
            v->kind = V_BYTES;
        }
        v->p = p + 2;
        v->n = p[1];
        return 1;
    case 2 << 3 | WT_VARINT: /* bool_value */
    case 3 << 3 | WT_VARINT: /* int_value */
        if (rd_varint(c, &q, end, &v->u)) return 1;
        if (q != end) return 0;
        v->kind = p[0] == (2 << 3 | WT_VARINT) ? V_BOOL : V_INT;
        return 1;
    case 4 << 3 | WT_I64: /* double_value */
        if (n != 9) return 0;
        v->kind = V_DOUBLE;
        v->u = le64(p + 1);
        return 1;
    }
    return 0;
}

/* A KeyValue at `depth`: validates it, returns its slot index (-1 when the key is not one of ours)
 * or -2 on error. A slot's value goes to `sl` (V_COMPLEX: the whole KeyValue body, re-read later). */
static int32_t parse_kv(Walk *w, const uint8_t *p, const uint8_t *end, int depth, Slots *sl, size_t pos) {
    Ctx *c = w->c;
    const uint8_t *body = p;
    int32_t k;
    Val scratch, *v;
    /* The usual encoding: key (tag 0x0A, length < 128) then value (tag 0x12, length < 128). */
    if (end - p >= 4 && p[0] == (1 << 3 | WT_LEN) && p[1] < 0x80 && (size_t)(end - p) >= (size_t)p[1] + 4) {
        const uint8_t *q = p + 2 + p[1];
        if (q[0] == (2 << 3 | WT_LEN) && q[1] < 0x80 && q + 2 + q[1] == end) {
            k = lookup_at(w->s, p + 2, p[1], pos);
            /* a key equal to one of ours is valid UTF-8; others need checking */
            if (k < 0 && !utf8_valid(p + 2, p[1])) return fail(c, ERR_UTF8, p + 2), -2;
            if (depth + 1 > MAX_DEPTH) return fail(c, ERR_DEPTH, q), -2;
            v = k >= 0 ? slot_val(sl, k) : &scratch;
            if (simple_anyvalue(c, q + 2, q[1], v)) return c->err ? -2 : k;
            if (validate(c, &D_ANYVALUE, q + 2, end, depth + 1)) return -2;
            v->kind = V_COMPLEX;
            v->p = body;
            v->n = (size_t)(end - body);
            return k;
        }
    }
    k = -3; /* no key field yet: the key is "" */
    while (p < end) {
        uint32_t fn, wt;
        size_t n;
        uint64_t x;
        if (rd_tag(c, &p, end, &fn, &wt)) return -2;
        if (fn == 1 && wt == WT_LEN) {
            if (rd_len(c, &p, end, &n)) return -2;
            k = lookup(w->s, p, n);
            if (k < 0 && !utf8_valid(p, n)) return fail(c, ERR_UTF8, p), -2;
            p += n;
        } else if (fn == 2 && wt == WT_LEN) {
            if (rd_len(c, &p, end, &n)) return -2;
            if (depth + 1 > MAX_DEPTH) return fail(c, ERR_DEPTH, p), -2;
            if (validate(c, &D_ANYVALUE, p, p + n, depth + 1)) return -2;
            p += n;
        } else if (fn == 3 && wt == WT_VARINT) {
            if (rd_varint(c, &p, end, &x)) return -2;
        } else if (skip_field(c, fn, wt, &p, end, depth)) {
            return -2;
        }
    }
    if (k == -3) k = lookup(w->s, (const uint8_t *)"", 0);
    if (k >= 0) {
        v = slot_val(sl, k);
        v->kind = V_COMPLEX;
        v->p = body;
        v->n = (size_t)(end - body);
    }
    return k;
}

/* Span at depth 3. */
static int parse_span(Walk *w, const uint8_t *p, const uint8_t *end, Py_ssize_t rs_index) {
    const int depth = 3;
    Scanner *s = w->s;
    Ctx *c = w->c;
    Slots *sl = &s->span_slots;
    slots_reset(sl);
    int candidate = 0;
    const uint8_t *empty = (const uint8_t *)"";
    const uint8_t *trace = empty, *span = empty, *parent = empty, *name = empty;
    size_t trace_n = 0, span_n = 0, parent_n = 0, name_n = 0;
    uint64_t start = 0, stop = 0, x;
    int32_t code = 0;
    size_t nattr = 0;
    while (p < end) {
        uint32_t fn, wt;
        size_t n;
        const uint8_t *body, *str;
        if (rd_tag(c, &p, end, &fn, &wt)) return -1;
        switch (fn << 3 | wt) {
        case 1 << 3 | WT_LEN:
            if (rd_len(c, &p, end, &trace_n)) return -1;
            trace = p;
            p += trace_n;
            continue;
        case 2 << 3 | WT_LEN:
            if (rd_len(c, &p, end, &span_n)) return -1;
            span = p;
            p += span_n;
            continue;
        case 4 << 3 | WT_LEN:
            if (rd_len(c, &p, end, &parent_n)) return -1;
            parent = p;
            p += parent_n;
            continue;
        case 3 << 3 | WT_LEN: /* trace_state */
            if (rd_string(c, &p, end, &str, &n)) return -1;
            continue;
        case 5 << 3 | WT_LEN:
            if (rd_string(c, &p, end, &name, &name_n)) return -1;
            continue;
        case 6 << 3 | WT_VARINT:  /* kind */
        case 10 << 3 | WT_VARINT: /* dropped_attributes_count */
        case 12 << 3 | WT_VARINT: /* dropped_events_count */
        case 14 << 3 | WT_VARINT: /* dropped_links_count */
            if (rd_varint(c, &p, end, &x)) return -1;
            continue;
        case 7 << 3 | WT_I64:
        case 8 << 3 | WT_I64:
            if (end - p < 8) return fail(c, ERR_FIXED, p);
            if (fn == 7)
                start = le64(p);
            else
                stop = le64(p);
            p += 8;
            continue;
        case 16 << 3 | WT_I32: /* flags */
            if (end - p < 4) return fail(c, ERR_FIXED, p);
            p += 4;
            continue;
        case 9 << 3 | WT_LEN: {
            if (rd_len(c, &p, end, &n)) return -1;
            if (depth + 1 > MAX_DEPTH) return fail(c, ERR_DEPTH, p);
            body = p;
            p += n;
            int32_t k = parse_kv(w, body, p, depth + 1, sl, nattr++);
            if (k == -2) return -1;
            if (k >= 0 && k < s->ntrigger) candidate = 1;
            continue;
        }
        case 11 << 3 | WT_LEN:
        case 13 << 3 | WT_LEN:
            if (rd_len(c, &p, end, &n)) return -1;
            if (depth + 1 > MAX_DEPTH) return fail(c, ERR_DEPTH, p);
            if (validate(c, fn == 11 ? &D_EVENT : &D_LINK, p, p + n, depth + 1)) return -1;
            p += n;
            continue;
        case 15 << 3 | WT_LEN: { /* Status{2 message, 3 code}: merges, the last code wins */
            if (rd_len(c, &p, end, &n)) return -1;
            if (depth + 1 > MAX_DEPTH) return fail(c, ERR_DEPTH, p);
            const uint8_t *q = p, *qe = p + n;
            p += n;
            while (q < qe) {
                uint32_t sfn, swt;
                if (rd_tag(c, &q, qe, &sfn, &swt)) return -1;
                if (sfn == 2 && swt == WT_LEN) {
                    if (rd_string(c, &q, qe, &str, &n)) return -1;
                } else if (sfn == 3 && swt == WT_VARINT) {
                    if (rd_varint(c, &q, qe, &x)) return -1;
                    code = (int32_t)(uint32_t)x;
                } else if (skip_field(c, sfn, swt, &q, qe, depth + 1)) {
                    return -1;
                }
            }
            continue;
        }
        default:
            if (skip_field(c, fn, wt, &p, end, depth)) return -1;
        }
    }
    if (!candidate) return 0;

    PyObject *row = PyTuple_New(9);
    if (!row) goto nomem;
    PyObject *o;
#define SET(i, expr)             \
    do {                         \
        o = (expr);              \
        if (!o) goto row_failed; \
        PyTuple_SET_ITEM(row, i, o); \
    } while (0)
    SET(0, PyLong_FromSsize_t(rs_index));
    SET(1, PyBytes_FromStringAndSize((const char *)trace, (Py_ssize_t)trace_n));
    SET(2, PyBytes_FromStringAndSize((const char *)span, (Py_ssize_t)span_n));
    SET(3, PyBytes_FromStringAndSize((const char *)parent, (Py_ssize_t)parent_n));
    SET(4, PyLong_FromUnsignedLongLong(start));
    SET(5, PyLong_FromUnsignedLongLong(stop));
    SET(6, PyLong_FromLong(code));
    SET(7, make_str(s, c, name, name_n));
    SET(8, slot_list(s, c, sl));
#undef SET
    if (PyList_Append(w->rows, row)) {
        Py_DECREF(row);
        goto nomem;
    }
    Py_DECREF(row);
    return 0;
row_failed:
    Py_DECREF(row);
    if (c->err) return -1; /* a conversion found the input inconsistent */
nomem:
    c->pyerr = 1;
    return -1;
}

/* ScopeSpans at depth 2. */
static int parse_scope_spans(Walk *w, const uint8_t *p, const uint8_t *end, Py_ssize_t rs_index) {
    const int depth = 2;
    Ctx *c = w->c;
    while (p < end) {
        uint32_t fn, wt;
        size_t n;
        const uint8_t *str;
        if (rd_tag(c, &p, end, &fn, &wt)) return -1;
        if (wt == WT_LEN && (fn == 1 || fn == 2)) {
            if (rd_len(c, &p, end, &n)) return -1;
            if (depth + 1 > MAX_DEPTH) return fail(c, ERR_DEPTH, p);
            if (fn == 1) {
                if (validate(c, &D_SCOPE, p, p + n, depth + 1)) return -1;
            } else {
                w->span_count++;
                if (parse_span(w, p, p + n, rs_index)) return -1;
            }
            p += n;
        } else if (fn == 3 && wt == WT_LEN) {
            if (rd_string(c, &p, end, &str, &n)) return -1;
        } else if (skip_field(c, fn, wt, &p, end, depth)) {
            return -1;
        }
    }
    return 0;
}

/* Resource at depth 2: attributes into res_slots (several Resource fields merge). */
static int parse_resource(Walk *w, const uint8_t *p, const uint8_t *end) {
    const int depth = 2;
    Scanner *s = w->s;
    Ctx *c = w->c;
    while (p < end) {
        uint32_t fn, wt;
        size_t n;
        uint64_t x;
        if (rd_tag(c, &p, end, &fn, &wt)) return -1;
        if (wt == WT_LEN && (fn == 1 || fn == 3)) {
            if (rd_len(c, &p, end, &n)) return -1;
            if (depth + 1 > MAX_DEPTH) return fail(c, ERR_DEPTH, p);
            if (fn == 1) {
                if (parse_kv(w, p, p + n, depth + 1, &s->res_slots, PREDICT) == -2) return -1;
            } else if (validate(c, &D_ENTITYREF, p, p + n, depth + 1)) {
                return -1;
            }
            p += n;
        } else if (fn == 2 && wt == WT_VARINT) {
            if (rd_varint(c, &p, end, &x)) return -1;
        } else if (skip_field(c, fn, wt, &p, end, depth)) {
            return -1;
        }
    }
    return 0;
}

/* ResourceSpans at depth 1. */
static int parse_resource_spans(Walk *w, const uint8_t *p, const uint8_t *end, Py_ssize_t rs_index) {
    const int depth = 1;
    Scanner *s = w->s;
    Ctx *c = w->c;
    slots_reset(&s->res_slots);
    while (p < end) {
        uint32_t fn, wt;
        size_t n;
        const uint8_t *str;
        if (rd_tag(c, &p, end, &fn, &wt)) return -1;
        if (wt == WT_LEN && (fn == 1 || fn == 2)) {
            if (rd_len(c, &p, end, &n)) return -1;
            if (depth + 1 > MAX_DEPTH) return fail(c, ERR_DEPTH, p);
            if (fn == 1 ? parse_resource(w, p, p + n) : parse_scope_spans(w, p, p + n, rs_index)) return -1;
            p += n;
        } else if (fn == 3 && wt == WT_LEN) {
            if (rd_string(c, &p, end, &str, &n)) return -1;
        } else if (skip_field(c, fn, wt, &p, end, depth)) {
            return -1;
        }
    }
    PyObject *slots = slot_list(s, c, &s->res_slots);
    if (!slots) return -1;
    int rc = PyList_Append(w->resources, slots);
    Py_DECREF(slots);
    if (rc) c->pyerr = 1;
    return rc;
}

static PyObject *Scanner_scan(Scanner *s, PyObject *arg) {
    Py_buffer view;
    if (s->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Scanner.scan is not reentrant");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)) return NULL;
    s->busy = 1;
    Ctx c = {(const uint8_t *)view.buf, NULL, NULL, 0};
    Walk w = {s, &c, PyList_New(0), PyList_New(0), 0};
    PyObject *result = NULL;
    if (!w.resources || !w.rows) goto done;
    const uint8_t *p = (const uint8_t *)view.buf, *end = p + view.len;
    Py_ssize_t rs_index = 0;
    while (p < end) {
        uint32_t fn, wt;
        size_t n;
        if (rd_tag(&c, &p, end, &fn, &wt)) break;
        if (fn == 1 && wt == WT_LEN) {
            if (rd_len(&c, &p, end, &n)) break;
            if (parse_resource_spans(&w, p, p + n, rs_index++)) break;
            p += n;
        } else if (skip_field(&c, fn, wt, &p, end, 0)) {
            break;
        }
    }
    if (c.pyerr && PyErr_Occurred()) goto done;
    if (c.err) {
        PyErr_Format(PyExc_ValueError, "malformed ExportTraceServiceRequest: %s at byte %zd", c.err,
                     (Py_ssize_t)(c.err_at - c.start));
        goto done;
    }
    if (c.pyerr) { /* defensive: a failure without an exception */
        PyErr_SetString(PyExc_SystemError, "spanscan: internal error");
        goto done;
    }
    result = Py_BuildValue("(nOO)", w.span_count, w.resources, w.rows);
done:
    Py_XDECREF(w.resources);
    Py_XDECREF(w.rows);
    PyBuffer_Release(&view);
    s->busy = 0;
    return result;
}

static PyObject *Scanner_get_keys(Scanner *s, void *closure) {
    (void)closure;
    PyObject *t = PyTuple_New(s->nkeys);
    if (!t) return NULL;
    for (Py_ssize_t i = 0; i < s->nkeys; i++) {
        PyObject *k = PyUnicode_DecodeUTF8(s->keybuf + s->koff[i], s->klen[i], NULL);
        if (!k) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, k);
    }
    return t;
}

static PyObject *Scanner_get_n_trigger(Scanner *s, void *closure) {
    (void)closure;
    return PyLong_FromSsize_t(s->ntrigger);
}

static PyMethodDef Scanner_methods[] = {
    {"scan", (PyCFunction)Scanner_scan, METH_O,
     "scan(data) -> (span_count, resources, rows): read a serialized ExportTraceServiceRequest."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Scanner_getset[] = {
    {"keys", (getter)Scanner_get_keys, NULL, "The slot keys, in slot order.", NULL},
    {"n_trigger", (getter)Scanner_get_n_trigger, NULL, "Slots below this index make a span a candidate.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "otel_llm_processor.model._spanscan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Scanner(keys, n_trigger): reads OTLP trace requests into plain values (native).",
    .tp_methods = Scanner_methods,
    .tp_getset = Scanner_getset,
    .tp_new = Scanner_new,
};

static struct PyModuleDef spanscan_module = {
    PyModuleDef_HEAD_INIT, "_spanscan", "Native OTLP span scanner (see spanscan.py).", -1, NULL,
};

PyMODINIT_FUNC PyInit__spanscan(void) {
    if (PyType_Ready(&ScannerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&spanscan_module);
    if (!m) return NULL;
    Py_INCREF(&ScannerType);
    if (PyModule_AddObject(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(&ScannerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
