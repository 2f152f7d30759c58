/* Compiled reading of an eth_getLogs answer: the backfill's hottest path.
 *
 * `scan(body, specs, loads, scanned_type, day_of)` reads a JSON-RPC answer (one reply object or
 * a batch of them) and returns what `loads(body)` would return, except that the `result` array
 * of log objects becomes `scanned_type(items, blocks, removed)`:
 *   - items: one per log, in order: a row built here for a log of a kind `specs` lists, when
 *     the row rebuilds the log exactly (the shape `Decoder` checks before keeping such a log only
 *     decoded, stricter here), else the log as `loads` parses it (a dict);
 *   - blocks: the (blockNumber, blockHash, blockTimestamp or None) of the logs, consecutive
 *     repeats left out;
 *   - removed: whether a log carries `"removed": true`.
 * specs: a tuple of (address, topic0, topics, data_words, row_type, fields), one per kind of
 * log: its contract's lowercase address, its topic 0, how many topics and 32-byte data words it
 * has, the tuple type of its row and the row's fields, two bytes each (a code, an index):
 *   'n' block number, 'l' log index, 'x' transaction hash, 'd' the local day of the block time
 *   (`day_of(timestamp)`, from the log's blockTimestamp); topic i: 'a' address ("0x" and its
 *   last 40 digits, the topic padded with zeros), 'h' the topic's text, 'i' an id (an int up to
 *   2^63 - 1), 'u' a uint256; data word i: 'H' "0x" and its 64 digits, 'I' an id, 'U' a uint256.
 * A log whose id does not fit, whose time is missing or whose day `day_of` cannot tell is handed
 * to `loads` like any other: the Python decoder then says what is wrong with it.
 * Anything this reader is not sure to read as `loads` does (an error reply, a duplicated key in
 * a reply, a block field that is not plain text, invalid JSON, nesting deeper than 64, ...)
 * returns None: the caller then parses the body with `loads`, as before this module existed.
 * A log whose other fields are unusual (escapes, non-ASCII text, other keys, another address...)
 * is handed to `loads` alone: its dict is what the pure-Python path sees.
 *
 * Why: parsing every log into a dict of ten strings and decoding it again in Python was about
 * a third of the indexer's CPU on token transfers; this builds a row's fields directly.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    const char *p;   /* current position */
    const char *end; /* one past the body's last byte */
} Cursor;

typedef struct {
    const char *start; /* first byte of the text, after the opening quote */
    Py_ssize_t len;    /* bytes up to the closing quote */
    int plain;         /* no escape and ASCII only: the bytes are the text */
} Text;

#define MAX_DEPTH 64

static void skip_ws(Cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

static int is_hex(char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* One UTF-8 sequence starting at p (a byte >= 0x80), as JSON parsers require it to be valid:
 * returns its length, 0 when invalid (overlong, surrogate, above U+10FFFF, cut short). */
static int utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned char b = p[0];
    int n;
    unsigned int cp;
    if (b >= 0xC2 && b <= 0xDF) { n = 2; cp = b & 0x1F; }
    else if (b >= 0xE0 && b <= 0xEF) { n = 3; cp = b & 0x0F; }
    else if (b >= 0xF0 && b <= 0xF4) { n = 4; cp = b & 0x07; }
    else return 0;
    if (end - p < n) return 0;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/* A JSON string at c->p (which must be '"'); 0 on invalid JSON. */
static int read_text(Cursor *c, Text *t) {
    if (c->p >= c->end || *c->p != '"') return 0;
    c->p++;
    t->start = c->p;
    t->plain = 1;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            t->len = c->p - t->start;
            c->p++;
            return 1;
        }
        if (ch < 0x20) return 0;
        if (ch == '\\') {
            t->plain = 0;
            c->p++;
            if (c->p >= c->end) return 0;
            switch (*c->p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                c->p++;
                break;
            case 'u':
                if (c->end - c->p < 5) return 0;
                for (int i = 1; i <= 4; i++)
                    if (!is_hex(c->p[i])) return 0;
                /* Surrogate pairing is left to `loads`: a text holding \u is never plain, and
                 * every text that is not plain reaches `loads`, which judges it. */
                c->p += 5;
                break;
            default:
                return 0;
            }
            continue;
        }
        if (ch >= 0x80) {
            int n = utf8_len((const unsigned char *)c->p, (const unsigned char *)c->end);
            if (!n) return 0;
            t->plain = 0;
            c->p += n;
            continue;
        }
        c->p++;
    }
    return 0;
}

static int read_number(Cursor *c) {
    const char *p = c->p, *e = c->end;
    if (p < e && *p == '-') p++;
    if (p >= e) return 0;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') { while (p < e && *p >= '0' && *p <= '9') p++; }
    else return 0;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || !(*p >= '0' && *p <= '9')) return 0;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || !(*p >= '0' && *p <= '9')) return 0;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    c->p = p;
    return 1;
}

static int read_word(Cursor *c, const char *word, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return 0;
    c->p += n;
    return 1;
}

/* After an item of an array or object: 1 when another follows (its ',' read), 0 at the
 * container's `close` (read), -1 on anything else (invalid JSON, or the body's end). */
static int next_item(Cursor *c, char close) {
    skip_ws(c);
    if (c->p >= c->end) return -1;
    if (*c->p == ',') { c->p++; return 1; }
    if (*c->p == close) { c->p++; return 0; }
    return -1;
}

/* Skips one JSON value, checking it is valid JSON; 0 when it is not. */
static int skip_value(Cursor *c, int depth) {
    Text t;
    if (depth > MAX_DEPTH) return 0;
    skip_ws(c);
    if (c->p >= c->end) return 0;
    switch (*c->p) {
    case '"':
        return read_text(c, &t);
    case 't':
        return read_word(c, "true", 4);
    case 'f':
        return read_word(c, "false", 5);
    case 'n':
        return read_word(c, "null", 4);
    case '[':
        c->p++;
        skip_ws(c);
        if (c->p < c->end && *c->p == ']') { c->p++; return 1; }
        for (;;) {
            if (!skip_value(c, depth + 1)) return 0;
            int more = next_item(c, ']');
            if (more <= 0) return more == 0;
        }
    case '{':
        c->p++;
        skip_ws(c);
        if (c->p < c->end && *c->p == '}') { c->p++; return 1; }
        for (;;) {
            skip_ws(c);
            if (!read_text(c, &t)) return 0;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':') return 0;
            c->p++;
            if (!skip_value(c, depth + 1)) return 0;
            int more = next_item(c, '}');
            if (more <= 0) return more == 0;
        }
    default:
        return read_number(c);
    }
}

static int text_is(const Text *t, const char *s, Py_ssize_t n) {
    return t->len == n && memcmp(t->start, s, (size_t)n) == 0;
}

/* "0x" then 1 to 16 hex digits (either case), the forms int(text, 16) reads as this value. */
static int hex_u64(const Text *t, unsigned long long *out) {
    if (!t->plain || t->len < 3 || t->len > 18 || t->start[0] != '0' || t->start[1] != 'x') return 0;
    unsigned long long v = 0;
    for (Py_ssize_t i = 2; i < t->len; i++) {
        char ch = t->start[i];
        int d;
        if (ch >= '0' && ch <= '9') d = ch - '0';
        else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
        else return 0;
        v = (v << 4) | (unsigned long long)d;
    }
    *out = v;
    return 1;
}

static int lower_hex(const char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static PyObject *text_str(const Text *t) { /* plain texts only */
    return PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, t->start, t->len);
}

/* `loads` refused a span: the whole answer goes to `loads`, whose error then names the
 * answer's own position and text (not the span's). 0 (unsure), or -1 when out of memory or
 * interrupted. */
static int span_failed(void) {
    /* Out of memory, or an interrupt (KeyboardInterrupt, SystemExit: not Exceptions) raised
     * meanwhile: passed on, never swallowed. */
    if (PyErr_ExceptionMatches(PyExc_MemoryError) || !PyErr_ExceptionMatches(PyExc_Exception))
        return -1;
    PyErr_Clear();
    return 0;
}

static PyObject *loads_span(PyObject *loads, const char *start, const char *end) {
    PyObject *raw = PyBytes_FromStringAndSize(start, end - start);
    if (!raw) return NULL;
    PyObject *value = PyObject_CallOneArg(loads, raw);
    Py_DECREF(raw);
    return value;
}

#define MAX_SPECS 16
#define MAX_TOPICS 4
#define MAX_FIELDS 16

typedef struct {
    const char *address; /* lowercase address text of the contract */
    Py_ssize_t address_len;
    const char *topic0;
    Py_ssize_t topic0_len;
    int topics, words;   /* the log's topics and 32-byte data words */
    PyTypeObject *row_type;
    const unsigned char *fields; /* (code, index) pairs */
    int n_fields;
} Spec;

typedef struct {
    Spec specs[MAX_SPECS];
    int n_specs;
    PyObject *loads;
    PyObject *day_of;
    /* the previous log's block, to leave out consecutive repeats */
    Text bn, bh, bt;
    int has_bt, has_previous;
    PyObject *bn_value; /* the previous block's number as an int (NULL until read) */
    unsigned long long day_ts; /* the block time of `day` (valid when day is not NULL) */
    PyObject *day;
} Scan;

enum { K_ADDRESS, K_TOPICS, K_DATA, K_BN, K_BH, K_BT, K_TX, K_TXI, K_LI, K_REMOVED, K_COUNT };

static int key_of(const Text *k) {
    switch (k->len) {
    case 4: return text_is(k, "data", 4) ? K_DATA : -1;
    case 6: return text_is(k, "topics", 6) ? K_TOPICS : -1;
    case 7:
        if (text_is(k, "address", 7)) return K_ADDRESS;
        if (text_is(k, "removed", 7)) return K_REMOVED;
        return -1;
    case 8: return text_is(k, "logIndex", 8) ? K_LI : -1;
    case 9: return text_is(k, "blockHash", 9) ? K_BH : -1;
    case 11: return text_is(k, "blockNumber", 11) ? K_BN : -1;
    case 14: return text_is(k, "blockTimestamp", 14) ? K_BT : -1;
    case 15: return text_is(k, "transactionHash", 15) ? K_TX : -1;
    case 16: return text_is(k, "transactionIndex", 16) ? K_TXI : -1;
    default: return -1;
    }
}

/* 64 lowercase hex digits as an int: 1 done, 0 above 2^63 - 1 when `id` (the caller falls
 * back to the dict, whose decoding says the id does not fit), -1 a Python error. */
static int word_int(const char *digits, int id, PyObject **out) {
    int zeros = 0;
    while (zeros < 48 && digits[zeros] == '0') zeros++;
    if (zeros == 48) {
        unsigned long long v = 0;
        for (int i = 48; i < 64; i++) {
            char ch = digits[i];
            v = (v << 4) | (unsigned long long)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
        }
        if (id && v > 0x7FFFFFFFFFFFFFFFULL) return 0;
        *out = PyLong_FromUnsignedLongLong(v);
        return *out ? 1 : -1;
    }
    if (id) return 0;
    char text[65];
    memcpy(text, digits, 64);
    text[64] = '\0';
    *out = PyLong_FromString(text, NULL, 16);
    return *out ? 1 : -1;
}

/* The local day of a block time by `day_of`, the last one kept (a block's logs share it):
 * 1 done (*out a new reference), 0 `day_of` refused it (the dict goes to the decoder, which
 * says why), -1 out of memory or interrupted. */
static int day_of(Scan *s, unsigned long long ts, PyObject **out) {
    if (s->day == NULL || s->day_ts != ts) {
        PyObject *value = PyLong_FromUnsignedLongLong(ts);
        if (!value) return -1;
        PyObject *day = PyObject_CallOneArg(s->day_of, value);
        Py_DECREF(value);
        if (!day) return span_failed();
        Py_XSETREF(s->day, day);
        s->day_ts = ts;
    }
    *out = Py_NewRef(s->day);
    return 1;
}

/* The row of a log of `spec`'s kind: 1 built (*row), 0 the log is not of its exact shape (its
 * dict goes to the decoder), -1 a Python error. Topic 0 and the address matched already. */
static int build_row(Scan *s, const Spec *spec, const Text *f, const Text *topics, int n_topics,
                     unsigned long long li, int has_bt, PyObject **row) {
    const Text *data = &f[K_DATA];
    if (n_topics != spec->topics || data->len != 2 + 64 * (Py_ssize_t)spec->words
        || data->start[0] != '0' || data->start[1] != 'x' || !lower_hex(data->start + 2, data->len - 2))
        return 0;
    for (int t = 1; t < n_topics; t++)
        if (topics[t].len != 66 || topics[t].start[0] != '0' || topics[t].start[1] != 'x'
            || !lower_hex(topics[t].start + 2, 64))
            return 0;
    PyObject *values[MAX_FIELDS] = {NULL};
    int n = spec->n_fields, outcome = 1;
    for (int k = 0; k < n && outcome == 1; k++) {
        unsigned char code = spec->fields[2 * k], at = spec->fields[2 * k + 1];
        const char *topic = at < n_topics ? topics[at].start : NULL;
        const char *word = at < spec->words ? data->start + 2 + 64 * at : NULL;
        char text[66];
        switch (code) {
        case 'n': values[k] = Py_NewRef(s->bn_value); break;
        case 'l': values[k] = PyLong_FromUnsignedLongLong(li); break;
        case 'x': values[k] = text_str(&f[K_TX]); break;
        case 'd': {
            unsigned long long ts;
            if (!has_bt || !hex_u64(&f[K_BT], &ts)) { outcome = 0; break; }
            outcome = day_of(s, ts, &values[k]);
            break;
        }
        case 'a':
            if (!topic || memcmp(topic, "0x000000000000000000000000", 26) != 0) { outcome = 0; break; }
            text[0] = '0';
            text[1] = 'x';
            memcpy(text + 2, topic + 26, 40);
            values[k] = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, text, 42);
            break;
        case 'h':
            if (!topic) { outcome = 0; break; }
            values[k] = text_str(&topics[at]);
            break;
        case 'i': case 'u':
            if (!topic) { outcome = 0; break; }
            outcome = word_int(topic + 2, code == 'i', &values[k]);
            break;
        case 'H':
            if (!word) { outcome = 0; break; }
            text[0] = '0';
            text[1] = 'x';
            memcpy(text + 2, word, 64);
            values[k] = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, text, 66);
            break;
        case 'I': case 'U':
            if (!word) { outcome = 0; break; }
            outcome = word_int(word, code == 'I', &values[k]);
            break;
        default:
            outcome = 0;
        }
        if (outcome == 1 && values[k] == NULL) outcome = -1;
    }
    if (outcome == 1) {
        *row = spec->row_type->tp_alloc(spec->row_type, n);
        if (!*row) outcome = -1;
    }
    if (outcome != 1) {
        for (int k = 0; k < n; k++) Py_XDECREF(values[k]);
        return outcome;
    }
    for (int k = 0; k < n; k++) PyTuple_SET_ITEM(*row, k, values[k]);
    return 1;
}

/* Outcome of one log: 1 read, 0 the whole answer must go to `loads`, -1 a Python error. */
static int scan_log(Scan *s, Cursor *c, PyObject *items, PyObject *blocks, int *removed) {
    const char *start = c->p;
    Text f[K_COUNT];
    int seen[K_COUNT] = {0};
    int fast = 1;         /* still a candidate for a row */
    int removed_here = 0;
    Text topics[MAX_TOPICS];
    int n_topics = 0;
    int topics_plain = 1;

    if (c->p >= c->end || *c->p != '{') return 0;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') return 0; /* no block fields */
    for (;;) {
        Text k;
        skip_ws(c);
        /* A key written with escapes may name a field this reader looks for: `loads` reads it. */
        if (!read_text(c, &k) || !k.plain) return 0;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return 0;
        c->p++;
        skip_ws(c);
        if (c->p >= c->end) return 0;
        int key = key_of(&k);
        if (key >= 0 && seen[key]) return 0; /* a duplicated key: `loads` keeps the last */
        if (key >= 0) seen[key] = 1;
        if (key == K_TOPICS) {
            if (*c->p != '[') {
                fast = 0;
                if (!skip_value(c, 2)) return 0;
            } else {
                c->p++;
                skip_ws(c);
                if (c->p < c->end && *c->p == ']') c->p++;
                else for (;;) {
                    skip_ws(c);
                    if (c->p < c->end && *c->p == '"') {
                        Text t;
                        if (!read_text(c, &t)) return 0;
                        if (n_topics < MAX_TOPICS) topics[n_topics] = t;
                        if (!t.plain) topics_plain = 0;
                        n_topics++;
                    } else {
                        fast = 0;
                        if (!skip_value(c, 3)) return 0;
                    }
                    int more = next_item(c, ']');
                    if (more < 0) return 0;
                    if (!more) break;
                }
            }
        } else if (key == K_REMOVED) {
            if (read_word(c, "true", 4)) removed_here = 1;
            else if (!read_word(c, "false", 5)) return 0; /* truthiness of other values: `loads` */
        } else if (key == K_BT && *c->p == 'n') {
            if (!read_word(c, "null", 4)) return 0;
            seen[K_BT] = 2; /* present, null */
        } else if (key >= 0 && *c->p == '"') {
            if (!read_text(c, &f[key])) return 0;
            /* Escapes are judged by `loads` (a lone surrogate is invalid JSON): such a log is
             * read by `loads`, whichever field holds them. */
            if (!f[key].plain) fast = 0;
        } else {
            if (key == K_BN || key == K_BH || key == K_BT) return 0; /* a block field not text */
            /* Another key or a field of another type: the log as `loads` reads it (and checks:
             * a row is made of texts this reader checked itself). */
            fast = 0;
            if (!skip_value(c, 2)) return 0;
        }
        int more = next_item(c, '}');
        if (more < 0) return 0;
        if (!more) break;
    }
    const char *stop = c->p;

    /* The block fields every log must carry as plain text (blockTimestamp may be absent/null). */
    if (!seen[K_BN] || !seen[K_BH] || !f[K_BN].plain || !f[K_BH].plain) return 0;
    int has_bt = seen[K_BT] == 1;
    if (has_bt && !f[K_BT].plain) return 0;

    unsigned long long bn = 0;
    int bn_read = hex_u64(&f[K_BN], &bn);
    int same = s->has_previous && text_is(&s->bn, f[K_BN].start, f[K_BN].len)
               && text_is(&s->bh, f[K_BH].start, f[K_BH].len) && s->has_bt == has_bt
               && (!has_bt || text_is(&s->bt, f[K_BT].start, f[K_BT].len));
    if (!same) {
        PyObject *n = text_str(&f[K_BN]);
        PyObject *h = text_str(&f[K_BH]);
        PyObject *t = has_bt ? text_str(&f[K_BT]) : Py_NewRef(Py_None);
        PyObject *triple = (n && h && t) ? PyTuple_Pack(3, n, h, t) : NULL;
        Py_XDECREF(n);
        Py_XDECREF(h);
        Py_XDECREF(t);
        if (!triple) return -1;
        int failed = PyList_Append(blocks, triple);
        Py_DECREF(triple);
        if (failed) return -1;
        if (!s->has_previous || !text_is(&s->bn, f[K_BN].start, f[K_BN].len)) {
            Py_CLEAR(s->bn_value);
            if (bn_read && !(s->bn_value = PyLong_FromUnsignedLongLong(bn))) return -1;
        }
        s->bn = f[K_BN];
        s->bh = f[K_BH];
        s->has_bt = has_bt;
        if (has_bt) s->bt = f[K_BT];
        s->has_previous = 1;
    }
    if (removed_here) *removed = 1;

    /* A row when the log is of a kind `specs` lists and every field is what the row rebuilds. */
    unsigned long long li = 0;
    if (fast && !removed_here && bn_read && s->bn_value && seen[K_ADDRESS] && seen[K_TOPICS]
        && seen[K_DATA] && seen[K_TX] && seen[K_LI] && f[K_ADDRESS].plain && f[K_DATA].plain
        && f[K_TX].plain && topics_plain && n_topics >= 1 && n_topics <= MAX_TOPICS
        && hex_u64(&f[K_LI], &li)) {
        for (int i = 0; i < s->n_specs; i++) {
            const Spec *spec = &s->specs[i];
            if (!text_is(&f[K_ADDRESS], spec->address, spec->address_len)
                || !text_is(&topics[0], spec->topic0, spec->topic0_len))
                continue;
            PyObject *row = NULL;
            int built = build_row(s, spec, f, topics, n_topics, li, has_bt, &row);
            if (built < 0) return -1;
            if (built == 0) break; /* not the exact shape: the dict, as the decoder reads it */
            int failed = PyList_Append(items, row);
            Py_DECREF(row);
            return failed ? -1 : 1;
        }
    }
    PyObject *log = loads_span(s->loads, start, stop);
    if (!log) return span_failed();
    int failed = PyList_Append(items, log);
    Py_DECREF(log);
    return failed ? -1 : 1;
}

/* The `result` array at c->p: returns scanned_type(items, blocks, removed); NULL with *unsure
 * set when the answer must go to `loads`, NULL with a Python error set otherwise. */
static PyObject *scan_logs(Scan *s, Cursor *c, PyObject *scanned_type, int *unsure) {
    PyObject *items = PyList_New(0);
    PyObject *blocks = PyList_New(0);
    int removed = 0;
    PyObject *out = NULL;
    /* Each array on its own: a batch may hold several (a node may add replies to it). */
    s->has_previous = 0;
    Py_CLEAR(s->bn_value);
    if (!items || !blocks) goto done;
    c->p++; /* '[' */
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') c->p++;
    else for (;;) {
        skip_ws(c);
        int r = scan_log(s, c, items, blocks, &removed);
        if (r < 0) goto done;
        if (r == 0) { *unsure = 1; goto done; }
        int more = next_item(c, ']');
        if (more < 0) { *unsure = 1; goto done; }
        if (!more) break;
    }
    out = PyObject_CallFunction(scanned_type, "OOO", items, blocks, removed ? Py_True : Py_False);
done:
    Py_XDECREF(items);
    Py_XDECREF(blocks);
    return out;
}

/* One reply object: a dict like `loads` makes, its log array scanned. Py_None: not sure. */
static PyObject *scan_reply(Scan *s, Cursor *c, PyObject *scanned_type) {
    if (c->p >= c->end || *c->p != '{') return Py_NewRef(Py_None);
    PyObject *reply = PyDict_New();
    if (!reply) return NULL;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') { c->p++; return reply; }
    for (;;) {
        Text k;
        skip_ws(c);
        if (!read_text(c, &k) || !k.plain) goto unsure;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') goto unsure;
        c->p++;
        skip_ws(c);
        if (c->p >= c->end) goto unsure;
        PyObject *key = text_str(&k);
        if (!key) goto fail;
        int there = PyDict_Contains(reply, key);
        if (there != 0 || text_is(&k, "error", 5)) { /* duplicated key, or an error: `loads` */
            Py_DECREF(key);
            if (there < 0) goto fail;
            goto unsure;
        }
        PyObject *value;
        int unsure = 0;
        if (text_is(&k, "result", 6) && *c->p == '[') {
            value = scan_logs(s, c, scanned_type, &unsure);
        } else {
            const char *start = c->p;
            if (!skip_value(c, 1)) { Py_DECREF(key); goto unsure; }
            value = loads_span(s->loads, start, c->p);
            if (!value && span_failed() == 0) unsure = 1;
        }
        if (!value) {
            Py_DECREF(key);
            if (unsure) goto unsure;
            goto fail;
        }
        int failed = PyDict_SetItem(reply, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (failed) goto fail;
        int more = next_item(c, '}');
        if (more < 0) goto unsure;
        if (!more) return reply;
    }
unsure:
    Py_DECREF(reply);
    return Py_NewRef(Py_None);
fail:
    Py_DECREF(reply);
    return NULL;
}

/* `specs` into s->specs (borrowed pointers: the tuple outlives the scan); 0 with a TypeError. */
static int read_specs(Scan *s, PyObject *specs) {
    if (!PyTuple_Check(specs) || PyTuple_GET_SIZE(specs) > MAX_SPECS) {
        PyErr_Format(PyExc_TypeError, "specs must be a tuple of at most %d specs", MAX_SPECS);
        return 0;
    }
    s->n_specs = (int)PyTuple_GET_SIZE(specs);
    for (int i = 0; i < s->n_specs; i++) {
        Spec *spec = &s->specs[i];
        PyObject *row_type;
        const char *fields;
        Py_ssize_t n_fields;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(specs, i), "s#s#iiO!y#;a spec is (address, "
                              "topic0, topics, data_words, row_type, fields)",
                              &spec->address, &spec->address_len, &spec->topic0,
                              &spec->topic0_len, &spec->topics, &spec->words, &PyType_Type,
                              &row_type, &fields, &n_fields))
            return 0;
        if (!PyType_IsSubtype((PyTypeObject *)row_type, &PyTuple_Type)) {
            PyErr_SetString(PyExc_TypeError, "a spec's row_type must be a tuple type");
            return 0;
        }
        if (spec->topics < 1 || spec->topics > MAX_TOPICS || spec->words < 0
            || spec->words > 1024 || n_fields % 2 || n_fields / 2 > MAX_FIELDS) {
            PyErr_SetString(PyExc_TypeError, "a spec's topics, data words or fields are out of range");
            return 0;
        }
        spec->row_type = (PyTypeObject *)row_type;
        spec->fields = (const unsigned char *)fields;
        spec->n_fields = (int)(n_fields / 2);
    }
    return 1;
}

static PyObject *scan(PyObject *module, PyObject *args) {
    Py_buffer body;
    PyObject *specs, *loads, *scanned_type, *day_of_fn;
    Scan s = {0};
    if (!PyArg_ParseTuple(args, "y*O!OOO", &body, &PyTuple_Type, &specs, &loads, &scanned_type,
                          &day_of_fn))
        return NULL;
    PyObject *out = NULL;
    if (!read_specs(&s, specs)) goto done;
    s.loads = loads;
    s.day_of = day_of_fn;
    Cursor c = {(const char *)body.buf, (const char *)body.buf + body.len};
    skip_ws(&c);
    if (c.p < c.end && *c.p == '[') {
        PyObject *replies = PyList_New(0);
        if (!replies) goto done;
        c.p++;
        skip_ws(&c);
        if (c.p < c.end && *c.p == ']') c.p++;
        else for (;;) {
            skip_ws(&c);
            PyObject *reply = scan_reply(&s, &c, scanned_type);
            if (!reply) { Py_DECREF(replies); goto done; }
            if (reply == Py_None) { Py_DECREF(replies); out = reply; goto done; }
            int failed = PyList_Append(replies, reply);
            Py_DECREF(reply);
            if (failed) { Py_DECREF(replies); goto done; }
            int more = next_item(&c, ']');
            if (more < 0) {
                Py_DECREF(replies);
                out = Py_NewRef(Py_None);
                goto done;
            }
            if (!more) break;
        }
        out = replies;
    } else {
        out = scan_reply(&s, &c, scanned_type);
        if (!out || out == Py_None) goto done;
    }
    skip_ws(&c);
    if (c.p != c.end) { /* trailing bytes: invalid JSON, `loads` says so */
        Py_DECREF(out);
        out = Py_NewRef(Py_None);
    }
done:
    if (out == NULL && !PyErr_Occurred()) out = Py_NewRef(Py_None);
    Py_XDECREF(s.bn_value);
    Py_XDECREF(s.day);
    PyBuffer_Release(&body);
    return out;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(body, specs, loads, scanned_type, day_of): an eth_getLogs answer read as loads(body) "
     "reads it, its logs as rows of the kinds specs lists or dicts (None: use loads)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_logscan", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__logscan(void) { return PyModule_Create(&module); }
