/* A network's first ban in C (issue 19): decisions.plainban's ``PlainBans.ban`` with
 * addresses.stored_network_text's IPv4 /32 path before it, and banmaker's ``Ban`` makers.
 *
 * An accelerator: decisions.nativeban checks what it builds against the Python path at
 * import (and the Python path is used where it differs, or with JOURNALBAN_NATIVE_BANS=0).
 * It works on the very objects the Python path does (the PlainBans' slots, the dicts, the
 * FirstBans run), through their ordinary protocols, so the rest of the agent is unchanged.
 *
 * setup() is given the types and the Python helpers once; a Ban's slots are filled at the
 * offsets of its member descriptors, each checked to lie in the object. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <arpa/inet.h>

#define N_FIELDS 10
static const char *const FIELD_NAMES[N_FIELDS] = {
    "jail", "network", "banned_at", "expires_at", "ban_count",
    "reason", "failures", "source", "lines", "account",
};
enum { F_JAIL, F_NETWORK, F_BANNED_AT, F_EXPIRES_AT, F_BAN_COUNT,
       F_REASON, F_FAILURES, F_SOURCE, F_LINES, F_ACCOUNT };

/* What setup() was given (strong references, for the process's life). */
static PyTypeObject *ban_type = NULL;
static Py_ssize_t ban_offsets[N_FIELDS];
static PyTypeObject *addr_type = NULL; /* ipaddress.IPv4Address */
static Py_ssize_t addr_ip_offset = -1;
static PyTypeObject *host_type = NULL; /* netobjects._HostV4 */
static PyObject *netmask = NULL;       /* the /32's netmask, shared as Python shares it */
static PyObject *jail_bantime = NULL;  /* config.detectors.JAIL_BANTIME */
static Py_ssize_t line_chars = 0;      /* recentlines.LINE_CHARS */
static PyObject *cut_fn = NULL;        /* recentlines.cut */
static PyObject *spent_lines_fn = NULL;   /* plainban.spent_lines */
static PyObject *stored_text_fn = NULL;   /* addresses.stored_network_text */
static PyObject *neg_inf = NULL;
static PyObject *empty_tuple = NULL;
static PyObject *empty_str = NULL;
static PyObject *one = NULL;
static PyObject *thirty_two = NULL;

/* Interned attribute names. */
static PyObject *s_known, *s_bantime, *s_pending, *s_unsaved, *s_sealed, *s_recent,
    *s_held, *s_rt, *s_jail, *s_virtual, *s_lineless, *s_first, *s_run, *s_start,
    *s_commit, *s_changes, *s_texts, *s_ended, *s_network_address, *s_netmask,
    *s_prefixlen, *s_hash, *s_text;

static int
member_offset(PyTypeObject *type, const char *name, Py_ssize_t *offset)
{
    PyObject *descr = PyDict_GetItemString(type->tp_dict, name); /* borrowed */
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, name);
        return -1;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
    if (m->type != T_OBJECT_EX || (m->flags & READONLY) || m->offset < (Py_ssize_t)sizeof(PyObject)
        || m->offset + (Py_ssize_t)sizeof(PyObject *) > type->tp_basicsize) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not an object slot", type->tp_name, name);
        return -1;
    }
    *offset = m->offset;
    return 0;
}

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* One place reading an attribute (of the PlainBans, its FirstBans): from the object's slot
 * where getattr would read that slot as it is (the generic getattr, a member descriptor of
 * an object slot without an audit hook, found on the type as getattr finds it), for as long
 * as the type is the one seen and unchanged (its version tag); else by getattr. A ban
 * read some twenty of them: about 120 instructions each by getattr, a few from the slot. */
typedef struct {
    PyTypeObject *type; /* (a reference) the type seen last, or NULL */
    unsigned int tag;   /* its version tag then; 0: none, read by getattr */
    Py_ssize_t offset;  /* the slot's offset, or -1: read by getattr */
} Site;

static void
site_fill(Site *site, PyTypeObject *type, PyObject *name)
{
    Py_XSETREF(site->type, (PyTypeObject *)Py_NewRef(type));
    site->offset = -1;
    if (type->tp_getattro == PyObject_GenericGetAttr) {
        PyObject *descr = _PyType_Lookup(type, name); /* (borrowed; no error) */
        if (descr != NULL && Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
            if (m->type == T_OBJECT_EX && !(m->flags & PY_AUDIT_READ)
                && m->offset >= (Py_ssize_t)sizeof(PyObject)
                && m->offset + (Py_ssize_t)sizeof(PyObject *) <= type->tp_basicsize)
                site->offset = m->offset;
        }
    }
    /* (looked up: the type has a version tag now, unless it cannot have one) */
    site->tag = PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) ? type->tp_version_tag : 0;
}

/* ``getattr(obj, name)`` (a new reference), from its slot where ``site`` allows. */
static inline PyObject *
read_attr(PyObject *obj, PyObject *name, Site *site)
{
    PyTypeObject *type = Py_TYPE(obj);
    if (type != site->type || site->tag == 0 || type->tp_version_tag != site->tag
        || !PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG))
        site_fill(site, type, name);
    if (site->offset >= 0 && site->tag != 0) {
        PyObject *value = SLOT(obj, site->offset);
        if (value != NULL)
            return Py_NewRef(value);
    }
    return PyObject_GetAttr(obj, name); /* (an unset slot: its AttributeError) */
}

/* The PlainBans', the FirstBans' and a held Ban's attributes, each read at its own site. */
enum { P_KNOWN, P_BANTIME, P_PENDING, P_UNSAVED, P_SEALED, P_RECENT, P_RT, P_JAIL, P_VIRTUAL,
       P_LINELESS, P_FIRST, P_COMMIT, P_CHANGES, P_TEXTS, FB_RUN, FB_TEXTS, FB_ENDED,
       B_BANNED_AT, B_EXPIRES_AT, N_SITES };
static Site sites[N_SITES];
#define PLAIN(obj, name, at) read_attr((obj), (name), &sites[(at)])

static PyObject *
banrun_setup(PyObject *self, PyObject *args)
{
    PyObject *bt, *at, *ht, *mask, *jb, *cut, *spent, *stored;
    Py_ssize_t chars;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!O!OOnOOO:setup", &PyType_Type, &bt, &PyType_Type, &at,
                          &PyType_Type, &ht, &mask, &jb, &chars, &cut, &spent, &stored))
        return NULL;
    PyTypeObject *btype = (PyTypeObject *)bt, *atype = (PyTypeObject *)at,
                 *htype = (PyTypeObject *)ht;
    Py_ssize_t offsets[N_FIELDS], ip_offset;
    if (btype->tp_new != PyBaseObject_Type.tp_new || atype->tp_new != PyBaseObject_Type.tp_new
        || htype->tp_new != PyBaseObject_Type.tp_new) {
        PyErr_SetString(PyExc_TypeError, "a type with its own __new__");
        return NULL;
    }
    if (btype->tp_dictoffset != 0 || atype->tp_dictoffset != 0) {
        PyErr_SetString(PyExc_TypeError, "a slotted type with a __dict__");
        return NULL;
    }
    if (!(htype->tp_flags & Py_TPFLAGS_HEAPTYPE) || htype->tp_setattro != PyObject_GenericSetAttr) {
        PyErr_SetString(PyExc_TypeError, "a network type with its own __setattr__");
        return NULL;
    }
    for (int i = 0; i < N_FIELDS; i++) {
        if (member_offset(btype, FIELD_NAMES[i], &offsets[i]) < 0)
            return NULL;
        for (int j = 0; j < i; j++) {
            if (offsets[j] == offsets[i]) {
                PyErr_SetString(PyExc_TypeError, "two fields in one slot");
                return NULL;
            }
        }
    }
    if (member_offset(atype, "_ip", &ip_offset) < 0)
        return NULL;
    if (!PyCallable_Check(cut) || !PyCallable_Check(spent) || !PyCallable_Check(stored)
        || chars < 1) {
        PyErr_SetString(PyExc_TypeError, "setup: bad helpers");
        return NULL;
    }
    Py_XSETREF(ban_type, (PyTypeObject *)Py_NewRef(bt));
    memcpy(ban_offsets, offsets, sizeof offsets);
    Py_XSETREF(addr_type, (PyTypeObject *)Py_NewRef(at));
    addr_ip_offset = ip_offset;
    Py_XSETREF(host_type, (PyTypeObject *)Py_NewRef(ht));
    Py_XSETREF(netmask, Py_NewRef(mask));
    Py_XSETREF(jail_bantime, Py_NewRef(jb));
    line_chars = chars;
    Py_XSETREF(cut_fn, Py_NewRef(cut));
    Py_XSETREF(spent_lines_fn, Py_NewRef(spent));
    Py_XSETREF(stored_text_fn, Py_NewRef(stored));
    Py_RETURN_NONE;
}

static int
ready(void)
{
    if (ban_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_banrun.setup() not called");
        return 0;
    }
    return 1;
}

/* A Ban with every slot filled (new references taken); NULL on error. */
static PyObject *
make_ban(PyObject *const *f)
{
    PyObject *ban = PyBaseObject_Type.tp_new(ban_type, empty_tuple, NULL);
    if (ban == NULL)
        return NULL;
    for (int i = 0; i < N_FIELDS; i++) {
        PyObject *old = SLOT(ban, ban_offsets[i]);
        SLOT(ban, ban_offsets[i]) = Py_NewRef(f[i]);
        Py_XDECREF(old);
    }
    return ban;
}

static PyObject *
banrun_new_ban(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!ready())
        return NULL;
    if (nargs != N_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "new_ban takes 10 arguments");
        return NULL;
    }
    return make_ban(args);
}

/* (ban, the same without its lines) */
static PyObject *
make_pair(PyObject *const *f)
{
    PyObject *bare_fields[N_FIELDS];
    PyObject *ban = make_ban(f);
    if (ban == NULL)
        return NULL;
    memcpy(bare_fields, f, sizeof bare_fields);
    bare_fields[F_LINES] = empty_tuple;
    PyObject *bare = make_ban(bare_fields);
    if (bare == NULL) {
        Py_DECREF(ban);
        return NULL;
    }
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(ban);
        Py_DECREF(bare);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, ban);
    PyTuple_SET_ITEM(pair, 1, bare);
    return pair;
}

static PyObject *
banrun_new_ban_pair(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!ready())
        return NULL;
    if (nargs != N_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "new_ban_pair takes 10 arguments");
        return NULL;
    }
    return make_pair(args);
}

/* The value of "a.b.c.d/32" in canonical form (decimal octets up to 255, no leading zero,
 * nothing else), or -1: any other text goes the Python way. */
static long long
v4_host_value(PyObject *text)
{
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_ASCII(text))
        return -1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const char *s = (const char *)PyUnicode_DATA(text);
    if (n < 10 || n > 18 || memcmp(s + n - 3, "/32", 3) != 0)
        return -1;
    n -= 3;
    unsigned long long value = 0;
    int parts = 0;
    Py_ssize_t i = 0;
    while (parts < 4) {
        if (i >= n || s[i] < '0' || s[i] > '9')
            return -1;
        Py_ssize_t start = i;
        unsigned octet = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
            octet = octet * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        if (octet > 255 || (s[start] == '0' && i - start > 1))
            return -1;
        value = (value << 8) | octet;
        parts++;
        if (parts < 4) {
            if (i >= n || s[i] != '.')
                return -1;
            i++;
        }
    }
    return i == n ? (long long)value : -1;
}

/* The /32 of ``value``, filled as netobjects._host_v4_maker fills it, with ``text`` kept. */
static PyObject *
host_network(unsigned long value, PyObject *text)
{
    PyObject *ip = NULL, *address = NULL, *net = NULL, *hash = NULL;
    ip = PyLong_FromUnsignedLong(value);
    if (ip == NULL)
        goto fail;
    address = PyBaseObject_Type.tp_new(addr_type, empty_tuple, NULL);
    if (address == NULL)
        goto fail;
    {
        PyObject *old = SLOT(address, addr_ip_offset);
        SLOT(address, addr_ip_offset) = ip; /* (the reference moved) */
        ip = NULL;
        Py_XDECREF(old);
    }
    net = PyBaseObject_Type.tp_new(host_type, empty_tuple, NULL);
    if (net == NULL)
        goto fail;
    /* hash(value ^ 0xFFFFFFFF): an int below 2**32 hashes as itself */
    hash = PyLong_FromUnsignedLong(value ^ 0xFFFFFFFFUL);
    if (hash == NULL)
        goto fail;
    /* In __init__'s order, as the Python maker: the same inline values. */
    if (PyObject_SetAttr(net, s_network_address, address) < 0
        || PyObject_SetAttr(net, s_netmask, netmask) < 0
        || PyObject_SetAttr(net, s_prefixlen, thirty_two) < 0
        || PyObject_SetAttr(net, s_hash, hash) < 0 || PyObject_SetAttr(net, s_text, text) < 0)
        goto fail;
    Py_DECREF(address);
    Py_DECREF(hash);
    return net;
fail:
    Py_XDECREF(ip);
    Py_XDECREF(address);
    Py_XDECREF(net);
    Py_XDECREF(hash);
    return NULL;
}

/* The module whose ``network_64`` addresses.stored_network_text calls for an IPv6 /64 key
 * (journalban.v6keys, read at each call as the Python function reads it: ``use`` switches
 * it), or NULL where that path is not taken (netobjects has no v6_prefix). */
static PyObject *v6keys_module = NULL;
static PyObject *s_network_64 = NULL;

/* ``v6keys.network_64(text)`` where stored_network_text asks it (``text.endswith("::/64")
 * and "." not in text``, its path for an IPv6 /64): a new reference to the network, Py_None
 * where it gave None or is not asked, NULL on error. */
static PyObject *
network_64(PyObject *text)
{
    if (v6keys_module == NULL || !PyUnicode_CheckExact(text))
        return Py_NewRef(Py_None);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n < 5 || PyUnicode_READ_CHAR(text, n - 1) != '4')
        return Py_NewRef(Py_None);
    PyObject *tail = PyUnicode_Substring(text, n - 5, n);
    if (tail == NULL)
        return NULL;
    int ends = PyUnicode_CompareWithASCIIString(tail, "::/64") == 0;
    Py_DECREF(tail);
    if (!ends)
        return Py_NewRef(Py_None);
    Py_ssize_t dot = PyUnicode_FindChar(text, '.', 0, n, 1);
    if (dot != -1)
        return dot == -2 ? NULL : Py_NewRef(Py_None);
    PyObject *fn = PyObject_GetAttr(v6keys_module, s_network_64);
    if (fn == NULL)
        return NULL;
    PyObject *net = PyObject_CallOneArg(fn, text);
    Py_DECREF(fn);
    return net;
}

/* addresses.stored_network_text(text) as a new (network, text) tuple. */
static PyObject *
network_text(PyObject *text)
{
    long long value = v4_host_value(text);
    PyObject *net;
    if (value < 0) {
        if ((net = network_64(text)) == NULL)
            return NULL;
        if (net == Py_None) {
            Py_DECREF(net);
            return PyObject_CallOneArg(stored_text_fn, text);
        }
    } else if ((net = host_network((unsigned long)value, text)) == NULL) {
        return NULL;
    }
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(net);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, net);
    PyTuple_SET_ITEM(pair, 1, Py_NewRef(text));
    return pair;
}

static PyObject *
banrun_network_text(PyObject *self, PyObject *text)
{
    (void)self;
    if (!ready())
        return NULL;
    return network_text(text);
}

/* 1: ``obj in container``; 0: not; -1: error. */
static int
contains(PyObject *container, PyObject *obj)
{
    if (PyDict_CheckExact(container))
        return PyDict_Contains(container, obj);
    if (PyAnySet_CheckExact(container))
        return PySet_Contains(container, obj);
    return PySequence_Contains(container, obj);
}

/* ``(line if len(line) <= LINE_CHARS else cut(line),)`` */
static PyObject *
one_line(PyObject *line)
{
    Py_ssize_t n = PyObject_Length(line);
    if (n < 0)
        return NULL;
    PyObject *kept = n <= line_chars ? Py_NewRef(line) : PyObject_CallOneArg(cut_fn, line);
    if (kept == NULL)
        return NULL;
    PyObject *lines = PyTuple_New(1);
    if (lines == NULL) {
        Py_DECREF(kept);
        return NULL;
    }
    PyTuple_SET_ITEM(lines, 0, kept);
    return lines;
}

/* The ban's lines taken (plainban.PlainBans.ban's first steps), a new tuple. */
static PyObject *
take_lines(PyObject *plain, PyObject *key)
{
    PyObject *recent = PLAIN(plain, s_recent, P_RECENT);
    if (recent == NULL)
        return NULL;
    PyObject *result = NULL;
    PyObject *held = PyObject_GetAttr(recent, s_held);
    if (held == NULL)
        goto done;
    if (held != Py_None) {
        PyObject *first = PySequence_GetItem(held, 0);
        if (first == NULL)
            goto done;
        int same = PyObject_RichCompareBool(first, key, Py_EQ);
        Py_DECREF(first);
        if (same < 0)
            goto done;
        if (same) {
            if (PyObject_SetAttr(recent, s_held, Py_None) < 0)
                goto done;
            PyObject *line = PySequence_GetItem(held, 1);
            if (line == NULL)
                goto done;
            result = one_line(line);
            Py_DECREF(line);
            goto done;
        }
    }
    {
        PyObject *rt = PLAIN(plain, s_rt, P_RT);
        if (rt == NULL)
            goto done;
        result = PyObject_CallFunctionObjArgs(spent_lines_fn, rt, key, NULL);
        Py_DECREF(rt);
        if (result != NULL && !PyTuple_Check(result)) {
            Py_SETREF(result, PySequence_Tuple(result));
        }
    }
done:
    Py_XDECREF(held);
    Py_DECREF(recent);
    return result;
}

/* The run entry's bookkeeping (``PlainBans.ban``'s last steps). 0, or -1 on error. */
static int
enter_run(PyObject *plain, PyObject *key, PyObject *text, PyObject *network, PyObject *when,
          PyObject *expires, PyObject *ban, PyObject *kept, PyObject *lines, PyObject *jail,
          PyObject *pending)
{
    int rc = -1;
    PyObject *first = NULL, *run = NULL, *entry = NULL;
    if (PyObject_SetItem(pending, text, one) < 0)
        return -1;
    first = PLAIN(plain, s_first, P_FIRST);
    if (first == NULL)
        goto done;
    run = PLAIN(first, s_run, FB_RUN);
    if (run == NULL)
        goto done;
    int nonempty = PyObject_IsTrue(run);
    if (nonempty < 0)
        goto done;
    if (!nonempty) {
        PyObject *commit = PLAIN(plain, s_commit, P_COMMIT);
        PyObject *changes = commit ? PLAIN(plain, s_changes, P_CHANGES) : NULL;
        PyObject *texts = changes ? PLAIN(plain, s_texts, P_TEXTS) : NULL;
        PyObject *r = NULL;
        if (texts != NULL)
            r = PyObject_CallMethodObjArgs(first, s_start, jail, commit, changes, texts, NULL);
        Py_XDECREF(commit);
        Py_XDECREF(changes);
        Py_XDECREF(texts);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
    }
    if (kept == Py_None) {
        PyObject *ended = PLAIN(first, s_ended, FB_ENDED);
        if (ended == NULL)
            goto done;
        PyObject *more = PyNumber_Add(ended, one);
        Py_DECREF(ended);
        if (more == NULL)
            goto done;
        int bad = PyObject_SetAttr(first, s_ended, more);
        Py_DECREF(more);
        if (bad < 0)
            goto done;
    } else {
        PyObject *texts = PLAIN(first, s_texts, FB_TEXTS);
        if (texts == NULL)
            goto done;
        int bad = PyObject_SetItem(texts, text, kept);
        Py_DECREF(texts);
        if (bad < 0)
            goto done;
    }
    entry = PyTuple_Pack(8, key, text, network, when, expires, ban, kept, lines);
    if (entry == NULL)
        goto done;
    /* (the run read again: ``first.start`` may not have replaced it, but read as Python) */
    Py_SETREF(run, PLAIN(first, s_run, FB_RUN));
    if (run == NULL)
        goto done;
    if (PyList_CheckExact(run)) {
        if (PyList_Append(run, entry) < 0)
            goto done;
    } else {
        PyObject *r = PyObject_CallMethod(run, "append", "O", entry);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
    }
    rc = 0;
done:
    Py_XDECREF(entry);
    Py_XDECREF(run);
    Py_XDECREF(first);
    return rc;
}

/* PlainBans.ban of (network, text) = stored_network_text(key): 1 done, 0 not a plain
 * ban (nothing done), -1 error. */
static int
plain_ban(PyObject *plain, PyObject *key, PyObject *network, PyObject *text, PyObject *when,
          PyObject *failures, PyObject *source, PyObject *now, PyObject *reason,
          PyObject *bantime, PyObject *account)
{
    int rc = -1;
    PyObject *known = NULL, *base = NULL, *expires = NULL, *pending = NULL, *group = NULL,
             *lines = NULL, *jail = NULL, *ban = NULL, *kept = NULL;
    known = PLAIN(plain, s_known, P_KNOWN);
    if (known == NULL)
        return -1;
    if (known == Py_None) {
        rc = 0;
        goto done;
    }
    {
        PyObject *eq = PyObject_RichCompare(bantime, jail_bantime, Py_EQ);
        if (eq == NULL)
            goto done;
        int is_jail = PyObject_IsTrue(eq);
        Py_DECREF(eq);
        if (is_jail < 0)
            goto done;
        base = is_jail ? PLAIN(plain, s_bantime, P_BANTIME) : Py_NewRef(bantime);
        if (base == NULL)
            goto done;
    }
    if (base == Py_None) {
        rc = 0;
        goto done;
    }
    expires = PyNumber_Add(when, base);
    if (expires == NULL)
        goto done;
    pending = PLAIN(plain, s_pending, P_PENDING);
    if (pending == NULL)
        goto done;
    {
        int in;
        if ((in = contains(known, text)) != 0) {
            rc = in < 0 ? -1 : 0;
            goto done;
        }
        if ((in = contains(pending, text)) != 0) {
            rc = in < 0 ? -1 : 0;
            goto done;
        }
        if ((group = PLAIN(plain, s_unsaved, P_UNSAVED)) == NULL)
            goto done;
        if ((in = contains(group, text)) != 0) {
            rc = in < 0 ? -1 : 0;
            goto done;
        }
        Py_SETREF(group, PLAIN(plain, s_sealed, P_SEALED));
        if (group == NULL)
            goto done;
        if ((in = contains(group, text)) != 0) {
            rc = in < 0 ? -1 : 0;
            goto done;
        }
    }
    lines = take_lines(plain, key);
    if (lines == NULL)
        goto done;
    jail = PLAIN(plain, s_jail, P_JAIL);
    if (jail == NULL)
        goto done;
    int truthy = PyObject_IsTrue(account);
    if (truthy < 0)
        goto done;
    PyObject *fields[N_FIELDS] = {jail, network, when, expires, one, reason, failures,
                                  source, lines, truthy ? account : empty_str};
    PyObject *cmp = PyObject_RichCompare(expires, now, Py_LE);
    if (cmp == NULL)
        goto done;
    int ended = PyObject_IsTrue(cmp);
    Py_DECREF(cmp);
    if (ended < 0)
        goto done;
    if (ended) {
        /* Ended by the clock when decided: a virtual ban over its span at once. */
        ban = make_ban(fields);
        if (ban == NULL)
            goto done;
        kept = Py_NewRef(Py_None);
        PyObject *virtual = PLAIN(plain, s_virtual, P_VIRTUAL);
        if (virtual == NULL)
            goto done;
        PyObject *where = PyTuple_Pack(2, jail, key);
        PyObject *span = where ? PyTuple_Pack(2, neg_inf, expires) : NULL;
        int bad = span == NULL || PyObject_SetItem(virtual, where, span) < 0;
        Py_XDECREF(where);
        Py_XDECREF(span);
        Py_DECREF(virtual);
        if (bad)
            goto done;
    } else {
        PyObject *lineless_o = PLAIN(plain, s_lineless, P_LINELESS);
        if (lineless_o == NULL)
            goto done;
        int lineless = PyObject_IsTrue(lineless_o);
        Py_DECREF(lineless_o);
        if (lineless < 0)
            goto done;
        if (PyTuple_GET_SIZE(lines) && !lineless) {
            PyObject *pair = make_pair(fields);
            if (pair == NULL)
                goto done;
            ban = Py_NewRef(PyTuple_GET_ITEM(pair, 0));
            kept = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
            Py_DECREF(pair);
        } else {
            fields[F_LINES] = empty_tuple;
            ban = make_ban(fields);
            if (ban == NULL)
                goto done;
            kept = Py_NewRef(ban);
        }
    }
    if (enter_run(plain, key, text, network, when, expires, ban, kept, lines, jail, pending) < 0)
        goto done;
    rc = 1;
done:
    Py_XDECREF(known);
    Py_XDECREF(base);
    Py_XDECREF(expires);
    Py_XDECREF(pending);
    Py_XDECREF(group);
    Py_XDECREF(lines);
    Py_XDECREF(jail);
    Py_XDECREF(ban);
    Py_XDECREF(kept);
    return rc;
}

/* first_ban(plain, key, when, failures, source, now, reason, bantime, account):
 * ``network, text = stored_network_text(key)`` then ``plain.ban(key, network, text, ...)``;
 * None when it banned, else (network, text) for the general steps. */
static PyObject *
banrun_first_ban(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!ready())
        return NULL;
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "first_ban takes 9 arguments");
        return NULL;
    }
    PyObject *found = network_text(args[1]);
    if (found == NULL)
        return NULL;
    if (!PyTuple_CheckExact(found) || PyTuple_GET_SIZE(found) != 2) {
        Py_DECREF(found);
        PyErr_SetString(PyExc_TypeError, "stored_network_text gave no pair");
        return NULL;
    }
    int done = plain_ban(args[0], args[1], PyTuple_GET_ITEM(found, 0),
                         PyTuple_GET_ITEM(found, 1), args[2], args[3], args[4], args[5],
                         args[6], args[7], args[8]);
    if (done < 0) {
        Py_DECREF(found);
        return NULL;
    }
    if (done) {
        Py_DECREF(found);
        Py_RETURN_NONE;
    }
    return found;
}

/* ``verdict_reason == name`` for a str: 1, 0, -1. */
static int
same_text(PyObject *a, PyObject *b)
{
    return a == b ? 1 : PyObject_RichCompareBool(a, b, Py_EQ);
}

/* ``a <= b`` (op Py_LE) or ``a < b`` (Py_LT) as Python says it: 1, 0, -1. */
static int
less(PyObject *a, PyObject *b, int op)
{
    if (PyFloat_CheckExact(a) && PyFloat_CheckExact(b)) {
        double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
        return op == Py_LE ? x <= y : x < y;
    }
    return PyObject_RichCompareBool(a, b, op);
}

/* ``mapping.get(key)``: a new reference, Py_None when absent, NULL on error. */
static PyObject *
get_item(PyObject *mapping, PyObject *key)
{
    if (PyDict_CheckExact(mapping)) {
        PyObject *found = PyDict_GetItemWithError(mapping, key);
        if (found == NULL)
            return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
        return Py_NewRef(found);
    }
    return PyObject_CallMethod(mapping, "get", "O", key);
}

/* setup_64(v6keys or None): the module whose network_64 a /64 key's network is made by,
 * None where stored_network_text takes no such path. */
static PyObject *
banrun_setup_64(PyObject *self, PyObject *module)
{
    (void)self;
    if (module != Py_None && !PyModule_Check(module)) {
        PyErr_SetString(PyExc_TypeError, "setup_64 takes a module or None");
        return NULL;
    }
    Py_XSETREF(v6keys_module, module == Py_None ? NULL : Py_NewRef(module));
    Py_RETURN_NONE;
}

static PyObject *subnet_reason = NULL, *account_reason = NULL;
static PyObject *s_plain, *s_plain_bans, *s_ban_generally, *s_apply_verdicts, *s_detection,
    *s_good_networks, *s_spares, *s_banned_at, *s_expires_at;

static PyObject *
banrun_setup_verdicts(PyObject *self, PyObject *args)
{
    PyObject *subnet, *account;
    (void)self;
    if (!PyArg_ParseTuple(args, "UU:setup_verdicts", &subnet, &account))
        return NULL;
    Py_XSETREF(subnet_reason, Py_NewRef(subnet));
    Py_XSETREF(account_reason, Py_NewRef(account));
    Py_RETURN_NONE;
}

/* 1: the verdict needs no ban (spared, banned, virtually banned); 0: ban it; -1. */
static int
verdict_skipped(PyObject *detection, PyObject *good, PyObject *reason, PyObject *key,
                PyObject *account, PyObject *when, PyObject *banned, PyObject *virtual,
                int has_virtual)
{
    if (good != Py_None) {
        int is_account = same_text(reason, account_reason);
        if (is_account < 0)
            return -1;
        if (is_account) {
            PyObject *r = PyObject_CallOneArg(good, key);
            if (r == NULL)
                return -1;
            int known = PyObject_IsTrue(r);
            Py_DECREF(r);
            if (known < 0)
                return -1;
            if (known && detection != Py_None) {
                r = PyObject_CallMethodObjArgs(detection, s_spares, account, key, when, NULL);
                if (r == NULL)
                    return -1;
                int spared = PyObject_IsTrue(r);
                Py_DECREF(r);
                if (spared != 0)
                    return spared;
            }
        }
    }
    PyObject *ban = get_item(banned, key);
    if (ban == NULL)
        return -1;
    if (ban != Py_None) {
        int held = 0;
        PyObject *at = PLAIN(ban, s_banned_at, B_BANNED_AT);
        if (at == NULL)
            goto ban_error;
        held = less(at, when, Py_LE);
        Py_DECREF(at);
        if (held < 0)
            goto ban_error;
        if (held) {
            PyObject *until = PLAIN(ban, s_expires_at, B_EXPIRES_AT);
            if (until == NULL)
                goto ban_error;
            held = until == Py_None ? 1 : less(when, until, Py_LT);
            Py_DECREF(until);
            if (held < 0)
                goto ban_error;
        }
        Py_DECREF(ban);
        if (held)
            return 1;
        goto virtual_check;
ban_error:
        Py_DECREF(ban);
        return -1;
    }
    Py_DECREF(ban);
virtual_check:
    if (!has_virtual)
        return 0;
    PyObject *span = get_item(virtual, key);
    if (span == NULL)
        return -1;
    int within = 0;
    if (span != Py_None) {
        PyObject *since = PySequence_GetItem(span, 0);
        within = since == NULL ? -1 : less(since, when, Py_LE);
        Py_XDECREF(since);
        if (within > 0) {
            PyObject *until = PySequence_GetItem(span, 1);
            within = until == NULL ? -1 : less(when, until, Py_LT);
            Py_XDECREF(until);
        }
    }
    Py_DECREF(span);
    return within;
}

/* apply_verdicts(engine, rt, verdicts, when, source, commit, changes, now, banned,
 * virtual): ``BanDeciding._apply_verdicts``, in C for verdicts of no subnet (a subnet
 * verdict: the Python method does the whole call). */
static PyObject *
banrun_apply_verdicts(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!ready() || subnet_reason == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "_banrun.setup_verdicts() not called");
        return NULL;
    }
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "apply_verdicts takes 10 arguments");
        return NULL;
    }
    PyObject *engine = args[0], *rt = args[1], *verdicts = args[2], *when = args[3],
             *source = args[4], *commit = args[5], *changes = args[6], *now = args[7],
             *banned = args[8], *virtual = args[9];
    int python = !PyList_CheckExact(verdicts) && !PyTuple_CheckExact(verdicts);
    for (Py_ssize_t i = 0; !python && i < PySequence_Fast_GET_SIZE(verdicts); i++) {
        PyObject *v = PySequence_Fast_GET_ITEM(verdicts, i);
        if (!PyTuple_CheckExact(v) || PyTuple_GET_SIZE(v) != 6) {
            python = 1;
            break;
        }
        int subnet = same_text(PyTuple_GET_ITEM(v, 0), subnet_reason);
        if (subnet < 0)
            return NULL;
        python = subnet;
    }
    if (python) {
        return PyObject_VectorcallMethod(s_apply_verdicts, (PyObject *[]){engine, rt, verdicts,
                                         when, source, commit, changes, now, banned, virtual},
                                         10, NULL);
    }
    int has_virtual = PyObject_IsTrue(virtual);
    if (has_virtual < 0)
        return NULL;
    PyObject *detection = NULL, *good = NULL, *spent = NULL, *held = NULL;
    detection = PyObject_GetAttr(rt, s_detection);
    if (detection == NULL)
        return NULL;
    good = detection == Py_None ? Py_NewRef(Py_None) : PyObject_GetAttr(detection, s_good_networks);
    if (good == NULL)
        goto fail;
    spent = PyList_New(0);
    if (spent == NULL)
        goto fail;
    /* (the verdicts held: a callback may drop the caller's list) */
    held = Py_NewRef(verdicts);
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(held); i++) {
        PyObject *v = PySequence_Fast_GET_ITEM(held, i);
        if (!PyTuple_CheckExact(v) || PyTuple_GET_SIZE(v) != 6) {
            PyErr_SetString(PyExc_TypeError, "a verdict is not a 6-tuple");
            goto fail;
        }
        Py_INCREF(v);
        PyObject *reason = PyTuple_GET_ITEM(v, 0), *key = PyTuple_GET_ITEM(v, 1),
                 *count = PyTuple_GET_ITEM(v, 2), *bantime = PyTuple_GET_ITEM(v, 3),
                 *account = PyTuple_GET_ITEM(v, 4);
        int skip = verdict_skipped(detection, good, reason, key, account, when, banned, virtual,
                                   has_virtual);
        if (skip != 0) {
            Py_DECREF(v);
            if (skip < 0)
                goto fail;
            continue;
        }
        PyObject *plain = PyObject_GetAttr(engine, s_plain);
        if (plain == NULL) {
            Py_DECREF(v);
            goto fail;
        }
        int stale = plain == Py_None;
        if (!stale) {
            PyObject *its = PLAIN(plain, s_commit, P_COMMIT);
            if (its == NULL) {
                Py_DECREF(plain);
                Py_DECREF(v);
                goto fail;
            }
            stale = its != commit;
            Py_DECREF(its);
        }
        if (stale) {
            Py_SETREF(plain, PyObject_CallMethodObjArgs(engine, s_plain_bans, rt, commit,
                                                        changes, NULL));
            if (plain == NULL || PyObject_SetAttr(engine, s_plain, plain) < 0) {
                Py_XDECREF(plain);
                Py_DECREF(v);
                goto fail;
            }
        }
        PyObject *found = network_text(key);
        int done = -1;
        if (found != NULL && PyTuple_CheckExact(found) && PyTuple_GET_SIZE(found) == 2) {
            done = plain_ban(plain, key, PyTuple_GET_ITEM(found, 0), PyTuple_GET_ITEM(found, 1),
                             when, count, source, now, reason, bantime, account);
        } else if (found != NULL) {
            PyErr_SetString(PyExc_TypeError, "stored_network_text gave no pair");
        }
        Py_DECREF(plain);
        if (done == 0) {
            PyObject *r = PyObject_VectorcallMethod(
                s_ban_generally,
                (PyObject *[]){engine, rt, key, PyTuple_GET_ITEM(found, 0),
                               PyTuple_GET_ITEM(found, 1), when, count, source, commit,
                               changes, now, reason, bantime, account},
                14, NULL);
            done = r == NULL ? -1 : 1;
            Py_XDECREF(r);
        }
        Py_XDECREF(found);
        if (done < 0 || PyList_Append(spent, key) < 0) {
            Py_DECREF(v);
            goto fail;
        }
        Py_DECREF(v);
    }
    Py_DECREF(held);
    Py_DECREF(detection);
    Py_DECREF(good);
    return spent;
fail:
    Py_XDECREF(held);
    Py_XDECREF(detection);
    Py_XDECREF(good);
    Py_XDECREF(spent);
    return NULL;
}

/* pointverdict.HostVerdicts.__missing__ (the C library's inet_pton taking only the canonical
 * dotted quad: pointverdict.V4_CANONICAL), a method of that dict subclass:
 * (host + "/32", the reason of the segment holding the address) remembered and returned;
 * None for any other text. ``memo``: HOST_MEMO, set by host_missing(). */
static Py_ssize_t host_memo = 0;
static PyObject *s_starts, *s_reasons, *s_slash32;

static PyObject *
hosts_missing(PyObject *self, PyObject *host)
{
    if (!PyUnicode_Check(host)) {
        PyErr_SetString(PyExc_TypeError, "a host text is a str");
        return NULL;
    }
    if (PyUnicode_GET_LENGTH(host) > 15)
        Py_RETURN_NONE; /* (longer than any dotted quad) */
    Py_ssize_t n;
    const char *text = PyUnicode_AsUTF8AndSize(host, &n);
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError)) /* (a lone surrogate: as inet_pton's) */
            return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    /* ":" (IPv6: not here), a NUL (inet_pton's ValueError), or too long for a quad */
    if (n > 15 || memchr(text, ':', (size_t)n) != NULL || strlen(text) != (size_t)n)
        Py_RETURN_NONE;
    unsigned char packed[4];
    if (inet_pton(AF_INET, text, packed) != 1)
        Py_RETURN_NONE;
    unsigned long value = ((unsigned long)packed[0] << 24) | ((unsigned long)packed[1] << 16)
                          | ((unsigned long)packed[2] << 8) | (unsigned long)packed[3];
    PyObject *number = NULL, *key = NULL, *starts = NULL, *reasons = NULL, *found = NULL;
    number = PyLong_FromUnsignedLong(value);
    key = number ? PyUnicode_Concat(host, s_slash32) : NULL;
    if (key == NULL)
        goto done;
    Py_ssize_t size = PyObject_Size(self);
    if (size < 0)
        goto done;
    if (size >= host_memo) {
        PyObject *r = PyObject_CallMethod(self, "clear", NULL);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
    }
    starts = PyObject_GetAttr(self, s_starts);
    reasons = starts ? PyObject_GetAttr(self, s_reasons) : NULL;
    if (reasons == NULL)
        goto done;
    if (!PyList_CheckExact(starts) || !PyList_CheckExact(reasons)) {
        PyErr_SetString(PyExc_TypeError, "segments are lists");
        goto done;
    }
    /* bisect_right(starts, value) */
    Py_ssize_t lo = 0, hi = PyList_GET_SIZE(starts);
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        int below = PyObject_RichCompareBool(number, PyList_GET_ITEM(starts, mid), Py_LT);
        if (below < 0)
            goto done;
        if (below)
            hi = mid;
        else
            lo = mid + 1;
        if (hi > PyList_GET_SIZE(starts)) /* (a comparison changed the list) */
            hi = PyList_GET_SIZE(starts);
    }
    PyObject *reason = Py_None;
    if (lo >= 1) {
        if (lo - 1 >= PyList_GET_SIZE(reasons)) {
            PyErr_SetString(PyExc_IndexError, "a segment without its reason");
            goto done;
        }
        reason = PyList_GET_ITEM(reasons, lo - 1);
    }
    found = PyTuple_Pack(2, key, reason);
    if (found == NULL)
        goto done;
    if (PyObject_SetItem(self, host, found) < 0)
        Py_CLEAR(found);
done:
    Py_XDECREF(number);
    Py_XDECREF(key);
    Py_XDECREF(starts);
    Py_XDECREF(reasons);
    return found;
}

static PyMethodDef hosts_missing_def = {
    "__missing__", hosts_missing, METH_O,
    "(host + \"/32\", its reason) of an IPv4 text, remembered; None for any other",
};

/* host_missing(HostVerdicts, HOST_MEMO): the method descriptor to set as its __missing__. */
static PyObject *
banrun_host_missing(PyObject *self, PyObject *args)
{
    PyObject *type;
    Py_ssize_t memo;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!n:host_missing", &PyType_Type, &type, &memo))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)type, &PyDict_Type) || memo < 1) {
        PyErr_SetString(PyExc_TypeError, "host_missing: a dict subclass and a memo size");
        return NULL;
    }
    host_memo = memo;
    return PyDescr_NewMethod((PyTypeObject *)type, &hosts_missing_def);
}

static PyMethodDef banrun_methods[] = {
    {"setup", banrun_setup, METH_VARARGS,
     "setup(Ban, IPv4Address, host type, netmask, JAIL_BANTIME, LINE_CHARS, cut, "
     "spent_lines, stored_network_text)"},
    {"new_ban", (PyCFunction)(void (*)(void))banrun_new_ban, METH_FASTCALL,
     "Ban(*fields), its slots filled directly"},
    {"new_ban_pair", (PyCFunction)(void (*)(void))banrun_new_ban_pair, METH_FASTCALL,
     "(Ban(*fields), the same without its lines)"},
    {"network_text", banrun_network_text, METH_O, "addresses.stored_network_text"},
    {"setup_64", banrun_setup_64, METH_O,
     "setup_64(v6keys or None): the module whose network_64 makes a /64 key's network"},
    {"setup_verdicts", banrun_setup_verdicts, METH_VARARGS,
     "setup_verdicts(SUBNET, ACCOUNT): the reasons apply_verdicts tells apart"},
    {"apply_verdicts", (PyCFunction)(void (*)(void))banrun_apply_verdicts, METH_FASTCALL,
     "BanDeciding._apply_verdicts(engine, rt, verdicts, when, source, commit, changes, "
     "now, banned, virtual)"},
    {"host_missing", banrun_host_missing, METH_VARARGS,
     "host_missing(HostVerdicts, HOST_MEMO): its __missing__ in C"},
    {"first_ban", (PyCFunction)(void (*)(void))banrun_first_ban, METH_FASTCALL,
     "stored_network_text then PlainBans.ban: None when banned, else (network, text)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef banrun_module = {
    PyModuleDef_HEAD_INIT, "journalban.decisions._banrun",
    "A network's first ban in C (decisions.nativeban).", -1, banrun_methods,
    NULL, NULL, NULL, NULL,
};

#define INTERN(var, str)                                   \
    do {                                                   \
        if ((var = PyUnicode_InternFromString(str)) == NULL) \
            return NULL;                                   \
    } while (0)

PyMODINIT_FUNC
PyInit__banrun(void)
{
    INTERN(s_known, "known");
    INTERN(s_bantime, "bantime");
    INTERN(s_pending, "pending");
    INTERN(s_unsaved, "unsaved");
    INTERN(s_sealed, "sealed");
    INTERN(s_recent, "recent");
    INTERN(s_held, "held");
    INTERN(s_rt, "rt");
    INTERN(s_jail, "jail");
    INTERN(s_virtual, "virtual");
    INTERN(s_lineless, "lineless");
    INTERN(s_first, "first");
    INTERN(s_run, "run");
    INTERN(s_start, "start");
    INTERN(s_commit, "commit");
    INTERN(s_changes, "changes");
    INTERN(s_texts, "texts");
    INTERN(s_ended, "ended");
    INTERN(s_network_address, "network_address");
    INTERN(s_netmask, "netmask");
    INTERN(s_prefixlen, "_prefixlen");
    INTERN(s_hash, "_hash");
    INTERN(s_text, "_text");
    INTERN(s_network_64, "network_64");
    INTERN(s_plain, "_plain");
    INTERN(s_starts, "_starts");
    INTERN(s_reasons, "_reasons");
    INTERN(s_slash32, "/32");
    INTERN(s_plain_bans, "_plain_bans");
    INTERN(s_ban_generally, "_ban_generally");
    INTERN(s_apply_verdicts, "_apply_verdicts");
    INTERN(s_detection, "detection");
    INTERN(s_good_networks, "good_networks");
    INTERN(s_spares, "spares");
    INTERN(s_banned_at, "banned_at");
    INTERN(s_expires_at, "expires_at");
    if ((neg_inf = PyFloat_FromDouble(-Py_HUGE_VAL)) == NULL
        || (empty_tuple = PyTuple_New(0)) == NULL || (empty_str = PyUnicode_New(0, 0)) == NULL
        || (one = PyLong_FromLong(1)) == NULL || (thirty_two = PyLong_FromLong(32)) == NULL)
        return NULL;
    return PyModule_Create(&banrun_module);
}
