/* The file lines' matching loop in C (issue 19): journalban.matching.texthits's loop over
 * the candidate lines of a text, for the lines on its common path.
 *
 * Each line is matched by the same compiled regex, through the same call
 * (``fused.match(text, start, end)``, and the mask's guard before it where it has one), so
 * the regex engine decides exactly as in the Python loop; what is done here is the work
 * around the call: finding the line's start, the branch of the match, its ident's cached
 * verdict, its host and user, its date from the cache of minutes, and the hit's tuple.
 * The match's groups are read from the match object's marks (the _sre module's
 * MatchObject, whose layout ``adopt`` checks against the running interpreter's type and
 * ``texthits`` against real matches before this loop is used).
 *
 * A line off the common path is handed back to the Python loop, which goes on from the
 * step reached (texthits.START, GENERAL, MATCHED): a mask not in the table, a fused
 * regex that matched nothing, an ident without a cached verdict, an ignoreregex, a date
 * not in the cache of minutes, a group's marks that are not inside the text, anything
 * unusual. Every index read is checked against the text's length and the match's groups.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>

/* The _sre module's MatchObject (Modules/_sre/sre.h), as ``adopt`` checks it. */
typedef struct {
    PyObject_VAR_HEAD
    PyObject *string;
    PyObject *regs;
    PyObject *pattern;
    Py_ssize_t pos, endpos;
    Py_ssize_t lastindex;
    Py_ssize_t groups;
    Py_ssize_t mark[1];
} MatchLayout;

/* re.Match, once adopted; NULL: ``run`` hands every line back. */
static PyTypeObject *match_type = NULL;

/* Where the Python loop goes on with the line handed back. */
enum { START = 0, GENERAL = 1, MATCHED = 2 };

/* adopt(type) -> bool: use ``type`` (re.Match) where its size is the layout's. */
static PyObject *
adopt(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyType_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "a type is required");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)arg;
    if (strcmp(type->tp_name, "re.Match") != 0 ||
        type->tp_basicsize != (Py_ssize_t)sizeof(MatchLayout) ||
        type->tp_itemsize != (Py_ssize_t)sizeof(Py_ssize_t))
        Py_RETURN_FALSE;
    Py_INCREF(type);
    Py_XSETREF(match_type, type);
    Py_RETURN_TRUE;
}

/* The marks of group ``g`` of ``m``: 1 with [*s, *e) inside the text (length ``len``),
 * 0 for a group that did not take part, -1 for anything else (not such a group, marks
 * out of order or outside the text). */
static int
span_of(const MatchLayout *m, Py_ssize_t g, Py_ssize_t len, Py_ssize_t *s, Py_ssize_t *e)
{
    if (g < 0 || g >= m->groups)
        return -1;
    Py_ssize_t a = m->mark[2 * g], b = m->mark[2 * g + 1];
    if (a < 0)
        return 0;
    if (b < a || b > len)
        return -1;
    *s = a;
    *e = b;
    return 1;
}

/* marks(m) -> (lastindex, groups, marks): what ``run`` reads of an adopted match, for
 * ``texthits``'s check of the layout against the match's own answers. */
static PyObject *
marks(PyObject *self, PyObject *arg)
{
    (void)self;
    if (match_type == NULL || Py_TYPE(arg) != match_type) {
        PyErr_SetString(PyExc_TypeError, "not an adopted match");
        return NULL;
    }
    const MatchLayout *m = (const MatchLayout *)arg;
    if (m->groups < 1 || Py_SIZE(m) < 2 * m->groups) {
        PyErr_SetString(PyExc_ValueError, "unexpected match size");
        return NULL;
    }
    PyObject *list = PyList_New(2 * m->groups);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < 2 * m->groups; k++) {
        PyObject *item = PyLong_FromSsize_t(m->mark[k]);
        if (item == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, k, item);
    }
    return Py_BuildValue("nnN", m->lastindex, m->groups, list);
}

/* An int of ``obj`` (a tuple's item), or -2 where it is none or out of range. */
static Py_ssize_t
small_int(PyObject *obj)
{
    if (!PyLong_CheckExact(obj))
        return -2;
    Py_ssize_t v = PyLong_AsSsize_t(obj);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -2;
    }
    return v;
}

/* The decimal value of text[s:e] where it is 1 to 9 ASCII digits; -1 otherwise. */
static long
seconds_of(int kind, const void *data, Py_ssize_t s, Py_ssize_t e)
{
    if (e - s < 1 || e - s > 9)
        return -1;
    long v = 0;
    for (Py_ssize_t k = s; k < e; k++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, k);
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (long)(c - '0');
    }
    return v;
}

/* What one matched line gives: 1 a hit appended to ``out`` (and ``*dated`` counted), 0
 * no hit (the Python loop's ``continue``), 2 back to the Python loop (MATCHED), -1 an
 * error. ``entry``: (match, guard, plans, idents) of the line's mask. */
static int
hit_of(const MatchLayout *m, PyObject *text, Py_ssize_t len, int kind, const void *data,
       Py_ssize_t start, Py_ssize_t end, PyObject *plans, PyObject *idents, PyObject *verdicts,
       PyObject *minutes, Py_ssize_t dg, Py_ssize_t sg, Py_ssize_t fg, PyObject *out)
{
    if (m->string != text || m->groups < 1 || Py_SIZE(m) < 2 * m->groups ||
        m->groups != PyTuple_GET_SIZE(plans))
        return 2;
    Py_ssize_t last = m->lastindex;
    if (last < 0)
        return 0; /* no group: the head alone */
    if (last >= m->groups)
        return 2;
    PyObject *plan = PyTuple_GET_ITEM(plans, last);
    if (plan == Py_None)
        return 0; /* not a branch's group: a near miss */
    if (!PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 4)
        return 2;
    Py_ssize_t host_g = small_int(PyTuple_GET_ITEM(plan, 0));
    Py_ssize_t user_g = small_int(PyTuple_GET_ITEM(plan, 1));
    PyObject *mark = PyTuple_GET_ITEM(plan, 2);
    if (host_g < -1 || user_g < -1 || PyTuple_GET_ITEM(plan, 3) != Py_True)
        return 2; /* (False: an ignoreregex applies) */

    /* The ident: the first of the three groups that is not empty, its verdict cached. */
    Py_ssize_t s, e, s0 = 0, e0 = 0;
    int found_ident = 0, r;
    for (Py_ssize_t k = 0; k < 3; k++) {
        r = span_of(m, small_int(PyTuple_GET_ITEM(idents, k)), len, &s, &e);
        if (r < 0)
            return 2;
        if (r == 1 && e > s) {
            s0 = s;
            e0 = e;
            found_ident = 1;
            break;
        }
        if (r == 1 && k == 2)
            return 2; /* an empty third ident: the Python loop's "" */
    }
    if (found_ident) {
        PyObject *ident = PyUnicode_Substring(text, s0, e0);
        if (ident == NULL)
            return -1;
        PyObject *verdict = PyDict_GetItemWithError(verdicts, ident);
        Py_DECREF(ident);
        if (verdict == NULL)
            return PyErr_Occurred() ? -1 : 2;
        int refused = PyObject_IsTrue(verdict);
        if (refused < 0)
            return -1;
        if (refused)
            return 0;
    }
    /* The host: none, or empty, is no hit. */
    Py_ssize_t hs = 0, he = 0;
    if (host_g < 0)
        return 0;
    r = span_of(m, host_g, len, &hs, &he);
    if (r < 0)
        return 2;
    if (r == 0 || he == hs)
        return 0;
    /* The date: its minute's time cached, plus its seconds. */
    if (dg <= 0)
        return 2;
    Py_ssize_t ds, de, ss = -1, se = -1;
    if (span_of(m, dg, len, &ds, &de) != 1)
        return 2;
    r = span_of(m, sg, len, &ss, &se);
    if (r < 0)
        return 2;
    if (r == 0 || se != de || ss <= 0 || ss < start)
        return 2;
    if (fg > 0) {
        r = span_of(m, fg, len, &s, &e);
        if (r != 0)
            return 2;
    }
    long secs = seconds_of(kind, data, ss, se);
    if (secs < 0)
        return 2;
    PyObject *minute = PyUnicode_Substring(text, start, ss);
    if (minute == NULL)
        return -1;
    PyObject *base = PyDict_GetItemWithError(minutes, minute);
    Py_DECREF(minute);
    if (base == NULL)
        return PyErr_Occurred() ? -1 : 2;
    if (!PyFloat_CheckExact(base))
        return 2;
    double when = PyFloat_AS_DOUBLE(base) + (double)secs;
    /* The user: None where the branch has none or it took no part. */
    Py_ssize_t us = 0, ue = -1;
    if (user_g > 0) {
        r = span_of(m, user_g, len, &us, &ue);
        if (r < 0)
            return 2;
        if (r == 0)
            ue = -1;
    }
    int login = PyObject_IsTrue(mark);
    if (login < 0)
        return -1;
    PyObject *hit = PyTuple_New(5);
    if (hit == NULL)
        return -1;
    PyObject *line = login ? PyUnicode_New(0, 0) : PyUnicode_Substring(text, start, end);
    PyObject *host = PyUnicode_Substring(text, hs, he);
    PyObject *time = PyFloat_FromDouble(when);
    PyObject *user;
    if (ue < 0) {
        Py_INCREF(Py_None);
        user = Py_None;
    } else {
        user = PyUnicode_Substring(text, us, ue);
    }
    Py_INCREF(mark);
    PyTuple_SET_ITEM(hit, 0, line);
    PyTuple_SET_ITEM(hit, 1, host);
    PyTuple_SET_ITEM(hit, 2, time);
    PyTuple_SET_ITEM(hit, 3, user);
    PyTuple_SET_ITEM(hit, 4, mark);
    if (line == NULL || host == NULL || time == NULL || user == NULL ||
        PyList_Append(out, hit) < 0) {
        Py_DECREF(hit);
        return -1;
    }
    Py_DECREF(hit);
    return 1;
}

/* A candidate line through its mask's ``entry`` (match, guard, plans, idents): 1 a hit
 * appended, 0 none, GIVEN + the stage where the Python loop goes on with it (``*held``:
 * the match, for MATCHED), -1 an error. */
enum { GIVEN = 16 };

static int
line_hit(PyObject *entry, PyObject *text, Py_ssize_t len, int kind, const void *data,
         PyObject *end_obj, Py_ssize_t end, PyObject *verdicts, PyObject *minutes, Py_ssize_t dg,
         Py_ssize_t sg, Py_ssize_t fg, PyObject *out, PyObject **held)
{
    PyObject *match = PyTuple_GET_ITEM(entry, 0);
    PyObject *guard = PyTuple_GET_ITEM(entry, 1);
    PyObject *plans = PyTuple_GET_ITEM(entry, 2);
    PyObject *idents = PyTuple_GET_ITEM(entry, 3);
    if (!PyTuple_CheckExact(plans) || !PyTuple_CheckExact(idents) ||
        PyTuple_GET_SIZE(idents) != 3)
        return GIVEN + START;
    Py_ssize_t nl = PyUnicode_FindChar(text, '\n', 0, end, -1);
    if (nl == -2)
        return -1;
    Py_ssize_t start = nl + 1;
    PyObject *start_obj = PyLong_FromSsize_t(start);
    if (start_obj == NULL)
        return -1;
    PyObject *call[3] = {text, start_obj, end_obj};
    if (guard != Py_None) {
        PyObject *told = PyObject_Vectorcall(guard, call, 3, NULL);
        if (told == NULL) {
            Py_DECREF(start_obj);
            return -1;
        }
        Py_DECREF(told);
        if (told == Py_None) {
            Py_DECREF(start_obj);
            return 0; /* passes no test of a regex it may match */
        }
    }
    PyObject *m = PyObject_Vectorcall(match, call, 3, NULL);
    Py_DECREF(start_obj);
    if (m == NULL)
        return -1;
    if (m == Py_None) {
        Py_DECREF(m);
        return GIVEN + GENERAL;
    }
    int r = 2;
    if (Py_TYPE(m) == match_type)
        r = hit_of((const MatchLayout *)m, text, len, kind, data, start, end, plans, idents,
                   verdicts, minutes, dg, sg, fg, out);
    if (r == 2) {
        *held = m;
        return GIVEN + MATCHED;
    }
    Py_DECREF(m);
    return r;
}

/* run(text, ends, found, i, table, verdicts, minutes, dg, sg, fg, out)
 *     -> (i, dated, stage, m)
 *
 * The lines ending at ends[i:] (sorted; ``found[end]``: the line's needle mask), as the
 * Python loop takes them, until one is handed back: its index, the dates counted from the
 * cache of minutes, the step the Python loop goes on from, and the match (MATCHED) or
 * None. ``i == len(ends)``: all done. ``table[mask]``: (match, guard, plans, idents) of
 * the mask's fused regex (``texthits.entry``); ``verdicts``: the idents' cached verdicts;
 * ``minutes`` and ``dg, sg, fg``: ``HeadReader.minute_cache``.
 */
static PyObject *
run(PyObject *self, PyObject *args)
{
    PyObject *text, *ends, *found, *table, *verdicts, *minutes, *out;
    Py_ssize_t i, dg, sg, fg;
    (void)self;
    if (!PyArg_ParseTuple(args, "UO!O!nO!O!O!nnnO!", &text, &PyList_Type, &ends, &PyDict_Type,
                          &found, &i, &PyDict_Type, &table, &PyDict_Type, &verdicts, &PyDict_Type,
                          &minutes, &dg, &sg, &fg, &PyList_Type, &out))
        return NULL;
    if (PyUnicode_READY(text) < 0)
        return NULL;
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyList_GET_SIZE(ends);
    Py_ssize_t dated = 0;
    int stage = START;
    PyObject *held = NULL; /* the match handed back */
    if (i < 0)
        i = 0;
    if (match_type == NULL)
        goto back;
    for (; i < n; i++) {
        PyObject *end_obj = PyList_GET_ITEM(ends, i);
        Py_ssize_t end = small_int(end_obj);
        if (end < 0 || end > len)
            goto back;
        PyObject *mask = PyDict_GetItemWithError(found, end_obj);
        if (mask == NULL) {
            if (PyErr_Occurred())
                return NULL;
            goto back;
        }
        PyObject *entry = PyDict_GetItemWithError(table, mask);
        if (entry == NULL && PyErr_Occurred())
            return NULL;
        if (entry == NULL || !PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 4)
            goto back;
        /* (held for the line: the guard's call runs Python code) */
        Py_INCREF(entry);
        Py_INCREF(end_obj);
        int r = line_hit(entry, text, len, kind, data, end_obj, end, verdicts, minutes, dg, sg, fg,
                         out, &held);
        Py_DECREF(end_obj);
        Py_DECREF(entry);
        if (r < 0)
            return NULL;
        if (r >= GIVEN) {
            stage = r - GIVEN;
            goto back;
        }
        dated += r;
    }
back:
    if (held == NULL) {
        Py_INCREF(Py_None);
        held = Py_None;
    }
    return Py_BuildValue("nniN", i, dated, stage, held);
}

/* keys_of(hits, sent, sent_max, prefix, six) -> list
 *
 * sources.hitkeys.AddressKeys.of's loop: for each hit's address text (``hit[1]``, a str)
 * not in ``sent`` (emptied when it holds ``sent_max``), remembered there, the entry
 * ``(text, value)`` of a dotted quad the C library's inet_pton takes (the call
 * socket.inet_pton makes, on the text's UTF-8; none for a text with a NUL or that does
 * not encode), or ``(text, *six(text, prefix))`` for a text holding ":" where ``prefix``
 * is not None and ``six`` gives a tuple.
 */
static PyObject *
keys_of(PyObject *self, PyObject *args)
{
    PyObject *hits, *sent, *prefix, *six;
    Py_ssize_t sent_max;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!nOO", &PyList_Type, &hits, &PyDict_Type, &sent, &sent_max,
                          &prefix, &six))
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(hits); k++) {
        PyObject *hit = PySequence_GetItem(PyList_GET_ITEM(hits, k), 1);
        if (hit == NULL)
            goto error;
        PyObject *host = hit; /* owned */
        if (!PyUnicode_CheckExact(host)) {
            PyErr_SetString(PyExc_TypeError, "an address text must be a str");
            Py_DECREF(host);
            goto error;
        }
        int seen = PyDict_Contains(sent, host);
        if (seen != 0) {
            Py_DECREF(host);
            if (seen < 0)
                goto error;
            continue;
        }
        if (PyDict_GET_SIZE(sent) >= sent_max)
            PyDict_Clear(sent);
        if (PyDict_SetItem(sent, host, Py_None) < 0) {
            Py_DECREF(host);
            goto error;
        }
        PyObject *entry = NULL;
        Py_ssize_t colon = PyUnicode_FindChar(host, ':', 0, PyUnicode_GET_LENGTH(host), 1);
        if (colon == -2) {
            Py_DECREF(host);
            goto error;
        }
        if (colon >= 0) {
            if (prefix != Py_None) {
                PyObject *found = PyObject_CallFunctionObjArgs(six, host, prefix, NULL);
                if (found == NULL) {
                    Py_DECREF(host);
                    goto error;
                }
                if (PyTuple_Check(found)) {
                    Py_ssize_t n = PyTuple_GET_SIZE(found);
                    entry = PyTuple_New(n + 1);
                    if (entry != NULL) {
                        Py_INCREF(host);
                        PyTuple_SET_ITEM(entry, 0, host);
                        for (Py_ssize_t j = 0; j < n; j++) {
                            PyObject *item = PyTuple_GET_ITEM(found, j);
                            Py_INCREF(item);
                            PyTuple_SET_ITEM(entry, j + 1, item);
                        }
                    }
                } else if (found != Py_None) {
                    PyErr_SetString(PyExc_TypeError, "an IPv6 key must be a tuple or None");
                }
                Py_DECREF(found);
                if (entry == NULL && PyErr_Occurred()) {
                    Py_DECREF(host);
                    goto error;
                }
            }
        } else {
            Py_ssize_t size;
            const char *utf8 = PyUnicode_AsUTF8AndSize(host, &size);
            unsigned char packed[4];
            if (utf8 == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_ValueError)) {
                    Py_DECREF(host);
                    goto error;
                }
                PyErr_Clear(); /* (socket.inet_pton: a ValueError, passed over) */
            } else if ((Py_ssize_t)strlen(utf8) == size && inet_pton(AF_INET, utf8, packed) == 1) {
                unsigned long value = ((unsigned long)packed[0] << 24) |
                                      ((unsigned long)packed[1] << 16) |
                                      ((unsigned long)packed[2] << 8) | (unsigned long)packed[3];
                entry = Py_BuildValue("Ok", host, value);
                if (entry == NULL) {
                    Py_DECREF(host);
                    goto error;
                }
            }
        }
        Py_DECREF(host);
        if (entry != NULL) {
            int failed = PyList_Append(out, entry);
            Py_DECREF(entry);
            if (failed < 0)
                goto error;
        }
    }
    return out;
error:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"keys_of", keys_of, METH_VARARGS, "AddressKeys.of's loop."},
    {"adopt", adopt, METH_O, "Use the given re.Match type where its layout is the expected."},
    {"marks", marks, METH_O, "(lastindex, groups, marks) of an adopted match."},
    {"run", run, METH_VARARGS, "The candidate lines' hits on their common path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_texthits", "The file lines' matching loop in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__texthits(void)
{
    return PyModule_Create(&module);
}
