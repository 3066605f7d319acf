/* A jail's detectors' per-failure work in C (issue 19): decisions.detecting's
 * ``JailDetection.observe_apart`` with ``slow``, ``account`` and ``attack_mode``'s
 * ``observe`` (jails.slow, jails.account, jails.attackmode) done in its loop.
 *
 * An accelerator: jails.nativedetect builds an ``Apart`` for a JailDetection whose
 * detectors are the plain classes (their own ``observe``), else the Python path stays
 * (and with JOURNALBAN_NATIVE_DETECT=0). Each step here is the Python line's step, on the
 * same objects through their ordinary protocols (attributes, the Tracked maps' dicts, the
 * same comparisons and arithmetic of Python objects), in the same order: the detectors'
 * state, their rows and their verdicts are the Python path's. The rarer steps call back
 * the Python helpers the detectors call (``bucket_add_at``, ``note_distinct``,
 * ``account_key``, ``Tracked.add``/``drop``/``touch``, ``Verdict``).
 *
 * A Tracked map's ``kept`` is a dict, an OrderedDict once full: a key is taken out of an
 * exact dict by lookup and delete (as its pop), out of any other by its own ``pop``. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

enum { K_CALL = 0, K_SLOW = 1, K_ACCOUNT = 2, K_ATTACK = 3 };

/* What setup() was given (strong references, for the process's life). */
static PyObject *verdict_type = NULL;    /* jails.detector.Verdict */
static PyObject *bucket_add_at_fn = NULL; /* jails.buckets.bucket_add_at */
static PyObject *note_distinct_fn = NULL; /* jails.distinct.note_distinct */
static PyObject *account_key_fn = NULL;  /* jails.detector.account_key */
static Py_ssize_t account_max = 0;       /* jails.detector.ACCOUNT_MAX */
static PyObject *buckets = NULL;         /* jails.buckets.BUCKETS */
static PyObject *r_slow = NULL, *r_account = NULL, *r_attack = NULL; /* the reasons */

static PyObject *one = NULL, *two = NULL, *zero = NULL, *empty_tuple = NULL;

static PyObject *s_width, *s_bucket, *s_keys, *s_kept, *s_dirty, *s_cap, *s_config,
    *s_maxretry, *s_bantime, *s_add, *s_drop, *s_pop, *s_ignored, *s_attacked, *s_seen,
    *s_addresses, *s_findtime, *s_hold, *s_touch, *s_dirty_flag, *s_fresh, *s_pairs,
    *s_count, *s_until, *s_failures, *s_holds;

static int
ready(void)
{
    if (verdict_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "journalban.jails._detectors: setup() not called");
        return -1;
    }
    return 0;
}

/* ``obj.name`` of a detector or a Tracked map (plain classes: no descriptor by these names,
 * the attribute is in the instance's dict): a new reference. Anything else by getattr. */
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

/* ``obj.name = value`` of a detector (as fast_get: its instance dict). */
static int
fast_set(PyObject *obj, PyObject *name, PyObject *value)
{
    PyObject **where = _PyObject_GetDictPtr(obj);
    if (where != NULL && *where != NULL && PyDict_CheckExact(*where))
        return PyDict_SetItem(*where, name, value);
    return PyObject_SetAttr(obj, name, value);
}

/* ``kept.pop(key, None)``: a new reference, or Py_None (new reference) when not held. */
static PyObject *
take(PyObject *kept, PyObject *key)
{
    if (PyDict_CheckExact(kept)) {
        PyObject *value = PyDict_GetItemWithError(kept, key); /* borrowed */
        if (value == NULL) {
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_NONE;
        }
        Py_INCREF(value);
        if (PyDict_DelItem(kept, key) < 0) {
            Py_DECREF(value);
            return NULL;
        }
        return value;
    }
    return PyObject_CallMethodObjArgs(kept, s_pop, key, Py_None, NULL);
}

/* ``mapping.get(key)`` of a Tracked's ``kept`` (a dict or a dict subclass): borrowed, NULL
 * without an error when not held. */
static PyObject *
lookup(PyObject *kept, PyObject *key)
{
    if (!PyDict_Check(kept)) {
        PyErr_SetString(PyExc_TypeError, "a Tracked map that is not a dict");
        return NULL;
    }
    return PyDict_GetItemWithError(kept, key);
}

/* ``a[key] = b[key] = value`` for a Tracked's ``kept`` then ``dirty``. */
static int
store_both(PyObject *tracked, PyObject *key, PyObject *value)
{
    PyObject *kept = fast_get(tracked, s_kept);
    if (kept == NULL)
        return -1;
    int rc = PyObject_SetItem(kept, key, value);
    Py_DECREF(kept);
    if (rc < 0)
        return -1;
    PyObject *dirty = fast_get(tracked, s_dirty);
    if (dirty == NULL)
        return -1;
    rc = PyObject_SetItem(dirty, key, value);
    Py_DECREF(dirty);
    return rc;
}

static PyObject *
attr_of_config(PyObject *detector, PyObject *name)
{
    PyObject *config = fast_get(detector, s_config);
    if (config == NULL)
        return NULL;
    PyObject *value = PyObject_GetAttr(config, name);
    Py_DECREF(config);
    return value;
}

/* ((reason, key, 1, bantime, account, ()),): an account's or attack mode's verdict. */
static PyObject *
one_verdict(PyObject *reason, PyObject *key, PyObject *bantime, PyObject *account)
{
    PyObject *verdict = PyTuple_Pack(6, reason, key, one, bantime, account, empty_tuple);
    if (verdict == NULL)
        return NULL;
    PyObject *out = PyTuple_Pack(1, verdict);
    Py_DECREF(verdict);
    return out;
}

/* jails.slow.SlowWindow.observe */
static PyObject *
slow_observe(PyObject *self, PyObject *key, PyObject *when)
{
    PyObject *bucket = NULL, *keys = NULL, *pairs = NULL, *count = NULL, *out = NULL;
    PyObject *width = fast_get(self, s_width);
    if (width == NULL)
        return NULL;
    PyObject *floored = PyNumber_FloorDivide(when, width);
    Py_DECREF(width);
    if (floored == NULL)
        return NULL;
    PyObject *last = fast_get(self, s_bucket);
    if (last == NULL) {
        Py_DECREF(floored);
        return NULL;
    }
    int same = PyObject_RichCompareBool(floored, last, Py_EQ);
    if (same < 0) {
        Py_DECREF(floored);
        Py_DECREF(last);
        return NULL;
    }
    if (same) {
        bucket = last;
        Py_DECREF(floored);
    } else {
        Py_DECREF(last);
        bucket = PyNumber_Long(floored);
        Py_DECREF(floored);
        if (bucket == NULL || fast_set(self, s_bucket, bucket) < 0)
            goto done;
    }
    keys = fast_get(self, s_keys);
    if (keys == NULL)
        goto done;
    {
        PyObject *kept = fast_get(keys, s_kept);
        if (kept == NULL)
            goto done;
        pairs = take(kept, key);
        Py_DECREF(kept);
        if (pairs == NULL)
            goto done;
    }
    if (pairs == Py_None) {
        count = Py_NewRef(one);
        PyObject *held = fast_get(keys, s_kept);
        if (held == NULL)
            goto done;
        Py_ssize_t size = PyObject_Size(held);
        Py_DECREF(held);
        if (size < 0)
            goto done;
        PyObject *cap_obj = fast_get(keys, s_cap);
        if (cap_obj == NULL)
            goto done;
        PyObject *size_obj = PyLong_FromSsize_t(size);
        if (size_obj == NULL) {
            Py_DECREF(cap_obj);
            goto done;
        }
        int room = PyObject_RichCompareBool(size_obj, cap_obj, Py_LT);
        Py_DECREF(size_obj);
        Py_DECREF(cap_obj);
        if (room < 0)
            goto done;
        if (room) {
            if (store_both(keys, key, bucket) < 0)
                goto done;
        } else {
            PyObject *r = PyObject_CallMethodObjArgs(keys, s_add, key, bucket, NULL);
            if (r == NULL)
                goto done;
            Py_DECREF(r);
        }
    } else {
        if (PyList_Check(pairs)) {
            int again = 0;
            if (PyList_GET_SIZE(pairs) == 2) {
                PyObject *first = PyList_GET_ITEM(pairs, 0);
                Py_INCREF(first);
                again = PyObject_RichCompareBool(first, bucket, Py_EQ);
                Py_DECREF(first);
                if (again < 0)
                    goto done;
            }
            if (again && PyList_GET_SIZE(pairs) == 2) {
                count = PyNumber_Add(PyList_GET_ITEM(pairs, 1), one);
                if (count == NULL)
                    goto done;
                if (PyList_SetItem(pairs, 1, Py_NewRef(count)) < 0)
                    goto done;
            } else {
                count = PyObject_CallFunctionObjArgs(bucket_add_at_fn, pairs, bucket, NULL);
                if (count == NULL)
                    goto done;
            }
        } else {
            int same_bucket = PyObject_RichCompareBool(pairs, bucket, Py_EQ);
            if (same_bucket < 0)
                goto done;
            PyObject *made;
            if (same_bucket) {
                made = PyList_New(2);
                if (made == NULL)
                    goto done;
                PyList_SET_ITEM(made, 0, Py_NewRef(bucket));
                PyList_SET_ITEM(made, 1, Py_NewRef(two));
                count = Py_NewRef(two);
            } else {
                made = PyList_New(2);
                if (made == NULL)
                    goto done;
                PyList_SET_ITEM(made, 0, Py_NewRef(pairs));
                PyList_SET_ITEM(made, 1, Py_NewRef(one));
            }
            Py_SETREF(pairs, made);
            if (count == NULL) {
                count = PyObject_CallFunctionObjArgs(bucket_add_at_fn, pairs, bucket, NULL);
                if (count == NULL)
                    goto done;
            }
        }
        if (store_both(keys, key, pairs) < 0)
            goto done;
    }
    {
        PyObject *maxretry = attr_of_config(self, s_maxretry);
        if (maxretry == NULL)
            goto done;
        int below = PyObject_RichCompareBool(count, maxretry, Py_LT);
        Py_DECREF(maxretry);
        if (below < 0)
            goto done;
        if (below) {
            out = Py_NewRef(empty_tuple);
            goto done;
        }
    }
    {
        PyObject *r = PyObject_CallMethodObjArgs(keys, s_drop, key, NULL);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
        PyObject *bantime = attr_of_config(self, s_bantime);
        if (bantime == NULL)
            goto done;
        PyObject *verdict =
            PyObject_CallFunctionObjArgs(verdict_type, r_slow, key, count, bantime, NULL);
        Py_DECREF(bantime);
        if (verdict == NULL)
            goto done;
        out = PyTuple_Pack(1, verdict);
        Py_DECREF(verdict);
    }
done:
    Py_XDECREF(bucket);
    Py_XDECREF(keys);
    Py_XDECREF(pairs);
    Py_XDECREF(count);
    return out;
}

/* jails.account.AccountAttack.observe (``user`` a str, ``known`` false: the caller's). */
static PyObject *
account_observe(PyObject *self, PyObject *key, PyObject *user, PyObject *when)
{
    PyObject *out = NULL, *attacked = NULL, *account = NULL, *until = NULL, *cfg = NULL;
    PyObject *accounts = NULL, *networks = NULL, *held = NULL;
    {
        PyObject *ignored = fast_get(self, s_ignored);
        if (ignored == NULL)
            return NULL;
        int in = PySequence_Contains(ignored, user);
        Py_DECREF(ignored);
        if (in < 0)
            return NULL;
        if (in)
            return Py_NewRef(empty_tuple);
    }
    cfg = fast_get(self, s_config);
    if (cfg == NULL)
        return NULL;
    attacked = fast_get(self, s_attacked);
    if (attacked == NULL)
        goto done;
    {
        PyObject *kept = fast_get(attacked, s_kept);
        if (kept == NULL)
            goto done;
        until = lookup(kept, user);
        Py_XINCREF(until);
        if (until == NULL && PyErr_Occurred()) {
            Py_DECREF(kept);
            goto done;
        }
        if (until != NULL) {
            account = Py_NewRef(user);
        } else {
            Py_ssize_t n = PyUnicode_GET_LENGTH(user);
            Py_ssize_t nul = n <= account_max ? PyUnicode_FindChar(user, 0, 0, n, 1) : 0;
            if (nul == -2) {
                Py_DECREF(kept);
                goto done;
            }
            if (nul == -1) {
                account = Py_NewRef(user);
            } else {
                account = PyObject_CallOneArg(account_key_fn, user);
                if (account == NULL) {
                    Py_DECREF(kept);
                    goto done;
                }
            }
            if (account != user) {
                until = lookup(kept, account);
                Py_XINCREF(until);
                if (until == NULL && PyErr_Occurred()) {
                    Py_DECREF(kept);
                    goto done;
                }
            }
        }
        Py_DECREF(kept);
    }
    if (until != NULL) {
        int under = PyObject_RichCompareBool(when, until, Py_LT);
        if (under < 0)
            goto done;
        if (under) {
            PyObject *bantime = PyObject_GetAttr(cfg, s_bantime);
            if (bantime == NULL)
                goto done;
            out = one_verdict(r_account, key, bantime, account);
            Py_DECREF(bantime);
            goto done;
        }
    }
    accounts = fast_get(self, s_seen);
    if (accounts == NULL)
        goto done;
    {
        PyObject *kept = fast_get(accounts, s_kept);
        if (kept == NULL)
            goto done;
        held = lookup(kept, account);
        Py_XINCREF(held);
        Py_DECREF(kept);
        if (held == NULL && PyErr_Occurred())
            goto done;
    }
    if (held == NULL) {
        networks = PyDict_New();
        if (networks == NULL || PyDict_SetItem(networks, key, when) < 0)
            goto done;
    } else {
        networks = Py_NewRef(held);
        PyObject *last;
        if (PyDict_CheckExact(networks)) {
            last = PyDict_GetItemWithError(networks, key);
            if (last == NULL && PyErr_Occurred())
                goto done;
            last = Py_NewRef(last == NULL ? Py_None : last);
        } else {
            last = PyObject_CallMethod(networks, "get", "(O)", key);
            if (last == NULL)
                goto done;
        }
        int newer = 1;
        if (last != Py_None)
            newer = PyObject_RichCompareBool(when, last, Py_GT);
        Py_DECREF(last);
        if (newer < 0)
            goto done;
        if (newer && PyObject_SetItem(networks, key, when) < 0)
            goto done;
    }
    {
        PyObject *addresses = PyObject_GetAttr(cfg, s_addresses);
        if (addresses == NULL)
            goto done;
        Py_ssize_t size = PyObject_Size(networks);
        PyObject *size_obj = size < 0 ? NULL : PyLong_FromSsize_t(size);
        if (size_obj == NULL) {
            Py_DECREF(addresses);
            goto done;
        }
        int below = PyObject_RichCompareBool(size_obj, addresses, Py_LT);
        Py_DECREF(size_obj);
        int keep = below;
        if (below == 0) {
            PyObject *findtime = PyObject_GetAttr(cfg, s_findtime);
            if (findtime == NULL) {
                Py_DECREF(addresses);
                goto done;
            }
            PyObject *r = PyObject_CallFunctionObjArgs(note_distinct_fn, networks, key, when,
                                                       findtime, addresses, NULL);
            Py_DECREF(findtime);
            if (r == NULL) {
                Py_DECREF(addresses);
                goto done;
            }
            int reached = PyObject_IsTrue(r);
            Py_DECREF(r);
            keep = reached < 0 ? -1 : !reached;
        }
        Py_DECREF(addresses);
        if (keep < 0)
            goto done;
        if (keep) {
            if (held == NULL) {
                PyObject *r = PyObject_CallMethodObjArgs(accounts, s_add, account, networks, NULL);
                if (r == NULL)
                    goto done;
                Py_DECREF(r);
            } else {
                PyObject *kept = fast_get(accounts, s_kept);
                if (kept == NULL)
                    goto done;
                PyObject *gone = take(kept, account);
                Py_DECREF(kept);
                if (gone == NULL)
                    goto done;
                Py_DECREF(gone);
                if (store_both(accounts, account, networks) < 0)
                    goto done;
            }
            out = Py_NewRef(empty_tuple);
            goto done;
        }
    }
    {
        /* The attack starts: self.seen.drop(account), self.attacked.touch(account, when +
         * hold), a Verdict for every network held. */
        PyObject *seen = fast_get(self, s_seen);
        if (seen == NULL)
            goto done;
        PyObject *r = PyObject_CallMethodObjArgs(seen, s_drop, account, NULL);
        Py_DECREF(seen);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
        PyObject *hold = PyObject_GetAttr(cfg, s_hold);
        if (hold == NULL)
            goto done;
        PyObject *end = PyNumber_Add(when, hold);
        Py_DECREF(hold);
        if (end == NULL)
            goto done;
        PyObject *attacked_now = fast_get(self, s_attacked);
        if (attacked_now == NULL) {
            Py_DECREF(end);
            goto done;
        }
        r = PyObject_CallMethodObjArgs(attacked_now, s_touch, account, end, NULL);
        Py_DECREF(attacked_now);
        Py_DECREF(end);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
        Py_ssize_t size = PyObject_Size(networks);
        if (size < 0)
            goto done;
        PyObject *found = PyLong_FromSsize_t(size);
        PyObject *bantime = PyObject_GetAttr(cfg, s_bantime);
        PyObject *verdicts = PyList_New(0);
        PyObject *iter = PyObject_GetIter(networks);
        if (found == NULL || bantime == NULL || verdicts == NULL || iter == NULL) {
            Py_XDECREF(found);
            Py_XDECREF(bantime);
            Py_XDECREF(verdicts);
            Py_XDECREF(iter);
            goto done;
        }
        PyObject *each;
        while ((each = PyIter_Next(iter)) != NULL) {
            PyObject *v = PyObject_CallFunctionObjArgs(verdict_type, r_account, each, found,
                                                       bantime, account, NULL);
            Py_DECREF(each);
            if (v == NULL || PyList_Append(verdicts, v) < 0) {
                Py_XDECREF(v);
                break;
            }
            Py_DECREF(v);
        }
        Py_DECREF(iter);
        Py_DECREF(found);
        Py_DECREF(bantime);
        if (!PyErr_Occurred())
            out = PyList_AsTuple(verdicts);
        Py_DECREF(verdicts);
    }
done:
    Py_XDECREF(cfg);
    Py_XDECREF(attacked);
    Py_XDECREF(account);
    Py_XDECREF(until);
    Py_XDECREF(accounts);
    Py_XDECREF(networks);
    Py_XDECREF(held);
    return out;
}

/* jails.attackmode.AttackMode.observe */
static PyObject *
attack_observe(PyObject *self, PyObject *key, PyObject *when, int known)
{
    PyObject *out = NULL, *current = NULL, *pairs = NULL, *count = NULL, *fresh = NULL;
    PyObject *until = NULL, *cfg = NULL;
    if (fast_set(self, s_dirty_flag, Py_True) < 0)
        return NULL;
    {
        PyObject *width = fast_get(self, s_width);
        if (width == NULL)
            return NULL;
        current = PyNumber_FloorDivide(when, width);
        Py_DECREF(width);
        if (current == NULL)
            return NULL;
    }
    PyObject *kept_fresh = fast_get(self, s_fresh);
    if (kept_fresh == NULL)
        goto done;
    int same = PyObject_RichCompareBool(current, kept_fresh, Py_EQ);
    Py_DECREF(kept_fresh);
    if (same < 0)
        goto done;
    pairs = fast_get(self, s_pairs);
    if (pairs == NULL)
        goto done;
    if (same) {
        PyObject *newest = PySequence_GetItem(pairs, -1);
        if (newest == NULL)
            goto done;
        PyObject *more = PyNumber_InPlaceAdd(newest, one);
        Py_DECREF(newest);
        if (more == NULL)
            goto done;
        int rc = PySequence_SetItem(pairs, -1, more);
        Py_DECREF(more);
        if (rc < 0)
            goto done;
        PyObject *was = fast_get(self, s_count);
        if (was == NULL)
            goto done;
        count = PyNumber_Add(was, one);
        Py_DECREF(was);
        if (count == NULL || fast_set(self, s_count, count) < 0)
            goto done;
    } else {
        fresh = PyNumber_Long(current);
        if (fresh == NULL)
            goto done;
        count = fast_get(self, s_count);
        if (count == NULL)
            goto done;
        int moving = PyObject_IsTrue(count);
        if (moving < 0)
            goto done;
        if (moving) {
            PyObject *second = PySequence_GetItem(pairs, -2);
            if (second == NULL)
                goto done;
            moving = PyObject_RichCompareBool(fresh, second, Py_GT);
            Py_DECREF(second);
            if (moving < 0)
                goto done;
        }
        if (moving) {
            PyObject *less = PyNumber_Subtract(fresh, buckets);
            if (less == NULL)
                goto done;
            PyObject *oldest = PyNumber_Add(less, one);
            Py_DECREF(less);
            if (oldest == NULL)
                goto done;
            for (;;) {
                int any = PyObject_IsTrue(pairs);
                if (any <= 0) {
                    if (any < 0) {
                        Py_DECREF(oldest);
                        goto done;
                    }
                    break;
                }
                PyObject *first = PySequence_GetItem(pairs, 0);
                if (first == NULL) {
                    Py_DECREF(oldest);
                    goto done;
                }
                int older = PyObject_RichCompareBool(first, oldest, Py_LT);
                Py_DECREF(first);
                if (older <= 0) {
                    if (older < 0) {
                        Py_DECREF(oldest);
                        goto done;
                    }
                    break;
                }
                PyObject *second = PySequence_GetItem(pairs, 1);
                if (second == NULL) {
                    Py_DECREF(oldest);
                    goto done;
                }
                Py_SETREF(count, PyNumber_Subtract(count, second));
                Py_DECREF(second);
                if (count == NULL || PySequence_DelSlice(pairs, 0, 2) < 0) {
                    Py_DECREF(oldest);
                    goto done;
                }
            }
            Py_DECREF(oldest);
            PyObject *tail = PyTuple_Pack(2, fresh, one);
            if (tail == NULL)
                goto done;
            PyObject *grown = PyNumber_InPlaceAdd(pairs, tail);
            Py_DECREF(tail);
            if (grown == NULL)
                goto done;
            Py_DECREF(grown); /* (the list itself: ``pairs`` is still it) */
            Py_SETREF(count, PyNumber_Add(count, one));
            if (count == NULL)
                goto done;
        } else {
            Py_SETREF(count, PyObject_CallFunctionObjArgs(bucket_add_at_fn, pairs, fresh, NULL));
            if (count == NULL)
                goto done;
        }
        if (fast_set(self, s_count, count) < 0)
            goto done;
        PyObject *second = PySequence_GetItem(pairs, -2);
        if (second == NULL)
            goto done;
        int at = PyObject_RichCompareBool(second, fresh, Py_EQ);
        Py_DECREF(second);
        if (at < 0 || fast_set(self, s_fresh, at ? fresh : Py_None) < 0)
            goto done;
    }
    until = fast_get(self, s_until);
    if (until == NULL)
        goto done;
    cfg = fast_get(self, s_config);
    if (cfg == NULL)
        goto done;
    int start = PyObject_RichCompareBool(when, until, Py_GE);
    if (start < 0)
        goto done;
    if (start) {
        PyObject *failures = PyObject_GetAttr(cfg, s_failures);
        if (failures == NULL)
            goto done;
        start = PyObject_RichCompareBool(count, failures, Py_GE);
        Py_DECREF(failures);
        if (start < 0)
            goto done;
    }
    if (start) {
        PyObject *hold = PyObject_GetAttr(cfg, s_hold);
        if (hold == NULL)
            goto done;
        Py_SETREF(until, PyNumber_Add(when, hold));
        Py_DECREF(hold);
        if (until == NULL || fast_set(self, s_until, until) < 0)
            goto done;
        PyObject *none_yet = PyList_New(0);
        if (none_yet == NULL)
            goto done;
        int rc = fast_set(self, s_pairs, none_yet);
        Py_DECREF(none_yet);
        if (rc < 0 || fast_set(self, s_count, zero) < 0
            || fast_set(self, s_fresh, Py_None) < 0)
            goto done;
    }
    int under = PyObject_RichCompareBool(when, until, Py_LT);
    if (under < 0)
        goto done;
    if (under && !known) {
        PyObject *bantime = PyObject_GetAttr(cfg, s_bantime);
        if (bantime == NULL)
            goto done;
        out = one_verdict(r_attack, key, bantime, Py_None);
        Py_DECREF(bantime);
    } else {
        out = Py_NewRef(empty_tuple);
    }
done:
    Py_XDECREF(current);
    Py_XDECREF(pairs);
    Py_XDECREF(count);
    Py_XDECREF(fresh);
    Py_XDECREF(until);
    Py_XDECREF(cfg);
    return out;
}

/* ---- Apart: JailDetection.observe_apart ---- */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *good_networks; /* the known-good networks' __contains__, or None */
    PyObject *known_good;    /* KnownGood, or None */
    PyObject *crowd;         /* the list subnet's failures are held in, or None */
    PyObject *observers;     /* a tuple of (kind, object) */
    Py_ssize_t n;
    int kinds[8];
    PyObject *objects[8];    /* borrowed from ``observers`` */
} Apart;

static void
apart_dealloc(Apart *self)
{
    Py_XDECREF(self->good_networks);
    Py_XDECREF(self->known_good);
    Py_XDECREF(self->crowd);
    Py_XDECREF(self->observers);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
apart_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Apart *self = (Apart *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 3 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "observe_apart(key, user, when)");
        return NULL;
    }
    PyObject *key = args[0], *user = args[1], *when = args[2];
    PyObject *known = Py_NewRef(Py_False);
    if (user != Py_None && self->good_networks != Py_None) {
        Py_SETREF(known, PyObject_CallOneArg(self->good_networks, key));
        if (known == NULL)
            return NULL;
        int truth = PyObject_IsTrue(known);
        if (truth < 0) {
            Py_DECREF(known);
            return NULL;
        }
        if (truth) {
            if (self->known_good == Py_None) {
                Py_SETREF(known, Py_NewRef(Py_False));
            } else {
                Py_SETREF(known, PyObject_CallMethodObjArgs(self->known_good, s_holds, user,
                                                            key, when, NULL));
                if (known == NULL)
                    return NULL;
            }
        }
    }
    int known_true = PyObject_IsTrue(known);
    if (known_true < 0) {
        Py_DECREF(known);
        return NULL;
    }
    PyObject *seen = PyTuple_Pack(4, key, user, when, known);
    Py_DECREF(known);
    if (seen == NULL)
        return NULL;
    PyObject *verdicts = NULL;
    if (self->crowd != Py_None && !known_true && PyList_Append(self->crowd, seen) < 0)
        goto fail;
    verdicts = Py_NewRef(empty_tuple);
    for (Py_ssize_t i = 0; i < self->n; i++) {
        PyObject *obj = self->objects[i], *found;
        switch (self->kinds[i]) {
        case K_SLOW:
            found = slow_observe(obj, key, when);
            break;
        case K_ACCOUNT:
            if (user == Py_None || known_true)
                found = Py_NewRef(empty_tuple);
            else if (PyUnicode_CheckExact(user))
                found = account_observe(obj, key, user, when);
            else /* (not an account name the agent makes: the Python method's way) */
                found = PyObject_CallMethod(obj, "observe", "(O)", seen);
            break;
        case K_ATTACK:
            found = attack_observe(obj, key, when, known_true);
            break;
        default:
            found = PyObject_CallOneArg(obj, seen);
        }
        if (found == NULL)
            goto fail;
        int any = PyObject_IsTrue(found);
        if (any < 0) {
            Py_DECREF(found);
            goto fail;
        }
        if (any) {
            if (PyObject_IsTrue(verdicts)) {
                PyObject *both = PySequence_List(verdicts);
                if (both == NULL
                    || PyList_SetSlice(both, PyList_GET_SIZE(both), PyList_GET_SIZE(both),
                                       found) < 0) {
                    Py_XDECREF(both);
                    Py_DECREF(found);
                    goto fail;
                }
                Py_SETREF(verdicts, both);
                Py_DECREF(found);
            } else {
                Py_SETREF(verdicts, found);
            }
        } else {
            Py_DECREF(found);
        }
    }
    Py_DECREF(seen);
    return verdicts;
fail:
    Py_XDECREF(verdicts);
    Py_DECREF(seen);
    return NULL;
}

static PyObject *
apart_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *good_networks, *known_good, *crowd, *observers;
    static char *names[] = {"good_networks", "known_good", "crowd", "observers", NULL};
    if (ready() < 0)
        return NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO!:Apart", names, &good_networks,
                                     &known_good, &crowd, &PyTuple_Type, &observers))
        return NULL;
    if (crowd != Py_None && !PyList_CheckExact(crowd)) {
        PyErr_SetString(PyExc_TypeError, "crowd: a list or None");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(observers);
    if (n > 8) {
        PyErr_SetString(PyExc_ValueError, "at most 8 observers");
        return NULL;
    }
    Apart *self = (Apart *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->vectorcall = apart_call;
    self->good_networks = Py_NewRef(good_networks);
    self->known_good = Py_NewRef(known_good);
    self->crowd = Py_NewRef(crowd);
    self->observers = Py_NewRef(observers);
    self->n = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyTuple_GET_ITEM(observers, i);
        long kind;
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2
            || (kind = PyLong_AsLong(PyTuple_GET_ITEM(pair, 0))) < K_CALL || kind > K_ATTACK) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "observers: (kind 0-3, object) pairs");
            Py_DECREF(self);
            return NULL;
        }
        self->kinds[i] = (int)kind;
        self->objects[i] = PyTuple_GET_ITEM(pair, 1);
        self->n = i + 1;
    }
    return (PyObject *)self;
}

static PyObject *
apart_vectorcall_entry(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return PyVectorcall_Call(self, args, kwargs);
}

static PyTypeObject ApartType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "journalban.jails._detectors.Apart",
    .tp_basicsize = sizeof(Apart),
    .tp_dealloc = (destructor)apart_dealloc,
    .tp_vectorcall_offset = offsetof(Apart, vectorcall),
    .tp_call = apart_vectorcall_entry,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "JailDetection.observe_apart in C: Apart(good_networks, known_good, crowd, "
              "observers)(key, user, when)",
    .tp_new = apart_new,
};

static PyObject *
setup(PyObject *module, PyObject *args)
{
    PyObject *verdict, *add_at, *distinct, *key_fn, *nbuckets, *slow, *account, *attack;
    Py_ssize_t max;
    (void)module;
    if (!PyArg_ParseTuple(args, "OOOOnOUUU:setup", &verdict, &add_at, &distinct, &key_fn, &max,
                          &nbuckets, &slow, &account, &attack))
        return NULL;
    if (max < 1) {
        PyErr_SetString(PyExc_ValueError, "account_max must be positive");
        return NULL;
    }
    Py_XSETREF(verdict_type, Py_NewRef(verdict));
    Py_XSETREF(bucket_add_at_fn, Py_NewRef(add_at));
    Py_XSETREF(note_distinct_fn, Py_NewRef(distinct));
    Py_XSETREF(account_key_fn, Py_NewRef(key_fn));
    account_max = max;
    Py_XSETREF(buckets, Py_NewRef(nbuckets));
    Py_XSETREF(r_slow, Py_NewRef(slow));
    Py_XSETREF(r_account, Py_NewRef(account));
    Py_XSETREF(r_attack, Py_NewRef(attack));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS,
     "setup(Verdict, bucket_add_at, note_distinct, account_key, ACCOUNT_MAX, BUCKETS, SLOW, "
     "ACCOUNT, ATTACK_MODE)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "journalban.jails._detectors",
    "The detectors' per-failure work in C (jails.nativedetect).", -1, methods,
    NULL, NULL, NULL, NULL,
};

#define INTERN(var, text)                                                                   \
    do {                                                                                    \
        if ((var = PyUnicode_InternFromString(text)) == NULL)                               \
            return NULL;                                                                    \
    } while (0)

PyMODINIT_FUNC
PyInit__detectors(void)
{
    INTERN(s_width, "width");
    INTERN(s_bucket, "_bucket");
    INTERN(s_keys, "keys");
    INTERN(s_kept, "kept");
    INTERN(s_dirty, "dirty");
    INTERN(s_cap, "cap");
    INTERN(s_config, "config");
    INTERN(s_maxretry, "maxretry");
    INTERN(s_bantime, "bantime");
    INTERN(s_add, "add");
    INTERN(s_drop, "drop");
    INTERN(s_pop, "pop");
    INTERN(s_ignored, "ignored");
    INTERN(s_attacked, "attacked");
    INTERN(s_seen, "seen");
    INTERN(s_addresses, "addresses");
    INTERN(s_findtime, "findtime");
    INTERN(s_hold, "hold");
    INTERN(s_touch, "touch");
    INTERN(s_dirty_flag, "_dirty");
    INTERN(s_fresh, "_fresh");
    INTERN(s_pairs, "pairs");
    INTERN(s_count, "_count");
    INTERN(s_until, "until");
    INTERN(s_failures, "failures");
    INTERN(s_holds, "holds");
    if ((one = PyLong_FromLong(1)) == NULL || (two = PyLong_FromLong(2)) == NULL
        || (zero = PyLong_FromLong(0)) == NULL || (empty_tuple = PyTuple_New(0)) == NULL)
        return NULL;
    if (PyType_Ready(&ApartType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Apart", (PyObject *)&ApartType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
