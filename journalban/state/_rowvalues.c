/* A batch's ban rows' columns in C (issue 19): journalban.state.commitrows.ban_values and
 * lines_text, the same objects and texts, without a Python step per ban.
 *
 * A ban's matched lines are stored as json.dumps(list(lines)) writes them (ensure_ascii):
 * each line between quotes, '"' and '\\' escaped by a backslash, \b \f \n \r \t by their
 * short escapes, every other character outside ' '..'~' (control characters, DEL,
 * non-ASCII, lone surrogates) as \uXXXX in lower-case hex, a character past U+FFFF as its
 * UTF-16 pair; the lines joined by ", " inside brackets. Every output text is ASCII; its
 * size is counted first (each character at most 12 bytes, checked against overflow),
 * then written in place: no write past the buffer counted.
 *
 * The module is optional: the pure-Python path (commitrows.ban_values) stays the
 * reference and tests/unit/test_row_values_native.py runs both on the same bans.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

static const char HEX[] = "0123456789abcdef";

/* The bytes the escape writes for the code point c. */
static inline Py_ssize_t
escaped_size(Py_UCS4 c)
{
    if (c >= ' ' && c <= '~')
        return (c == '"' || c == '\\') ? 2 : 1;
    if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
        return 2;
    return c >= 0x10000 ? 12 : 6;
}

static inline Py_UCS1 *
write_u(Py_UCS1 *out, Py_UCS4 c)
{
    out[0] = '\\';
    out[1] = 'u';
    out[2] = (Py_UCS1)HEX[(c >> 12) & 0xf];
    out[3] = (Py_UCS1)HEX[(c >> 8) & 0xf];
    out[4] = (Py_UCS1)HEX[(c >> 4) & 0xf];
    out[5] = (Py_UCS1)HEX[c & 0xf];
    return out + 6;
}

/* Writes the escape of c at out (escaped_size(c) bytes); returns the byte after. */
static inline Py_UCS1 *
write_escaped(Py_UCS1 *out, Py_UCS4 c)
{
    if (c >= ' ' && c <= '~') {
        if (c == '"' || c == '\\')
            *out++ = '\\';
        *out++ = (Py_UCS1)c;
        return out;
    }
    switch (c) {
    case '\b': *out++ = '\\'; *out++ = 'b'; return out;
    case '\f': *out++ = '\\'; *out++ = 'f'; return out;
    case '\n': *out++ = '\\'; *out++ = 'n'; return out;
    case '\r': *out++ = '\\'; *out++ = 'r'; return out;
    case '\t': *out++ = '\\'; *out++ = 't'; return out;
    default: break;
    }
    if (c >= 0x10000) {
        Py_UCS4 v = c - 0x10000;
        out = write_u(out, 0xd800 | ((v >> 10) & 0x3ff));
        return write_u(out, 0xdc00 | (v & 0x3ff));
    }
    return write_u(out, c);
}

/* Each 1-byte character's escape size (json's ASCII escape): 1 for ' '..'~' but '"' and
 * '\\', 2 for those two and the short escapes, 6 for the rest (\uXXXX). */
static Py_ssize_t SIZE1[256];

static void
fill_sizes(void)
{
    for (int c = 0; c < 256; c++)
        SIZE1[c] = escaped_size((Py_UCS4)c);
}

/* The size of line's escape (quotes excluded), or -1 with an exception set. */
static Py_ssize_t
line_size(PyObject *line)
{
    if (!PyUnicode_Check(line)) {
        PyErr_Format(PyExc_TypeError, "a ban's line must be str, not %.80s",
                     Py_TYPE(line)->tp_name);
        return -1;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(line) < 0)
        return -1;
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    if (n > PY_SSIZE_T_MAX / 16) { /* (12 bytes a character at most) */
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t size = 0;
    switch (PyUnicode_KIND(line)) {
    case PyUnicode_1BYTE_KIND: {
        const Py_UCS1 *data = PyUnicode_1BYTE_DATA(line);
        for (Py_ssize_t i = 0; i < n; i++)
            size += SIZE1[data[i]];
        break;
    }
    case PyUnicode_2BYTE_KIND: {
        const Py_UCS2 *data = PyUnicode_2BYTE_DATA(line);
        for (Py_ssize_t i = 0; i < n; i++)
            size += escaped_size(data[i]);
        break;
    }
    default: {
        const Py_UCS4 *data = PyUnicode_4BYTE_DATA(line);
        for (Py_ssize_t i = 0; i < n; i++)
            size += escaped_size(data[i]);
        break;
    }
    }
    return size;
}

/* Writes line's escape at out (line_size(line) bytes); returns the byte after. */
static Py_UCS1 *
write_line(Py_UCS1 *out, PyObject *line)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    switch (PyUnicode_KIND(line)) {
    case PyUnicode_1BYTE_KIND: {
        const Py_UCS1 *data = PyUnicode_1BYTE_DATA(line);
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS1 c = data[i];
            if (SIZE1[c] == 1)
                *out++ = c;
            else
                out = write_escaped(out, c);
        }
        break;
    }
    case PyUnicode_2BYTE_KIND: {
        const Py_UCS2 *data = PyUnicode_2BYTE_DATA(line);
        for (Py_ssize_t i = 0; i < n; i++)
            out = write_escaped(out, data[i]);
        break;
    }
    default: {
        const Py_UCS4 *data = PyUnicode_4BYTE_DATA(line);
        for (Py_ssize_t i = 0; i < n; i++)
            out = write_escaped(out, data[i]);
        break;
    }
    }
    return out;
}

/* json.dumps(list(lines)) of a sequence of str; NULL with an exception otherwise. */
static PyObject *
lines_json(PyObject *lines)
{
    PyObject *seq = PySequence_Fast(lines, "a ban's lines must be a sequence");
    if (seq == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_ssize_t size = 2; /* the brackets */
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t one = line_size(items[i]);
        if (one < 0) {
            Py_DECREF(seq);
            return NULL;
        }
        if (one > PY_SSIZE_T_MAX / 2 - size - 4) { /* (size stays at most half of it) */
            Py_DECREF(seq);
            return PyErr_NoMemory();
        }
        size += one + 2 + (i ? 2 : 0); /* two quotes, and ", " before all but the first */
    }
    PyObject *text = PyUnicode_New(size, 127);
    if (text == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(text);
    Py_UCS1 *start = out;
    *out++ = '[';
    for (Py_ssize_t i = 0; i < count; i++) {
        if (i) {
            *out++ = ',';
            *out++ = ' ';
        }
        *out++ = '"';
        out = write_line(out, items[i]);
        *out++ = '"';
    }
    *out++ = ']';
    Py_DECREF(seq);
    if (out - start != size) { /* (cannot happen: the sizes above are the writes') */
        Py_DECREF(text);
        PyErr_SetString(PyExc_SystemError, "lines_text: size mismatch");
        return NULL;
    }
    return text;
}

static PyObject *
lines_text(PyObject *Py_UNUSED(module), PyObject *lines)
{
    return lines_json(lines);
}

/* Interned attribute names of a Ban. */
static PyObject *s_jail, *s_network, *s_banned_at, *s_expires_at, *s_ban_count, *s_reason,
    *s_failures, *s_source, *s_lines, *s_account;

/* The network's text: its attribute text_attr if set and not empty, else
 * network_text(network). */
static PyObject *
network_of(PyObject *network, PyObject *text_attr, PyObject *network_text)
{
    PyObject *text = PyObject_GetAttr(network, text_attr);
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return NULL;
        PyErr_Clear();
    } else {
        int truth = PyObject_IsTrue(text);
        if (truth > 0)
            return text;
        Py_DECREF(text);
        if (truth < 0)
            return NULL;
    }
    return PyObject_CallOneArg(network_text, network);
}

/* Where a Ban type's fields are (its slots' member descriptors), looked up once per type
 * in a call of ban_values: a field read there is what getattr reads (a member descriptor
 * is a data descriptor: it comes before an instance dict), without the type's lookup and
 * the descriptor's call per field (sshd-flood's commits: 55,000 bans, ten fields each). */
enum { F_JAIL, F_NETWORK, F_BANNED_AT, F_EXPIRES_AT, F_BAN_COUNT, F_REASON, F_FAILURES,
       F_SOURCE, F_LINES, F_ACCOUNT, N_FIELDS };
typedef struct {
    PyTypeObject *type;            /* (a reference) the type of these, or NULL */
    unsigned int tag;              /* its version tag then: changed if the type is */
    Py_ssize_t offset[N_FIELDS];   /* -1: read through getattr */
} Fields;

static PyObject **const FIELD_NAMES[N_FIELDS] = {
    &s_jail, &s_network, &s_banned_at, &s_expires_at, &s_ban_count, &s_reason, &s_failures,
    &s_source, &s_lines, &s_account,
};

/* fields for type: each field's slot offset where getattr would read that slot as it is
 * (the generic getattr, a member descriptor of an object slot without an audit hook),
 * else -1 (read through getattr). */
static void
fields_of(Fields *fields, PyTypeObject *type)
{
    Py_XSETREF(fields->type, (PyTypeObject *)Py_NewRef(type));
    int generic = type->tp_getattro == PyObject_GenericGetAttr;
    for (int k = 0; k < N_FIELDS; k++) {
        fields->offset[k] = -1;
        if (!generic)
            continue;
        PyObject *descr = _PyType_Lookup(type, *FIELD_NAMES[k]); /* (borrowed; no error) */
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type))
            continue;
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == T_OBJECT_EX && !(member->flags & PY_AUDIT_READ)
            && member->offset >= (Py_ssize_t)sizeof(PyObject)
            && member->offset + (Py_ssize_t)sizeof(PyObject *) <= type->tp_basicsize)
            fields->offset[k] = member->offset;
    }
    /* (looked up: the type has a version tag, unless it cannot have one) */
    fields->tag = PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) ? type->tp_version_tag
                                                                        : 0;
}

/* Field k of ban (a new reference), from its slot where fields allow, else by getattr. */
static inline PyObject *
field(PyObject *ban, const Fields *fields, int k)
{
    Py_ssize_t offset = fields->offset[k];
    if (offset >= 0) {
        PyObject *value = *(PyObject **)((char *)ban + offset);
        if (value != NULL)
            return Py_NewRef(value);
    }
    return PyObject_GetAttr(ban, *FIELD_NAMES[k]); /* (an unset slot: its AttributeError) */
}

/* fields made right for ban's type (looked up again for a new type or a changed one). */
static void
fields_for(Fields *fields, PyObject *ban)
{
    PyTypeObject *type = Py_TYPE(ban);
    if (type != fields->type || fields->tag == 0 || type->tp_version_tag != fields->tag
        || !PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG))
        fields_of(fields, type);
    if (fields->tag == 0) /* (no version tag to tell a change by: getattr each time) */
        for (int k = 0; k < N_FIELDS; k++)
            fields->offset[k] = -1;
}

/* The ten columns of ban into row (new references); -1 with an exception set. */
static int
ban_row(PyObject *ban, PyObject *lines_of, PyObject *text_attr, PyObject *network_text,
        Fields *fields, PyObject **row)
{
    PyObject *network = NULL, *lines = NULL, *account = NULL;
    fields_for(fields, ban);
    if (!(row[0] = field(ban, fields, F_JAIL)))
        goto fail;
    if (!(network = field(ban, fields, F_NETWORK)))
        goto fail;
    if (!(row[1] = network_of(network, text_attr, network_text)))
        goto fail;
    Py_CLEAR(network);
    /* (network_text is Python: the type may have changed meanwhile) */
    fields_for(fields, ban);
    if (!(row[2] = field(ban, fields, F_BANNED_AT)))
        goto fail;
    if (!(row[3] = field(ban, fields, F_EXPIRES_AT)))
        goto fail;
    if (!(row[4] = field(ban, fields, F_BAN_COUNT)))
        goto fail;
    if (!(row[5] = field(ban, fields, F_REASON)))
        goto fail;
    if (!(row[6] = field(ban, fields, F_FAILURES)))
        goto fail;
    if (!(row[7] = field(ban, fields, F_SOURCE)))
        goto fail;
    if (lines_of != NULL) {
        PyObject *key = PyLong_FromVoidPtr(ban);
        if (key == NULL)
            goto fail;
        lines = PyDict_GetItemWithError(lines_of, key); /* (borrowed) */
        Py_DECREF(key);
        if (lines != NULL)
            Py_INCREF(lines);
        else if (PyErr_Occurred())
            goto fail;
    }
    if (lines == NULL && !(lines = field(ban, fields, F_LINES)))
        goto fail;
    if (!(row[8] = lines_json(lines)))
        goto fail;
    Py_CLEAR(lines);
    if (!(account = field(ban, fields, F_ACCOUNT)))
        goto fail;
    int truth = PyObject_IsTrue(account);
    if (truth < 0)
        goto fail;
    if (truth) {
        row[9] = account;
    } else {
        Py_DECREF(account);
        row[9] = Py_NewRef(Py_None);
    }
    return 0;
fail:
    Py_XDECREF(network);
    Py_XDECREF(lines);
    Py_XDECREF(account);
    for (int k = 0; k < 10; k++)
        Py_CLEAR(row[k]);
    return -1;
}

/* ban_values(bans, lines_of, text_attr, network_text): commitrows.ban_values's list. */
static PyObject *
ban_values(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "ban_values(bans, lines_of, text_attr, network_text) takes 4 arguments");
        return NULL;
    }
    PyObject *lines_of = args[1], *text_attr = args[2], *network_text = args[3];
    if (lines_of == Py_None) {
        lines_of = NULL;
    } else if (!PyDict_Check(lines_of)) {
        PyErr_SetString(PyExc_TypeError, "lines_of must be a dict or None");
        return NULL;
    } else if (PyDict_GET_SIZE(lines_of) == 0) {
        lines_of = NULL;
    }
    if (!PyUnicode_Check(text_attr)) {
        PyErr_SetString(PyExc_TypeError, "text_attr must be str");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[0], "bans must be a sequence");
    if (seq == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    if (count > PY_SSIZE_T_MAX / 10 / (Py_ssize_t)sizeof(PyObject *)) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    PyObject *out = PyList_New(count * 10);
    if (out == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    Fields fields = {NULL, 0, {0}};
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *row[10] = {NULL};
        /* (bans is a list or tuple held by seq: its item stays alive through the call,
         * but a Python call inside may change a list: take a reference) */
        PyObject *ban = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
        int failed = ban_row(ban, lines_of, text_attr, network_text, &fields, row);
        Py_DECREF(ban);
        if (failed) {
            Py_XDECREF(fields.type);
            Py_DECREF(out);
            Py_DECREF(seq);
            return NULL;
        }
        for (int k = 0; k < 10; k++)
            PyList_SET_ITEM(out, i * 10 + k, row[k]);
        if (PySequence_Fast_GET_SIZE(seq) != count) {
            Py_XDECREF(fields.type);
            Py_DECREF(out);
            Py_DECREF(seq);
            PyErr_SetString(PyExc_RuntimeError, "bans changed size during ban_values");
            return NULL;
        }
    }
    Py_XDECREF(fields.type);
    Py_DECREF(seq);
    return out;
}

/* The columns a statement's rows may share (commitrows._SHARED), a prefix of them:
 * jail, source, reason, lines. */
#define N_SHARED 4
static const Py_ssize_t SHARED[N_SHARED] = {0, 7, 5, 8};

/* shared_params(part): (shared, parameters) of a statement of new bans whose rows'
 * columns (ten a row, row after row) are part: shared n (2 to 4) with [the first n of
 * jail, source, reason and lines, each row's other 10 - n columns] when every row has the
 * first row's values in those n columns (and not in the next one); else 0 and part itself
 * (commitrows._bans_statement's choice, equality as list.count's). */
static PyObject *
shared_params(PyObject *Py_UNUSED(module), PyObject *part)
{
    if (!PyList_CheckExact(part)) {
        PyErr_SetString(PyExc_TypeError, "shared_params takes a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(part);
    if (n == 0 || n % 10)
        return Py_BuildValue("(iO)", 0, part);
    Py_ssize_t rows = n / 10;
    PyObject *first[N_SHARED];
    for (int k = 0; k < N_SHARED; k++)
        first[k] = Py_NewRef(PyList_GET_ITEM(part, SHARED[k]));
    int shared = N_SHARED;
    for (Py_ssize_t r = 1; r < rows && shared >= 2; r++) {
        for (int k = 0; k < shared; k++) {
            /* (an __eq__ of Python may change the list: its size is checked each time) */
            if (PyList_GET_SIZE(part) != n) {
                PyErr_SetString(PyExc_RuntimeError, "the statement's values changed");
                goto fail;
            }
            PyObject *item = Py_NewRef(PyList_GET_ITEM(part, r * 10 + SHARED[k]));
            int same = PyObject_RichCompareBool(item, first[k], Py_EQ);
            Py_DECREF(item);
            if (same < 0)
                goto fail;
            if (!same) {
                shared = k; /* 0 or 1: none shared; else the first k */
                break;
            }
        }
    }
    if (PyList_GET_SIZE(part) != n) {
        PyErr_SetString(PyExc_RuntimeError, "the statement's values changed");
        goto fail;
    }
    if (shared < 2) {
        for (int k = 0; k < N_SHARED; k++)
            Py_DECREF(first[k]);
        return Py_BuildValue("(iO)", 0, part);
    }
    int own[10];
    for (int c = 0; c < 10; c++)
        own[c] = 1;
    for (int k = 0; k < shared; k++)
        own[SHARED[k]] = 0;
    PyObject *params = PyList_New(shared + rows * (10 - shared));
    if (params == NULL)
        goto fail;
    Py_ssize_t at = 0;
    for (int k = 0; k < shared; k++)
        PyList_SET_ITEM(params, at++, Py_NewRef(first[k]));
    for (Py_ssize_t r = 0; r < rows; r++) {
        for (Py_ssize_t c = 0; c < 10; c++) {
            if (own[c])
                PyList_SET_ITEM(params, at++, Py_NewRef(PyList_GET_ITEM(part, r * 10 + c)));
        }
    }
    for (int k = 0; k < N_SHARED; k++)
        Py_DECREF(first[k]);
    PyObject *out = Py_BuildValue("(iN)", shared, params);
    return out;
fail:
    for (int k = 0; k < N_SHARED; k++)
        Py_DECREF(first[k]);
    return NULL;
}

/* Whether text holds the character a or b. */
static int
holds(PyObject *text, Py_UCS4 a, Py_UCS4 b)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    if (kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *c = data;
        Py_UCS4 low = a > b ? a : b; /* (marks are control characters: one test a byte) */
        for (Py_ssize_t i = 0; i < n; i++)
            if (c[i] <= low && (c[i] == a || c[i] == b))
                return 1;
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == a || c == b)
            return 1;
    }
    return 0;
}

/* A one-character str's character, or (Py_UCS4)-1 with an exception set. */
static Py_UCS4
one_char(PyObject *text)
{
    if (!PyUnicode_Check(text) || PyUnicode_GET_LENGTH(text) != 1) {
        PyErr_SetString(PyExc_TypeError, "a mark must be a str of one character");
        return (Py_UCS4)-1;
    }
    return PyUnicode_READ_CHAR(text, 0);
}

/* packed(changes, head, sep, gone): detectorlog._text's packed form of a non-empty dict
 * of str keys and str-or-None values: head, then keys and values in turn with sep
 * between them, gone for None. None where that form does not hold them (empty, a key or
 * value not text, or holding sep or gone): the caller writes JSON. */
static PyObject *
packed(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "packed(changes, head, sep, gone) takes 4 arguments");
        return NULL;
    }
    PyObject *changes = args[0];
    if (!PyDict_Check(changes)) {
        PyErr_SetString(PyExc_TypeError, "packed takes a dict");
        return NULL;
    }
    Py_UCS4 head = one_char(args[1]), sep = one_char(args[2]), gone = one_char(args[3]);
    if (head == (Py_UCS4)-1 || sep == (Py_UCS4)-1 || gone == (Py_UCS4)-1)
        return NULL;
    Py_ssize_t count = PyDict_GET_SIZE(changes);
    if (count == 0)
        Py_RETURN_NONE;
    /* (no Python code runs below: the dict cannot change while it is walked) */
    Py_UCS4 most = head > sep ? head : sep;
    if (gone > most)
        most = gone;
    Py_ssize_t size = 1 + 2 * count - 1, pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(changes, &pos, &key, &value)) {
        if (!PyUnicode_Check(key) || (value != Py_None && !PyUnicode_Check(value)))
            Py_RETURN_NONE;
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(key) < 0 || (value != Py_None && PyUnicode_READY(value) < 0))
            return NULL;
#endif
        if (holds(key, sep, gone))
            Py_RETURN_NONE;
        Py_ssize_t more = PyUnicode_GET_LENGTH(key);
        if (PyUnicode_MAX_CHAR_VALUE(key) > most)
            most = PyUnicode_MAX_CHAR_VALUE(key);
        if (value != Py_None) {
            if (holds(value, sep, gone))
                Py_RETURN_NONE;
            if (PyUnicode_GET_LENGTH(value) > PY_SSIZE_T_MAX / 4 - more)
                return PyErr_NoMemory();
            more += PyUnicode_GET_LENGTH(value) - 1; /* (gone's one counted above) */
            if (PyUnicode_MAX_CHAR_VALUE(value) > most)
                most = PyUnicode_MAX_CHAR_VALUE(value);
        }
        if (more > PY_SSIZE_T_MAX / 4 - size)
            return PyErr_NoMemory();
        size += more + 1; /* (the value's one character, or gone) */
    }
    PyObject *out = PyUnicode_New(size, most);
    if (out == NULL)
        return NULL;
    Py_ssize_t at = 0;
    pos = 0;
    if (most < 256) { /* (every text one byte a character: copied by memcpy) */
        Py_UCS1 *to = PyUnicode_1BYTE_DATA(out);
        to[at++] = (Py_UCS1)head;
        while (PyDict_Next(changes, &pos, &key, &value)) {
            if (at > 1) {
                if (at + 1 > size)
                    goto fail;
                to[at++] = (Py_UCS1)sep;
            }
            Py_ssize_t n = PyUnicode_GET_LENGTH(key);
            if (PyUnicode_KIND(key) != PyUnicode_1BYTE_KIND || at + n + 1 > size)
                goto fail;
            memcpy(to + at, PyUnicode_1BYTE_DATA(key), (size_t)n);
            at += n;
            to[at++] = (Py_UCS1)sep;
            if (value == Py_None) {
                if (at + 1 > size)
                    goto fail;
                to[at++] = (Py_UCS1)gone;
                continue;
            }
            n = PyUnicode_GET_LENGTH(value);
            if (PyUnicode_KIND(value) != PyUnicode_1BYTE_KIND || at + n > size)
                goto fail;
            memcpy(to + at, PyUnicode_1BYTE_DATA(value), (size_t)n);
            at += n;
        }
        if (at != size)
            goto fail;
        return out;
    }
    PyUnicode_WRITE(PyUnicode_KIND(out), PyUnicode_DATA(out), at++, head);
    int first = 1;
    while (PyDict_Next(changes, &pos, &key, &value)) {
        if (!first) {
            if (at + 1 > size)
                goto fail;
            PyUnicode_WRITE(PyUnicode_KIND(out), PyUnicode_DATA(out), at++, sep);
        }
        first = 0;
        Py_ssize_t n = PyUnicode_GET_LENGTH(key);
        if (at + n + 1 > size || PyUnicode_CopyCharacters(out, at, key, 0, n) < 0)
            goto fail;
        at += n;
        PyUnicode_WRITE(PyUnicode_KIND(out), PyUnicode_DATA(out), at++, sep);
        if (value == Py_None) {
            if (at + 1 > size)
                goto fail;
            PyUnicode_WRITE(PyUnicode_KIND(out), PyUnicode_DATA(out), at++, gone);
        } else {
            n = PyUnicode_GET_LENGTH(value);
            if (at + n > size || PyUnicode_CopyCharacters(out, at, value, 0, n) < 0)
                goto fail;
            at += n;
        }
    }
    if (at != size)
        goto fail;
    return out;
fail:
    Py_DECREF(out);
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_SystemError, "packed: size mismatch");
    return NULL;
}

/* unstored_rows(history, bans, text_attr, network_text): commitrows.unstored_rows's
 * result: the history rows (network text, jail, banned_at, expires_at, int(manual)) of
 * the (ban, manual) pairs of history whose ban is not the next of bans (by identity), if
 * every ban of bans is met in order and automatic; else None. NotImplemented where an
 * item of history is not a pair (tuple of two): the caller's loop then decides. */
static PyObject *
unstored_rows(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "unstored_rows(history, bans, text_attr, network_text) takes 4 arguments");
        return NULL;
    }
    PyObject *history = args[0], *bans = args[1], *text_attr = args[2], *network_text = args[3];
    if (!PyList_CheckExact(history) || !PyList_CheckExact(bans) || !PyUnicode_Check(text_attr))
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *rows = PyList_New(0);
    if (rows == NULL)
        return NULL;
    Py_ssize_t at = 0;
    /* (a Python call below, network_text, may change either list: sizes read each time) */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(history); i++) {
        PyObject *pair = PyList_GET_ITEM(history, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            Py_DECREF(rows);
            Py_RETURN_NOTIMPLEMENTED;
        }
        Py_INCREF(pair);
        PyObject *ban = PyTuple_GET_ITEM(pair, 0), *manual = PyTuple_GET_ITEM(pair, 1);
        if (at < PyList_GET_SIZE(bans) && PyList_GET_ITEM(bans, at) == ban) {
            int truth = PyObject_IsTrue(manual);
            Py_DECREF(pair);
            if (truth != 0) {
                Py_DECREF(rows);
                if (truth < 0)
                    return NULL;
                Py_RETURN_NONE;
            }
            at++;
            continue;
        }
        PyObject *row[5] = {NULL, NULL, NULL, NULL, NULL};
        PyObject *network = PyObject_GetAttr(ban, s_network);
        if (network != NULL) {
            row[0] = network_of(network, text_attr, network_text);
            Py_DECREF(network);
        }
        if (row[0] != NULL && (row[1] = PyObject_GetAttr(ban, s_jail)) != NULL
            && (row[2] = PyObject_GetAttr(ban, s_banned_at)) != NULL
            && (row[3] = PyObject_GetAttr(ban, s_expires_at)) != NULL)
            row[4] = PyNumber_Long(manual);
        Py_DECREF(pair);
        if (row[4] == NULL) {
            for (int k = 0; k < 5; k++)
                Py_XDECREF(row[k]);
            Py_DECREF(rows);
            return NULL;
        }
        PyObject *tuple = PyTuple_New(5);
        if (tuple == NULL) {
            for (int k = 0; k < 5; k++)
                Py_DECREF(row[k]);
            Py_DECREF(rows);
            return NULL;
        }
        for (int k = 0; k < 5; k++)
            PyTuple_SET_ITEM(tuple, k, row[k]);
        int failed = PyList_Append(rows, tuple);
        Py_DECREF(tuple);
        if (failed) {
            Py_DECREF(rows);
            return NULL;
        }
    }
    if (at != PyList_GET_SIZE(bans)) {
        Py_DECREF(rows);
        Py_RETURN_NONE;
    }
    return rows;
}

static PyMethodDef methods[] = {
    {"ban_values", (PyCFunction)(void (*)(void))ban_values, METH_FASTCALL,
     "ban_values(bans, lines_of, text_attr, network_text): the bans rows' ten columns, row "
     "after row, as commitrows.ban_values builds them."},
    {"shared_params", shared_params, METH_O,
     "shared_params(part): (shared, parameters) of a statement of new bans: 4, 3 or 2 "
     "columns bound once (jail, source, reason, lines), else (0, part)."},
    {"packed", (PyCFunction)(void (*)(void))packed, METH_FASTCALL,
     "packed(changes, head, sep, gone): detectorlog._text's packed text, or None where "
     "JSON must be written."},
    {"unstored_rows", (PyCFunction)(void (*)(void))unstored_rows, METH_FASTCALL,
     "unstored_rows(history, bans, text_attr, network_text): commitrows.unstored_rows's "
     "rows or None; NotImplemented where history holds an item not a pair."},
    {"lines_text", lines_text, METH_O,
     "lines_text(lines): json.dumps(list(lines)) of a sequence of str."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "journalban.state._rowvalues",
    "A batch's ban rows' columns in C (commitrows.ban_values); optional.", -1, methods,
    NULL, NULL, NULL, NULL,
};

static int
intern(PyObject **name, const char *text)
{
    *name = PyUnicode_InternFromString(text);
    return *name == NULL ? -1 : 0;
}

PyMODINIT_FUNC
PyInit__rowvalues(void)
{
    fill_sizes();
    if (intern(&s_jail, "jail") || intern(&s_network, "network")
        || intern(&s_banned_at, "banned_at") || intern(&s_expires_at, "expires_at")
        || intern(&s_ban_count, "ban_count") || intern(&s_reason, "reason")
        || intern(&s_failures, "failures") || intern(&s_source, "source")
        || intern(&s_lines, "lines") || intern(&s_account, "account"))
        return NULL;
    return PyModule_Create(&module);
}
