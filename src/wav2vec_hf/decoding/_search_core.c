/* The CTC prefix beam search of decoder.py for one utterance, compiled.
 *
 * The same search as ``decoder._BatchSearch`` with one utterance (same events, prefix trie, bounds,
 * pruning and word-level LM fusion; see decoder.py's docstrings for the rules), without the per-step
 * cost of numpy calls: a few microseconds per event instead of ~130. The LM is not linked: a word score
 * missing from this object's cache is asked of a Python callable once per (context, word) pair.
 * Hotwords and word frame offsets stay with the numpy search.
 *
 * Module ``_search_core``, type ``SearchCore(vocab_size, blank, delimiter, never, edge_keys,
 * edge_children, word_of, n_words, has_lexicon, score, logits_error[, dense_trie_limit])``; ``core.decode(logits, options)`` returns the n best
 * ``(tokens, acoustic, lm_score, total, lm_log10)`` tuples, best first.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NEG_INF (-INFINITY)
#define LN10 2.302585092994045684
#define MISSING (-1)
#define DEAD (-2)
#define NO_NODE (-1)
#define OOV_WORD (-1)
#define END_WORD (-2)
#define HASH_MULTIPLIER 0x100000001B3ULL /* FNV-1's 64-bit prime, as decoder.partial_word_hash */
#define AVERAGE_WORD_LENGTH 6.0

static inline double logaddexp(double a, double b) {
    if (a == NEG_INF) return b;
    if (b == NEG_INF) return a;
    return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

static void *grow(void *array, Py_ssize_t *capacity, Py_ssize_t needed, size_t item) {
    if (needed <= *capacity) return array;
    Py_ssize_t cap = *capacity > 0 ? *capacity : 64;
    while (cap < needed) cap *= 2;
    void *out = realloc(array, (size_t)cap * item);
    if (out == NULL) return NULL;
    *capacity = cap;
    return out;
}

/* ------------------------------------------------------------------ the word-score cache */

typedef struct {
    long long key; /* -1: empty */
    double log10;
    long long next;
} CacheEntry;

typedef struct {
    PyObject_HEAD
    int vocab, blank, delimiter;
    unsigned char *never;         /* (vocab,) never-emitted tokens */
    Py_ssize_t n_edges;           /* lexicon trie: keys parent * vocab + token, sorted */
    long long *edge_keys, *edge_children;
    Py_ssize_t n_trie;
    long long *word_of;           /* (n_trie,) word id ending at each trie node, -1 */
    int *trie_child;              /* (n_trie, vocab) child of each trie node, -1; NULL for a large trie */
    double *lookahead;            /* (n_trie,) best unigram log10 below each node (lexicon mode), or NULL */
    int has_lexicon;
    long long stride;             /* words + 2 */
    PyObject *score;              /* callable(context, word) -> (log10, next context), or None */
    PyObject *logits_error;       /* the exception type raised for logits without a finite maximum */
    CacheEntry *cache;
    size_t cache_capacity, cache_size;
    struct Search *scratch;       /* a search's buffers, reused by the next search (NULL before the first) */
    int searching;                /* a search is using scratch (see claim_scratch) */
} SearchCore;

static inline size_t hash_key(long long key, size_t capacity) {
    unsigned long long z = (unsigned long long)key + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (size_t)(z ^ (z >> 31)) & (capacity - 1);
}

static int cache_grow(SearchCore *self) {
    size_t capacity = self->cache_capacity ? self->cache_capacity * 2 : 4096;
    CacheEntry *table = malloc(capacity * sizeof(CacheEntry));
    if (table == NULL) return -1;
    for (size_t i = 0; i < capacity; i++) table[i].key = -1;
    for (size_t i = 0; i < self->cache_capacity; i++) {
        if (self->cache[i].key < 0) continue;
        size_t slot = hash_key(self->cache[i].key, capacity);
        while (table[slot].key >= 0) slot = (slot + 1) & (capacity - 1);
        table[slot] = self->cache[i];
    }
    free(self->cache);
    self->cache = table;
    self->cache_capacity = capacity;
    return 0;
}

/* (log10 p, next context) of ``word`` (lexicon id, OOV_WORD or END_WORD) after ``context``. */
static int word_score(SearchCore *self, long long context, long long word, double *log10, long long *next) {
    long long key = context * self->stride + (word + 2);
    if (self->cache_capacity) {
        size_t slot = hash_key(key, self->cache_capacity);
        while (self->cache[slot].key >= 0) {
            if (self->cache[slot].key == key) {
                *log10 = self->cache[slot].log10;
                *next = self->cache[slot].next;
                return 0;
            }
            slot = (slot + 1) & (self->cache_capacity - 1);
        }
    }
    PyObject *result = PyObject_CallFunction(self->score, "LL", context, word);
    if (result == NULL) return -1;
    double value;
    long long following;
    if (!PyArg_ParseTuple(result, "dL", &value, &following)) {
        Py_DECREF(result);
        return -1;
    }
    Py_DECREF(result);
    if ((self->cache_size + 1) * 2 > self->cache_capacity && cache_grow(self) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    size_t slot = hash_key(key, self->cache_capacity);
    while (self->cache[slot].key >= 0) slot = (slot + 1) & (self->cache_capacity - 1);
    self->cache[slot].key = key;
    self->cache[slot].log10 = value;
    self->cache[slot].next = following;
    self->cache_size++;
    *log10 = value;
    *next = following;
    return 0;
}

#define DENSE_TRIE_LIMIT (1 << 22) /* trie nodes x vocabulary: 16 MB of child table at most */

static long long trie_step(const SearchCore *self, long long node, int token) {
    if (node < 0 || self->n_edges == 0) return NO_NODE;
    if (self->trie_child != NULL) return self->trie_child[node * self->vocab + token];
    long long key = node * self->vocab + token;
    Py_ssize_t lo = 0, hi = self->n_edges;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (self->edge_keys[mid] < key) lo = mid + 1; else hi = mid;
    }
    return (lo < self->n_edges && self->edge_keys[lo] == key) ? self->edge_children[lo] : NO_NODE;
}

static inline long long word_at(const SearchCore *self, long long node) {
    return (node >= 0 && node < self->n_trie) ? self->word_of[node] : OOV_WORD;
}

/* ------------------------------------------------------------------ one search */

typedef struct {
    int beam_width, max_tokens, score_boundary, n_best;
    int lexicon_mode; /* the LM look-ahead on partial lexicon words */
    int prune_history; /* keep the best of the beams sharing LM context, partial word and last token */
    int only_lexicon; /* lexicon mode with unk_score_offset = -inf: unknown words are never produced */
    double prune, token_min_logp, alpha, beta, unk;
    long long start_context;
} Options;

typedef struct { /* an event: frames [start, end) folded as in decoder._batch_events */
    double blank_before, max_lp;
    int has_blank_before;
    Py_ssize_t token_offset, token_count; /* its non-blank candidates in Search.tokens */
} Event;

typedef struct { /* a prefix kept or to be kept after a step; total is the step's scratch */
    int node;
    double pb, pnb, total;
} Beam;

typedef struct { /* a prefix (trie node) reached in this step */
    int node;
    double b, nb, score;
} Entry;

typedef struct { /* a prefix not built yet: ``parent`` extended by ``token`` */
    int parent, token, partial;
    long long lexicon;
    double src, lm, score;
} Missing;

typedef struct { /* a score being ranked and where it came from */
    double score;
    Py_ssize_t index;
} Ranked;

typedef struct {
    int node;
    int allowed;
    double acoustic, lm, log10;
} Final;

typedef struct Search {
    /* events */
    Event *events; Py_ssize_t n_events, events_cap;
    double *lp; Py_ssize_t lp_cap;             /* (n_events, vocab) log-probs, -inf off the candidates */
    int *tokens; Py_ssize_t n_tokens, tokens_cap;
    double final_blank;
    unsigned char *candidate; double *row, *sorted; /* (vocab,) one frame's scratch */
    /* nodes */
    Py_ssize_t n_nodes, nodes_cap;
    int *token, *parent, *partial_length;
    long long *lexicon, *context;
    double *completed, *completed_log10, *lm;
    unsigned long long *partial_hash;          /* hash of the partial word (0: none) */
    int *child; Py_ssize_t child_cap;          /* (nodes, vocab) */
    Py_ssize_t *slot; Py_ssize_t slot_cap;     /* entry of a node in this step, -1 */
    /* beams and per-step scratch */
    Beam *beams; Py_ssize_t n_beams, beams_cap;
    Beam *next; Py_ssize_t next_cap;           /* the step's new beams, swapped with beams after it */
    Entry *entries; Py_ssize_t n_entries, entries_cap;
    Missing *missing; Py_ssize_t n_missing, missing_cap;
    Ranked *ranked; Py_ssize_t ranked_cap;
    struct PruneKey *prune; Py_ssize_t prune_cap;
    Final *finals; Py_ssize_t finals_cap;
} Search;

static void search_free(Search *s) {
    free(s->events); free(s->lp); free(s->tokens); free(s->candidate); free(s->row); free(s->sorted);
    free(s->token); free(s->parent); free(s->partial_length); free(s->lexicon); free(s->context);
    free(s->completed); free(s->completed_log10); free(s->lm); free(s->partial_hash); free(s->child);
    free(s->slot);
    free(s->beams); free(s->next); free(s->entries); free(s->missing); free(s->ranked); free(s->prune);
    free(s->finals);
}

/* A search reusing another's buffers starts empty. Only ``slot`` outlives a search: a step clears the
 * slots it sets, but one that failed halfway may not have. */
static void search_reset(Search *s) {
    for (Py_ssize_t i = 0; i < s->n_nodes; i++) s->slot[i] = -1;
    s->n_events = s->n_tokens = s->n_nodes = s->n_beams = s->n_entries = s->n_missing = 0;
    s->final_blank = 0.0;
}

/* Make ``array`` hold ``needed`` items; ``cap`` (a variable) is its capacity, updated. */
#define GROW(array, cap, needed) \
    do { if ((needed) > (cap)) { void *p_ = grow((array), &(cap), (needed), sizeof(*(array))); \
         if (p_ == NULL) { PyErr_NoMemory(); return -1; } (array) = p_; } } while (0)

static int reserve_nodes(SearchCore *core, Search *s, Py_ssize_t needed) {
    if (needed <= s->nodes_cap) return 0;
    Py_ssize_t cap = s->nodes_cap ? s->nodes_cap : 256;
    while (cap < needed) cap *= 2;
#define RESIZE(field) do { void *p_ = realloc(s->field, (size_t)cap * sizeof(*s->field)); \
        if (p_ == NULL) { PyErr_NoMemory(); return -1; } s->field = p_; } while (0)
    RESIZE(token); RESIZE(parent); RESIZE(partial_length); RESIZE(lexicon); RESIZE(context);
    RESIZE(completed); RESIZE(completed_log10); RESIZE(lm); RESIZE(partial_hash);
    void *p = realloc(s->slot, (size_t)cap * sizeof(Py_ssize_t));
    if (p == NULL) { PyErr_NoMemory(); return -1; }
    s->slot = p;
    for (Py_ssize_t i = s->nodes_cap; i < cap; i++) s->slot[i] = -1;
    p = realloc(s->child, (size_t)cap * core->vocab * sizeof(int));
    if (p == NULL) { PyErr_NoMemory(); return -1; }
    s->child = p;
#undef RESIZE
    s->nodes_cap = cap;
    return 0;
}

static int new_node(SearchCore *core, Search *s) {
    if (reserve_nodes(core, s, s->n_nodes + 1) < 0) return -1;
    int id = (int)s->n_nodes++;
    int *row = s->child + (Py_ssize_t)id * core->vocab;
    for (int v = 0; v < core->vocab; v++) row[v] = MISSING;
    return id;
}

/* Frames -> events, as decoder._batch_events for one utterance. */
static int build_events(SearchCore *core, Search *s, const char *data, int is_double, Py_ssize_t frames,
                        const Options *o) {
    const int V = core->vocab;
    if (s->row == NULL) { /* a Search serves one core: the vocabulary never changes */
        s->candidate = malloc(V);
        s->row = malloc(V * sizeof(double));
        s->sorted = malloc(V * sizeof(double));
        if (s->candidate == NULL || s->row == NULL || s->sorted == NULL) {
            free(s->candidate); free(s->row); free(s->sorted);
            s->candidate = NULL; s->row = s->sorted = NULL;
            PyErr_NoMemory();
            return -1;
        }
    }
    unsigned char *candidate = s->candidate;
    double *row = s->row, *sorted = s->sorted;
    int status = 0, previous_single = -2;
    Py_ssize_t previous_frame = -2;
    double pending_blank = 0.0;
    int has_pending = 0;
    const double all_clear = -log((double)V);
    for (Py_ssize_t t = 0; t < frames; t++) {
        double peak = NEG_INF;
        int best = 0, bad = 0;
        for (int v = 0; v < V; v++) {
            double x = is_double ? ((const double *)data)[t * V + v] : (double)((const float *)data)[t * V + v];
            row[v] = x;
            if (isnan(x)) bad = 1;
            if (x > peak) { peak = x; best = v; }
        }
        if (bad || !isfinite(peak)) {
            PyErr_SetString(core->logits_error,
                            "the logits hold a frame without a finite maximum (NaN or +-inf values)");
            status = -1;
            break;
        }
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += exp(row[v] - peak);
        const double normaliser = peak + log(sum);
        const double threshold = normaliser + o->token_min_logp;
        int count = 0;
        for (int v = 0; v < V; v++) candidate[v] = row[v] >= threshold;
        if (o->token_min_logp > all_clear) candidate[best] = 1;
        if (o->max_tokens > 0 && o->max_tokens < V) {
            /* the max_tokens-th largest value: the k largest kept in descending order */
            const int k = o->max_tokens;
            for (int i = 0; i < k; i++) sorted[i] = NEG_INF;
            for (int v = 0; v < V; v++) {
                double x = row[v];
                if (!(x > sorted[k - 1])) continue;
                int at = k - 1;
                while (at > 0 && sorted[at - 1] < x) { sorted[at] = sorted[at - 1]; at--; }
                sorted[at] = x;
            }
            const double kth = sorted[k - 1];
            for (int v = 0; v < V; v++) candidate[v] &= row[v] >= kth;
        }
        int any = 0;
        for (int v = 0; v < V; v++) {
            if (core->never[v]) candidate[v] = 0;
            any |= candidate[v];
        }
        if (!any) candidate[core->blank] = 1;
        int single = -1;
        for (int v = 0; v < V; v++) if (candidate[v]) { count++; single = v; }
        if (candidate[core->blank] && count == 1) { /* blank only: folded into the next event */
            pending_blank += row[core->blank] - normaliser;
            has_pending = 1;
            continue;
        }
        if (count != 1) single = -1;
        if (single >= 0 && single == previous_single && t == previous_frame + 1) {
            s->lp[(s->n_events - 1) * V + single] += row[single] - normaliser; /* a run of one token */
            previous_frame = t;
            continue;
        }
        if (s->n_events + 1 > s->events_cap) {
            void *p = grow(s->events, &s->events_cap, s->n_events + 1, sizeof(Event));
            if (p == NULL) { PyErr_NoMemory(); status = -1; break; }
            s->events = p;
        }
        if ((s->n_events + 1) * V > s->lp_cap) {
            void *p = grow(s->lp, &s->lp_cap, (s->n_events + 1) * V, sizeof(double));
            if (p == NULL) { PyErr_NoMemory(); status = -1; break; }
            s->lp = p;
        }
        if (s->n_tokens + V > s->tokens_cap) {
            void *p = grow(s->tokens, &s->tokens_cap, s->n_tokens + V, sizeof(int));
            if (p == NULL) { PyErr_NoMemory(); status = -1; break; }
            s->tokens = p;
        }
        Event *e = &s->events[s->n_events];
        double *lp = s->lp + s->n_events * V;
        e->blank_before = pending_blank;
        e->has_blank_before = has_pending;
        e->token_offset = s->n_tokens;
        for (int v = 0; v < V; v++) { /* max_lp after the last frame: a merged run changes it */
            lp[v] = candidate[v] ? row[v] - normaliser : NEG_INF;
            if (candidate[v] && v != core->blank) s->tokens[s->n_tokens++] = v;
        }
        e->token_count = s->n_tokens - e->token_offset;
        s->n_events++;
        pending_blank = 0.0;
        has_pending = 0;
        previous_single = single;
        previous_frame = t;
    }
    /* a merged run's max log-prob is its summed token's */
    for (Py_ssize_t i = 0; status == 0 && i < s->n_events; i++) {
        double *lp = s->lp + i * V;
        double peak = NEG_INF;
        for (int v = 0; v < V; v++) if (lp[v] > peak) peak = lp[v];
        s->events[i].max_lp = peak;
    }
    s->final_blank = pending_blank;
    return status;
}

static int add_entry(Search *s, int node, double b, double nb) {
    Py_ssize_t at = s->slot[node];
    if (at >= 0) {
        s->entries[at].b = logaddexp(s->entries[at].b, b);
        s->entries[at].nb = logaddexp(s->entries[at].nb, nb);
        return 0;
    }
    GROW(s->entries, s->entries_cap, s->n_entries + 1);
    s->slot[node] = s->n_entries;
    s->entries[s->n_entries++] = (Entry){.node = node, .b = b, .nb = nb};
    return 0;
}

static int add_missing(Search *s, int parent, int token, double src) {
    GROW(s->missing, s->missing_cap, s->n_missing + 1);
    s->missing[s->n_missing++] = (Missing){.parent = parent, .token = token, .src = src};
    return 0;
}

/* The ranking order: the higher score first, then the lower index (a total order: indices differ). */
static inline int ranks_above(const Ranked *x, const Ranked *y) {
    return x->score > y->score || (x->score == y->score && x->index < y->index);
}
static int by_index(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

/* Move the ``k`` best of ``items[0..n)`` to its front, in no particular order (quickselect): the order is
 * total, so these are the k first of a full sort, found in O(n) instead of O(n log n). */
static void select_best(Ranked *items, Py_ssize_t n, Py_ssize_t k) {
    Py_ssize_t lo = 0, hi = n - 1;
    while (lo < hi) {
        const Ranked pivot = items[lo + (hi - lo) / 2];
        Py_ssize_t i = lo, j = hi;
        while (i <= j) { /* Hoare: the pivot (or what was swapped past it) stops each scan */
            while (ranks_above(&items[i], &pivot)) i++;
            while (ranks_above(&pivot, &items[j])) j--;
            if (i <= j) {
                Ranked swap = items[i];
                items[i++] = items[j];
                items[j--] = swap;
            }
        }
        if (k - 1 <= j) hi = j; /* [lo, j] rank above [i, hi]; between them, the pivot */
        else if (k - 1 >= i) lo = i;
        else return;
    }
}

/* Of the scores ``ranked[0..n).score``, keep those within ``margin`` of ``best``, finite, at most
 * ``width`` of the best: they are moved to the front as (score, its position i), positions ascending.
 * Returns how many. */
static Py_ssize_t select_top(Ranked *ranked, Py_ssize_t n, double best, double margin, int width) {
    Py_ssize_t kept = 0;
    const double floor = best + margin;
    for (Py_ssize_t i = 0; i < n; i++) /* kept <= i: in-place compaction is safe */
        if (ranked[i].score >= floor && ranked[i].score > NEG_INF)
            ranked[kept++] = (Ranked){.score = ranked[i].score, .index = i};
    if (kept > width) {
        select_best(ranked, kept, width);
        kept = width;
        qsort(ranked, kept, sizeof(Ranked), by_index);
    }
    return kept;
}

/* rows[k] = rows[kept[k].index] for k < count: the indices ascend, so in-place compaction is safe. */
static void keep_rows(Beam *rows, const Ranked *kept, Py_ssize_t count) {
    for (Py_ssize_t k = 0; k < count; k++) rows[k] = rows[kept[k].index];
}

/* What an unknown word adds: alpha * ln(10) * unk_score_offset (0 with alpha 0, even for -inf). */
static inline double unknown_word_term(const Options *o) {
    return o->alpha != 0.0 ? o->alpha * LN10 * o->unk : 0.0;
}

static inline double partial_term(const SearchCore *core, const Options *o, int has_lm, long long lexicon,
                                  int length) {
    if (!has_lm) return 0.0;
    if (lexicon >= 0) /* a known word's start: the look-ahead in lexicon mode */
        return o->lexicon_mode && core->lookahead != NULL ? o->alpha * LN10 * core->lookahead[lexicon] : 0.0;
    double scale = length / AVERAGE_WORD_LENGTH;
    double penalty = o->unk * (scale > 1.0 ? scale : 1.0);
    if (!o->lexicon_mode) return penalty;
    double unknown = unknown_word_term(o); /* lexicon mode: at least what an unknown word will cost */
    return unknown < penalty ? unknown : penalty;
}

/* Completing the partial word at trie node ``lexicon`` after ``context``: fused score, log10, context. */
static int complete_word(SearchCore *core, const Options *o, int has_lm, long long lexicon, long long context,
                         double *fused, double *log10, long long *next, int *known) {
    long long word = core->has_lexicon ? word_at(core, lexicon) : OOV_WORD;
    *known = word >= 0;
    if (!has_lm) {
        *fused = 0.0; *log10 = 0.0; *next = context;
        return 0;
    }
    if (word_score(core, context, word, log10, next) < 0) return -1;
    *fused = o->alpha * LN10 * *log10 + (*known ? 0.0 : unknown_word_term(o)) + o->beta;
    return 0;
}

struct PruneKey {
    long long context;
    unsigned long long hash;
    int token;
    double score;
    Py_ssize_t index;
};

static int by_history(const void *a, const void *b) {
    const struct PruneKey *x = a, *y = b;
    if (x->context != y->context) return x->context < y->context ? -1 : 1;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    if (x->token != y->token) return x->token < y->token ? -1 : 1;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Of the next beams sharing LM context, partial word and last token keep the best (ties: the first),
 * in their order: decoder._BatchSearch._prune_history. */
static int prune_history(Search *s, Py_ssize_t *count) {
    Py_ssize_t n = *count;
    GROW(s->prune, s->prune_cap, n);
    for (Py_ssize_t k = 0; k < n; k++) {
        const Beam *b = &s->next[k];
        s->prune[k].context = s->context[b->node];
        s->prune[k].hash = s->partial_hash[b->node];
        s->prune[k].token = s->token[b->node];
        s->prune[k].score = logaddexp(b->pb, b->pnb) + s->lm[b->node];
        s->prune[k].index = k;
    }
    qsort(s->prune, n, sizeof(struct PruneKey), by_history);
    GROW(s->ranked, s->ranked_cap, n);
    Py_ssize_t kept = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        const struct PruneKey *key = &s->prune[k];
        if (k > 0 && key->context == key[-1].context && key->hash == key[-1].hash && key->token == key[-1].token)
            continue;
        s->ranked[kept++] = (Ranked){.score = key->score, .index = key->index};
    }
    qsort(s->ranked, kept, sizeof(Ranked), by_index);
    keep_rows(s->next, s->ranked, kept);
    *count = kept;
    return 0;
}

static int step(SearchCore *core, Search *s, Py_ssize_t index, const Options *o, int has_lm) {
    const int V = core->vocab, delim = core->delimiter;
    const Event *e = &s->events[index];
    const double *lp = s->lp + index * V;
    const double word_bound = has_lm && o->beta > 0 ? o->beta : 0.0;
    if (e->has_blank_before) {
        for (Py_ssize_t i = 0; i < s->n_beams; i++) {
            Beam *b = &s->beams[i];
            b->pb = logaddexp(b->pb, b->pnb) + e->blank_before;
            b->pnb = NEG_INF;
        }
    }
    s->n_entries = 0;
    s->n_missing = 0;
    for (Py_ssize_t i = 0; i < s->n_beams; i++) {
        Beam *b = &s->beams[i];
        int last = s->token[b->node];
        b->total = logaddexp(b->pb, b->pnb);
        if (add_entry(s, b->node, b->total + lp[core->blank], last >= 0 ? b->pnb + lp[last] : NEG_INF) < 0)
            return -1;
    }
    for (Py_ssize_t i = 0; i < s->n_beams; i++) {
        const Beam *b = &s->beams[i];
        int node = b->node, last = s->token[node];
        const int *row = s->child + (Py_ssize_t)node * V;
        for (Py_ssize_t k = 0; k < e->token_count; k++) {
            int c = s->tokens[e->token_offset + k];
            double extend = (last == c ? b->pb : b->total) + lp[c];
            if (!(extend > NEG_INF)) continue;
            int child = row[c];
            if (child >= 0) {
                if (add_entry(s, child, NEG_INF, extend) < 0) return -1;
            } else if (child == MISSING) {
                if (add_missing(s, node, c, extend) < 0) return -1;
            }
        }
    }
    double best = NEG_INF;
    for (Py_ssize_t j = 0; j < s->n_entries; j++) {
        Entry *entry = &s->entries[j];
        entry->score = logaddexp(entry->b, entry->nb) + s->lm[entry->node];
        if (entry->score > best) best = entry->score;
        s->slot[entry->node] = -1;
    }
    /* prefixes not built yet: a cheap bound drops the hopeless, then their prospects */
    Py_ssize_t hopeful = 0;
    for (Py_ssize_t m = 0; m < s->n_missing; m++) {
        const Missing *miss = &s->missing[m];
        double cheap = miss->src + s->completed[miss->parent] + (miss->token == delim ? word_bound : 0.0);
        if (cheap >= best + o->prune) s->missing[hopeful++] = *miss;
    }
    s->n_missing = hopeful;
    double best_characters = NEG_INF;
    for (Py_ssize_t m = 0; m < s->n_missing; m++) {
        Missing *miss = &s->missing[m];
        int parent = miss->parent, c = miss->token;
        int length = s->partial_length[parent] + 1;
        long long lexicon = core->has_lexicon ? trie_step(core, s->lexicon[parent], c) : NO_NODE;
        double lm;
        if (c == delim) {
            long long word = core->has_lexicon ? word_at(core, s->lexicon[parent]) : OOV_WORD;
            int known = word >= 0;
            lm = s->completed[parent];
            if (has_lm) {
                double unknown = unknown_word_term(o);
                lm += o->beta + (known ? 0.0 : (unknown < 0.0 ? unknown : 0.0));
            }
            if (o->only_lexicon && !known) lm = NEG_INF;
        } else {
            lm = s->completed[parent] + partial_term(core, o, has_lm, lexicon, length);
            if (o->only_lexicon && lexicon < 0) lm = NEG_INF;
        }
        if (lm == NEG_INF) s->child[(Py_ssize_t)parent * V + c] = DEAD;
        miss->lexicon = lexicon;
        miss->partial = length;
        miss->lm = lm;
        miss->score = miss->src + lm;
        if (c != delim && miss->score > best_characters) best_characters = miss->score;
    }
    if (best_characters > best) best = best_characters;

    /* rank built (indices below n_entries) and unbuilt prefixes together */
    Py_ssize_t n = s->n_entries + s->n_missing;
    GROW(s->next, s->next_cap, n + s->n_beams);
    GROW(s->ranked, s->ranked_cap, n);
    for (Py_ssize_t j = 0; j < s->n_entries; j++) s->ranked[j].score = s->entries[j].score;
    for (Py_ssize_t m = 0; m < s->n_missing; m++) s->ranked[s->n_entries + m].score = s->missing[m].score;
    Py_ssize_t kept = select_top(s->ranked, n, best, o->prune, o->beam_width);
    Py_ssize_t out = 0;
    int made_word = 0;
    for (Py_ssize_t k = 0; k < kept; k++) {
        Py_ssize_t j = s->ranked[k].index;
        if (j < s->n_entries) {
            const Entry *entry = &s->entries[j];
            s->next[out++] = (Beam){.node = entry->node, .pb = entry->b, .pnb = entry->nb};
            continue;
        }
        const Missing *miss = &s->missing[j - s->n_entries];
        int parent = miss->parent, c = miss->token;
        int id = new_node(core, s);
        if (id < 0) return -1;
        s->token[id] = c;
        s->parent[id] = parent;
        s->completed[id] = s->completed[parent];
        s->completed_log10[id] = s->completed_log10[parent];
        s->context[id] = s->context[parent];
        s->lexicon[id] = miss->lexicon;
        s->partial_length[id] = miss->partial;
        s->lm[id] = miss->lm;
        s->partial_hash[id] = s->partial_hash[parent] * HASH_MULTIPLIER + (unsigned long long)(c + 1);
        if (c == delim) {
            double fused, log10;
            long long next;
            int known;
            if (complete_word(core, o, has_lm, s->lexicon[parent], s->context[parent], &fused, &log10, &next,
                              &known) < 0)
                return -1;
            s->completed[id] += fused;
            s->completed_log10[id] += log10;
            s->context[id] = next;
            s->lm[id] = s->completed[id];
            s->partial_length[id] = 0;
            s->partial_hash[id] = 0;
            s->lexicon[id] = core->has_lexicon ? 0 : NO_NODE;
            s->child[(Py_ssize_t)id * V + delim] = id;
            made_word = 1;
        }
        s->child[(Py_ssize_t)parent * V + c] = id;
        s->next[out++] = (Beam){.node = id, .pb = NEG_INF, .pnb = miss->src};
    }
    if (made_word) { /* completed words were ranked by a bound: rank again, exactly */
        double top = NEG_INF;
        for (Py_ssize_t k = 0; k < out; k++) { /* out <= n: ranked is large enough */
            const Beam *b = &s->next[k];
            s->ranked[k].score = logaddexp(b->pb, b->pnb) + s->lm[b->node];
            if (s->ranked[k].score > top) top = s->ranked[k].score;
        }
        out = select_top(s->ranked, out, top, o->prune, o->beam_width);
        keep_rows(s->next, s->ranked, out);
    }
    if (out == 0) { /* only lexicon words and no allowed path: keep the beams, charged the event's best */
        for (Py_ssize_t i = 0; i < s->n_beams; i++)
            s->next[i] = (Beam){.node = s->beams[i].node, .pb = s->beams[i].total + e->max_lp, .pnb = NEG_INF};
        out = s->n_beams;
    }
    if (o->prune_history && out > 1 && prune_history(s, &out) < 0) return -1;
    Beam *previous = s->beams; /* the new beams become the beams; the old buffer takes the next step's */
    Py_ssize_t previous_cap = s->beams_cap;
    s->beams = s->next;
    s->beams_cap = s->next_cap;
    s->next = previous;
    s->next_cap = previous_cap;
    s->n_beams = out;
    return 0;
}

static int final_scores(SearchCore *core, Search *s, const Options *o, int has_lm, Final *f, int strict) {
    int c = f->node;
    f->lm = s->completed[c];
    f->log10 = s->completed_log10[c];
    f->allowed = 1;
    long long context = s->context[c];
    if (s->partial_length[c] > 0) {
        double fused, log10;
        long long next;
        int known;
        if (complete_word(core, o, has_lm, s->lexicon[c], context, &fused, &log10, &next, &known) < 0) return -1;
        f->allowed = known || !(strict && o->only_lexicon);
        f->lm += fused;
        f->log10 += log10;
        context = next;
    }
    if (has_lm && o->score_boundary) {
        double end;
        long long unused;
        if (word_score(core, context, END_WORD, &end, &unused) < 0) return -1;
        f->lm += o->alpha * LN10 * end;
        f->log10 += end;
    }
    return 0;
}

static int by_node(const void *a, const void *b) {
    const Final *x = a, *y = b;
    return (x->node > y->node) - (x->node < y->node);
}
static int by_total(const void *a, const void *b) {
    const Final *x = a, *y = b;
    double p = x->acoustic + x->lm, q = y->acoustic + y->lm;
    if (p > q) return -1;
    if (p < q) return 1;
    return (x->node > y->node) - (x->node < y->node);
}

static PyObject *finish(SearchCore *core, Search *s, const Options *o, int has_lm) {
    Py_ssize_t n = s->n_beams;
    if (n > s->finals_cap) {
        void *p = grow(s->finals, &s->finals_cap, n, sizeof(Final));
        if (p == NULL) return PyErr_NoMemory();
        s->finals = p;
    }
    Final *finals = s->finals;
    int any_allowed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int node = s->beams[i].node;
        finals[i].node = s->token[node] == core->delimiter ? s->parent[node] : node;
        finals[i].acoustic = logaddexp(s->beams[i].pb, s->beams[i].pnb) + s->final_blank;
        if (final_scores(core, s, o, has_lm, &finals[i], 1) < 0) return NULL;
        any_allowed |= finals[i].allowed;
    }
    if (o->only_lexicon && !any_allowed) { /* every beam ends inside a word: drop that word */
        for (Py_ssize_t i = 0; i < n; i++) {
            int node = finals[i].node;
            while (s->partial_length[node] > 0) node = s->parent[node];
            finals[i].node = node;
            if (final_scores(core, s, o, has_lm, &finals[i], 0) < 0) return NULL;
        }
    }
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) if (finals[i].allowed) finals[kept++] = finals[i];
    /* equal texts (the same node): acoustic scores add up; stable by node like np.unique */
    qsort(finals, kept, sizeof(Final), by_node);
    Py_ssize_t unique = 0;
    for (Py_ssize_t i = 0; i < kept; i++) {
        if (unique > 0 && finals[unique - 1].node == finals[i].node) {
            finals[unique - 1].acoustic = logaddexp(finals[unique - 1].acoustic, finals[i].acoustic);
            continue;
        }
        finals[unique++] = finals[i];
    }
    qsort(finals, unique, sizeof(Final), by_total);
    Py_ssize_t count = unique < o->n_best ? unique : o->n_best;
    PyObject *result = PyList_New(count);
    if (result == NULL) return NULL;
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t length = 0;
        for (int node = finals[k].node; s->token[node] >= 0; node = s->parent[node]) length++;
        PyObject *tokens = PyList_New(length);
        if (tokens == NULL) { Py_DECREF(result); return NULL; }
        Py_ssize_t at = length;
        for (int node = finals[k].node; s->token[node] >= 0; node = s->parent[node])
            PyList_SET_ITEM(tokens, --at, PyLong_FromLong(s->token[node]));
        PyObject *item = Py_BuildValue("(Ndddd)", tokens, finals[k].acoustic, finals[k].lm,
                                       finals[k].acoustic + finals[k].lm, finals[k].log10);
        if (item == NULL) { Py_DECREF(result); return NULL; }
        PyList_SET_ITEM(result, k, item);
    }
    return result;
}

/* The n best hypotheses of one utterance, as new Python objects: nothing returned points into ``s``. */
static PyObject *run_search(SearchCore *core, Search *s, const char *data, int is_double, Py_ssize_t frames,
                            const Options *o, int has_lm) {
    if (build_events(core, s, data, is_double, frames, o) < 0) return NULL;
    int root = new_node(core, s);
    if (root < 0) return NULL;
    s->token[root] = -1;
    s->parent[root] = -1;
    s->partial_length[root] = 0;
    s->lexicon[root] = core->has_lexicon ? 0 : NO_NODE;
    s->context[root] = o->start_context;
    s->completed[root] = s->completed_log10[root] = s->lm[root] = 0.0;
    s->partial_hash[root] = 0;
    s->child[(Py_ssize_t)root * core->vocab + core->delimiter] = root; /* "A||B" is "A|B" */
    if (s->beams_cap < 1) {
        void *p = grow(s->beams, &s->beams_cap, 1, sizeof(Beam));
        if (p == NULL) return PyErr_NoMemory();
        s->beams = p;
    }
    s->beams[0] = (Beam){.node = root, .pb = 0.0, .pnb = NEG_INF};
    s->n_beams = 1;
    for (Py_ssize_t i = 0; i < s->n_events; i++)
        if (step(core, s, i, o, has_lm) < 0) return NULL;
    return finish(core, s, o, has_lm);
}

/* The core's buffers for a search, emptied; NULL (out of memory) or a fresh Search while they are in use:
 * asking the LM runs Python, which may search with this core again (the score callable, another thread). */
static Search *claim_scratch(SearchCore *self) {
    if (self->searching) return calloc(1, sizeof(Search));
    if (self->scratch == NULL && (self->scratch = calloc(1, sizeof(Search))) == NULL) return NULL;
    self->searching = 1;
    search_reset(self->scratch);
    return self->scratch;
}

static void release_scratch(SearchCore *self, Search *s) {
    if (s == self->scratch) {
        self->searching = 0;
        return;
    }
    search_free(s);
    free(s);
}

/* ------------------------------------------------------------------ the Python type */

static PyObject *SearchCore_search(SearchCore *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t frames;
    int is_double, has_lm;
    Options o;
    if (!PyArg_ParseTuple(args, "y*ni(iddidddiiiiiLi)", &view, &frames, &is_double, &o.beam_width, &o.prune,
                          &o.token_min_logp, &o.max_tokens, &o.alpha, &o.beta, &o.unk, &o.score_boundary,
                          &o.lexicon_mode, &o.only_lexicon, &o.prune_history, &o.n_best, &o.start_context,
                          &has_lm))
        return NULL;
    size_t item = is_double ? sizeof(double) : sizeof(float);
    if (frames < 1 || o.beam_width < 1 || o.n_best < 1 ||
        (size_t)view.len != (size_t)frames * (size_t)self->vocab * item) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "logits buffer does not hold frames x vocabulary values");
        return NULL;
    }
    if (has_lm && self->score == Py_None) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "this search core has no language model");
        return NULL;
    }
    Search *s = claim_scratch(self);
    if (s == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    PyObject *result = run_search(self, s, view.buf, is_double, frames, &o, has_lm);
    release_scratch(self, s);
    PyBuffer_Release(&view);
    return result;
}

static PyObject *SearchCore_set_lookahead(SearchCore *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    if (self->lookahead != NULL) { /* set once: a search of another thread may be reading it */
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    if ((size_t)view.len != (size_t)self->n_trie * sizeof(double)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "the look-ahead needs one float64 per trie node");
        return NULL;
    }
    double *values = malloc(view.len > 0 ? view.len : 1);
    if (values == NULL) { PyBuffer_Release(&view); return PyErr_NoMemory(); }
    memcpy(values, view.buf, view.len);
    PyBuffer_Release(&view);
    free(self->lookahead);
    self->lookahead = values;
    Py_RETURN_NONE;
}

static PyObject *SearchCore_cache_size(SearchCore *self, PyObject *Py_UNUSED(ignored)) {
    return PyLong_FromSize_t(self->cache_size);
}

static int copy_int64(PyObject *source, long long **out, Py_ssize_t *count) {
    Py_buffer view;
    if (PyObject_GetBuffer(source, &view, PyBUF_SIMPLE) < 0) return -1;
    if (view.len % sizeof(long long)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "expected int64 arrays");
        return -1;
    }
    *count = view.len / sizeof(long long);
    *out = malloc(view.len > 0 ? view.len : 1);
    if (*out == NULL) { PyBuffer_Release(&view); PyErr_NoMemory(); return -1; }
    memcpy(*out, view.buf, view.len);
    PyBuffer_Release(&view);
    return 0;
}

static int SearchCore_init(SearchCore *self, PyObject *args, PyObject *Py_UNUSED(kwargs)) {
    if (self->never != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a SearchCore is initialised once");
        return -1;
    }
    PyObject *never, *keys, *children, *word_of, *score, *logits_error;
    long long n_words;
    int has_lexicon;
    long long dense_limit = DENSE_TRIE_LIMIT;
    if (!PyArg_ParseTuple(args, "iiiOOOOLiOO|L", &self->vocab, &self->blank, &self->delimiter, &never, &keys,
                          &children, &word_of, &n_words, &has_lexicon, &score, &logits_error, &dense_limit))
        return -1;
    if (!PyExceptionClass_Check(logits_error)) {
        PyErr_SetString(PyExc_TypeError, "logits_error must be an exception class");
        return -1;
    }
    if (self->vocab < 2 || self->blank < 0 || self->blank >= self->vocab || self->delimiter < 0 ||
        self->delimiter >= self->vocab) {
        PyErr_SetString(PyExc_ValueError, "bad vocabulary, blank or delimiter");
        return -1;
    }
    long long *never_ids;
    Py_ssize_t n_never, n_children;
    if (copy_int64(never, &never_ids, &n_never) < 0) return -1;
    self->never = calloc(self->vocab, 1);
    if (self->never == NULL) { free(never_ids); PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < n_never; i++)
        if (never_ids[i] >= 0 && never_ids[i] < self->vocab) self->never[never_ids[i]] = 1;
    free(never_ids);
    if (copy_int64(keys, &self->edge_keys, &self->n_edges) < 0) return -1;
    if (copy_int64(children, &self->edge_children, &n_children) < 0) return -1;
    if (n_children != self->n_edges) {
        PyErr_SetString(PyExc_ValueError, "trie keys and children differ in length");
        return -1;
    }
    if (copy_int64(word_of, &self->word_of, &self->n_trie) < 0) return -1;
    if (self->n_trie > 0 && self->n_trie * (long long)self->vocab <= dense_limit) {
        /* a dense child table: one load per step instead of a binary search over the edges */
        self->trie_child = malloc((size_t)self->n_trie * self->vocab * sizeof(int));
        if (self->trie_child == NULL) { PyErr_NoMemory(); return -1; }
        for (Py_ssize_t i = 0; i < self->n_trie * self->vocab; i++) self->trie_child[i] = NO_NODE;
        for (Py_ssize_t e = 0; e < self->n_edges; e++) {
            long long key = self->edge_keys[e];
            if (key >= 0 && key < self->n_trie * (long long)self->vocab) self->trie_child[key] = (int)self->edge_children[e];
        }
    }
    self->has_lexicon = has_lexicon;
    self->stride = n_words + 2;
    Py_INCREF(score);
    Py_XSETREF(self->score, score);
    Py_INCREF(logits_error);
    Py_XSETREF(self->logits_error, logits_error);
    return 0;
}

static void SearchCore_dealloc(SearchCore *self) {
    free(self->never);
    free(self->edge_keys);
    free(self->edge_children);
    free(self->word_of);
    free(self->trie_child);
    free(self->lookahead);
    free(self->cache);
    if (self->scratch != NULL) search_free(self->scratch);
    free(self->scratch);
    Py_XDECREF(self->score);
    Py_XDECREF(self->logits_error);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef SearchCore_methods[] = {
    {"search", (PyCFunction)SearchCore_search, METH_VARARGS,
     "search(logits, frames, is_double, options) -> [(tokens, acoustic, lm, total, log10), ...]"},
    {"cache_size", (PyCFunction)SearchCore_cache_size, METH_NOARGS, "word scores cached"},
    {"set_lookahead", (PyCFunction)SearchCore_set_lookahead, METH_VARARGS,
     "set_lookahead(float64 bytes): best unigram log10 below each trie node (lexicon mode)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SearchCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wav2vec_hf.decoding._search_core.SearchCore",
    .tp_basicsize = sizeof(SearchCore),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The compiled one-utterance CTC prefix beam search (see decoding/compiled.py).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SearchCore_init,
    .tp_dealloc = (destructor)SearchCore_dealloc,
    .tp_methods = SearchCore_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_search_core", "Compiled CTC prefix beam search (one utterance).", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__search_core(void) {
    if (PyType_Ready(&SearchCoreType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&SearchCoreType);
    if (PyModule_AddObject(m, "SearchCore", (PyObject *)&SearchCoreType) < 0) {
        Py_DECREF(&SearchCoreType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
