/* A run of decided bans announced in C (issue 19): their Banned signals' wire bytes, their
 * log lines and the firewall's BanEntry objects, each for a whole run in one call.
 *
 * Each function does what a pure-Python function of the package does, which stays the
 * reference and is used where this module is not built or is switched off:
 *
 *   pack_banned   journalban.bus.bannedwire._pack_run (the signals, byte for byte dbus-fast's)
 *   pack_banned_many  journalban.bus.bannedmany._pack_many (one signal of a step's bans)
 *   ban_lines     journalban.agent.banlines.ban_messages (the lines' text)
 *   ban_entries   journalban.agent.deciding's _entries with entrymaker.new_entry
 *   hold_entries  journalban.firewall.dryrun.DryRunBackend.apply's additions
 *
 * A ban these do not take as the common case (a value that is not of its usual type, one
 * the wire cannot carry, a counter or a time past its D-Bus type, a network without its
 * remembered text) is handed back to the Python code, which decides what to do with it
 * exactly as before: pack_banned stops before it, ban_lines calls ban_message for its
 * line. Nothing is guessed here. Every write is into a buffer reserved for the whole
 * message first (its size bounded from its strings' lengths), checked before and after.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static PyObject *s_network, *s_jail, *s_source, *s_reason, *s_account, *s_expires_at,
    *s_banned_at, *s_failures, *s_ban_count, *s_text, *s_ban_prefix;

/* getattr(obj, name, None) as a new reference, or NULL with no exception when absent;
 * NULL with an exception on another error. */
static PyObject *
optional_attr(PyObject *obj, PyObject *name)
{
    PyObject *value = NULL;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyObject_GetOptionalAttr(obj, name, &value) < 0)
        return NULL;
#else
    if (_PyObject_LookupAttr(obj, name, &value) < 0)
        return NULL;
#endif
    return value;
}

/* A ban's fields read through their member descriptors (a slotted dataclass's), not a
 * getattr each: the type's attribute lookup is most of a getattr's cost, and a run's bans
 * are all of one type. Used only for objects of exactly ``type`` when each name is a
 * member descriptor on it and the type looks attributes up generically (no
 * __getattribute__ or __getattr__ of its own): then a getattr finds that descriptor
 * first and calls it, as this does. Anything else is read by getattr. */
#define MAX_FIELDS 8

typedef struct {
    PyTypeObject *type; /* (a new reference; NULL: read every field by getattr) */
    PyObject *descr[MAX_FIELDS];
    PyObject *const *names;
    int count;
} Fields;

static void
fields_init(Fields *f, PyObject *obj, PyObject *const *names, int count)
{
    f->type = NULL;
    f->names = names;
    f->count = count;
    PyTypeObject *type = Py_TYPE(obj);
    if (count > MAX_FIELDS || type->tp_getattro != PyObject_GenericGetAttr)
        return;
    for (int k = 0; k < count; k++) {
        PyObject *d = PyObject_GetAttr((PyObject *)type, names[k]);
        if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type) ||
            (PyDescr_TYPE(d) != type && !PyType_IsSubtype(type, PyDescr_TYPE(d)))) {
            PyErr_Clear();
            Py_XDECREF(d);
            for (int j = 0; j < k; j++)
                Py_DECREF(f->descr[j]);
            return;
        }
        f->descr[k] = d;
    }
    f->type = (PyTypeObject *)Py_NewRef(type);
}

static void
fields_release(Fields *f)
{
    if (f->type == NULL)
        return;
    for (int k = 0; k < f->count; k++)
        Py_DECREF(f->descr[k]);
    Py_CLEAR(f->type);
}

/* Field ``k`` of ``obj``, a new reference; NULL with no exception when it has none
 * (AttributeError), NULL with one on another error. */
static PyObject *
field(Fields *f, PyObject *obj, int k)
{
    if (Py_TYPE(obj) != f->type)
        return optional_attr(obj, f->names[k]);
    PyObject *d = f->descr[k];
    PyObject *value = Py_TYPE(d)->tp_descr_get(d, obj, (PyObject *)f->type);
    if (value == NULL && PyErr_ExceptionMatches(PyExc_AttributeError))
        PyErr_Clear();
    return value;
}

/* The text of a ban's address as addresses.format_network gives it, when the network
 * remembers its text (``_text``, a str): the whole str in *text (a new reference) and
 * the length of its prefix that is the address in *length. 0 when taken, 1 when the
 * network has no remembered text (the caller asks format_network), -1 on an error. */
static int
remembered_address(PyObject *net, PyObject **text, Py_ssize_t *length)
{
    PyObject *found = optional_attr(net, s_text);
    if (found == NULL)
        return PyErr_Occurred() ? -1 : 1;
    if (!PyUnicode_CheckExact(found) || PyUnicode_GET_LENGTH(found) == 0) {
        Py_DECREF(found); /* (format_network's ``or``: its own way for these) */
        return 1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(found);
    int kind = PyUnicode_KIND(found);
    const void *data = PyUnicode_DATA(found);
#define CH(i) PyUnicode_READ(kind, data, (i))
    *length = n;
    if (n >= 3 && CH(n - 3) == '/' && CH(n - 2) == '3' && CH(n - 1) == '2') {
        if (PyUnicode_FindChar(found, ':', 0, n, 1) == -1)
            *length = n - 3;
    } else if (n >= 4 && CH(n - 4) == '/' && CH(n - 3) == '1' && CH(n - 2) == '2' &&
               CH(n - 1) == '8') {
        *length = n - 4;
    }
#undef CH
    *text = found;
    return 0;
}

/* The address's text of ``net``: *text (new reference) and its first *length characters;
 * through ``format_network`` where the network remembers none. -1 on an error. */
static int
address_of(PyObject *net, PyObject *format_network, PyObject **text, Py_ssize_t *length)
{
    int got = remembered_address(net, text, length);
    if (got <= 0)
        return got;
    PyObject *made = PyObject_CallOneArg(format_network, net);
    if (made == NULL)
        return -1;
    if (!PyUnicode_Check(made)) {
        Py_DECREF(made);
        PyErr_SetString(PyExc_TypeError, "format_network gave no str");
        return -1;
    }
    *text = made;
    *length = PyUnicode_GET_LENGTH(made);
    return 0;
}

/* ---- the Banned signal ------------------------------------------------------------- */

/* The signals packed so far: ``used`` bytes of a bytes object of ``size`` (NULL at
 * first), cut to ``used`` at the end (no copy of the run's bytes into another). */
typedef struct {
    PyObject *bytes;
    char *data;
    Py_ssize_t size, used;
} Buffer;

/* Room for ``more`` bytes past ``used``; -1 (MemoryError) when it cannot be had. */
static int
reserve(Buffer *b, Py_ssize_t more)
{
    if (more < 0 || more > PY_SSIZE_T_MAX / 4 - b->used) {
        PyErr_NoMemory();
        return -1;
    }
    if (b->used + more <= b->size)
        return 0;
    Py_ssize_t size = b->size ? b->size : 16384;
    while (size < b->used + more)
        size *= 2;
    if (b->bytes == NULL) {
        b->bytes = PyBytes_FromStringAndSize(NULL, size);
        if (b->bytes == NULL)
            return -1;
    } else if (_PyBytes_Resize(&b->bytes, size) < 0) { /* (b->bytes NULL then) */
        return -1;
    }
    b->data = PyBytes_AS_STRING(b->bytes);
    b->size = size;
    return 0;
}

/* The writes of one message, inside the room ``reserve`` made for it (its bound is
 * computed from the strings' lengths: each write below stays under it, and ``end`` is
 * checked once more after the message). Alignments count from the message's start. */
typedef struct {
    unsigned char *at, *start, *end;
} Cursor;

/* Zeros up to the next multiple of ``to`` (a power of two) from the message's start. */
static inline void
pad(Cursor *c, Py_ssize_t to)
{
    Py_ssize_t n = -(c->at - c->start) & (to - 1);
    memset(c->at, 0, (size_t)n);
    c->at += n;
}

static inline void
put_u32(Cursor *c, uint32_t v)
{
    pad(c, 4);
    c->at[0] = (unsigned char)v;
    c->at[1] = (unsigned char)(v >> 8);
    c->at[2] = (unsigned char)(v >> 16);
    c->at[3] = (unsigned char)(v >> 24);
    c->at += 4;
}

static inline void
put_u64(Cursor *c, uint64_t v)
{
    pad(c, 8);
    put_u32(c, (uint32_t)v);
    put_u32(c, (uint32_t)(v >> 32));
}

static inline void
put_string(Cursor *c, const char *s, Py_ssize_t n)
{
    put_u32(c, (uint32_t)n);
    memcpy(c->at, s, (size_t)n);
    c->at += n;
    *c->at++ = 0;
}

/* A dict entry's key and its variant's signature (one character), as ``{sv}`` has it:
 * the key's length (u32, little-endian), the key, its NUL, the signature's length, the
 * signature and its NUL, after the entry's padding to 8. */
typedef struct {
    size_t size;
    unsigned char bytes[32];
} Entry;

static inline void
put_entry(Cursor *c, const Entry *entry)
{
    pad(c, 8);
    memcpy(c->at, entry->bytes, entry->size);
    c->at += entry->size;
}

static Entry e_failures, e_source, e_ban_count, e_banned_at, e_reason;

static void
entry_init(Entry *e, const char *key, char signature)
{
    size_t n = strlen(key); /* (the keys here: at most 14 bytes) */
    e->bytes[0] = (unsigned char)n;
    e->bytes[1] = e->bytes[2] = e->bytes[3] = 0;
    memcpy(e->bytes + 4, key, n);
    e->bytes[4 + n] = 0;
    e->bytes[5 + n] = 1;
    e->bytes[6 + n] = (unsigned char)signature;
    e->bytes[7 + n] = 0;
    e->size = 8 + n;
}

/* A str's UTF-8 that the wire takes: 0 and its bytes; 1 when it is not a str, cannot be
 * encoded (a lone surrogate) or holds a NUL (the Python code decides); -1 on an error. */
static int
wire_text(PyObject *text, const char **s, Py_ssize_t *n)
{
    if (!PyUnicode_CheckExact(text))
        return 1;
    *s = PyUnicode_AsUTF8AndSize(text, n);
    if (*s == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeError))
            return -1;
        PyErr_Clear();
        return 1;
    }
    if (*n > (Py_ssize_t)UINT32_MAX || memchr(*s, 0, (size_t)*n) != NULL)
        return 1;
    return 0;
}

/* A counter as ``u``: 0 and its value; 1 when it is not an int in [0, 2**32). */
static int
wire_u32(PyObject *value, uint32_t *out)
{
    if (!PyLong_CheckExact(value))
        return 1;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 1;
    }
    if (overflow || v < 0 || v > (long long)UINT32_MAX)
        return 1;
    *out = (uint32_t)v;
    return 0;
}

/* Seconds as ``t`` microseconds, bannedwire's rule (None and <= 0 as 0, else
 * ``round(seconds * 1_000_000)``, half to even); 1 when not a float (or None where
 * ``none_ok``), not finite, or past ``t``. */
static int
wire_usec(PyObject *value, int none_ok, uint64_t *out)
{
    if (value == Py_None && none_ok) {
        *out = 0;
        return 0;
    }
    if (!PyFloat_CheckExact(value))
        return 1;
    double seconds = PyFloat_AS_DOUBLE(value);
    if (isnan(seconds))
        return 1;
    if (seconds <= 0) {
        *out = 0;
        return 0;
    }
    double x = seconds * 1000000.0;
    if (!isfinite(x))
        return 1;
    double rounded = round(x); /* float.__round__'s: half away from zero, then to even */
    if (fabs(x - rounded) == 0.5)
        rounded = 2.0 * round(x / 2.0);
    if (!(rounded < 18446744073709551616.0))
        return 1;
    *out = (uint64_t)rounded;
    return 0;
}

/* The attributes of a ban a signal shows, new references (NULLs where absent). */
typedef struct {
    PyObject *network, *jail, *expires_at, *failures, *source, *ban_count, *banned_at,
        *reason;
} Shown;

static void
release_shown(Shown *v)
{
    Py_CLEAR(v->network);
    Py_CLEAR(v->jail);
    Py_CLEAR(v->expires_at);
    Py_CLEAR(v->failures);
    Py_CLEAR(v->source);
    Py_CLEAR(v->ban_count);
    Py_CLEAR(v->banned_at);
    Py_CLEAR(v->reason);
}

static PyObject *shown_names[8];

/* 0: all read; 1: one is missing (the Python code decides); -1: an error. */
static int
read_shown(Fields *f, PyObject *ban, Shown *v)
{
    PyObject **slots[] = {&v->network, &v->jail, &v->expires_at, &v->failures,
                          &v->source, &v->ban_count, &v->banned_at, &v->reason};
    for (int i = 0; i < 8; i++) {
        *slots[i] = field(f, ban, i);
        if (*slots[i] == NULL)
            return PyErr_Occurred() ? -1 : 1;
    }
    return 0;
}

/* A ban's values as the wire carries them: its strings' UTF-8 (borrowed from ``address``
 * and the Shown it was read from, which hold them) and its numbers. */
typedef struct {
    const char *addr, *jail, *source, *reason;
    Py_ssize_t addr_n, jail_n, source_n, reason_n;
    uint32_t failures, ban_count;
    uint64_t expires, banned;
} Wire;

/* Read a ban's values for the wire into *w (their holders into *v and *address, which
 * the caller releases): 0 read, 1 left to the Python code, -1 an error. */
static int
wire_of(Fields *f, PyObject *ban, PyObject *format_network, Shown *v, PyObject **address,
        Wire *w)
{
    int result = read_shown(f, ban, v);
    if (result != 0)
        return result;
    Py_ssize_t address_chars = 0;
    result = address_of(v->network, format_network, address, &address_chars);
    if (result < 0 && PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_Clear(); /* (a network that cannot be formatted: the Python code's to raise) */
        result = 1;
    }
    if (result != 0)
        return result;
    if ((result = wire_text(*address, &w->addr, &w->addr_n)) != 0 ||
        (result = wire_text(v->jail, &w->jail, &w->jail_n)) != 0 ||
        (result = wire_text(v->source, &w->source, &w->source_n)) != 0 ||
        (result = wire_text(v->reason, &w->reason, &w->reason_n)) != 0 ||
        (result = wire_u32(v->failures, &w->failures)) != 0 ||
        (result = wire_u32(v->ban_count, &w->ban_count)) != 0 ||
        (result = wire_usec(v->expires_at, 1, &w->expires)) != 0 ||
        (result = wire_usec(v->banned_at, 0, &w->banned)) != 0)
        return result;
    /* The address is the first address_chars characters of its text, all ASCII when
     * they are a network's: the UTF-8 prefix of as many bytes. Anything else: Python. */
    if (address_chars != PyUnicode_GET_LENGTH(*address)) {
        if (!PyUnicode_IS_ASCII(*address))
            return 1;
        w->addr_n = address_chars;
    }
    return 0;
}

/* A bound of the bytes ``put_ban`` writes, from an offset that is a multiple of 8: four
 * strings (each at most 3 + 4 + n + 1), a t and its padding, the array's length and
 * padding, five entries (each at most 7 of padding, a key of at most 4 + 14 + 1, a
 * signature of 3, and 7 of padding before a t). */
static Py_ssize_t
ban_bound(const Wire *w)
{
    return w->addr_n + w->jail_n + w->source_n + w->reason_n + 4 * 8 + 16 + 8 +
           5 * (7 + 19 + 3 + 7) + 8 + 4 + 4 + 8;
}

/* A ban as ``ssta{sv}`` (a Banned signal's body, or a struct of BannedMany's array),
 * starting at a multiple of 8 from the message's start. */
static void
put_ban(Cursor *c, const Wire *w)
{
    put_string(c, w->addr, w->addr_n);
    put_string(c, w->jail, w->jail_n);
    put_u64(c, w->expires);
    put_u32(c, 0); /* the array's length, set below */
    unsigned char *array_length = c->at - 4;
    pad(c, 8);
    unsigned char *array = c->at;
    put_entry(c, &e_failures);
    put_u32(c, w->failures);
    put_entry(c, &e_source);
    put_string(c, w->source, w->source_n);
    put_entry(c, &e_ban_count);
    put_u32(c, w->ban_count);
    put_entry(c, &e_banned_at);
    put_u64(c, w->banned);
    put_entry(c, &e_reason);
    put_string(c, w->reason, w->reason_n);
    Cursor fix = {array_length, c->start, c->end};
    put_u32(&fix, (uint32_t)(c->at - array));
}

/* A message's head: its first 4 bytes, the body's length (0, set when it is known), the
 * serial and the header fields, which end at a multiple of 8. */
static void
put_head(Cursor *c, const char *head, uint32_t serial, const char *fields, Py_ssize_t fields_size)
{
    memcpy(c->at, head, 4);
    c->at += 4;
    put_u32(c, 0);
    put_u32(c, serial);
    memcpy(c->at, fields, (size_t)fields_size);
    c->at += fields_size;
}

/* Pack one ban's signal onto ``out``: 0 packed, 1 left to the Python code (nothing
 * written, no serial taken, or *taken set to the serial it took), -1 an error. */
static int
pack_one(Fields *f, PyObject *ban, PyObject *next_serial, PyObject *format_network, const char *head,
         const char *fields, Py_ssize_t fields_size, Buffer *out, PyObject **taken)
{
    Shown v = {0};
    PyObject *address = NULL;
    Wire w;
    int result = wire_of(f, ban, format_network, &v, &address, &w);
    if (result != 0)
        goto done;
    PyObject *serial = PyObject_CallNoArgs(next_serial);
    if (serial == NULL) {
        result = -1;
        goto done;
    }
    uint32_t serial_value;
    if (wire_u32(serial, &serial_value) != 0) {
        *taken = serial; /* (the Python code sends this ban with it) */
        result = 1;
        goto done;
    }
    Py_DECREF(serial);
    Py_ssize_t bound = 12 + fields_size + ban_bound(&w);
    if (reserve(out, bound) < 0) {
        result = -1;
        goto done;
    }
    Cursor c;
    c.start = c.at = (unsigned char *)out->data + out->used;
    c.end = c.start + bound;
    put_head(&c, head, serial_value, fields, fields_size);
    unsigned char *body = c.at;
    put_ban(&c, &w);
    if (c.at > c.end) { /* never: the bound above covers every write */
        PyErr_SetString(PyExc_SystemError, "_announce: a Banned signal past its bound");
        result = -1;
        goto done;
    }
    Cursor fix = {c.start + 4, c.start, c.end};
    put_u32(&fix, (uint32_t)(c.at - body));
    out->used += c.at - c.start;
    result = 0;
done:
    Py_XDECREF(address);
    release_shown(&v);
    return result;
}

PyDoc_STRVAR(pack_banned_doc,
"pack_banned(bans, start, next_serial, format_network, head, fields)\n"
"    -> (bytes, stop, serial)\n\n"
"The Banned signals of bans[start:], each with a serial from next_serial(), joined, up\n"
"to the first ban left to the Python code: its index is stop (len(bans) when none is\n"
"left) and serial the serial taken for it (None when none was). head: a signal's first\n"
"4 bytes; fields: its header fields, padded to 8.");

static PyObject *
pack_banned(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *bans, *next_serial, *format_network;
    Py_ssize_t start;
    const char *head, *fields;
    Py_ssize_t head_size, fields_size;
    if (!PyArg_ParseTuple(args, "O!nOOy#y#:pack_banned", &PyList_Type, &bans, &start,
                          &next_serial, &format_network, &head, &head_size, &fields,
                          &fields_size))
        return NULL;
    if (head_size != 4 || (12 + fields_size) % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "pack_banned: not a signal's head and fields");
        return NULL;
    }
    if (start < 0)
        start = 0;
    Buffer out = {NULL, NULL, 0, 0};
    Fields f = {NULL, {NULL}, NULL, 0};
    PyObject *taken = NULL;
    Py_ssize_t i = start;
    for (; i < PyList_GET_SIZE(bans); i++) {
        PyObject *ban = PyList_GET_ITEM(bans, i);
        Py_INCREF(ban); /* (next_serial may change the list) */
        if (f.names == NULL)
            fields_init(&f, ban, shown_names, 8);
        int packed = pack_one(&f, ban, next_serial, format_network, head, fields, fields_size,
                              &out, &taken);
        Py_DECREF(ban);
        if (packed < 0) {
            fields_release(&f);
            Py_XDECREF(out.bytes);
            Py_XDECREF(taken);
            return NULL;
        }
        if (packed > 0)
            break;
    }
    fields_release(&f);
    if (i > PyList_GET_SIZE(bans))
        i = PyList_GET_SIZE(bans);
    PyObject *data = out.bytes;
    if (data == NULL)
        data = PyBytes_FromStringAndSize(NULL, 0);
    else if (_PyBytes_Resize(&data, out.used) < 0)
        data = NULL;
    if (data == NULL) {
        Py_XDECREF(taken);
        return NULL;
    }
    return Py_BuildValue("NnN", data, i, taken ? taken : Py_NewRef(Py_None));
}

PyDoc_STRVAR(pack_banned_many_doc,
"pack_banned_many(bans, start, limit, max_bytes, serial, format_network, head, fields)\n"
"    -> (bytes, stop, refused)\n\n"
"One BannedMany signal (a(ssta{sv})) with serial, of bans[start:stop]: at most limit\n"
"bans, and no ban after the array's bytes reach max_bytes. refused: bans[stop] is one\n"
"left to the Python code (stop is then the first ban not packed; the bytes are empty\n"
"when it is bans[start]). head: the signal's first 4 bytes; fields: its header fields,\n"
"padded to 8.");

static PyObject *
pack_banned_many(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *bans, *format_network;
    Py_ssize_t start, limit, max_bytes, serial;
    const char *head, *fields;
    Py_ssize_t head_size, fields_size;
    if (!PyArg_ParseTuple(args, "O!nnnnOy#y#:pack_banned_many", &PyList_Type, &bans, &start,
                          &limit, &max_bytes, &serial, &format_network, &head, &head_size,
                          &fields, &fields_size))
        return NULL;
    if (head_size != 4 || (12 + fields_size) % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "pack_banned_many: not a signal's head and fields");
        return NULL;
    }
    if (serial < 1 || serial > (Py_ssize_t)UINT32_MAX || limit < 1 || max_bytes < 1 ||
        max_bytes > (Py_ssize_t)1 << 26) {
        PyErr_SetString(PyExc_ValueError, "pack_banned_many: a serial, limit or size out of range");
        return NULL;
    }
    if (start < 0)
        start = 0;
    Buffer out = {NULL, NULL, 0, 0};
    Fields f = {NULL, {NULL}, NULL, 0};
    Py_ssize_t head_bytes = 12 + fields_size + 8; /* and the array's length, padded to 8 */
    if (reserve(&out, head_bytes) < 0)
        return NULL;
    Cursor c;
    c.start = c.at = (unsigned char *)out.data;
    c.end = c.start + head_bytes;
    put_head(&c, head, (uint32_t)serial, fields, fields_size);
    put_u32(&c, 0); /* the array's length, set at the end */
    pad(&c, 8);
    out.used = head_bytes;
    Py_ssize_t count = 0, array_bytes = 0;
    int refused = 0;
    Py_ssize_t i = start;
    for (; i < PyList_GET_SIZE(bans) && count < limit && array_bytes < max_bytes; i++) {
        PyObject *ban = PyList_GET_ITEM(bans, i);
        Py_INCREF(ban); /* (format_network may change the list) */
        if (f.names == NULL)
            fields_init(&f, ban, shown_names, 8);
        Shown v = {0};
        PyObject *address = NULL;
        Wire w;
        int result = wire_of(&f, ban, format_network, &v, &address, &w);
        if (result == 0) {
            Py_ssize_t bound = 7 + ban_bound(&w);
            if (reserve(&out, bound) < 0) {
                result = -1;
            } else {
                c.start = (unsigned char *)out.data;
                c.at = c.start + out.used;
                c.end = c.at + bound;
                pad(&c, 8);
                put_ban(&c, &w);
                if (c.at > c.end) { /* never: the bound above covers every write */
                    PyErr_SetString(PyExc_SystemError, "_announce: a BannedMany past its bound");
                    result = -1;
                } else {
                    out.used = c.at - c.start;
                    array_bytes = out.used - head_bytes;
                    count++;
                }
            }
        }
        Py_XDECREF(address);
        release_shown(&v);
        Py_DECREF(ban);
        if (result < 0) {
            fields_release(&f);
            Py_XDECREF(out.bytes);
            return NULL;
        }
        if (result > 0) {
            refused = 1;
            break;
        }
    }
    fields_release(&f);
    if (i > PyList_GET_SIZE(bans))
        i = PyList_GET_SIZE(bans);
    PyObject *data = out.bytes;
    if (count == 0) {
        Py_DECREF(data);
        data = PyBytes_FromStringAndSize(NULL, 0);
    } else {
        unsigned char *start_of = (unsigned char *)out.data;
        Cursor fix = {start_of + 4, start_of, start_of + head_bytes};
        put_u32(&fix, (uint32_t)(out.used - (12 + fields_size)));
        fix.at = start_of + 12 + fields_size;
        put_u32(&fix, (uint32_t)array_bytes);
        if (_PyBytes_Resize(&data, out.used) < 0)
            data = NULL;
    }
    if (data == NULL)
        return NULL;
    return Py_BuildValue("NnO", data, i, refused ? Py_True : Py_False);
}

/* ---- the log lines ----------------------------------------------------------------- */

/* "Ban " + the first ``chars`` characters of ``address`` + ``rest``. */
static PyObject *
ban_line(PyObject *address, Py_ssize_t chars, PyObject *rest)
{
    Py_ssize_t rest_n = PyUnicode_GET_LENGTH(rest);
    if (chars > PY_SSIZE_T_MAX - 4 - rest_n)
        return PyErr_NoMemory();
    Py_UCS4 maxchar = PyUnicode_MAX_CHAR_VALUE(address);
    if (PyUnicode_MAX_CHAR_VALUE(rest) > maxchar)
        maxchar = PyUnicode_MAX_CHAR_VALUE(rest);
    PyObject *line = PyUnicode_New(4 + chars + rest_n, maxchar);
    if (line == NULL)
        return NULL;
    if (PyUnicode_KIND(line) == PyUnicode_1BYTE_KIND) { /* (all three one byte a char) */
        Py_UCS1 *to = PyUnicode_1BYTE_DATA(line);
        memcpy(to, "Ban ", 4);
        memcpy(to + 4, PyUnicode_1BYTE_DATA(address), (size_t)chars);
        memcpy(to + 4 + chars, PyUnicode_1BYTE_DATA(rest), (size_t)rest_n);
        return line;
    }
    if (PyUnicode_CopyCharacters(line, 0, s_ban_prefix, 0, 4) < 0 ||
        PyUnicode_CopyCharacters(line, 4, address, 0, chars) < 0 ||
        PyUnicode_CopyCharacters(line, 4 + chars, rest, 0, rest_n) < 0) {
        Py_DECREF(line);
        return NULL;
    }
    return line;
}

/* The key of a ban's remembered rest, as ban_messages makes it: (jail, length, source,
 * reason, account), length None or max(0.0, expires_at - banned_at). The strings are
 * borrowed from ``got`` (new references to the five attributes, in that order, with
 * expires_at's and banned_at's values in the doubles). */
typedef struct {
    PyObject *jail, *source, *reason, *account;
    int permanent;
    double length;
} RestKey;

static PyObject *line_names[7];

PyDoc_STRVAR(ban_lines_doc,
"ban_lines(bans, rests, ban_message, format_network) -> list[str]\n\n"
"banlines.ban_messages(bans): each line 'Ban ' + its address + the rest remembered in\n"
"rests under (jail, length, source, reason, account), or ban_message(ban) where there is\n"
"none (or the ban is not of the usual types).");

static PyObject *
ban_lines(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *bans, *rests, *ban_message, *format_network;
    if (!PyArg_ParseTuple(args, "O!O!OO:ban_lines", &PyList_Type, &bans, &PyDict_Type,
                          &rests, &ban_message, &format_network))
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Fields f = {NULL, {NULL}, NULL, 0};
    RestKey last = {NULL, NULL, NULL, NULL, 0, 0.0};
    PyObject *last_rest = NULL; /* (a new reference: the rest of ``last``) */
    PyObject *kept[4] = {NULL, NULL, NULL, NULL}; /* the strings ``last`` borrows */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(bans); i++) {
        PyObject *ban = Py_NewRef(PyList_GET_ITEM(bans, i));
        PyObject *line = NULL, *address = NULL, *rest = NULL;
        PyObject *got[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
        if (f.names == NULL)
            fields_init(&f, ban, line_names, 7);
        int usual = 1;
        for (int k = 0; k < 6 && usual; k++) {
            got[k] = field(&f, ban, k);
            if (got[k] == NULL) {
                if (PyErr_Occurred())
                    goto failed;
                usual = 0;
            }
        }
        RestKey key = {NULL, NULL, NULL, NULL, 0, 0.0};
        if (usual) {
            key.jail = got[0];
            key.source = got[1];
            key.reason = got[2];
            key.account = got[3];
            if (got[4] == Py_None)
                key.permanent = 1;
            else if (PyFloat_CheckExact(got[4]) && PyFloat_CheckExact(got[5])) {
                key.length = PyFloat_AS_DOUBLE(got[4]) - PyFloat_AS_DOUBLE(got[5]);
                if (!(key.length > 0.0))
                    key.length = 0.0;
            } else
                usual = 0; /* (an int's length: Python's arithmetic) */
        }
        if (usual && last_rest != NULL && key.jail == last.jail &&
            key.source == last.source && key.reason == last.reason &&
            key.account == last.account && key.permanent == last.permanent &&
            (key.permanent || key.length == last.length)) {
            rest = Py_NewRef(last_rest);
        } else if (usual) {
            PyObject *length = key.permanent ? Py_NewRef(Py_None)
                                             : PyFloat_FromDouble(key.length);
            if (length == NULL)
                goto failed;
            PyObject *tuple = PyTuple_Pack(5, key.jail, length, key.source, key.reason,
                                           key.account);
            Py_DECREF(length);
            if (tuple == NULL)
                goto failed;
            rest = PyDict_GetItemWithError(rests, tuple);
            Py_DECREF(tuple);
            if (rest == NULL && PyErr_Occurred())
                goto failed;
            if (rest != NULL && PyUnicode_CheckExact(rest)) {
                Py_INCREF(rest);
                Py_XSETREF(last_rest, Py_NewRef(rest));
                for (int k = 0; k < 4; k++)
                    Py_XSETREF(kept[k], Py_NewRef(got[k]));
                last = key;
            } else
                rest = NULL;
        }
        if (rest != NULL) {
            PyObject *net = field(&f, ban, 6);
            if (net == NULL) {
                if (PyErr_Occurred())
                    goto failed;
                Py_CLEAR(rest);
            } else {
                Py_ssize_t chars = 0;
                int found = address_of(net, format_network, &address, &chars);
                Py_DECREF(net);
                if (found < 0 && !PyErr_ExceptionMatches(PyExc_Exception))
                    goto failed;
                if (found < 0) /* (ban_message's to raise, below) */
                    PyErr_Clear();
                else {
                    line = ban_line(address, chars, rest);
                    if (line == NULL)
                        goto failed;
                }
            }
        }
        if (line == NULL) { /* ban_message's own way: it remembers the rest for the next */
            line = PyObject_CallOneArg(ban_message, ban);
            if (line == NULL)
                goto failed;
        }
        int appended = PyList_Append(out, line);
        Py_DECREF(line);
        line = NULL;
        if (appended < 0)
            goto failed;
        Py_XDECREF(address);
        Py_XDECREF(rest);
        for (int k = 0; k < 6; k++)
            Py_XDECREF(got[k]);
        Py_DECREF(ban);
        continue;
    failed:
        Py_XDECREF(line);
        Py_XDECREF(address);
        Py_XDECREF(rest);
        for (int k = 0; k < 6; k++)
            Py_XDECREF(got[k]);
        Py_DECREF(ban);
        Py_XDECREF(last_rest);
        for (int k = 0; k < 4; k++)
            Py_XDECREF(kept[k]);
        fields_release(&f);
        Py_DECREF(out);
        return NULL;
    }
    fields_release(&f);
    Py_XDECREF(last_rest);
    for (int k = 0; k < 4; k++)
        Py_XDECREF(kept[k]);
    return out;
}

/* ---- the firewall's entries -------------------------------------------------------- */

PyDoc_STRVAR(ban_entries_doc,
"ban_entries(bans, entry_type, uses, ask) -> list\n\n"
"entry_type(ban.jail, ban.network, ban.expires_at) of each of bans whose jail uses the\n"
"firewall: uses[jail], or ask(jail) (then kept in uses) where it holds none. The entries\n"
"are made as entrymaker.new_entry makes them: the type's three slots set through their\n"
"descriptors, no __init__ (entry_type must be a slotted type of those three fields).");

static PyObject *
ban_entries(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *bans, *uses, *ask;
    PyTypeObject *type;
    if (!PyArg_ParseTuple(args, "O!O!O!O:ban_entries", &PyList_Type, &bans, &PyType_Type,
                          &type, &PyDict_Type, &uses, &ask))
        return NULL;
    PyObject *names[3] = {s_jail, s_network, s_expires_at};
    PyObject *slots[3] = {NULL, NULL, NULL};
    PyObject *out = NULL;
    for (int k = 0; k < 3; k++) {
        slots[k] = PyDict_GetItemWithError(type->tp_dict, names[k]);
        if (slots[k] == NULL || !Py_IS_TYPE(slots[k], &PyMemberDescr_Type) ||
            Py_TYPE(slots[k])->tp_descr_set == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "ban_entries: not a type of three slots");
            return NULL;
        }
    }
    for (int k = 0; k < 3; k++)
        Py_INCREF(slots[k]);
    if (type->tp_alloc == NULL || type->tp_dictoffset != 0) {
        PyErr_SetString(PyExc_TypeError, "ban_entries: not a type of three slots");
        goto failed;
    }
    out = PyList_New(0);
    if (out == NULL)
        goto failed;
    Fields f = {NULL, {NULL}, NULL, 0};
    PyObject *last_jail = NULL; /* (a new reference: the jail ``last_use`` is of) */
    int last_use = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(bans); i++) {
        PyObject *ban = Py_NewRef(PyList_GET_ITEM(bans, i));
        PyObject *value[3] = {NULL, NULL, NULL};
        if (f.names == NULL)
            fields_init(&f, ban, names, 3);
        /* In the Python loop's order: the jail, whether it uses the firewall, and only
         * then the network and the expiry (a ban of a jail that does not is not read). */
        value[0] = field(&f, ban, 0);
        if (value[0] == NULL && !PyErr_Occurred()) /* (as getattr: AttributeError) */
            PyErr_SetObject(PyExc_AttributeError, names[0]);
        int failed = value[0] == NULL;
        int use = last_use;
        if (!failed && value[0] != last_jail) {
            /* uses.get(jail), asked where None (an answer of None is asked again) */
            PyObject *known = PyDict_GetItemWithError(uses, value[0]);
            if (known == NULL && PyErr_Occurred())
                failed = 1;
            else if (known != NULL && known != Py_None)
                Py_INCREF(known);
            else {
                known = PyObject_CallOneArg(ask, value[0]);
                if (known == NULL || PyDict_SetItem(uses, value[0], known) < 0)
                    failed = 1;
            }
            if (!failed) {
                use = PyObject_IsTrue(known);
                failed = use < 0;
            }
            if (!failed && known != Py_None) {
                Py_XSETREF(last_jail, Py_NewRef(value[0]));
                last_use = use;
            } else {
                Py_CLEAR(last_jail);
            }
            Py_XDECREF(known);
        }
        for (int k = 1; k < 3 && !failed && use; k++) {
            value[k] = field(&f, ban, k);
            if (value[k] == NULL && !PyErr_Occurred())
                PyErr_SetObject(PyExc_AttributeError, names[k]);
            failed = value[k] == NULL;
        }
        Py_DECREF(ban);
        PyObject *entry = NULL;
        if (!failed && use) {
            entry = type->tp_alloc(type, 0);
            failed = entry == NULL;
            for (int k = 0; k < 3 && !failed; k++)
                failed = Py_TYPE(slots[k])->tp_descr_set(slots[k], entry, value[k]) < 0;
            if (!failed)
                failed = PyList_Append(out, entry) < 0;
        }
        Py_XDECREF(entry);
        for (int k = 0; k < 3; k++)
            Py_XDECREF(value[k]);
        if (failed) {
            Py_XDECREF(last_jail);
            fields_release(&f);
            goto failed;
        }
    }
    Py_XDECREF(last_jail);
    fields_release(&f);
    for (int k = 0; k < 3; k++)
        Py_DECREF(slots[k]);
    return out;
failed:
    for (int k = 0; k < 3; k++)
        Py_XDECREF(slots[k]);
    Py_XDECREF(out);
    return NULL;
}

/* ---- the dry-run firewall's batch ---------------------------------------------------- */

PyDoc_STRVAR(hold_entries_doc,
"hold_entries(add, now, held, banned) -> None\n\n"
"The additions of firewall.dryrun.DryRunBackend.apply: each entry of add not expired at\n"
"now (expires_at None, or > now) kept in held[jail][network] = expires_at and its network\n"
"appended to banned[jail] (each made {} and [] when absent), in order.");

static PyObject *
hold_entries(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *add, *now, *held, *banned;
    if (!PyArg_ParseTuple(args, "O!OO!O!:hold_entries", &PyList_Type, &add, &now,
                          &PyDict_Type, &held, &PyDict_Type, &banned))
        return NULL;
    PyObject *names[3] = {s_jail, s_network, s_expires_at};
    Fields f = {NULL, {NULL}, NULL, 0};
    PyObject *last = NULL, *table = NULL, *nets = NULL; /* (new references) */
    int failed = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(add) && !failed; i++) {
        PyObject *entry = Py_NewRef(PyList_GET_ITEM(add, i));
        PyObject *value[3] = {NULL, NULL, NULL};
        if (f.names == NULL)
            fields_init(&f, entry, names, 3);
        /* In the Python loop's order: the expiry, then (not expired) the jail, its table,
         * then the network. */
        PyObject *expires_at = value[2] = field(&f, entry, 2);
        if (expires_at == NULL && !PyErr_Occurred())
            PyErr_SetObject(PyExc_AttributeError, names[2]);
        failed = expires_at == NULL;
        int expired = 0;
        if (!failed && expires_at != Py_None) {
            if (PyFloat_CheckExact(expires_at) && PyFloat_CheckExact(now))
                expired = PyFloat_AS_DOUBLE(expires_at) <= PyFloat_AS_DOUBLE(now);
            else
                expired = PyObject_RichCompareBool(expires_at, now, Py_LE);
            failed = expired < 0;
        }
        PyObject *jail = NULL, *network = NULL;
        if (!failed && !expired) {
            jail = value[0] = field(&f, entry, 0);
            if (jail == NULL && !PyErr_Occurred())
                PyErr_SetObject(PyExc_AttributeError, names[0]);
            failed = jail == NULL;
        }
        int other = 0;
        if (!failed && !expired) { /* (the Python loop's last jail is None at first) */
            PyObject *was = last == NULL ? Py_None : last;
            other = jail == was ? 0 : PyObject_RichCompareBool(jail, was, Py_NE);
            failed = other < 0;
        }
        if (!failed && !expired && other) {
            Py_XSETREF(last, Py_NewRef(jail));
            Py_CLEAR(table);
            Py_CLEAR(nets);
            PyObject *made = PyDict_New();
            table = made ? PyDict_SetDefault(held, jail, made) : NULL;
            Py_XDECREF(made);
            Py_XINCREF(table);
            made = table ? PyList_New(0) : NULL;
            nets = made ? PyDict_SetDefault(banned, jail, made) : NULL;
            Py_XDECREF(made);
            Py_XINCREF(nets);
            failed = nets == NULL;
            if (!failed && !PyList_Check(nets)) {
                PyErr_SetString(PyExc_TypeError, "hold_entries: a jail's networks not a list");
                failed = 1;
            }
        }
        if (!failed && !expired) {
            network = value[1] = field(&f, entry, 1);
            if (network == NULL && !PyErr_Occurred())
                PyErr_SetObject(PyExc_AttributeError, names[1]);
            failed = network == NULL;
        }
        Py_DECREF(entry);
        if (!failed && !expired && table == NULL) /* (a first jail equal to None: the */
            failed = PyObject_Hash(network) == -1; /* Python loop's table is a new dict) */
        else if (!failed && !expired)
            failed = PyObject_SetItem(table, network, expires_at) < 0 ||
                     PyList_Append(nets, network) < 0;
        for (int k = 0; k < 3; k++)
            Py_XDECREF(value[k]);
    }
    Py_XDECREF(last);
    Py_XDECREF(table);
    Py_XDECREF(nets);
    fields_release(&f);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"pack_banned", pack_banned, METH_VARARGS, pack_banned_doc},
    {"pack_banned_many", pack_banned_many, METH_VARARGS, pack_banned_many_doc},
    {"ban_lines", ban_lines, METH_VARARGS, ban_lines_doc},
    {"ban_entries", ban_entries, METH_VARARGS, ban_entries_doc},
    {"hold_entries", hold_entries, METH_VARARGS, hold_entries_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "journalban._announce",
    .m_doc = "A run of decided bans announced in C: signals, log lines, firewall entries.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__announce(void)
{
    struct {
        PyObject **where;
        const char *text;
    } names[] = {
        {&s_network, "network"},       {&s_jail, "jail"},
        {&s_source, "source"},         {&s_reason, "reason"},
        {&s_account, "account"},       {&s_expires_at, "expires_at"},
        {&s_banned_at, "banned_at"},   {&s_failures, "failures"},
        {&s_ban_count, "ban_count"},   {&s_text, "_text"},
        {&s_ban_prefix, "Ban "},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].where == NULL) {
            *names[i].where = PyUnicode_InternFromString(names[i].text);
            if (*names[i].where == NULL)
                return NULL;
        }
    }
    entry_init(&e_failures, "failures", 'u');
    entry_init(&e_source, "source", 's');
    entry_init(&e_ban_count, "ban_count", 'u');
    entry_init(&e_banned_at, "banned_at_usec", 't');
    entry_init(&e_reason, "reason", 's');
    PyObject *shown[8] = {s_network, s_jail, s_expires_at, s_failures,
                          s_source, s_ban_count, s_banned_at, s_reason};
    memcpy(shown_names, shown, sizeof(shown));
    PyObject *line[7] = {s_jail, s_source, s_reason, s_account, s_expires_at, s_banned_at,
                         s_network};
    memcpy(line_names, line, sizeof(line));
    return PyModule_Create(&module);
}
