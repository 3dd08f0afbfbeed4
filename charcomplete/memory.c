/* CorpusMemory.predict (charcomplete/memory.py) in C: the same lookups and the same arithmetic in
 * the same order, so the same doubles come out (tests/test_native.py checks it bit for bit).
 * Compiled on first use by charcomplete/native.py with the machine's C compiler; without one the
 * Python code runs. Standard C only, no Python headers: loaded with ctypes. It trusts what
 * memory_file.py checks before a memory is used (every next-character id < V, each table's starts
 * the running sum of its counts of next characters): its indices stay in bounds.
 */
#include <stdint.h>
#include <string.h>

#define MAX_ORDERS 16
#define HASH_P 0x9E3779B97F4A7C15ULL  /* memory.py's _P, _M1, _M2 and _finalise's order constant */
#define HASH_M1 0xBF58476D1CE4E5B9ULL
#define HASH_M2 0x94D049BB133111EBULL
#define HASH_ORDER 0xD6E8FEB86659FD93ULL

typedef struct {
    int64_t n_orders, vocab;             /* len(cfg.orders), V */
    int64_t orders[MAX_ORDERS];          /* cfg.orders */
    const uint32_t *keys[MAX_ORDERS];    /* per order: (C,) sorted context keys */
    int64_t n_keys[MAX_ORDERS];          /* C */
    const int64_t *starts[MAX_ORDERS];   /* (C + 1,) where each context's entries begin */
    const uint8_t *syms[MAX_ORDERS];     /* (P,) next-character ids */
    const uint8_t *cnts[MAX_ORDERS];     /* (P,) their counts */
    const double *p0;                    /* (V,) the unigram */
    double discount, strength, cutoff;   /* cfg.discount, cfg.strength, cfg.cutoff */
} Memory;

static uint32_t finalise(uint64_t h, uint64_t order) {
    uint64_t x = h ^ (order * HASH_ORDER);
    x = (x ^ (x >> 30)) * HASH_M1;
    x = (x ^ (x >> 27)) * HASH_M2;
    return (uint32_t)((x ^ (x >> 31)) >> 32);
}

static int64_t find(const uint32_t *keys, int64_t n, uint32_t key) {  /* bisect_left, or -1 */
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < key) lo = mid + 1; else hi = mid;
    }
    return lo < n && keys[lo] == key ? lo : -1;
}

/* p (V,): the next character's probabilities after ids[0..n) (n <= the longest order); info: the
 * longest matched order (0: none), its level (-1: none), how often it was seen. few, mark: (V,)
 * scratch. */
void memory_predict(const Memory *m, const int32_t *ids, int64_t n, double *p, int64_t *info, double *few, uint8_t *mark) {
    int64_t level[MAX_ORDERS], index[MAX_ORDERS], hits = 0;
    uint64_t h = 0, power = 1;
    int64_t k = 0;
    for (int64_t j = 0; j < m->n_orders && m->orders[j] <= n; j++) {  /* match: shortest first, up to the first miss */
        for (; k < m->orders[j]; k++) {
            h += (uint64_t)(ids[n - 1 - k] + 1) * power;
            power *= HASH_P;
        }
        int64_t i = find(m->keys[j], m->n_keys[j], finalise(h, (uint64_t)m->orders[j]));
        if (i < 0) break;
        level[hits] = j;
        index[hits++] = i;
    }
    const double d = m->discount, b = m->strength;
    const int64_t V = m->vocab;
    int dense = 0;  /* p holds the mass so far (memory.py: once a level with many next characters came) */
    double scale = 1.0;
    int64_t seen = 0;
    memset(mark, 0, (size_t)V);
    for (int64_t t = hits - 1; t >= 0; t--) {  /* longest first */
        const int64_t j = level[t], lo = m->starts[j][index[t]], hi = m->starts[j][index[t] + 1];
        const uint8_t *sym = m->syms[j], *cnt = m->cnts[j];
        int64_t count = 0;
        for (int64_t e = lo; e < hi; e++) count += cnt[e];
        const double total = (double)count, w = scale / (total + b);
        if (hi - lo > 8 && !dense) {
            dense = 1;
            for (int64_t v = 0; v < V; v++) p[v] = mark[v] ? few[v] : 0.0;
        }
        for (int64_t e = lo; e < hi; e++) {
            const double add = w * ((double)cnt[e] - d);
            if (dense) {
                p[sym[e]] += add;
            } else {
                if (!mark[sym[e]]) few[sym[e]] = 0.0;
                mark[sym[e]] = 1;
                few[sym[e]] += add;
            }
        }
        if (t == hits - 1) seen = count;
        scale *= (b + d * (double)(hi - lo)) / (total + b);
        if (scale < m->cutoff) break;
    }
    if (dense) {
        for (int64_t v = 0; v < V; v++) p[v] += scale * m->p0[v];
    } else {
        for (int64_t v = 0; v < V; v++) p[v] = m->p0[v] * scale;
        for (int64_t v = 0; v < V; v++) if (mark[v]) p[v] += few[v];
    }
    info[0] = hits ? m->orders[level[hits - 1]] : 0;
    info[1] = hits ? level[hits - 1] : -1;
    info[2] = seen;
}
