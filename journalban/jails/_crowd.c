/* ``subnet``'s step and the ``subnet`` and ``slow`` rows in C (issue 19): jails.subnet's
 * ``SubnetCrowd.observe_all`` (with ``prefix_of``'s two cuts of the agent's keys as text,
 * the default /24 of an IPv4 address and the group-aligned prefix of an IPv6 /64, as
 * jails.v6text) and the comprehensions of ``SubnetCrowd.changes`` and ``SlowWindow.changes``.
 *
 * An accelerator: jails.nativecrowd loads it, jails.subnet and jails.slow call it where the
 * classes are the original ones, else (and with JOURNALBAN_NATIVE_DETECT=0) the Python path
 * stays. Each step here is the Python line's step, on the same objects, in the same order:
 * the prefixes' map (its keys in their use order, its changed keys, its evictions), the
 * verdicts and the rows are the Python path's. Every other step calls back what Python
 * calls (``prefix_of`` for any key not cut here, ``note_distinct``, ``Tracked.add`` but
 * for a full map's one key out for one in, ``taken_out``, ``Verdict``, a row's text that is
 * not of the usual shape).
 *
 * A Tracked map's ``kept`` is a dict, an OrderedDict once full: a key is taken out of
 * either by lookup then delete (the OrderedDict's own delete, which unlinks it), as their
 * ``pop``; anything else by the map's own ``take``. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

/* What setup() was given (strong references, for the process's life). */
static PyObject *verdict_type = NULL;     /* jails.detector.Verdict */
static PyObject *r_subnet = NULL;         /* jails.detector.SUBNET */
static PyObject *note_distinct_fn = NULL; /* jails.distinct.note_distinct */
static PyObject *quoted_fn = NULL;        /* jails.rowtext.quoted */
static PyObject *tracked_type = NULL;     /* jails.tracked.Tracked */
static PyObject *odict_type = NULL;       /* collections.OrderedDict */

static PyObject *one = NULL, *three = NULL;
static PyObject *s_config, *s_prefixes, *s_v4_cut, *s_v6_groups, *s_v6_tail, *s_addresses,
    *s_findtime, *s_bantime, *s_kept, *s_dirty, *s_cap, *s_add, *s_take, *s_popitem,
    *s_evicted, *s_taken_out, *s_prefix_of, *s_changed;

static int
ready(void)
{
    if (verdict_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "journalban.jails._crowd: setup() not called");
        return -1;
    }
    return 0;
}

/* ``obj.name`` from the instance's dict when there (plain classes), else by getattr. */
static PyObject *
fast_get(PyObject *obj, PyObject *name)
{
    PyObject **where = _PyObject_GetDictPtr(obj);
    if (where != NULL && *where != NULL && PyDict_CheckExact(*where)) {
        PyObject *value = PyDict_GetItemWithError(*where, name); /* borrowed */
        if (value != NULL)
            return Py_NewRef(value);
        if (PyErr_Occurred())
            return NULL;
    }
    return PyObject_GetAttr(obj, name);
}

static int
fast_set(PyObject *obj, PyObject *name, PyObject *value)
{
    PyObject **where = _PyObject_GetDictPtr(obj);
    if (where != NULL && *where != NULL && PyDict_CheckExact(*where))
        return PyDict_SetItem(*where, name, value);
    return PyObject_SetAttr(obj, name, value);
}

/* ``tracked.name[key] = value`` (``kept`` or ``dirty``, read each time: both are rebound). */
static int
set_in(PyObject *tracked, PyObject *name, PyObject *key, PyObject *value)
{
    PyObject *map = fast_get(tracked, name);
    if (map == NULL)
        return -1;
    int rc = PyObject_SetItem(map, key, value);
    Py_DECREF(map);
    return rc;
}

/* ``tracked.kept[key] = tracked.dirty[key] = value`` (``put_back`` written out). */
static int
store_both(PyObject *tracked, PyObject *key, PyObject *value)
{
    if (set_in(tracked, s_kept, key, value) < 0)
        return -1;
    return set_in(tracked, s_dirty, key, value);
}

/* ``tracked.take(key, None)``: a new reference, Py_None (new) when not held. */
static PyObject *
take(PyObject *tracked, PyObject *key)
{
    PyObject *kept = fast_get(tracked, s_kept);
    if (kept == NULL)
        return NULL;
    if (!PyDict_CheckExact(kept) && (PyObject *)Py_TYPE(kept) != odict_type) {
        Py_DECREF(kept);
        return PyObject_CallMethodObjArgs(tracked, s_take, key, Py_None, NULL);
    }
    PyObject *value = PyDict_GetItemWithError(kept, key); /* borrowed */
    if (value == NULL) {
        Py_DECREF(kept);
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    Py_INCREF(value);
    if (PyObject_DelItem(kept, key) < 0) {
        Py_DECREF(kept);
        Py_DECREF(value);
        return NULL;
    }
    Py_DECREF(kept);
    return value;
}

/* ``len(kept) < cap``: 1, 0, or -1 on an error. */
static int
has_room(PyObject *kept, PyObject *cap)
{
    Py_ssize_t size = PyObject_Size(kept);
    if (size < 0)
        return -1;
    if (PyLong_CheckExact(cap)) { /* (an int: compared as a C integer, when it fits one) */
        int overflow = 0;
        long long n = PyLong_AsLongLongAndOverflow(cap, &overflow);
        if (n == -1 && PyErr_Occurred())
            return -1;
        if (overflow == 0)
            return (long long)size < n;
    }
    PyObject *size_obj = PyLong_FromSsize_t(size);
    if (size_obj == NULL)
        return -1;
    int room = PyObject_RichCompareBool(size_obj, cap, Py_LT);
    Py_DECREF(size_obj);
    return room;
}

/* The new key of a Tracked map (``Tracked.add``): stored while there is room (as
 * ``observe_all`` writes it out), a full OrderedDict's oldest key out for it (``add``'s own
 * step), else ``add`` called. */
static int
tracked_add(PyObject *tracked, PyObject *cap, PyObject *key, PyObject *value)
{
    PyObject *kept = fast_get(tracked, s_kept);
    if (kept == NULL)
        return -1;
    int room = has_room(kept, cap);
    if (room < 0) {
        Py_DECREF(kept);
        return -1;
    }
    if (room) {
        Py_DECREF(kept);
        return store_both(tracked, key, value);
    }
    int full = 0;
    if ((PyObject *)Py_TYPE(tracked) == tracked_type
        && (PyObject *)Py_TYPE(kept) == odict_type) {
        PyObject *size_obj = PyLong_FromSsize_t(PyDict_GET_SIZE(kept));
        if (size_obj == NULL) {
            Py_DECREF(kept);
            return -1;
        }
        full = PyObject_RichCompareBool(size_obj, cap, Py_EQ);
        Py_DECREF(size_obj);
        if (full < 0) {
            Py_DECREF(kept);
            return -1;
        }
    }
    if (!full) {
        Py_DECREF(kept);
        PyObject *r = PyObject_CallMethodObjArgs(tracked, s_add, key, value, NULL);
        Py_XDECREF(r);
        return r == NULL ? -1 : 0;
    }
    /* gone, _ = items.popitem(False); self.dirty[gone] = None; self.evicted += 1 */
    PyObject *pair = PyObject_CallMethodObjArgs(kept, s_popitem, Py_False, NULL);
    Py_DECREF(kept);
    if (pair == NULL)
        return -1;
    if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
        Py_DECREF(pair);
        PyErr_SetString(PyExc_TypeError, "popitem: not a pair");
        return -1;
    }
    int rc = set_in(tracked, s_dirty, PyTuple_GET_ITEM(pair, 0), Py_None);
    Py_DECREF(pair);
    if (rc < 0)
        return -1;
    PyObject *evicted = fast_get(tracked, s_evicted);
    if (evicted == NULL)
        return -1;
    PyObject *more = PyNumber_InPlaceAdd(evicted, one);
    Py_DECREF(evicted);
    if (more == NULL)
        return -1;
    rc = fast_set(tracked, s_evicted, more);
    Py_DECREF(more);
    if (rc < 0)
        return -1;
    return store_both(tracked, key, value);
}

/* ``head`` (``n`` ASCII bytes) followed by ``tail``: a new str. */
static PyObject *
ascii_then(const char *head, Py_ssize_t n, PyObject *tail)
{
    if (PyUnicode_IS_COMPACT_ASCII(tail)) {
        Py_ssize_t tn = PyUnicode_GET_LENGTH(tail);
        PyObject *out = PyUnicode_New(n + tn, 127);
        if (out == NULL)
            return NULL;
        memcpy(PyUnicode_1BYTE_DATA(out), head, (size_t)n);
        memcpy(PyUnicode_1BYTE_DATA(out) + n, PyUnicode_1BYTE_DATA(tail), (size_t)tn);
        return out;
    }
    PyObject *first = PyUnicode_FromStringAndSize(head, n);
    if (first == NULL)
        return NULL;
    PyObject *out = PyUnicode_Concat(first, tail);
    Py_DECREF(first);
    return out;
}

/* ``key[: key.rfind(".")] + tail`` of an IPv4 key (a str ending "/32"). */
static PyObject *
cut_v4(PyObject *key, PyObject *tail)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    Py_ssize_t dot = PyUnicode_FindChar(key, '.', 0, n, -1);
    if (dot == -2)
        return NULL;
    Py_ssize_t end = dot >= 0 ? dot : n - 1; /* (rfind's -1: the slice up to the last) */
    if (PyUnicode_IS_COMPACT_ASCII(key))
        return ascii_then((const char *)PyUnicode_1BYTE_DATA(key), end, tail);
    PyObject *head = PyUnicode_Substring(key, 0, end);
    if (head == NULL)
        return NULL;
    PyObject *out = PyUnicode_Concat(head, tail);
    Py_DECREF(head);
    return out;
}

/* jails.v6text.prefix_of_v6_64(key, groups) + tail for an ASCII key ending "::/64" and
 * ``groups`` 1-4: a new str, or NULL without an error where that answers None. */
static PyObject *
cut_v6(PyObject *key, long groups, PyObject *tail)
{
    if (!PyUnicode_IS_COMPACT_ASCII(key))
        return NULL; /* (not all lower hex) */
    const char *text = (const char *)PyUnicode_1BYTE_DATA(key);
    Py_ssize_t n = PyUnicode_GET_LENGTH(key) - 5; /* without "::/64" */
    if (n < 0 || n > 19)
        return NULL;
    Py_ssize_t ends[4]; /* where each group ends */
    int count = 0;
    Py_ssize_t start = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (i == n || text[i] == ':') {
            if (i == start || count == 4) /* an empty group, or a fifth */
                return NULL;
            ends[count++] = i;
            start = i + 1;
        } else if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f'))) {
            return NULL;
        }
    }
    int kept = count < groups ? count : (int)groups;
    while (kept > 0) { /* the zero groups at the end dropped */
        Py_ssize_t from = kept == 1 ? 0 : ends[kept - 2] + 1;
        if (!(ends[kept - 1] - from == 1 && text[from] == '0'))
            break;
        kept--;
    }
    return ascii_then(text, kept ? ends[kept - 1] : 0, tail);
}

static int
ends_with(PyObject *key, const char *suffix, Py_ssize_t n)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(key);
    if (len < n)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ_CHAR(key, len - n + i) != (Py_UCS4)(unsigned char)suffix[i])
            return 0;
    return 1;
}

typedef struct {
    PyObject *subnet, *prefixes, *tail, *v6_tail, *cfg, *findtime, *needed, *cap;
    int v4_24, many;
    long v6_groups;
} Step;

/* The prefix of ``key`` (observe_all's inline cut, then prefix_of's): a new reference. */
static PyObject *
prefix_of(Step *s, PyObject *key)
{
    if (PyUnicode_CheckExact(key)) {
        if (s->v4_24 && ends_with(key, "/32", 3))
            return cut_v4(key, s->tail);
        if (s->v6_groups >= 1 && s->v6_groups <= 4 && PyUnicode_CheckExact(s->v6_tail)
            && ends_with(key, "::/64", 5)) {
            PyObject *cut = cut_v6(key, s->v6_groups, s->v6_tail);
            if (cut != NULL || PyErr_Occurred())
                return cut;
        }
    }
    return PyObject_CallMethodOneArg(s->subnet, s_prefix_of, key);
}

/* ``next(iter(networks.items()))`` of a dict of one. */
static PyObject *
only_item(PyObject *networks)
{
    if (PyDict_CheckExact(networks)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        if (PyDict_Next(networks, &pos, &k, &v))
            return PyTuple_Pack(2, k, v);
    }
    PyObject *items = PyObject_CallMethod(networks, "items", NULL);
    if (items == NULL)
        return NULL;
    PyObject *it = PyObject_GetIter(items);
    Py_DECREF(items);
    if (it == NULL)
        return NULL;
    PyObject *first = PyIter_Next(it);
    Py_DECREF(it);
    if (first == NULL && !PyErr_Occurred())
        PyErr_SetNone(PyExc_StopIteration);
    return first;
}

/* One failure's step (the loop's body); 0, or -1 on an error. */
static int
observe_one(Step *s, PyObject *key, PyObject *when, PyObject *found)
{
    PyObject *networks = NULL, *value = NULL;
    int rc = -1;
    PyObject *prefix = prefix_of(s, key);
    if (prefix == NULL)
        return -1;
    PyObject *kept = take(s->prefixes, prefix);
    if (kept == NULL)
        goto done;
    if (kept == Py_None) {
        if (s->many) {
            value = PyTuple_Pack(2, key, when);
            if (value != NULL && tracked_add(s->prefixes, s->cap, prefix, value) == 0)
                rc = 0;
            goto done;
        }
        networks = PyDict_New();
    } else if (PyTuple_Check(kept)) {
        PyObject *k0 = PySequence_GetItem(kept, 0);
        if (k0 == NULL)
            goto done;
        int same = PyObject_RichCompareBool(k0, key, Py_EQ);
        if (same < 0) {
            Py_DECREF(k0);
            goto done;
        }
        PyObject *k1 = PySequence_GetItem(kept, 1);
        if (k1 == NULL) {
            Py_DECREF(k0);
            goto done;
        }
        if (same && s->many) { /* the prefix's one network again */
            Py_DECREF(k0);
            int newer = PyObject_RichCompareBool(when, k1, Py_GT);
            if (newer >= 0)
                value = PyTuple_Pack(2, key, newer ? when : k1);
            Py_DECREF(k1);
            if (value != NULL && store_both(s->prefixes, prefix, value) == 0)
                rc = 0;
            goto done;
        }
        networks = PyDict_New();
        if (networks != NULL && PyDict_SetItem(networks, k0, k1) < 0)
            Py_CLEAR(networks);
        Py_DECREF(k0);
        Py_DECREF(k1);
    } else {
        networks = Py_NewRef(kept);
    }
    if (networks == NULL)
        goto done;
    PyObject *noted = PyObject_CallFunctionObjArgs(note_distinct_fn, networks, key, when,
                                                   s->findtime, s->needed, NULL);
    if (noted == NULL)
        goto done;
    int crowd = PyObject_IsTrue(noted);
    Py_DECREF(noted);
    if (crowd < 0)
        goto done;
    if (!crowd) {
        Py_ssize_t size = PyObject_Size(networks);
        if (size < 0)
            goto done;
        value = size == 1 ? only_item(networks) : Py_NewRef(networks);
        if (value == NULL)
            goto done;
        if (kept == Py_None) {
            PyObject *r = PyObject_CallMethodObjArgs(s->prefixes, s_add, prefix, value, NULL);
            if (r == NULL)
                goto done;
            Py_DECREF(r);
        } else if (store_both(s->prefixes, prefix, value) < 0) {
            goto done;
        }
        rc = 0;
        goto done;
    }
    if (kept != Py_None) {
        PyObject *r = PyObject_CallMethodOneArg(s->prefixes, s_taken_out, prefix);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
    }
    {
        Py_ssize_t size = PyObject_Size(networks);
        PyObject *count = size < 0 ? NULL : PyLong_FromSsize_t(size);
        if (count == NULL)
            goto done;
        PyObject *bantime = PyObject_GetAttr(s->cfg, s_bantime);
        if (bantime == NULL) {
            Py_DECREF(count);
            goto done;
        }
        PyObject *members = PySequence_Tuple(networks);
        PyObject *verdict = NULL;
        if (members != NULL)
            verdict = PyObject_CallFunctionObjArgs(verdict_type, r_subnet, prefix, count,
                                                   bantime, Py_None, members, NULL);
        Py_DECREF(count);
        Py_DECREF(bantime);
        Py_XDECREF(members);
        if (verdict == NULL)
            goto done;
        PyObject *verdicts = PyTuple_Pack(1, verdict);
        Py_DECREF(verdict);
        if (verdicts == NULL)
            goto done;
        PyObject *pair = PyTuple_Pack(2, when, verdicts);
        Py_DECREF(verdicts);
        if (pair == NULL)
            goto done;
        rc = PyList_Append(found, pair);
        Py_DECREF(pair);
    }
done:
    Py_DECREF(prefix);
    Py_XDECREF(kept);
    Py_XDECREF(networks);
    Py_XDECREF(value);
    return rc;
}

/* ``for key, _, when, known_good in failures``: one failure's fields (a new tuple of 4),
 * unpacked as Python unpacks (at most five taken from an iterator: never a whole one). */
static PyObject *
unpacked(PyObject *item)
{
    if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 4)
        return Py_NewRef(item);
    if (Py_TYPE(item)->tp_iter == NULL && !PySequence_Check(item)) {
        PyErr_Format(PyExc_TypeError, "cannot unpack non-iterable %.200s object",
                     Py_TYPE(item)->tp_name);
        return NULL;
    }
    PyObject *it = PyObject_GetIter(item);
    if (it == NULL)
        return NULL;
    PyObject *fields = PyTuple_New(4);
    Py_ssize_t n = 0;
    PyObject *next = NULL;
    while (fields != NULL && n < 4 && (next = PyIter_Next(it)) != NULL)
        PyTuple_SET_ITEM(fields, n++, next);
    if (fields != NULL && n == 4 && !PyErr_Occurred()) {
        next = PyIter_Next(it);
        if (next != NULL) {
            Py_DECREF(next);
            PyErr_SetString(PyExc_ValueError, "too many values to unpack (expected 4)");
        }
    } else if (fields != NULL && !PyErr_Occurred()) {
        PyErr_Format(PyExc_ValueError, "not enough values to unpack (expected 4, got %zd)", n);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        Py_XDECREF(fields); /* (its unset items are NULL: tuple dealloc skips them) */
        return NULL;
    }
    return fields;
}

static void
step_clear(Step *s)
{
    Py_XDECREF(s->prefixes);
    Py_XDECREF(s->tail);
    Py_XDECREF(s->v6_tail);
    Py_XDECREF(s->cfg);
    Py_XDECREF(s->findtime);
    Py_XDECREF(s->needed);
    Py_XDECREF(s->cap);
}

/* The configuration read once (as observe_all's first lines): 0, or -1 on an error. */
static int
step_init(Step *s, PyObject *subnet)
{
    memset(s, 0, sizeof(*s));
    s->subnet = subnet;
    if ((s->cfg = fast_get(subnet, s_config)) == NULL)
        return -1;
    PyObject *cut = fast_get(subnet, s_v4_cut);
    if (cut == NULL)
        return -1;
    if (!PyTuple_CheckExact(cut) || PyTuple_GET_SIZE(cut) != 2) {
        Py_DECREF(cut);
        PyErr_SetString(PyExc_TypeError, "_v4_cut: (octets, tail)");
        return -1;
    }
    s->tail = Py_NewRef(PyTuple_GET_ITEM(cut, 1));
    int v4_24 = PyObject_RichCompareBool(PyTuple_GET_ITEM(cut, 0), three, Py_EQ);
    Py_DECREF(cut);
    if (v4_24 < 0)
        return -1;
    s->v4_24 = v4_24 && PyUnicode_CheckExact(s->tail);
    if (v4_24 && !s->v4_24) {
        PyErr_SetString(PyExc_TypeError, "_v4_cut: a str tail");
        return -1;
    }
    PyObject *groups = fast_get(subnet, s_v6_groups);
    if (groups == NULL)
        return -1;
    s->v6_groups = PyLong_CheckExact(groups) ? PyLong_AsLong(groups) : 0;
    Py_DECREF(groups);
    if (s->v6_groups == -1 && PyErr_Occurred())
        return -1;
    if ((s->v6_tail = fast_get(subnet, s_v6_tail)) == NULL)
        return -1;
    if ((s->needed = PyObject_GetAttr(s->cfg, s_addresses)) == NULL)
        return -1;
    int many = PyObject_RichCompareBool(s->needed, one, Py_GT);
    if (many < 0)
        return -1;
    s->many = many;
    if ((s->findtime = PyObject_GetAttr(s->cfg, s_findtime)) == NULL)
        return -1;
    if ((s->prefixes = fast_get(subnet, s_prefixes)) == NULL)
        return -1;
    if ((s->cap = fast_get(s->prefixes, s_cap)) == NULL)
        return -1;
    return 0;
}

/* observe_all(subnet, failures): SubnetCrowd.observe_all */
static PyObject *
observe_all(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (ready() < 0)
        return NULL;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "observe_all(subnet, failures)");
        return NULL;
    }
    Step s;
    if (step_init(&s, args[0]) < 0) {
        step_clear(&s);
        return NULL;
    }
    PyObject *found = PyList_New(0);
    PyObject *it = found == NULL ? NULL : PyObject_GetIter(args[1]);
    if (it == NULL) {
        Py_XDECREF(found);
        step_clear(&s);
        return NULL;
    }
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        PyObject *fields = unpacked(item);
        Py_DECREF(item);
        if (fields == NULL)
            break;
        int good = PyObject_IsTrue(PyTuple_GET_ITEM(fields, 3));
        int rc = good < 0 ? -1
                 : good   ? 0
                          : observe_one(&s, PyTuple_GET_ITEM(fields, 0),
                                        PyTuple_GET_ITEM(fields, 2), found);
        Py_DECREF(fields);
        if (rc < 0)
            break;
    }
    Py_DECREF(it);
    step_clear(&s);
    if (PyErr_Occurred()) {
        Py_DECREF(found);
        return NULL;
    }
    return found;
}

/* ---- rows ---- */

/* "{" + quoted(network) + ": " + repr(when) + "}" of a finite float ``when``. */
static PyObject *
pair_text(PyObject *network, double when)
{
    PyObject *q = PyObject_CallOneArg(quoted_fn, network);
    if (q == NULL)
        return NULL;
    if (!PyUnicode_IS_COMPACT_ASCII(q)) {
        Py_DECREF(q);
        PyErr_SetString(PyExc_TypeError, "quoted: not ASCII");
        return NULL;
    }
    char *r = PyOS_double_to_string(when, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (r == NULL) {
        Py_DECREF(q);
        return NULL;
    }
    Py_ssize_t qn = PyUnicode_GET_LENGTH(q), rn = (Py_ssize_t)strlen(r);
    PyObject *out = PyUnicode_New(qn + rn + 4, 127);
    if (out != NULL) {
        Py_UCS1 *at = PyUnicode_1BYTE_DATA(out);
        *at++ = '{';
        memcpy(at, PyUnicode_1BYTE_DATA(q), (size_t)qn);
        at += qn;
        *at++ = ':';
        *at++ = ' ';
        memcpy(at, r, (size_t)rn);
        at[rn] = '}';
    }
    PyMem_Free(r);
    Py_DECREF(q);
    return out;
}

/* "[" + str(bucket) + ", 1]" of an int. */
static PyObject *
bucket_text(PyObject *bucket)
{
    PyObject *digits = PyObject_Str(bucket);
    if (digits == NULL)
        return NULL;
    PyObject *out = NULL;
    if (PyUnicode_IS_COMPACT_ASCII(digits)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(digits);
        out = PyUnicode_New(n + 5, 127);
        if (out != NULL) {
            Py_UCS1 *at = PyUnicode_1BYTE_DATA(out);
            at[0] = '[';
            memcpy(at + 1, PyUnicode_1BYTE_DATA(digits), (size_t)n);
            memcpy(at + 1 + n, ", 1]", 4);
        }
    } else {
        out = PyUnicode_FromFormat("[%U, 1]", digits);
    }
    Py_DECREF(digits);
    return out;
}

enum { ROWS_SUBNET = 0, ROWS_SLOW = 1 };

/* The rows of ``tracked.changed()``: (key, None) of a key gone, else (key, its text), the
 * usual shapes' text made here, any other by ``text_of(value)``. */
static PyObject *
rows_of(PyObject *const *args, Py_ssize_t nargs, int kind)
{
    if (ready() < 0)
        return NULL;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "rows(tracked, text_of)");
        return NULL;
    }
    PyObject *text_of = args[1];
    PyObject *dirty = PyObject_CallMethodNoArgs(args[0], s_changed);
    if (dirty == NULL)
        return NULL;
    if (!PyDict_CheckExact(dirty)) {
        Py_DECREF(dirty);
        PyErr_SetString(PyExc_TypeError, "changed(): not a dict");
        return NULL;
    }
    PyObject *out = PyList_New(PyDict_GET_SIZE(dirty));
    if (out == NULL) {
        Py_DECREF(dirty);
        return NULL;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    while (PyDict_Next(dirty, &pos, &key, &value)) {
        PyObject *text;
        Py_INCREF(key); /* (held across ``text_of``, Python code) */
        Py_INCREF(value);
        if (value == Py_None) {
            text = Py_NewRef(Py_None);
        } else if (kind == ROWS_SUBNET && PyTuple_CheckExact(value) && PyTuple_GET_SIZE(value) == 2
                   && PyUnicode_CheckExact(PyTuple_GET_ITEM(value, 0))
                   && PyFloat_CheckExact(PyTuple_GET_ITEM(value, 1))
                   && isfinite(PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(value, 1)))) {
            text = pair_text(PyTuple_GET_ITEM(value, 0), PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(value, 1)));
        } else if (kind == ROWS_SLOW && PyList_CheckExact(value)) {
            text = PyObject_Str(value);
        } else if (kind == ROWS_SLOW && PyLong_CheckExact(value)) {
            text = bucket_text(value);
        } else {
            text = PyObject_CallOneArg(text_of, value);
        }
        Py_DECREF(value);
        PyObject *row = text == NULL ? NULL : PyTuple_Pack(2, key, text);
        Py_DECREF(key);
        Py_XDECREF(text);
        if (row == NULL || i >= PyList_GET_SIZE(out)) {
            Py_XDECREF(row);
            Py_DECREF(out);
            Py_DECREF(dirty);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_RuntimeError, "changed() grew while its rows were made");
            return NULL;
        }
        PyList_SET_ITEM(out, i++, row);
    }
    Py_DECREF(dirty);
    if (i != PyList_GET_SIZE(out)) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_RuntimeError, "changed() shrank while its rows were made");
        return NULL;
    }
    return out;
}

static PyObject *
prefix_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    return rows_of(args, nargs, ROWS_SUBNET);
}

static PyObject *
bucket_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    return rows_of(args, nargs, ROWS_SLOW);
}

static PyObject *
setup(PyObject *module, PyObject *args)
{
    PyObject *verdict, *subnet, *distinct, *quoted, *tracked, *odict;
    (void)module;
    if (!PyArg_ParseTuple(args, "OUOOO!O!:setup", &verdict, &subnet, &distinct, &quoted,
                          &PyType_Type, &tracked, &PyType_Type, &odict))
        return NULL;
    Py_XSETREF(verdict_type, Py_NewRef(verdict));
    Py_XSETREF(r_subnet, Py_NewRef(subnet));
    Py_XSETREF(note_distinct_fn, Py_NewRef(distinct));
    Py_XSETREF(quoted_fn, Py_NewRef(quoted));
    Py_XSETREF(tracked_type, Py_NewRef(tracked));
    Py_XSETREF(odict_type, Py_NewRef(odict));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS,
     "setup(Verdict, SUBNET, note_distinct, quoted, Tracked, OrderedDict)"},
    {"observe_all", (PyCFunction)(void (*)(void))observe_all, METH_FASTCALL,
     "observe_all(subnet, failures): SubnetCrowd.observe_all"},
    {"prefix_rows", (PyCFunction)(void (*)(void))prefix_rows, METH_FASTCALL,
     "prefix_rows(tracked, text_of): SubnetCrowd.changes' rows of tracked.changed()"},
    {"bucket_rows", (PyCFunction)(void (*)(void))bucket_rows, METH_FASTCALL,
     "bucket_rows(tracked, text_of): SlowWindow.changes' rows of tracked.changed()"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "journalban.jails._crowd",
    "subnet's step and the subnet and slow rows in C (jails.nativecrowd).", -1, methods,
    NULL, NULL, NULL, NULL,
};

#define INTERN(var, text)                                                                   \
    do {                                                                                    \
        if ((var = PyUnicode_InternFromString(text)) == NULL)                               \
            return NULL;                                                                    \
    } while (0)

PyMODINIT_FUNC
PyInit__crowd(void)
{
    INTERN(s_config, "config");
    INTERN(s_prefixes, "prefixes");
    INTERN(s_v4_cut, "_v4_cut");
    INTERN(s_v6_groups, "_v6_groups");
    INTERN(s_v6_tail, "_v6_tail");
    INTERN(s_addresses, "addresses");
    INTERN(s_findtime, "findtime");
    INTERN(s_bantime, "bantime");
    INTERN(s_kept, "kept");
    INTERN(s_dirty, "dirty");
    INTERN(s_cap, "cap");
    INTERN(s_add, "add");
    INTERN(s_take, "take");
    INTERN(s_popitem, "popitem");
    INTERN(s_evicted, "evicted");
    INTERN(s_taken_out, "taken_out");
    INTERN(s_prefix_of, "prefix_of");
    INTERN(s_changed, "changed");
    if ((one = PyLong_FromLong(1)) == NULL || (three = PyLong_FromLong(3)) == NULL)
        return NULL;
    return PyModule_Create(&module_def);
}
