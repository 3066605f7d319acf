/* An IPv6 address text's prefix key in C (issue 19): addresses.ipv6_prefix_key.
 *
 * An accelerator: the same libc inet_pton and inet_ntop the Python function calls through
 * _socket, on the same bytes, so the same texts give the same (first, last, text); checked
 * at import against the Python function and fuzzed beside it in the tests. A text this
 * does not take on its own (not a str, not ASCII, a NUL, a prefix length outside 0-128) is
 * handed to the Python function. JOURNALBAN_NATIVE_HITS=0 keeps the Python function.
 *
 * inet_ntop's text is written here (``v6_text``): glibc's prints each group with a sprintf,
 * about 3,000 instructions an address, a flood's every IPv6 first sight and ban. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <string.h>

#define MAX_BLOCKS 16

typedef struct {
    unsigned char first[16], last[16];
} Block;

static Block blocks[MAX_BLOCKS]; /* addresses._PER_ADDRESS_V6, big-endian */
static int n_blocks = -1;
static PyObject *python_key = NULL; /* the Python function */

/* ``value`` (a non-negative int below 2**128) as 16 big-endian bytes. */
static int
to_bytes(PyObject *value, unsigned char *out)
{
    if (!PyLong_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "a block's bound is not an int");
        return -1;
    }
    return _PyLong_AsByteArray((PyLongObject *)value, out, 16, 0, 0);
}

static PyObject *
addrkey_setup(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *given, *python;
    if (!PyArg_ParseTuple(args, "OO", &given, &python))
        return NULL;
    PyObject *seq = PySequence_Fast(given, "blocks: a sequence of (first, last)");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > MAX_BLOCKS) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "too many blocks");
        return NULL;
    }
    n_blocks = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2
            || to_bytes(PyTuple_GET_ITEM(pair, 0), blocks[i].first) < 0
            || to_bytes(PyTuple_GET_ITEM(pair, 1), blocks[i].last) < 0) {
            Py_DECREF(seq);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "a block is not (first, last)");
            return NULL;
        }
    }
    Py_DECREF(seq);
    Py_INCREF(python);
    Py_XSETREF(python_key, python);
    n_blocks = (int)n;
    Py_RETURN_NONE;
}

/* inet_ntop(AF_INET6, packed, out, size): glibc's text (RFC 5952: lower-case hex without
 * leading zeros, the first longest run of two or more zero groups as "::") written without
 * its sprintf of each group; an address with its first five groups zero (where glibc may
 * print a dotted IPv4 tail) is printed by inet_ntop itself. NULL as inet_ntop. */
static const char *
v6_text(const unsigned char *packed, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    unsigned words[8];
    for (int i = 0; i < 8; i++)
        words[i] = ((unsigned)packed[2 * i] << 8) | packed[2 * i + 1];
    if ((words[0] | words[1] | words[2] | words[3] | words[4]) == 0)
        return inet_ntop(AF_INET6, packed, out, (socklen_t)size);
    if (size < INET6_ADDRSTRLEN)
        return NULL;
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i < 8; i++) {
        if (words[i] == 0) {
            if (cur < 0)
                cur = i, cur_len = 0;
            cur_len++;
        } else if (cur >= 0) {
            if (cur_len > best_len)
                best = cur, best_len = cur_len;
            cur = -1;
        }
    }
    if (cur >= 0 && cur_len > best_len)
        best = cur, best_len = cur_len;
    if (best_len < 2)
        best = -1;
    char *p = out; /* (at most 8 groups of 4 and 7 colons: 39 characters and the NUL) */
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best)
                *p++ = ':';
            continue;
        }
        if (i != 0)
            *p++ = ':';
        unsigned w = words[i];
        int shift = w >= 0x1000 ? 12 : w >= 0x100 ? 8 : w >= 0x10 ? 4 : 0;
        for (; shift >= 0; shift -= 4)
            *p++ = hex[(w >> shift) & 0xf];
    }
    if (best >= 0 && best + best_len == 8)
        *p++ = ':';
    *p = '\0';
    return out;
}

/* ntop(packed): ``v6_text`` of 16 bytes (for the tests, against socket.inet_ntop). */
static PyObject *
addrkey_ntop(PyObject *self, PyObject *packed)
{
    (void)self;
    char printed[INET6_ADDRSTRLEN];
    if (!PyBytes_Check(packed) || PyBytes_GET_SIZE(packed) != 16) {
        PyErr_SetString(PyExc_ValueError, "ntop takes 16 bytes");
        return NULL;
    }
    if (v6_text((const unsigned char *)PyBytes_AS_STRING(packed), printed, sizeof printed) == NULL)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyUnicode_FromString(printed);
}

static PyObject *
from_bytes(const unsigned char *packed)
{
    return _PyLong_FromByteArray(packed, 16, 0, 0);
}

/* ipv6_prefix_key(text, prefixlen) -> (first, last, "prefix/len") | None */
static PyObject *
addrkey_ipv6_prefix_key(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "ipv6_prefix_key takes 2 arguments");
        return NULL;
    }
    if (n_blocks < 0 || python_key == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_addrkey.setup was not called");
        return NULL;
    }
    PyObject *text = args[0], *plen = args[1];
    int overflow = 0;
    long prefixlen = PyLong_CheckExact(plen) ? PyLong_AsLongAndOverflow(plen, &overflow) : -1;
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_ASCII(text) || overflow
        || prefixlen < 0 || prefixlen > 128)
        goto python;
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    const char *chars = (const char *)PyUnicode_1BYTE_DATA(text);
    if (memchr(chars, '.', (size_t)len) != NULL)
        Py_RETURN_NONE;
    if (memchr(chars, '\0', (size_t)len) != NULL)
        goto python;
    char buf[64];
    unsigned char packed[16];
    if (len >= (Py_ssize_t)sizeof buf) /* (no form inet_pton takes is that long) */
        Py_RETURN_NONE;
    memcpy(buf, chars, (size_t)len);
    buf[len] = '\0';
    if (inet_pton(AF_INET6, buf, packed) != 1)
        Py_RETURN_NONE;
    static const unsigned char zero8[8] = {0};
    if (memcmp(packed, zero8, 8) == 0)
        Py_RETURN_NONE;
    for (int i = 0; i < n_blocks; i++)
        if (memcmp(blocks[i].first, packed, 16) <= 0 && memcmp(packed, blocks[i].last, 16) <= 0)
            Py_RETURN_NONE;
    unsigned char low[16], high[16];
    for (int i = 0; i < 16; i++) {
        int bits = (int)prefixlen - 8 * i; /* the network's bits in this byte */
        unsigned char mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
        low[i] = packed[i] & mask;
        high[i] = low[i] | (unsigned char)~mask;
    }
    if (memcmp(low, zero8, 8) == 0)
        Py_RETURN_NONE;
    char printed[INET6_ADDRSTRLEN + 4];
    if (v6_text(low, printed, INET6_ADDRSTRLEN) == NULL)
        goto python;
    /* the key's text: f"{printed}/{prefixlen}" (0-128) */
    size_t n = strlen(printed);
    printed[n++] = '/';
    if (prefixlen >= 100)
        printed[n++] = (char)('0' + prefixlen / 100);
    if (prefixlen >= 10)
        printed[n++] = (char)('0' + prefixlen / 10 % 10);
    printed[n++] = (char)('0' + prefixlen % 10);
    PyObject *first = from_bytes(low), *last = from_bytes(high);
    PyObject *key = PyUnicode_FromStringAndSize(printed, (Py_ssize_t)n);
    PyObject *found = NULL;
    if (first != NULL && last != NULL && key != NULL)
        found = PyTuple_Pack(3, first, last, key);
    Py_XDECREF(first);
    Py_XDECREF(last);
    Py_XDECREF(key);
    return found;
python:
    return PyObject_Vectorcall(python_key, args, nargs, NULL);
}

/* --- an IPv6 /64 from its own text (addresses.stored_network_text) ------------------- */

static PyTypeObject *v6_address_type = NULL; /* ipaddress.IPv6Address */
static PyTypeObject *v6_network_type = NULL; /* netobjects._HashedV6 */
static PyObject *mask64 = NULL;              /* the /64's netmask, shared as netobjects' */
static PyObject *bits64 = NULL;              /* int(mask64) */
static PyObject *sixty_four = NULL;
static PyObject *s_dunder_hash;
static PyObject *s_ip, *s_scope_id, *s_network_address, *s_netmask, *s_prefixlen, *s_hash,
    *s_text;

static PyObject *
addrkey_setup_64(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *address, *network, *mask, *bits;
    if (!PyArg_ParseTuple(args, "O!O!OO!", &PyType_Type, &address, &PyType_Type, &network,
                          &mask, &PyLong_Type, &bits))
        return NULL;
    Py_INCREF(address);
    Py_XSETREF(v6_address_type, (PyTypeObject *)address);
    Py_INCREF(network);
    Py_XSETREF(v6_network_type, (PyTypeObject *)network);
    Py_INCREF(mask);
    Py_XSETREF(mask64, mask);
    Py_INCREF(bits);
    Py_XSETREF(bits64, bits);
    Py_RETURN_NONE;
}

/* ``object.__new__(type)`` */
static PyObject *
new_of(PyTypeObject *type)
{
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL)
        return NULL;
    PyObject *made = PyBaseObject_Type.tp_new(type, empty, NULL);
    Py_DECREF(empty);
    return made;
}

/* netobjects' v6 maker's network of ``value``/64 (its steps in order), its text kept. */
static PyObject *
made_64(PyObject *value, PyObject *text)
{
    PyObject *address = new_of(v6_address_type), *net = NULL, *mixed = NULL, *hash = NULL;
    if (address == NULL || PyObject_SetAttr(address, s_ip, value) < 0
        || PyObject_SetAttr(address, s_scope_id, Py_None) < 0)
        goto fail;
    if ((net = new_of(v6_network_type)) == NULL
        || PyObject_SetAttr(net, s_network_address, address) < 0
        || PyObject_SetAttr(net, s_netmask, mask64) < 0
        || PyObject_SetAttr(net, s_prefixlen, sixty_four) < 0)
        goto fail;
    if ((mixed = PyNumber_Xor(value, bits64)) == NULL)
        goto fail;
    Py_hash_t h = PyObject_Hash(mixed);
    if (h == -1 || (hash = PyLong_FromSsize_t(h)) == NULL
        || PyObject_SetAttr(net, s_hash, hash) < 0 || PyObject_SetAttr(net, s_text, text) < 0)
        goto fail;
    Py_DECREF(address);
    Py_DECREF(mixed);
    Py_DECREF(hash);
    return net;
fail:
    Py_XDECREF(address);
    Py_XDECREF(net);
    Py_XDECREF(mixed);
    Py_XDECREF(hash);
    return NULL;
}

/* network_64(text) -> the /64 ``text`` names as the agent keys it ("<inet_ntop of its
 * first address>::/64"), its text kept; None for any other text (the general path). */
static PyObject *
addrkey_network_64(PyObject *self, PyObject *text)
{
    (void)self;
    if (v6_network_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_addrkey.setup_64 was not called");
        return NULL;
    }
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_ASCII(text))
        Py_RETURN_NONE;
    Py_ssize_t len = PyUnicode_GET_LENGTH(text) - 3; /* (without "/64") */
    const char *chars = (const char *)PyUnicode_1BYTE_DATA(text);
    char buf[64], printed[INET6_ADDRSTRLEN];
    unsigned char packed[16];
    static const unsigned char zero8[8] = {0};
    if (len < 2 || len >= (Py_ssize_t)sizeof buf || memcmp(chars + len - 2, "::/64", 5) != 0
        || memchr(chars, '.', (size_t)len) != NULL || memchr(chars, '\0', (size_t)len) != NULL)
        Py_RETURN_NONE;
    memcpy(buf, chars, (size_t)len);
    buf[len] = '\0';
    if (inet_pton(AF_INET6, buf, packed) != 1 || memcmp(packed + 8, zero8, 8) != 0
        || v6_text(packed, printed, sizeof printed) == NULL
        || strcmp(printed, buf) != 0)
        Py_RETURN_NONE;
    PyObject *value = from_bytes(packed);
    if (value == NULL)
        return NULL;
    PyObject *net = made_64(value, text);
    Py_DECREF(value);
    return net;
}

/* --- a network's hash, known (netobjects._HostV4, _HashedV6) ------------------------- */

/* ``hash(net)`` of a network whose ``__hash__`` is ``return self._hash``, without that
 * frame: getattr(net, "_hash"), as an int's __hash__ result is taken (slot_tp_hash). */
static Py_hash_t
known_hash(PyObject *self)
{
    PyObject *value = PyObject_GetAttr(self, s_hash);
    if (value == NULL)
        return -1;
    if (!PyLong_Check(value)) {
        Py_DECREF(value);
        PyErr_SetString(PyExc_TypeError, "__hash__ method should return an integer");
        return -1;
    }
    Py_hash_t h = PyLong_AsSsize_t(value);
    if (h == -1 && PyErr_Occurred()) { /* (too large: the int's own hash, as slot_tp_hash) */
        PyErr_Clear();
        h = PyLong_Type.tp_hash(value);
    } else if (h == -1) {
        h = -2;
    }
    Py_DECREF(value);
    return h;
}

/* known_hash(cls): the class's hash slot set to ``known_hash``, for a class (netobjects')
 * whose own ``__hash__``, a Python function, returns ``self._hash``. A dict's or a set's
 * lookup of such a network called that function, a frame of Python each (a flood's bans:
 * twice each, the ban table's dict and the dry-run's). Setting ``__hash__`` on the class
 * (or on a base) puts Python's slot back, as for any class. */
static PyObject *
addrkey_known_hash(PyObject *self, PyObject *cls)
{
    (void)self;
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "known_hash takes a class");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    PyObject *own = type->tp_dict == NULL ? NULL : PyDict_GetItemWithError(type->tp_dict, s_dunder_hash);
    if (own == NULL && PyErr_Occurred())
        return NULL;
    if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE) || type->tp_getattro != PyObject_GenericGetAttr
        || own == NULL || !PyFunction_Check(own) || type->tp_hash == NULL) {
        PyErr_SetString(PyExc_TypeError, "known_hash: a Python class with its own __hash__");
        return NULL;
    }
    type->tp_hash = known_hash;
    Py_RETURN_NONE;
}

/* hash_known(cls): whether the class's hash slot is ``known_hash``. */
static PyObject *
addrkey_hash_known(PyObject *self, PyObject *cls)
{
    (void)self;
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "hash_known takes a class");
        return NULL;
    }
    return PyBool_FromLong(((PyTypeObject *)cls)->tp_hash == known_hash);
}

static PyMethodDef addrkey_methods[] = {
    {"setup_64", addrkey_setup_64, METH_VARARGS,
     "setup_64(IPv6Address, _HashedV6, the /64's netmask, its int)"},
    {"network_64", addrkey_network_64, METH_O, "addresses.stored_network_text's /64 path"},
    {"ntop", addrkey_ntop, METH_O, "inet_ntop(AF_INET6, 16 bytes), as this module prints it"},
    {"known_hash", addrkey_known_hash, METH_O,
     "known_hash(cls): hash(net) read from net._hash in C (its __hash__ returns it)"},
    {"hash_known", addrkey_hash_known, METH_O, "hash_known(cls): whether known_hash set it"},
    {"setup", addrkey_setup, METH_VARARGS,
     "setup(per_address_blocks, python_function)"},
    {"ipv6_prefix_key", (PyCFunction)(void (*)(void))addrkey_ipv6_prefix_key, METH_FASTCALL,
     "addresses.ipv6_prefix_key in C"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef addrkey_module = {
    PyModuleDef_HEAD_INIT, "journalban._addrkey",
    "An IPv6 address text's prefix key in C (addresses.ipv6_prefix_key).", -1,
    addrkey_methods, NULL, NULL, NULL, NULL,
};

#define INTERN(var, str)                                     \
    do {                                                     \
        if ((var = PyUnicode_InternFromString(str)) == NULL) \
            return NULL;                                     \
    } while (0)

PyMODINIT_FUNC
PyInit__addrkey(void)
{
    INTERN(s_ip, "_ip");
    INTERN(s_scope_id, "_scope_id");
    INTERN(s_network_address, "network_address");
    INTERN(s_netmask, "netmask");
    INTERN(s_prefixlen, "_prefixlen");
    INTERN(s_hash, "_hash");
    INTERN(s_text, "_text");
    INTERN(s_dunder_hash, "__hash__");
    if ((sixty_four = PyLong_FromLong(64)) == NULL)
        return NULL;
    return PyModule_Create(&addrkey_module);
}
