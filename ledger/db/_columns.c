/* Compiled packing of rows into fixed-width columns for SQLite's columnar insert.
 *
 * `pack(rows, width, u256=())` does what `ledger.db.store._pack_columns_py` does, the same decisions for
 * the same values: per column, None (every value NULL), ("const", value) (the same int or str
 * in every row, no NULL), ("int", blob, nullable) (int64 values, bools included, as 20-character
 * decimal text, a NULL as 20 spaces), ("str", width, blob, nullable) (ASCII text of one width
 * without NUL, a NULL as spaces of that width, which no value may be), ("bytes", width, blob)
 * (one non-zero width, no NULL); or None for the whole when a column fits none of these (the
 * caller then binds every value); NotImplemented when `rows` is not a non-empty list of tuples
 * of `width` values (a tuple subclass that changes item access counts as not a tuple), or
 * `u256` not a tuple of ints (the Python packer then decides). Arguments are positional. Types are matched exactly, as the Python code does (a subclass
 * of int or str does not fit). The columns named in `u256` hold amounts: ints written as 32-byte
 * big-endian blobs, ("bytes", 32, blob), unfit unless every value is an int.
 *
 * Why: packing the columns in Python was a fifth of the indexer's writer on a district's chain.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define DECIMAL_WIDTH 20

/* x as Python's f"{x:020d}": 20 characters, zero-padded, the sign first when negative. */
static void format_int(char *out, long long x) {
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    for (int i = DECIMAL_WIDTH - 1; i >= 0; i--) {
        out[i] = (char)('0' + u % 10);
        u /= 10;
    }
    if (x < 0) out[0] = '-'; /* |x| <= 2^63 has 19 digits: the first place is a padding zero */
}

/* Row i's value in column p (rows: a tuple of plain rows, see plain_row). */
static inline PyObject *cell(PyObject *rows, Py_ssize_t i, Py_ssize_t p) {
    return PyTuple_GET_ITEM(PyTuple_GET_ITEM(rows, i), p);
}

/* An amount column: every value an int, written as 32 bytes big-endian (a U256 blob), as
 * int.to_bytes(32, "big") writes it (OverflowError when negative or 2^256 and above). */
static PyObject *pack_u256(PyObject *rows, Py_ssize_t n, Py_ssize_t p, int *unfit) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (Py_TYPE(cell(rows, i, p)) != &PyLong_Type) {
            *unfit = 1;
            return NULL;
        }
    if (n > PY_SSIZE_T_MAX / 32) return PyErr_NoMemory();
    PyObject *blob = PyBytes_FromStringAndSize(NULL, n * 32);
    if (!blob) return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(blob);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyLongObject *v = (PyLongObject *)cell(rows, i, p);
#if PY_VERSION_HEX >= 0x030D0000
        int failed = _PyLong_AsByteArray(v, out + i * 32, 32, 0, 0, 1);
#else
        int failed = _PyLong_AsByteArray(v, out + i * 32, 32, 0, 0);
#endif
        if (failed) { Py_DECREF(blob); return NULL; }
    }
    PyObject *packed = Py_BuildValue("(snO)", "bytes", (Py_ssize_t)32, blob);
    Py_DECREF(blob);
    return packed;
}

/* The column's kind: 0 none yet, else the exact type seen; -1 several types. */
static PyObject *pack_column(PyObject *rows, Py_ssize_t n, Py_ssize_t p, int *unfit) {
    PyTypeObject *kind = NULL;
    int nullable = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = cell(rows, i, p);
        if (v == Py_None) { nullable = 1; continue; }
        if (kind == NULL) kind = Py_TYPE(v);
        else if (Py_TYPE(v) != kind) { *unfit = 1; return NULL; }
    }
    if (kind == NULL) return Py_NewRef(Py_None);
    PyObject *first = cell(rows, 0, p);
    if (!nullable && (kind == &PyLong_Type || kind == &PyUnicode_Type)) {
        int same = 1;
        for (Py_ssize_t i = 1; i < n && same; i++) {
            int eq = PyObject_RichCompareBool(cell(rows, i, p), first, Py_EQ);
            if (eq < 0) return NULL;
            same = eq;
        }
        if (same) return Py_BuildValue("(sO)", "const", first);
    }
    if (kind == &PyLong_Type || kind == &PyBool_Type) {
        if (n > PY_SSIZE_T_MAX / DECIMAL_WIDTH) return PyErr_NoMemory();
        PyObject *blob = PyBytes_FromStringAndSize(NULL, n * DECIMAL_WIDTH);
        if (!blob) return NULL;
        char *out = PyBytes_AS_STRING(blob);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *v = cell(rows, i, p);
            if (v == Py_None) {
                memset(out + i * DECIMAL_WIDTH, ' ', DECIMAL_WIDTH);
                continue;
            }
            int overflow = 0;
            long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (overflow) { Py_DECREF(blob); *unfit = 1; return NULL; }
            if (x == -1 && PyErr_Occurred()) { Py_DECREF(blob); return NULL; }
            format_int(out + i * DECIMAL_WIDTH, x);
        }
        PyObject *packed = Py_BuildValue("(sOO)", "int", blob, nullable ? Py_True : Py_False);
        Py_DECREF(blob);
        return packed;
    }
    if (kind == &PyUnicode_Type) {
        Py_ssize_t w = -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *v = cell(rows, i, p);
            if (v == Py_None) continue;
            Py_ssize_t len = PyUnicode_GET_LENGTH(v);
            if (w < 0) w = len;
            if (len != w || !PyUnicode_IS_ASCII(v)) { *unfit = 1; return NULL; }
            const char *text = (const char *)PyUnicode_1BYTE_DATA(v);
            if (memchr(text, '\0', (size_t)len)) { *unfit = 1; return NULL; }
            if (nullable) { /* a value all spaces would read back as NULL */
                Py_ssize_t j = 0;
                while (j < len && text[j] == ' ') j++;
                if (j == len) { *unfit = 1; return NULL; }
            }
        }
        if (w == 0) { *unfit = 1; return NULL; }
        if (n > PY_SSIZE_T_MAX / w) return PyErr_NoMemory();
        PyObject *blob = PyBytes_FromStringAndSize(NULL, n * w);
        if (!blob) return NULL;
        char *out = PyBytes_AS_STRING(blob);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *v = cell(rows, i, p);
            if (v == Py_None) memset(out + i * w, ' ', (size_t)w);
            else memcpy(out + i * w, PyUnicode_1BYTE_DATA(v), (size_t)w);
        }
        PyObject *packed = Py_BuildValue("(snOO)", "str", w, blob, nullable ? Py_True : Py_False);
        Py_DECREF(blob);
        return packed;
    }
    if (kind == &PyBytes_Type && !nullable) {
        Py_ssize_t w = PyBytes_GET_SIZE(first);
        if (w == 0) { *unfit = 1; return NULL; }
        for (Py_ssize_t i = 1; i < n; i++)
            if (PyBytes_GET_SIZE(cell(rows, i, p)) != w) {
                *unfit = 1;
                return NULL;
            }
        if (n > PY_SSIZE_T_MAX / w) return PyErr_NoMemory();
        PyObject *blob = PyBytes_FromStringAndSize(NULL, n * w);
        if (!blob) return NULL;
        char *out = PyBytes_AS_STRING(blob);
        for (Py_ssize_t i = 0; i < n; i++)
            memcpy(out + i * w, PyBytes_AS_STRING(cell(rows, i, p)), (size_t)w);
        PyObject *packed = Py_BuildValue("(snO)", "bytes", w, blob);
        Py_DECREF(blob);
        return packed;
    }
    *unfit = 1;
    return NULL;
}

/* A row read as the Python packer reads it: a tuple, or a subclass that keeps tuple's item
 * access (a NamedTuple), so that reading its items directly gives what indexing gives. */
static int plain_row(PyObject *row, Py_ssize_t width) {
    if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != width) return 0;
    if (PyTuple_CheckExact(row)) return 1;
    /* Indexing (operator.itemgetter) goes through mp_subscript: still tuple's own unless the
     * subclass defines __getitem__. */
    PyTypeObject *t = Py_TYPE(row);
    return t->tp_as_mapping && t->tp_as_mapping->mp_subscript == PyTuple_Type.tp_as_mapping->mp_subscript;
}

static PyObject *pack_rows(PyObject *rows, Py_ssize_t width, PyObject *u256);

static PyObject *pack(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *list, *u256 = NULL;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "On|O", &list, &width, &u256)) return NULL;
    /* Anything else than a non-empty list of plain rows of `width` values: the Python packer's
     * business. The amounts' columns: a tuple of ints (those outside 0..width-1 name none). */
    if (!PyList_CheckExact(list) || PyList_GET_SIZE(list) == 0 || width < 0)
        return Py_NewRef(Py_NotImplemented);
    if (u256 && !PyTuple_CheckExact(u256)) return Py_NewRef(Py_NotImplemented);
    for (Py_ssize_t k = 0; u256 && k < PyTuple_GET_SIZE(u256); k++)
        if (!PyLong_CheckExact(PyTuple_GET_ITEM(u256, k))) return Py_NewRef(Py_NotImplemented);
    /* No collection while packing: one started by our own allocations could run a finalizer
     * that changes the list (even while it is being copied); the copy then holds every row and
     * value alive until we are done. */
    int collecting = PyGC_Disable();
    PyObject *rows = PyList_AsTuple(list);
    PyObject *columns = rows ? pack_rows(rows, width, u256) : NULL;
    Py_XDECREF(rows);
    if (collecting) PyGC_Enable();
    return columns;
}

static PyObject *pack_rows(PyObject *rows, Py_ssize_t width, PyObject *u256) {
    Py_ssize_t n = PyTuple_GET_SIZE(rows);
    for (Py_ssize_t i = 0; i < n; i++)
        if (!plain_row(PyTuple_GET_ITEM(rows, i), width)) return Py_NewRef(Py_NotImplemented);
    PyObject *columns = PyList_New(width);
    if (!columns) return NULL;
    for (Py_ssize_t p = 0; p < width; p++) {
        int unfit = 0, amount = 0;
        for (Py_ssize_t k = 0; u256 && k < PyTuple_GET_SIZE(u256); k++) {
            int overflow = 0;
            long long at = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(u256, k), &overflow);
            if (!overflow && at == (long long)p) amount = 1;
        }
        PyObject *column = amount ? pack_u256(rows, n, p, &unfit) : pack_column(rows, n, p, &unfit);
        if (!column) {
            Py_DECREF(columns);
            if (unfit && !PyErr_Occurred()) return Py_NewRef(Py_None);
            return NULL;
        }
        PyList_SET_ITEM(columns, p, column);
    }
    return columns;
}

static PyMethodDef methods[] = {
    {"pack", pack, METH_VARARGS,
     "pack(rows, width, u256=()): each column of a list of tuples packed at a fixed width, the "
     "u256 columns' ints as 32-byte blobs (None: unfit)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_columns", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__columns(void) { return PyModule_Create(&module); }
