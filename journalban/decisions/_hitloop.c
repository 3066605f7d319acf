/* The deciding's per-failure loop in C (issue 19): decisions.hitloop's count_hits_python.
 *
 * An accelerator: the same steps on the same objects, in the same order, as the Python
 * function (which tests run beside it on crafted batches; JOURNALBAN_NATIVE_HITS=0 keeps
 * it). What is a dict lookup, a comparison or an append is done here; every method of
 * the agent's own (the memo's miss, network_of, the counter's and the kept lines' add, the
 * detectors, the verdicts' applier, a ban, tracing) is called as Python calls it. Where a
 * memo or a table is not a dict with dict's own ``get``, the Python function runs instead.
 *
 * Every borrowed reference is held for as long as a call back may run (a memo cleared by a
 * miss, a ban table changed by a ban), and each hit's fields for its whole step. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>

static PyObject *trace_module = NULL; /* decisions.trace: ``found``, ``ignored`` read when tracing */
static PyObject *python_path = NULL;  /* hitloop.count_hits_python */
static PyObject *dict_get = NULL;     /* dict's own ``get`` */
static PyObject *one = NULL, *zero = NULL;
/* FailureCounter.add and RecentLines.add: their common steps are taken here when the
 * objects' own are these (else, and for every other step, the method is called). */
static PyObject *counter_add_fn = NULL, *recent_add_fn = NULL;
static Py_ssize_t line_chars = 0; /* recentlines.LINE_CHARS */
static PyObject *s_findtime, *s_max_tracked, *s_move_to_end, *s_lines, *s_bytes,
    *s_max_networks, *s_max_bytes;

static PyObject *s_network_of, *s_ignore, *s_hosts, *s_networks, *s_counter, *s_add, *s_times,
    *s_recent_lines, *s_kept, *s_first_room, *s_config, *s_maxretry, *s_latest_line,
    *s_detection, *s_ignored_failures, *s_succeeded, *s_logged_in, *s_banned_at,
    *s_expires_at, *s_observe_apart, *s_held, *s_decide_ban, *s_new_failures, *s_found,
    *s_ignored, *s_get;

enum { A_ENGINE, A_RT, A_JAIL, A_SOURCE, A_HITS, A_COMMIT, A_CHANGES, A_NOW, A_DEFAULT,
       A_BANNED, A_VIRTUAL, A_APPLY, A_TRACED, A_SPENT, N_ARGS };

typedef struct {
    PyObject *const *args;             /* borrowed: count_hits' arguments */
    int traced;
    PyObject *network_of, *hosts, *networks, *add, *new_failures, *recent, *times, *kept,
        *maxretry, *detecting, *latest; /* owned; detecting NULL for None */
    PyObject *counter, *lines; /* owned: the FailureCounter, the RecentLines' _lines */
    int plain_counter, plain_recent; /* whether their add is the one taken here */
    long long room;
    Py_ssize_t failed;
} Loop;

static PyObject *
hitloop_setup(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *trace, *python, *counter_add, *recent_add;
    Py_ssize_t chars;
    if (!PyArg_ParseTuple(args, "OOOOn", &trace, &python, &counter_add, &recent_add, &chars))
        return NULL;
    if (chars < 0) {
        PyErr_SetString(PyExc_ValueError, "line_chars < 0");
        return NULL;
    }
    line_chars = chars;
    Py_INCREF(counter_add);
    Py_XSETREF(counter_add_fn, counter_add);
    Py_INCREF(recent_add);
    Py_XSETREF(recent_add_fn, recent_add);
    Py_INCREF(trace);
    Py_XSETREF(trace_module, trace);
    Py_INCREF(python);
    Py_XSETREF(python_path, python);
    Py_RETURN_NONE;
}

/* Whether ``d`` is a dict whose ``get`` is dict's own (the lookups below are its). */
static int
plain_dict(PyObject *d)
{
    return PyDict_Check(d) && _PyType_Lookup(Py_TYPE(d), s_get) == dict_get;
}

/* a < b etc. as Python compares them (two floats: no call). -1 on an error. */
static int
compare(PyObject *a, PyObject *b, int op)
{
    if (PyFloat_CheckExact(a) && PyFloat_CheckExact(b)) {
        double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
        switch (op) {
        case Py_LT: return x < y;
        case Py_LE: return x <= y;
        case Py_GT: return x > y;
        case Py_GE: return x >= y;
        default: break;
        }
    }
    return PyObject_RichCompareBool(a, b, op);
}

/* ``spent[network] = len(new_failures)``. */
static int
note_spent(Loop *L, PyObject *network)
{
    Py_ssize_t n = PyObject_Length(L->new_failures);
    if (n < 0)
        return -1;
    PyObject *count = PyLong_FromSsize_t(n);
    if (count == NULL)
        return -1;
    int r = PyObject_SetItem(L->args[A_SPENT], network, count);
    Py_DECREF(count);
    return r;
}

#define NOT_TAKEN Py_NotImplemented /* (borrowed: a fast step not taken, nothing changed) */

/* FailureCounter.add's two common steps: a network's first failure with room (``[when]``,
 * 1), or one more in order within the window (moved to the end, appended, the count).
 * NOT_TAKEN for any other case, nothing changed; NULL on an error. */
static PyObject *
counter_add_fast(Loop *L, PyObject *key, PyObject *when)
{
    PyObject *networks = L->times, *findtime = NULL, *held = NULL, *found = NOT_TAKEN;
    PyObject *times = PyDict_GetItemWithError(networks, key);
    if (times == NULL && PyErr_Occurred())
        return NULL;
    Py_XINCREF(times);
    if ((findtime = PyObject_GetAttr(L->counter, s_findtime)) == NULL)
        goto fail;
    if (times == NULL) {
        PyObject *most = PyObject_GetAttr(L->counter, s_max_tracked);
        if (most == NULL || (held = PyLong_FromSsize_t(PyDict_GET_SIZE(networks))) == NULL) {
            Py_XDECREF(most);
            goto fail;
        }
        int room = compare(held, most, Py_LT);
        Py_DECREF(most);
        if (room > 0)
            room = compare(findtime, zero, Py_GT);
        if (room < 0)
            goto fail;
        if (room) {
            PyObject *first = PyList_New(1);
            if (first == NULL)
                goto fail;
            PyList_SET_ITEM(first, 0, Py_NewRef(when));
            int r = PyObject_SetItem(networks, key, first);
            Py_DECREF(first);
            if (r < 0)
                goto fail;
            found = Py_NewRef(one);
        }
        goto done;
    }
    if (!PyList_CheckExact(times) || PyList_GET_SIZE(times) == 0)
        goto done;
    PyObject *newest = Py_NewRef(PyList_GET_ITEM(times, PyList_GET_SIZE(times) - 1));
    int late = compare(when, newest, Py_LT);
    Py_DECREF(newest);
    if (late != 0) {
        if (late < 0)
            goto fail;
        goto done; /* (out of order: insort) */
    }
    if ((held = PyNumber_Subtract(when, findtime)) == NULL)
        goto fail;
    PyObject *oldest = PyList_GET_ITEM(times, 0);
    Py_INCREF(oldest);
    int inside = compare(oldest, held, Py_GT);
    Py_DECREF(oldest);
    if (inside <= 0) {
        if (inside < 0)
            goto fail;
        goto done; /* (a time to cut: bisect) */
    }
    PyObject *args[2] = {networks, key};
    PyObject *moved = PyObject_VectorcallMethod(s_move_to_end, args,
                                                2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (moved == NULL)
        goto fail;
    Py_DECREF(moved);
    if (PyList_Append(times, when) < 0)
        goto fail;
    found = PyLong_FromSsize_t(PyList_GET_SIZE(times));
    goto done;
fail:
    found = NULL;
done:
    Py_XDECREF(times);
    Py_XDECREF(findtime);
    Py_XDECREF(held);
    return found;
}

/* RecentLines.add's common step: a line not cut of a network with none kept, with room in
 * networks and bytes (no eviction). NOT_TAKEN for any other case; NULL on an error. */
static PyObject *
recent_add_fast(Loop *L, PyObject *key, PyObject *line)
{
    if (!PyUnicode_CheckExact(line) || PyUnicode_GET_LENGTH(line) > line_chars)
        return NOT_TAKEN;
    PyObject *kept = PyDict_GetItemWithError(L->lines, key);
    if (kept != NULL || PyErr_Occurred())
        return kept == NULL ? NULL : NOT_TAKEN;
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    PyObject *most = NULL, *bytes = NULL, *cost = NULL, *more = NULL, *held = NULL;
    PyObject *found = NULL;
    int room;
    if ((most = PyObject_GetAttr(L->recent, s_max_networks)) == NULL
        || (held = PyLong_FromSsize_t(PyDict_GET_SIZE(L->lines) + 1)) == NULL
        || (room = compare(held, most, Py_LE)) < 0)
        goto done;
    if (room) {
        Py_SETREF(most, PyObject_GetAttr(L->recent, s_max_bytes));
        if (most == NULL || (bytes = PyObject_GetAttr(L->recent, s_bytes)) == NULL
            || (cost = PyLong_FromSsize_t(PyUnicode_IS_ASCII(line) ? n : 4 * n)) == NULL
            || (more = PyNumber_InPlaceAdd(bytes, cost)) == NULL
            || (room = compare(more, most, Py_LE)) < 0)
            goto done;
    }
    if (!room) {
        found = NOT_TAKEN;
        goto done;
    }
    if (PyObject_SetItem(L->lines, key, line) < 0 || PyObject_SetAttr(L->recent, s_bytes, more) < 0)
        goto done;
    found = Py_None;
done:
    Py_XDECREF(most);
    Py_XDECREF(held);
    Py_XDECREF(bytes);
    Py_XDECREF(cost);
    Py_XDECREF(more);
    return found;
}

/* ``count = add(key, when); new_failures.append((key, when)); recent.add(key, line)``:
 * the count (new), NULL on an error. */
static PyObject *
count_failure(Loop *L, PyObject *key, PyObject *when, PyObject *line)
{
    PyObject *pair[3] = {NULL, key, when};
    PyObject *count = L->plain_counter ? counter_add_fast(L, key, when) : NOT_TAKEN;
    if (count == NOT_TAKEN)
        count = PyObject_Vectorcall(L->add, pair + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (count == NULL)
        return NULL;
    PyObject *failure = PyTuple_Pack(2, key, when);
    if (failure == NULL)
        goto fail;
    int r;
    if (PyList_CheckExact(L->new_failures))
        r = PyList_Append(L->new_failures, failure);
    else {
        PyObject *done = PyObject_CallMethod(L->new_failures, "append", "O", failure);
        r = done == NULL ? -1 : 0;
        Py_XDECREF(done);
    }
    Py_DECREF(failure);
    if (r < 0)
        goto fail;
    PyObject *done = L->plain_recent ? recent_add_fast(L, key, line) : NOT_TAKEN;
    if (done == NOT_TAKEN) {
        PyObject *kept[3] = {L->recent, key, line};
        done = PyObject_VectorcallMethod(s_add, kept, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        if (done == NULL)
            goto fail;
        Py_DECREF(done);
    } else if (done == NULL)
        goto fail;
    return count;
fail:
    Py_DECREF(count);
    return NULL;
}

/* Whether ``bound`` is ``fn`` bound to ``owner``. */
static int
bound_to(PyObject *bound, PyObject *fn, PyObject *owner)
{
    return fn != NULL && PyMethod_Check(bound) && PyMethod_GET_FUNCTION(bound) == fn
           && PyMethod_GET_SELF(bound) == owner;
}

/* A memo's value, if true (new, or NULL: *err set on an error). */
static PyObject *
truthy(PyObject *found, int *err)
{
    if (found == NULL)
        return NULL;
    int truth = PyObject_IsTrue(found);
    if (truth > 0)
        return found;
    Py_DECREF(found);
    if (truth < 0)
        *err = 1;
    return NULL;
}

/* ``hosts.get(host) or networks.get(host) or hosts[host] or network_of(host)`` (new). */
static PyObject *
known_of(Loop *L, PyObject *host)
{
    int err = 0;
    PyObject *found = PyDict_GetItemWithError(L->hosts, host);
    if (found == NULL && PyErr_Occurred())
        return NULL;
    Py_XINCREF(found);
    if ((found = truthy(found, &err)) != NULL || err)
        return found;
    found = PyDict_GetItemWithError(L->networks, host);
    if (found == NULL && PyErr_Occurred())
        return NULL;
    Py_XINCREF(found);
    if ((found = truthy(found, &err)) != NULL || err)
        return found;
    found = PyObject_GetItem(L->hosts, host); /* (its ``__missing__``) */
    if (found == NULL)
        return NULL;
    if ((found = truthy(found, &err)) != NULL || err)
        return found;
    return PyObject_CallOneArg(L->network_of, host);
}

/* Whether ``ban`` covers ``when``: ``ban.banned_at <= when and (ban.expires_at is None or
 * when < ban.expires_at)``. -1 on an error. */
static int
ban_covers(PyObject *ban, PyObject *when)
{
    PyObject *at = PyObject_GetAttr(ban, s_banned_at);
    if (at == NULL)
        return -1;
    int r = compare(at, when, Py_LE);
    Py_DECREF(at);
    if (r <= 0)
        return r;
    PyObject *until = PyObject_GetAttr(ban, s_expires_at);
    if (until == NULL)
        return -1;
    r = until == Py_None ? 1 : compare(when, until, Py_LT);
    Py_DECREF(until);
    return r;
}

/* Whether ``virtual`` holds a span of ``key`` covering ``when`` (``if virtual and (span :=
 * virtual.get(key)) is not None and span[0] <= when < span[1]``). -1 on an error. */
static int
virtually_banned(PyObject *virtual, PyObject *key, PyObject *when)
{
    if (PyDict_GET_SIZE(virtual) == 0)
        return 0;
    PyObject *span = PyDict_GetItemWithError(virtual, key);
    if (span == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (span == Py_None)
        return 0;
    Py_INCREF(span);
    int r = -1;
    PyObject *since = PySequence_GetItem(span, 0);
    if (since == NULL)
        goto done;
    r = compare(since, when, Py_LE);
    Py_DECREF(since);
    if (r > 0) {
        PyObject *until = PySequence_GetItem(span, 1);
        r = until == NULL ? -1 : compare(when, until, Py_LT);
        Py_XDECREF(until);
    }
done:
    Py_DECREF(span);
    return r;
}

/* A call of the trace module's ``name`` (looked up now, as Python does). */
static int
trace_call(PyObject *name, PyObject *const *args, Py_ssize_t n)
{
    PyObject *fn = PyObject_GetAttr(trace_module, name);
    if (fn == NULL)
        return -1;
    PyObject *done = PyObject_Vectorcall(fn, args, n, NULL);
    Py_DECREF(fn);
    if (done == NULL)
        return -1;
    Py_DECREF(done);
    return 0;
}

/* An ignored address's failure (``ignored``: why): counted aside, traced. */
static int
ignored_failure(Loop *L, PyObject *host, PyObject *ignored, PyObject *mark)
{
    int m = PyObject_IsTrue(mark);
    if (m != 0)
        return m < 0 ? -1 : 0;
    PyObject *rt = L->args[A_RT];
    PyObject *held = PyObject_GetAttr(rt, s_ignored_failures);
    if (held == NULL)
        return -1;
    PyObject *more = PyNumber_InPlaceAdd(held, one);
    Py_DECREF(held);
    if (more == NULL)
        return -1;
    int r = PyObject_SetAttr(rt, s_ignored_failures, more);
    Py_DECREF(more);
    if (r < 0 || !L->traced)
        return r;
    PyObject *args[3] = {L->args[A_JAIL], host, ignored};
    return trace_call(s_ignored, args, 3);
}

/* An accepted login of ``key``: the detectors told (and the crowd first if they wait). */
static int
login(Loop *L, PyObject *key, PyObject *user, PyObject *when)
{
    if (L->detecting == NULL)
        return 0;
    PyObject *args[4] = {L->detecting, key, user, when};
    PyObject *done = PyObject_VectorcallMethod(s_succeeded, args,
                                               4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (done == NULL)
        return -1;
    int ok = PyObject_IsTrue(done);
    Py_DECREF(done);
    if (ok != 0)
        return ok < 0 ? -1 : 0;
    PyObject *triple = PyTuple_Pack(3, key, user, when);
    if (triple == NULL)
        return -1;
    PyObject *const *a = L->args;
    PyObject *call[7] = {a[A_ENGINE], a[A_RT], triple, a[A_COMMIT], a[A_CHANGES], a[A_NOW],
                         a[A_SOURCE]};
    done = PyObject_VectorcallMethod(s_logged_in, call, 7 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                     NULL);
    Py_DECREF(triple);
    if (done == NULL)
        return -1;
    Py_DECREF(done);
    return 0;
}

/* The detectors' verdicts on a failure: 1 if they banned ``key`` (its step ends), 0 if
 * not, -1 on an error. */
static int
verdicts_on(Loop *L, PyObject *key, PyObject *user, PyObject *when, PyObject *line, int first)
{
    PyObject *args[4] = {L->detecting, key, user, when};
    PyObject *verdicts = PyObject_VectorcallMethod(s_observe_apart, args,
                                                   4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (verdicts == NULL)
        return -1;
    int r = PyObject_IsTrue(verdicts);
    if (r <= 0) {
        Py_DECREF(verdicts);
        return r;
    }
    r = -1;
    PyObject *by = NULL, *it = NULL, *network;
    PyObject *held = first ? PyTuple_Pack(2, key, line) : Py_NewRef(Py_None);
    if (held == NULL)
        goto done;
    int set = PyObject_SetAttr(L->recent, s_held, held);
    Py_DECREF(held);
    if (set < 0)
        goto done;
    PyObject *const *a = L->args;
    PyObject *call[9] = {a[A_RT], verdicts, when, a[A_SOURCE], a[A_COMMIT], a[A_CHANGES],
                         a[A_NOW], a[A_BANNED], a[A_VIRTUAL]};
    by = PyObject_Vectorcall(a[A_APPLY], call, 9, NULL);
    if (by == NULL || (it = PyObject_GetIter(by)) == NULL)
        goto done;
    while ((network = PyIter_Next(it)) != NULL) {
        int noted = note_spent(L, network);
        Py_DECREF(network);
        if (noted < 0)
            goto done;
    }
    if (PyErr_Occurred())
        goto done;
    r = PySequence_Contains(by, key);
    if (r == 0 && PyObject_SetAttr(L->recent, s_held, Py_None) < 0)
        r = -1;
done:
    Py_XDECREF(it);
    Py_XDECREF(by);
    Py_DECREF(verdicts);
    return r;
}

/* One hit's step (the body of count_hits_python's loop). */
static int
one_hit(Loop *L, PyObject *line, PyObject *host, PyObject *when, PyObject *user, PyObject *mark)
{
    PyObject *const *a = L->args;
    PyObject *known = known_of(L, host), *owned = NULL, *count = NULL, *ban;
    int r = -1, first = 0;
    if (known == NULL)
        return -1;
    if (known == Py_None) {
        Py_DECREF(known);
        return 0;
    }
    if (!PyTuple_CheckExact(known)) {
        owned = PySequence_Tuple(known);
        Py_SETREF(known, owned);
        if (known == NULL)
            return -1;
    }
    if (PyTuple_GET_SIZE(known) != 2) {
        PyErr_SetString(PyExc_ValueError, "a network memo's value is not (key, reason)");
        goto done;
    }
    PyObject *key = PyTuple_GET_ITEM(known, 0), *ignored = PyTuple_GET_ITEM(known, 1);
    if (ignored != Py_None) {
        r = ignored_failure(L, host, ignored, mark);
        goto done;
    }
    if (when == Py_None)
        when = a[A_DEFAULT];
    else {
        int later = compare(a[A_NOW], when, Py_LT);
        if (later < 0)
            goto done;
        if (later)
            when = a[A_NOW];
    }
    int m = PyObject_IsTrue(mark);
    if (m != 0) {
        r = m < 0 ? -1 : login(L, key, user, when);
        goto done;
    }
    int newer = compare(when, L->latest, Py_GT);
    if (newer < 0)
        goto done;
    if (newer)
        Py_SETREF(L->latest, Py_NewRef(when));
    ban = PyDict_GetItemWithError(a[A_BANNED], key);
    if (ban == NULL && PyErr_Occurred())
        goto done;
    if (ban != NULL && ban != Py_None) {
        Py_INCREF(ban);
        int covered = ban_covers(ban, when);
        Py_DECREF(ban);
        if (covered != 0) {
            r = covered < 0 ? -1 : 0;
            goto done;
        }
    }
    int skipped = virtually_banned(a[A_VIRTUAL], key, when);
    if (skipped != 0) {
        r = skipped < 0 ? -1 : 0;
        goto done;
    }
    L->failed++;
    if (L->room > 0) {
        int in = PySequence_Contains(L->times, key);
        if (in == 0)
            in = PySequence_Contains(L->kept, key);
        if (in < 0)
            goto done;
        first = !in;
    }
    if (first)
        count = Py_NewRef(one);
    else {
        L->room--;
        if ((count = count_failure(L, key, when, line)) == NULL)
            goto done;
    }
    if (L->traced) {
        PyObject *args[4] = {a[A_JAIL], host, count, L->maxretry};
        if (trace_call(s_found, args, 4) < 0)
            goto done;
    }
    if (L->detecting != NULL) {
        int banned = verdicts_on(L, key, user, when, line, first);
        if (banned != 0) {
            r = banned < 0 ? -1 : 0;
            goto done;
        }
    }
    if (first) {
        L->room--;
        Py_SETREF(count, count_failure(L, key, when, line));
        if (count == NULL)
            goto done;
    }
    int due = compare(count, L->maxretry, Py_GE);
    if (due < 0)
        goto done;
    if (due) {
        PyObject *call[9] = {a[A_ENGINE], a[A_RT], key, when, count, a[A_SOURCE], a[A_COMMIT],
                             a[A_CHANGES], a[A_NOW]};
        PyObject *done = PyObject_VectorcallMethod(s_decide_ban, call,
                                                   9 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        if (done == NULL)
            goto done;
        Py_DECREF(done);
        if (note_spent(L, key) < 0)
            goto done;
    }
    r = 0;
done:
    Py_XDECREF(count);
    Py_DECREF(known);
    return r;
}

/* The per-batch objects count_hits_python reads before its loop. */
static int
loop_setup(Loop *L)
{
    PyObject *rt = L->args[A_RT], *ignore, *counter, *config, *room;
    if ((L->network_of = PyObject_GetAttr(rt, s_network_of)) == NULL
        || (ignore = PyObject_GetAttr(rt, s_ignore)) == NULL)
        return -1;
    L->hosts = PyObject_GetAttr(ignore, s_hosts);
    Py_DECREF(ignore);
    if (L->hosts == NULL || (L->networks = PyObject_GetAttr(rt, s_networks)) == NULL
        || (counter = PyObject_GetAttr(rt, s_counter)) == NULL)
        return -1;
    L->counter = counter;
    L->add = PyObject_GetAttr(counter, s_add);
    L->times = L->add == NULL ? NULL : PyObject_GetAttr(counter, s_times);
    if (L->times == NULL
        || (L->new_failures = PyObject_GetAttr(L->args[A_COMMIT], s_new_failures)) == NULL
        || (L->recent = PyObject_GetAttr(rt, s_recent_lines)) == NULL
        || (L->kept = PyObject_GetAttr(L->recent, s_kept)) == NULL
        || (room = PyObject_CallMethodNoArgs(rt, s_first_room)) == NULL)
        return -1;
    int overflow = 0;
    L->room = PyLong_AsLongLongAndOverflow(room, &overflow);
    Py_DECREF(room);
    if (L->room == -1 && PyErr_Occurred())
        return -1;
    if (overflow) /* (only its sign and its steps down are read: far from either end) */
        L->room = overflow > 0 ? LLONG_MAX / 2 : -1;
    if ((config = PyObject_GetAttr(rt, s_config)) == NULL)
        return -1;
    L->maxretry = PyObject_GetAttr(config, s_maxretry);
    Py_DECREF(config);
    if (L->maxretry == NULL || (L->latest = PyObject_GetAttr(rt, s_latest_line)) == NULL
        || (L->detecting = PyObject_GetAttr(rt, s_detection)) == NULL)
        return -1;
    if (L->detecting == Py_None)
        Py_CLEAR(L->detecting);
    /* (their own add, on an OrderedDict: else each call is the method's) */
    L->plain_counter = bound_to(L->add, counter_add_fn, counter) && PyODict_CheckExact(L->times);
    PyObject *recent_add = PyObject_GetAttr(L->recent, s_add);
    if (recent_add == NULL)
        return -1;
    int plain = bound_to(recent_add, recent_add_fn, L->recent);
    Py_DECREF(recent_add);
    if (plain) {
        if ((L->lines = PyObject_GetAttr(L->recent, s_lines)) == NULL)
            return -1;
        L->plain_recent = PyODict_CheckExact(L->lines);
    }
    return 0;
}

/* One hit's five fields from ``item`` (a tuple of five; another iterable is unpacked),
 * with Python's errors for an unpacking of another length or of no iterable. */
static PyObject *
hit_tuple(PyObject *item)
{
    if (!PyTuple_CheckExact(item) && Py_TYPE(item)->tp_iter == NULL && !PySequence_Check(item)) {
        PyErr_Format(PyExc_TypeError, "cannot unpack non-iterable %.200s object",
                     Py_TYPE(item)->tp_name);
        return NULL;
    }
    PyObject *hit = PyTuple_CheckExact(item) ? Py_NewRef(item) : PySequence_Tuple(item);
    if (hit == NULL || PyTuple_GET_SIZE(hit) == 5)
        return hit;
    if (PyTuple_GET_SIZE(hit) < 5)
        PyErr_Format(PyExc_ValueError, "not enough values to unpack (expected 5, got %zd)",
                     PyTuple_GET_SIZE(hit));
    else
        PyErr_SetString(PyExc_ValueError, "too many values to unpack (expected 5)");
    Py_DECREF(hit);
    return NULL;
}

static PyObject *
hitloop_count_hits(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != N_ARGS) {
        PyErr_Format(PyExc_TypeError, "count_hits takes %d arguments", N_ARGS);
        return NULL;
    }
    if (python_path == NULL || trace_module == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_hitloop.setup was not called");
        return NULL;
    }
    Loop L = {.args = args};
    PyObject *result = NULL, *it = NULL, *item;
    if ((L.traced = PyObject_IsTrue(args[A_TRACED])) < 0 || loop_setup(&L) < 0)
        goto done;
    if (!plain_dict(L.hosts) || !plain_dict(L.networks) || !plain_dict(args[A_BANNED])
        || !plain_dict(args[A_VIRTUAL])) {
        result = PyObject_Vectorcall(python_path, args, nargs, NULL); /* (fakes, in tests) */
        goto done;
    }
    if ((it = PyObject_GetIter(args[A_HITS])) == NULL)
        goto done;
    while ((item = PyIter_Next(it)) != NULL) {
        PyObject *hit = hit_tuple(item);
        Py_DECREF(item);
        if (hit == NULL)
            goto done;
        int r = one_hit(&L, PyTuple_GET_ITEM(hit, 0), PyTuple_GET_ITEM(hit, 1),
                        PyTuple_GET_ITEM(hit, 2), PyTuple_GET_ITEM(hit, 3),
                        PyTuple_GET_ITEM(hit, 4));
        Py_DECREF(hit);
        if (r < 0)
            goto done;
    }
    if (!PyErr_Occurred())
        result = Py_BuildValue("(nO)", L.failed, L.latest);
done:
    Py_XDECREF(it);
    Py_XDECREF(L.network_of);
    Py_XDECREF(L.hosts);
    Py_XDECREF(L.networks);
    Py_XDECREF(L.add);
    Py_XDECREF(L.times);
    Py_XDECREF(L.new_failures);
    Py_XDECREF(L.recent);
    Py_XDECREF(L.kept);
    Py_XDECREF(L.maxretry);
    Py_XDECREF(L.latest);
    Py_XDECREF(L.detecting);
    Py_XDECREF(L.counter);
    Py_XDECREF(L.lines);
    return result;
}

static PyMethodDef hitloop_methods[] = {
    {"setup", hitloop_setup, METH_VARARGS,
     "setup(trace_module, count_hits_python): the trace module, the Python path"},
    {"count_hits", (PyCFunction)(void (*)(void))hitloop_count_hits, METH_FASTCALL,
     "hitloop.count_hits_python in C"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef hitloop_module = {
    PyModuleDef_HEAD_INIT, "journalban.decisions._hitloop",
    "The deciding's per-failure loop in C (decisions.hitloop).", -1, hitloop_methods,
    NULL, NULL, NULL, NULL,
};

#define INTERN(var, str)                                     \
    do {                                                     \
        if ((var = PyUnicode_InternFromString(str)) == NULL) \
            return NULL;                                     \
    } while (0)

PyMODINIT_FUNC
PyInit__hitloop(void)
{
    INTERN(s_network_of, "network_of");
    INTERN(s_ignore, "ignore");
    INTERN(s_hosts, "hosts");
    INTERN(s_networks, "networks");
    INTERN(s_counter, "counter");
    INTERN(s_add, "add");
    INTERN(s_times, "times");
    INTERN(s_recent_lines, "recent_lines");
    INTERN(s_kept, "kept");
    INTERN(s_first_room, "first_room");
    INTERN(s_config, "config");
    INTERN(s_maxretry, "maxretry");
    INTERN(s_latest_line, "latest_line");
    INTERN(s_detection, "detection");
    INTERN(s_ignored_failures, "ignored_failures");
    INTERN(s_succeeded, "succeeded");
    INTERN(s_logged_in, "_logged_in");
    INTERN(s_banned_at, "banned_at");
    INTERN(s_expires_at, "expires_at");
    INTERN(s_observe_apart, "observe_apart");
    INTERN(s_held, "held");
    INTERN(s_decide_ban, "_decide_ban");
    INTERN(s_new_failures, "new_failures");
    INTERN(s_found, "found");
    INTERN(s_ignored, "ignored");
    INTERN(s_get, "get");
    INTERN(s_findtime, "findtime");
    INTERN(s_max_tracked, "max_tracked");
    INTERN(s_move_to_end, "move_to_end");
    INTERN(s_lines, "_lines");
    INTERN(s_bytes, "bytes");
    INTERN(s_max_networks, "max_networks");
    INTERN(s_max_bytes, "max_bytes");
    if ((one = PyLong_FromLong(1)) == NULL || (zero = PyLong_FromLong(0)) == NULL
        || (dict_get = _PyType_Lookup(&PyDict_Type, s_get)) == NULL)
        return NULL;
    Py_INCREF(dict_get);
    return PyModule_Create(&hitloop_module);
}
