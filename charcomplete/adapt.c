/* The per-key work of the models that learn the document, in C: AdaptiveModel.mix (adapt.py), the
 * partial words' blend (words.py), the match model's keys (match.py), the output layer's SGD step
 * (netadapt.py) and the mixer (mixer.py). The first four do the same lookups in the same tables
 * (the Python dicts themselves, read through Python's C API) and the same arithmetic in the same
 * order, so the same numbers come out (tests/test_adapt_native.py checks it bit for bit); the
 * mixer uses libm's exp and log and sums in order, numpy's numbers to ~1e-15. In Python and numpy
 * they were most of a key's time beside the network's step (docs/benchmarks.md, "The per-key
 * work in C": bench/latency.py).
 *
 * A Python extension module, compiled on first use by charcomplete/native.py with the machine's C
 * compiler and this Python's headers; without them the Python code runs. It holds the GIL from
 * start to end and calls no Python code (only dict and str lookups), so the tables cannot change
 * under it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

#define MAX_NODES 64     /* hit nodes kept: (max_order - min_order + 1) x levels, at most */
#define MAX_SLOTS 4096   /* distinct next characters in one mix (the tables' nodes together) */
#define DIRECT 65536     /* code points below this find their slot in one look */

static int16_t slot_of[DIRECT];  /* code point -> its slot in this call (-1: none); reset after each call */
static int slot_of_ready = 0;
static Py_UCS4 slot_cp[MAX_SLOTS];     /* each slot's character */
static PyObject *slot_key[MAX_SLOTS];  /* and its str (a counts dict's key, held during the call: for the index lookup) */
static double slot_extra[MAX_SLOTS];   /* the extra mass the nodes give it: adapt.py's `extra` */

typedef struct {
    Py_buffer view;
    int held;
} Buffer;

/* obj's C-contiguous buffer, of any type, held in b (release() lets it go); 0, or -1 with an error set. */
static int hold(PyObject *obj, Buffer *b, int writable) {
    if (PyObject_GetBuffer(obj, &b->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    b->held = 1;
    return 0;
}

/* A C-contiguous buffer of doubles ('d') or floats ('f', when floats_ok) of obj, of `ndim` dimensions
 * (1 where not said: get_buffer); 0 on success. */
static int get_array(PyObject *obj, Buffer *b, int writable, int floats_ok, const char *name, int ndim) {
    if (hold(obj, b, writable) < 0)
        return -1;
    const char *f = b->view.format ? b->view.format : "B";
    if (*f == '<' || *f == '=' || *f == '@')
        f++;
    int ok = b->view.ndim == ndim && f[1] == '\0' && (f[0] == 'd' || (floats_ok && f[0] == 'f'));
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s must be a %d-d array of float64%s", name, ndim, floats_ok ? " or float32" : "");
        return -1;
    }
    return 0;
}

static int get_buffer(PyObject *obj, Buffer *b, int writable, int floats_ok, const char *name) {
    return get_array(obj, b, writable, floats_ok, name, 1);
}

static void release(Buffer *b) {
    if (b->held)
        PyBuffer_Release(&b->view);
    b->held = 0;
}

/* A node [total, {char: count}]: its total and counts dict (borrowed), or -1 with an error set. */
static int read_node(PyObject *node, double *total, PyObject **counts) {
    if (!PyList_Check(node) || PyList_GET_SIZE(node) != 2 || !PyDict_Check(PyList_GET_ITEM(node, 1))) {
        PyErr_SetString(PyExc_TypeError, "a node must be [total, {char: count}]");
        return -1;
    }
    *total = PyLong_AsDouble(PyList_GET_ITEM(node, 0));  /* as Python's int + float: correctly rounded */
    *counts = PyList_GET_ITEM(node, 1);
    return *total == -1.0 && PyErr_Occurred() ? -1 : 0;
}

/* The slot of one-character str `key` (a new one, its extra 0.0, if unseen), or -1 with an error set. */
static int slot(PyObject *key, int *used) {
    if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) != 1) {
        PyErr_SetString(PyExc_TypeError, "counts must be keyed by single characters");
        return -1;
    }
    Py_UCS4 cp = PyUnicode_READ_CHAR(key, 0);
    if (cp < DIRECT) {
        if (slot_of[cp] >= 0)
            return slot_of[cp];
    } else {
        for (int s = 0; s < *used; s++)
            if (slot_cp[s] == cp)
                return s;
    }
    if (*used >= MAX_SLOTS)
        return -2;  /* more distinct characters than it holds (no error set: Python mixes) */
    int s = (*used)++;
    slot_cp[s] = cp;
    slot_key[s] = Py_NewRef(key);  /* (held: making the `extra` dict may collect garbage, which may run Python code) */
    slot_extra[s] = 0.0;
    if (cp < DIRECT)
        slot_of[cp] = (int16_t)s;
    return s;
}

/* mix(levels, tail, index, weights, p_net, out, min_order, max_order, discount, strength, cutoff, extra)
 *
 * AdaptiveModel.mix: levels: the count tables (dicts context -> [total, {char: count}]), lowest
 * first; tail: the text before (its last max_order characters matter); index: char -> id (others:
 * id 0); weights: (3,) float64, the blend's weight by how often the longest context was seen;
 * p_net: (V,) float32 or float64, the network's; out: (V,) float64, written with the mixture.
 * Returns the weight's bucket (0-2), or -1 when no table holds any context (out not written:
 * the answer is p_net), or -2 when it cannot (more orders, levels or distinct next characters than
 * it holds: the caller mixes in Python); with `extra` true (the prediction a weight learns from), a hit returns
 * (bucket, scale, extra): the mass left for the network and the dict char -> extra mass, as
 * adapt.py's. */
static PyObject *mix(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 12) {
        PyErr_SetString(PyExc_TypeError, "mix takes 12 arguments");
        return NULL;
    }
    int want_extra = PyObject_IsTrue(args[11]);
    if (want_extra < 0)
        return NULL;
    PyObject *levels = args[0], *tail = args[1], *index = args[2];
    if (!PyList_Check(levels) || !PyUnicode_Check(tail) || !PyDict_Check(index)) {
        PyErr_SetString(PyExc_TypeError, "levels, tail and index must be a list, a str and a dict");
        return NULL;
    }
    Py_ssize_t lo = PyLong_AsSsize_t(args[6]), hi = PyLong_AsSsize_t(args[7]);
    double d = PyFloat_AsDouble(args[8]), b = PyFloat_AsDouble(args[9]), cutoff = PyFloat_AsDouble(args[10]);
    if (PyErr_Occurred())
        return NULL;
    Py_ssize_t n_levels = PyList_GET_SIZE(levels), n = PyUnicode_GET_LENGTH(tail);
    if (hi > n)
        hi = n;
    if (lo < 1 || (hi - lo + 1) * n_levels > MAX_NODES)
        return PyLong_FromLong(-2);  /* orders or levels past what it holds: Python mixes */
    for (Py_ssize_t j = 0; j < n_levels; j++)
        if (!PyDict_Check(PyList_GET_ITEM(levels, j))) {
            PyErr_SetString(PyExc_TypeError, "every level must be a dict");
            return NULL;
        }
    if (!slot_of_ready) {
        memset(slot_of, 0xff, sizeof slot_of);
        slot_of_ready = 1;
    }
    /* the hit nodes, lowest level first; for k = lo..hi, the contexts tail[-k:] */
    PyObject *nodes[MAX_NODES];
    int n_nodes = 0;
    for (Py_ssize_t k = lo; k <= hi; k++) {
        PyObject *ctx = PyUnicode_Substring(tail, n - k, n);
        if (ctx == NULL)
            return NULL;
        int hit = 0;
        for (Py_ssize_t j = 0; j < n_levels; j++) {
            PyObject *node = PyDict_GetItemWithError(PyList_GET_ITEM(levels, j), ctx);
            if (node != NULL) {
                nodes[n_nodes++] = node;
                hit = 1;
            } else if (PyErr_Occurred()) {
                Py_DECREF(ctx);
                return NULL;
            }
        }
        Py_DECREF(ctx);
        if (!hit)
            break;  /* a longer context was never seen either */
    }
    if (n_nodes == 0)
        return PyLong_FromLong(-1);

    Buffer wb = {0}, pb = {0}, ob = {0};
    PyObject *result = NULL;
    int used = 0;
    if (get_buffer(args[3], &wb, 0, 0, "weights") < 0 || get_buffer(args[4], &pb, 0, 1, "p_net") < 0
        || get_buffer(args[5], &ob, 1, 0, "out") < 0)
        goto done;
    Py_ssize_t V = pb.view.len / pb.view.itemsize;
    if (wb.view.len / (Py_ssize_t)sizeof(double) != 3 || ob.view.len / (Py_ssize_t)sizeof(double) != V) {
        PyErr_SetString(PyExc_ValueError, "weights must hold 3 and out as many as p_net");
        goto done;
    }
    /* walk down from the top level: the extra mass per character, and the mass left below */
    double scale = 1.0, top_total = 0.0;
    for (int j = n_nodes - 1; j >= 0; j--) {
        double total;
        PyObject *counts, *key, *value;
        if (read_node(nodes[j], &total, &counts) < 0)
            goto done;
        if (j == n_nodes - 1)
            top_total = total;
        if (scale < cutoff)
            break;  /* the levels below would add almost nothing */
        double denom = total + b, w = scale / denom;
        Py_ssize_t pos = 0;
        while (PyDict_Next(counts, &pos, &key, &value)) {
            int s = slot(key, &used);
            if (s == -2) {
                result = PyLong_FromLong(-2);
                goto done;
            }
            double count = PyLong_AsDouble(value);
            if (s < 0 || (count == -1.0 && PyErr_Occurred()))
                goto done;
            slot_extra[s] = slot_extra[s] + w * (count - d);
        }
        scale *= (b + d * (double)PyDict_GET_SIZE(counts)) / denom;
    }
    int bucket = top_total == 1.0 ? 0 : top_total <= 3.0 ? 1 : 2;
    double w = ((const double *)wb.view.buf)[bucket];
    double factor = 1.0 - w + w * scale;  /* p = p_net + w (p_blend - p_net), p_blend = scale * p_net + extra */
    double *out = (double *)ob.view.buf;
    if (pb.view.itemsize == sizeof(float)) {
        const float *p = (const float *)pb.view.buf;
        for (Py_ssize_t i = 0; i < V; i++)
            out[i] = (double)p[i] * factor;
    } else {
        const double *p = (const double *)pb.view.buf;
        for (Py_ssize_t i = 0; i < V; i++)
            out[i] = p[i] * factor;
    }
    for (int s = 0; s < used; s++) {  /* in the order the characters were first seen, as the dict `extra` */
        PyObject *id_obj = PyDict_GetItemWithError(index, slot_key[s]);
        Py_ssize_t id = 0;  /* unknown characters add to <unk>, id 0, in turn */
        if (id_obj != NULL) {
            id = PyLong_AsSsize_t(id_obj);
            if (id == -1 && PyErr_Occurred())
                goto done;
        } else if (PyErr_Occurred()) {
            goto done;
        }
        if (id < 0 || id >= V) {
            PyErr_SetString(PyExc_IndexError, "a character's id is outside p_net");
            goto done;
        }
        out[id] += w * slot_extra[s];
    }
    if (!want_extra) {
        result = PyLong_FromLong(bucket);
        goto done;
    }
    PyObject *extra = PyDict_New();
    if (extra == NULL)
        goto done;
    for (int s = 0; s < used; s++) {
        PyObject *v = PyFloat_FromDouble(slot_extra[s]);
        if (v == NULL || PyDict_SetItem(extra, slot_key[s], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(extra);
            goto done;
        }
        Py_DECREF(v);
    }
    result = Py_BuildValue("(idN)", bucket, scale, extra);
done:
    for (int s = 0; s < used; s++) {
        if (slot_cp[s] < DIRECT)
            slot_of[slot_cp[s]] = -1;
        Py_DECREF(slot_key[s]);
    }
    release(&wb);
    release(&pb);
    release(&ob);
    return result;
}

/* Element i of an integer buffer (the memory's next-character ids), or -1 for a format it does not read. */
static Py_ssize_t int_at(const Py_buffer *v, Py_ssize_t i) {
    const char *f = v->format ? v->format : "B";
    if (*f == '<' || *f == '=' || *f == '@')
        f++;
    if (f[0] == '\0' || f[1] != '\0')
        return -1;
    const char *at = (const char *)v->buf + i * v->itemsize;
    switch (f[0]) {
    case 'B': return *(const uint8_t *)at;
    case 'H': return *(const uint16_t *)at;
    case 'I': return *(const uint32_t *)at;
    case 'i': return *(const int32_t *)at;
    case 'l': case 'q': case 'n': return v->itemsize == 8 ? (Py_ssize_t)*(const int64_t *)at : *(const int32_t *)at;
    default: return -1;
    }
}

#define HASH_P 0x9E3779B97F4A7C15ULL  /* memory.py's _P, _M1, _M2 and _finalise's order constant (as memory.c) */
#define HASH_M1 0xBF58476D1CE4E5B9ULL
#define HASH_M2 0x94D049BB133111EBULL
#define HASH_ORDER 0xD6E8FEB86659FD93ULL

/* match_keys(tail, lengths): memory.context_keys of tail's code points (match.MatchIndex's keys):
 * for each length in `lengths` (increasing) that tail is long enough for, the 32-bit key of its
 * last that many characters. */
static PyObject *match_keys(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "match_keys takes a str and a tuple of lengths");
        return NULL;
    }
    PyObject *tail = args[0], *lengths = args[1];
    Py_ssize_t n = PyUnicode_GET_LENGTH(tail), k = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    uint64_t h = 0, power = 1;
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(lengths); j++) {
        Py_ssize_t order = PyLong_AsSsize_t(PyTuple_GET_ITEM(lengths, j));
        if (order == -1 && PyErr_Occurred()) {
            Py_DECREF(out);
            return NULL;
        }
        if (order > n)
            break;
        for (; k < order; k++) {  /* extend by the character k back from the end */
            h += ((uint64_t)PyUnicode_READ_CHAR(tail, n - 1 - k) + 1) * power;
            power *= HASH_P;
        }
        uint64_t x = h ^ ((uint64_t)order * HASH_ORDER);
        x = (x ^ (x >> 30)) * HASH_M1;
        x = (x ^ (x >> 27)) * HASH_M2;
        PyObject *key = PyLong_FromUnsignedLong((unsigned long)(uint32_t)((x ^ (x >> 31)) >> 32));
        if (key == NULL || PyList_Append(out, key) < 0) {
            Py_XDECREF(key);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(key);
    }
    return out;
}

#define MAX_LEVELS 8

typedef struct {
    PyObject *counts;  /* a node's {char: count}, or NULL: the memory's prepared (ids, total, less) */
    PyObject *ids, *less;  /* lists, or arrays (then held in the buffers below) */
    Buffer ids_b, less_b;
    Py_ssize_t n;  /* entries */
    double w;  /* scale / (total + b) when the level is walked */
} Level;

/* blend(base, levels, index, discount, strength, out): words.blend for a float64 `base`, into `out`
 * (V,) float64. levels: lowest first, each a node [total, {char: count}] or the memory's
 * `prepared` (ids, total, counts - discount), as lists or as arrays (ids of unsigned or signed
 * integers, float64 counts). The same walk from the top down and the same additions in the same
 * order as words.blend. */
static PyObject *blend(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "blend takes 6 arguments");
        return NULL;
    }
    PyObject *levels = args[1], *index = args[2];
    double d = PyFloat_AsDouble(args[3]), b = PyFloat_AsDouble(args[4]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyList_Check(levels) || !PyDict_Check(index) || PyList_GET_SIZE(levels) > MAX_LEVELS) {
        PyErr_SetString(PyExc_TypeError, "levels must be a list (of at most 8) and index a dict");
        return NULL;
    }
    Level lv[MAX_LEVELS];
    memset(lv, 0, sizeof lv);
    int n_levels = (int)PyList_GET_SIZE(levels), ok = 0;
    Buffer base = {0}, out = {0};
    PyObject *result = NULL;
    if (get_buffer(args[0], &base, 0, 0, "base") < 0 || get_buffer(args[5], &out, 1, 0, "out") < 0)
        goto done;
    Py_ssize_t V = base.view.len / (Py_ssize_t)sizeof(double);
    if (out.view.len != base.view.len) {
        PyErr_SetString(PyExc_ValueError, "out must hold as many as base");
        goto done;
    }
    double scale = 1.0;
    for (int j = n_levels - 1; j >= 0; j--) {  /* from the top down: what each level adds, the mass left below */
        PyObject *item = PyList_GET_ITEM(levels, j);
        Level *L = &lv[j];
        double total;
        if (PyList_Check(item)) {
            if (read_node(item, &total, &L->counts) < 0)
                goto done;
            L->n = PyDict_GET_SIZE(L->counts);
        } else if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 3) {
            L->ids = PyTuple_GET_ITEM(item, 0);
            L->less = PyTuple_GET_ITEM(item, 2);
            total = PyFloat_AsDouble(PyTuple_GET_ITEM(item, 1));
            if (total == -1.0 && PyErr_Occurred())
                goto done;
            if (PyList_Check(L->ids) != PyList_Check(L->less)) {
                PyErr_SetString(PyExc_TypeError, "ids and counts must both be lists or both arrays");
                goto done;
            }
            if (PyList_Check(L->ids)) {
                L->n = PyList_GET_SIZE(L->ids);
                if (PyList_GET_SIZE(L->less) != L->n) {
                    PyErr_SetString(PyExc_ValueError, "ids and counts differ in length");
                    goto done;
                }
            } else {
                if (hold(L->ids, &L->ids_b, 0) < 0 || get_buffer(L->less, &L->less_b, 0, 0, "counts") < 0)
                    goto done;
                L->n = L->ids_b.view.len / L->ids_b.view.itemsize;
                if (L->ids_b.view.ndim != 1 || L->less_b.view.len / (Py_ssize_t)sizeof(double) != L->n) {
                    PyErr_SetString(PyExc_ValueError, "ids and counts differ in length");
                    goto done;
                }
            }
        } else {
            PyErr_SetString(PyExc_TypeError, "a level must be a node or prepared (ids, total, counts)");
            goto done;
        }
        L->w = scale / (total + b);
        scale *= (b + d * (double)L->n) / (total + b);
    }
    double *p = (double *)out.view.buf;
    const double *q = (const double *)base.view.buf;
    for (Py_ssize_t i = 0; i < V; i++)
        p[i] = q[i] * scale;
    for (int j = n_levels - 1; j >= 0; j--) {
        Level *L = &lv[j];
        if (L->counts != NULL) {  /* a node: (characters outside the vocabulary all count for <unk>, id 0) */
            Py_ssize_t pos = 0;
            PyObject *key, *value;
            while (PyDict_Next(L->counts, &pos, &key, &value)) {
                PyObject *id_obj = PyDict_GetItemWithError(index, key);
                Py_ssize_t id = 0;
                double count = PyLong_AsDouble(value);
                if (count == -1.0 && PyErr_Occurred())
                    goto done;
                if (id_obj != NULL)
                    id = PyLong_AsSsize_t(id_obj);
                if (PyErr_Occurred())
                    goto done;
                if (id < 0 || id >= V) {
                    PyErr_SetString(PyExc_IndexError, "a character's id is outside base");
                    goto done;
                }
                p[id] += L->w * (count - d);
            }
            continue;
        }
        for (Py_ssize_t k = 0; k < L->n; k++) {
            Py_ssize_t id;
            double less;
            if (L->ids_b.held) {
                id = int_at(&L->ids_b.view, k);
                less = ((const double *)L->less_b.view.buf)[k];
            } else {
                id = PyLong_AsSsize_t(PyList_GET_ITEM(L->ids, k));
                less = PyFloat_AsDouble(PyList_GET_ITEM(L->less, k));
                if (PyErr_Occurred())
                    goto done;
            }
            if (id < 0 || id >= V) {
                PyErr_SetString(PyExc_IndexError, "an id is outside base (or of a type not read)");
                goto done;
            }
            p[id] += L->w * less;
        }
    }
    ok = 1;
done:
    for (int j = 0; j < n_levels; j++) {
        release(&lv[j].ids_b);
        release(&lv[j].less_b);
    }
    release(&base);
    release(&out);
    if (ok)
        result = Py_NewRef(Py_None);
    return result;
}

/* net_update(dW, db, h, p, actual, rate, min_step): NetAdapter.update's SGD step (netadapt.py)
 * in float32, as numpy does it: g = float32(p); g[actual] -= 1; g *= float32(rate); the rows of
 * dW (V, H) float32 whose |g| >= float32(min_step) get g[r] * h added, db (V,) all of g. p: (V,)
 * float32 or float64, h: (H,) float32. */
static PyObject *net_update(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "net_update takes 7 arguments");
        return NULL;
    }
    Py_ssize_t actual = PyLong_AsSsize_t(args[4]);
    double rate = PyFloat_AsDouble(args[5]), min_step = PyFloat_AsDouble(args[6]);
    if (PyErr_Occurred())
        return NULL;
    Buffer dw = {0}, db = {0}, hb = {0}, pb = {0};
    PyObject *result = NULL;
    if (hold(args[0], &dw, 1) < 0 || hold(args[1], &db, 1) < 0 || hold(args[2], &hb, 0) < 0
        || get_buffer(args[3], &pb, 0, 1, "p") < 0)
        goto done;
    Py_ssize_t V = pb.view.len / pb.view.itemsize, H = hb.view.len / (Py_ssize_t)sizeof(float);
    int floats = dw.view.itemsize == 4 && db.view.itemsize == 4 && hb.view.itemsize == 4 && dw.view.ndim == 2
                 && db.view.ndim == 1 && hb.view.ndim == 1;
    if (!floats || dw.view.shape[0] != V || dw.view.shape[1] != H || db.view.shape[0] != V || actual < 0 || actual >= V) {
        PyErr_SetString(PyExc_ValueError, "dW (V, H), db (V,) and h (H,) must be float32, and actual an id");
        goto done;
    }
    float *W = (float *)dw.view.buf, *b = (float *)db.view.buf;
    const float *h = (const float *)hb.view.buf;
    float step = (float)rate, least = (float)min_step;
    for (Py_ssize_t r = 0; r < V; r++) {
        float g = pb.view.itemsize == 4 ? ((const float *)pb.view.buf)[r] : (float)((const double *)pb.view.buf)[r];
        if (r == actual)
            g -= 1.0f;
        g *= step;
        if (fabsf(g) >= least) {
            float *row = W + r * H;
            for (Py_ssize_t j = 0; j < H; j++)
                row[j] += g * h[j];
        }
        b[r] += g;
    }
    result = Py_NewRef(Py_None);
done:
    release(&dw);
    release(&db);
    release(&hb);
    release(&pb);
    return result;
}

#define MAX_SETS 8     /* the mixer's keys (weight sets) */
#define MAX_EXPERTS 16 /* its experts */
#define TINY 1e-30     /* mixer.py's TINY */

/* The weight rows keys select: weights[s][keys[s]] (M,) for each set s, into rows; also the
 * buffers, released by the caller. 0, or -1 with an error set. */
static int weight_rows(PyObject *weights, PyObject *keys, Buffer *held, double **rows, Py_ssize_t M, int writable) {
    Py_ssize_t S = PyList_GET_SIZE(weights);
    for (Py_ssize_t s = 0; s < S; s++) {
        PyObject *w = PyList_GET_ITEM(weights, s);
        if (hold(w, &held[s], writable) < 0)
            return -1;
        Py_buffer *v = &held[s].view;
        if (v->ndim != 2 || v->itemsize != 8 || v->shape[1] != M) {
            PyErr_SetString(PyExc_TypeError, "the mixer's weights must be (K, M) float64");
            return -1;
        }
        Py_ssize_t k = PyLong_AsSsize_t(PyTuple_GET_ITEM(keys, s));
        if (k == -1 && PyErr_Occurred())
            return -1;
        if (k < 0 || k >= v->shape[0]) {
            PyErr_Format(PyExc_ValueError, "key %zd out of range: %zd", s, k);
            return -1;
        }
        rows[s] = (double *)v->buf + k * M;
    }
    return 0;
}

/* The log-softmax of x[0..n) in place (x - max, minus the log of the sum of the exponentials). */
static void log_softmax(double *x, Py_ssize_t n) {
    double top = x[0], sum = 0.0;
    for (Py_ssize_t i = 1; i < n; i++)
        if (x[i] > top || x[i] != x[i])
            top = x[i];
    for (Py_ssize_t i = 0; i < n; i++)
        sum += exp(x[i] - top);
    double lse = log(sum);
    for (Py_ssize_t i = 0; i < n; i++)
        x[i] = (x[i] - top) - lse;
}

/* mixer_mix(probs, weights, keys, w2, out, logp, logq, final): Mixer.mix (mixer.py) in C.
 * probs: M arrays (V,) float32 or float64; weights: S arrays (K_s, M) float64; keys: S ints;
 * w2: (S,) float64; out: (V,) float64, written with the mixture; logp: (M, V) float64 scratch,
 * written with the floored log-probabilities. logq (S, V) and final (V,) float64: the learned
 * prediction's (update() reads them), or None for a speculative one (one softmax of
 * (w2 @ W) @ logp). Libm's exp and log, sums in order: the same as numpy's to ~1e-15. */
static PyObject *mixer_mix(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 8 || !PyTuple_Check(args[0]) || !PyList_Check(args[1]) || !PyTuple_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "mixer_mix takes (tuple of probs, list of weights, tuple of keys, w2, out, logp, logq, final)");
        return NULL;
    }
    Py_ssize_t M = PyTuple_GET_SIZE(args[0]), S = PyList_GET_SIZE(args[1]);
    int learn = args[6] != Py_None;
    if (M < 1 || M > MAX_EXPERTS || S < 1 || S > MAX_SETS || PyTuple_GET_SIZE(args[2]) != S) {
        PyErr_SetString(PyExc_ValueError, "experts or keys out of range");
        return NULL;
    }
    Buffer pb[MAX_EXPERTS], wb[MAX_SETS], w2b = {0}, ob = {0}, lb = {0}, qb = {0}, fb = {0};
    memset(pb, 0, sizeof pb);
    memset(wb, 0, sizeof wb);
    double *rows[MAX_SETS];
    PyObject *result = NULL;
    Py_ssize_t V = -1;
    for (Py_ssize_t m = 0; m < M; m++) {
        if (get_buffer(PyTuple_GET_ITEM(args[0], m), &pb[m], 0, 1, "probs") < 0)
            goto done;
        Py_ssize_t n = pb[m].view.len / pb[m].view.itemsize;
        if (V >= 0 && n != V) {
            PyErr_SetString(PyExc_ValueError, "the experts' distributions differ in length");
            goto done;
        }
        V = n;
    }
    if (weight_rows(args[1], args[2], wb, rows, M, 0) < 0 || get_buffer(args[3], &w2b, 0, 0, "w2") < 0
        || get_buffer(args[4], &ob, 1, 0, "out") < 0 || get_array(args[5], &lb, 1, 0, "logp", 2) < 0)
        goto done;
    if (learn && (get_array(args[6], &qb, 1, 0, "logq", 2) < 0 || get_buffer(args[7], &fb, 1, 0, "final") < 0))
        goto done;
    if (w2b.view.len != S * 8 || ob.view.len != V * 8 || lb.view.len != M * V * 8
        || (learn && (qb.view.len != S * V * 8 || fb.view.len != V * 8))) {
        PyErr_SetString(PyExc_ValueError, "the mixer's arrays do not fit its experts and keys");
        goto done;
    }
    double *logp = (double *)lb.view.buf, *out = (double *)ob.view.buf;
    const double *w2 = (const double *)w2b.view.buf;
    for (Py_ssize_t m = 0; m < M; m++) {  /* logp = log(max(p, TINY)) (NaN stays NaN, as np.maximum) */
        double *row = logp + m * V;
        for (Py_ssize_t v = 0; v < V; v++) {
            double x = pb[m].view.itemsize == 4 ? (double)((const float *)pb[m].view.buf)[v] : ((const double *)pb[m].view.buf)[v];
            row[v] = log(x < TINY ? TINY : x);
        }
    }
    if (!learn) {  /* one softmax of (w2 @ W) @ logp */
        double c[MAX_EXPERTS];
        for (Py_ssize_t m = 0; m < M; m++) {
            c[m] = 0.0;
            for (Py_ssize_t s = 0; s < S; s++)
                c[m] += (S == 1 ? 1.0 : w2[s]) * rows[s][m];
        }
        double top = -INFINITY, sum = 0.0;
        for (Py_ssize_t v = 0; v < V; v++) {
            double y = 0.0;
            for (Py_ssize_t m = 0; m < M; m++)
                y += c[m] * logp[m * V + v];
            out[v] = y;
            if (y > top || y != y)
                top = y;
        }
        for (Py_ssize_t v = 0; v < V; v++)
            sum += (out[v] = exp(out[v] - top));
        for (Py_ssize_t v = 0; v < V; v++)
            out[v] /= sum;
    } else {  /* each set's log q_s (S, V), then the second layer's log-softmax of w2 @ logq */
        double *logq = (double *)qb.view.buf, *final = (double *)fb.view.buf;
        for (Py_ssize_t s = 0; s < S; s++) {
            double *q = logq + s * V;
            for (Py_ssize_t v = 0; v < V; v++) {
                double z = 0.0;
                for (Py_ssize_t m = 0; m < M; m++)
                    z += rows[s][m] * logp[m * V + v];
                q[v] = z;
            }
            log_softmax(q, V);
        }
        for (Py_ssize_t v = 0; v < V; v++) {
            double f = 0.0;
            if (S == 1)
                f = logq[v];
            else
                for (Py_ssize_t s = 0; s < S; s++)
                    f += w2[s] * logq[s * V + v];
            final[v] = f;
        }
        if (S > 1)
            log_softmax(final, V);
        for (Py_ssize_t v = 0; v < V; v++)
            out[v] = exp(final[v]);
    }
    result = Py_NewRef(Py_None);
done:
    for (Py_ssize_t m = 0; m < MAX_EXPERTS; m++)
        release(&pb[m]);
    for (Py_ssize_t s = 0; s < MAX_SETS; s++)
        release(&wb[s]);
    release(&w2b);
    release(&ob);
    release(&lb);
    release(&qb);
    release(&fb);
    return result;
}

static double clip(double w, double lo, double hi) {  /* np.minimum(np.maximum(w, lo), hi): NaN stays NaN */
    w = w < lo ? lo : w;
    return w > hi ? hi : w;
}

/* mixer_update(logp, logq, final, weights, keys, updates, w2, actual, lr, lr2, lr_decay, w_min, w_max):
 * Mixer.update in C: each selected weight set a gradient step on its own log-loss of `actual`,
 * the second layer one on the final one's (more than one set), all kept in [w_min, w_max];
 * updates: S arrays (K_s,) int64, each set's steps taken. */
static PyObject *mixer_update(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 13 || !PyList_Check(args[3]) || !PyTuple_Check(args[4]) || !PyList_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "mixer_update takes 13 arguments");
        return NULL;
    }
    Py_ssize_t S = PyList_GET_SIZE(args[3]), actual = PyLong_AsSsize_t(args[7]);
    double lr = PyFloat_AsDouble(args[8]), lr2 = PyFloat_AsDouble(args[9]), decay = PyFloat_AsDouble(args[10]);
    double lo = PyFloat_AsDouble(args[11]), hi = PyFloat_AsDouble(args[12]);
    if (PyErr_Occurred())
        return NULL;
    if (S < 1 || S > MAX_SETS || PyTuple_GET_SIZE(args[4]) != S || PyList_GET_SIZE(args[5]) != S) {
        PyErr_SetString(PyExc_ValueError, "keys out of range");
        return NULL;
    }
    Buffer lb = {0}, qb = {0}, fb = {0}, w2b = {0}, wb[MAX_SETS], ub[MAX_SETS];
    memset(wb, 0, sizeof wb);
    memset(ub, 0, sizeof ub);
    double *rows[MAX_SETS];
    PyObject *result = NULL;
    if (get_array(args[0], &lb, 0, 0, "logp", 2) < 0 || get_array(args[1], &qb, 0, 0, "logq", 2) < 0
        || get_buffer(args[2], &fb, 0, 0, "final") < 0 || get_buffer(args[6], &w2b, 1, 0, "w2") < 0)
        goto done;
    Py_ssize_t V = fb.view.len / 8, M = V ? lb.view.len / 8 / V : 0;
    if (M < 1 || M > MAX_EXPERTS || lb.view.len != M * V * 8 || qb.view.len != S * V * 8 || w2b.view.len != S * 8
        || actual < 0 || actual >= V) {
        PyErr_SetString(PyExc_ValueError, "the mixer's arrays do not fit, or actual is not an id");
        goto done;
    }
    if (weight_rows(args[3], args[4], wb, rows, M, 1) < 0)
        goto done;
    const double *logp = (const double *)lb.view.buf, *logq = (const double *)qb.view.buf, *final = (const double *)fb.view.buf;
    double *w2 = (double *)w2b.view.buf;
    for (Py_ssize_t s = 0; s < S; s++) {
        PyObject *u = PyList_GET_ITEM(args[5], s);
        if (hold(u, &ub[s], 1) < 0)
            goto done;
        if (ub[s].view.itemsize != 8 || ub[s].view.len / 8 != wb[s].view.shape[0]) {
            PyErr_SetString(PyExc_TypeError, "the steps taken must be (K,) int64");
            goto done;
        }
    }
    double *probs = PyMem_Malloc(V * sizeof(double));  /* (V,) q_s, then the final distribution */
    if (probs == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t s = 0; s < S; s++) {
        const double *q = logq + s * V;
        double grad[MAX_EXPERTS];
        for (Py_ssize_t v = 0; v < V; v++)
            probs[v] = exp(q[v]);
        for (Py_ssize_t m = 0; m < M; m++) {  /* d log q_s(actual) / d w = log p_m(actual) - E_q_s[log p_m] */
            double e = 0.0;
            for (Py_ssize_t v = 0; v < V; v++)
                e += logp[m * V + v] * probs[v];
            grad[m] = logp[m * V + actual] - e;
        }
        Py_ssize_t k = PyLong_AsSsize_t(PyTuple_GET_ITEM(args[4], s));
        int64_t *n = (int64_t *)ub[s].view.buf + k;
        double rate = decay != 0.0 ? lr / sqrt(1.0 + decay * (double)*n) : lr;
        for (Py_ssize_t m = 0; m < M; m++)
            rows[s][m] = clip(rows[s][m] + rate * grad[m], lo, hi);
        *n += 1;
    }
    if (S > 1) {
        double grad2[MAX_SETS];
        for (Py_ssize_t v = 0; v < V; v++)
            probs[v] = exp(final[v]);
        for (Py_ssize_t s = 0; s < S; s++) {
            double e = 0.0;
            for (Py_ssize_t v = 0; v < V; v++)
                e += logq[s * V + v] * probs[v];
            grad2[s] = logq[s * V + actual] - e;
        }
        for (Py_ssize_t s = 0; s < S; s++)
            w2[s] = clip(w2[s] + lr2 * grad2[s], lo, hi);
    }
    PyMem_Free(probs);
    result = Py_NewRef(Py_None);
done:
    release(&lb);
    release(&qb);
    release(&fb);
    release(&w2b);
    for (Py_ssize_t s = 0; s < MAX_SETS; s++) {
        release(&wb[s]);
        release(&ub[s]);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"mixer_mix", (PyCFunction)(void (*)(void))mixer_mix, METH_FASTCALL, "Mixer.mix (adapt.c)."},
    {"mixer_update", (PyCFunction)(void (*)(void))mixer_update, METH_FASTCALL, "Mixer.update (adapt.c)."},
    {"net_update", (PyCFunction)(void (*)(void))net_update, METH_FASTCALL, "NetAdapter.update's step (adapt.c)."},
    {"mix", (PyCFunction)(void (*)(void))mix, METH_FASTCALL, "AdaptiveModel.mix for a later character (adapt.c)."},
    {"blend", (PyCFunction)(void (*)(void))blend, METH_FASTCALL, "words.blend for a float64 base (adapt.c)."},
    {"match_keys", (PyCFunction)(void (*)(void))match_keys, METH_FASTCALL, "memory.context_keys of a str's code points (adapt.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_adapt", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__adapt(void) {
    return PyModule_Create(&module);
}
