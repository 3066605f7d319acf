/* The literal scan's inner loop in C (issue 19): the lines of a text holding one of a
 * needle's literals, as journalban.matching.needles._ends_by_find gives them.
 *
 * Only for texts, needles and literals stored one byte a character (PyUnicode's 1-byte
 * kind: every ASCII or Latin-1 text): there a character's index is its byte's, and the
 * C library's memmem finds a needle in place. Anything else gives None and the caller
 * keeps to the pure-Python path, which stays the reference (tests/unit/test_linescan.py
 * runs both on the same texts).
 *
 * The work is linear in the text: each occurrence of the needle costs one comparison per
 * literal (their number and lengths are the filter's, not the text's), and after a line
 * is found the search goes on past its end.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>
#include <string.h>

/* A str's characters, one byte each; NULL (no exception) when not of the 1-byte kind. */
static const char *
one_byte(PyObject *text, Py_ssize_t *size)
{
    if (!PyUnicode_Check(text) || PyUnicode_READY(text) < 0) {
        PyErr_Clear();
        return NULL;
    }
    if (PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND)
        return NULL;
    *size = PyUnicode_GET_LENGTH(text);
    return (const char *)PyUnicode_DATA(text);
}

/* The first occurrence of w (w_len >= 1) in [from, end): by memchr for its byte at
 * ``pivot`` (a rare one: most of the text is passed over at memchr's speed) and a memcmp
 * where it is; by memmem where pivot < 0. */
static const char *
find_word(const char *from, const char *end, const char *w, Py_ssize_t w_len, Py_ssize_t pivot)
{
    if (end - from < w_len)
        return NULL;
    if (pivot < 0 || pivot >= w_len)
        return memmem(from, (size_t)(end - from), w, (size_t)w_len);
    const char *s = from + pivot;
    const char *last = end - (w_len - pivot); /* the last place the pivot byte may be */
    while (s <= last) {
        const char *c = memchr(s, w[pivot], (size_t)(last - s + 1));
        if (c == NULL)
            return NULL;
        if (memcmp(c - pivot, w, (size_t)w_len) == 0)
            return c - pivot;
        s = c + 1;
    }
    return NULL;
}

/* Append ``end`` to the list ``out``; on failure ``out`` is released and -1 returned. */
static int
append_end(PyObject *out, Py_ssize_t end)
{
    PyObject *item = PyLong_FromSsize_t(end);
    if (item == NULL || PyList_Append(out, item) < 0) {
        Py_XDECREF(item);
        Py_DECREF(out);
        return -1;
    }
    Py_DECREF(item);
    return 0;
}

/* The literals' bytes, lengths and offsets (64 at most), checked once: 1 when read; 0
 * where the caller answers None (more than 64, one not of the 1-byte kind, an offset not
 * an int, negative, or above ``lit_len - word_len`` when ``word_len`` >= 0); -1 with an
 * exception set. */
static int
read_literals(PyObject *literals, PyObject *offsets, Py_ssize_t word_len, const char **lit_data,
              Py_ssize_t *lit_len, Py_ssize_t *lit_off)
{
    Py_ssize_t n_lit = PyTuple_GET_SIZE(literals);
    if (n_lit > 64)
        return 0;
    for (Py_ssize_t i = 0; i < n_lit; i++) {
        PyObject *off = PyTuple_GET_ITEM(offsets, i);
        lit_data[i] = one_byte(PyTuple_GET_ITEM(literals, i), &lit_len[i]);
        if (lit_data[i] == NULL || !PyLong_Check(off))
            return 0;
        lit_off[i] = PyLong_AsSsize_t(off);
        if (lit_off[i] < 0 || (word_len >= 0 && lit_off[i] > lit_len[i] - word_len))
            return PyErr_Occurred() ? -1 : 0;
    }
    return 1;
}

/* ends_by_find(text, word, literals, offsets, pos, pivot) -> list[int] | None
 *
 * The ends (the newline's index, or len(text)) of the lines holding a literal, from the
 * occurrence of ``word`` at or after ``pos`` on: an occurrence at ``p`` counts where some
 * literal ``literals[i]`` starts at ``p - offsets[i]`` (``p >= offsets[i]``), or where
 * there are no literals; after a counted occurrence the search resumes past its line's
 * newline. ``pivot``: the offset in ``word`` of a rare byte to look for first (-1:
 * memmem). None: a text, word or literal not of the 1-byte kind, or an empty word.
 */
static PyObject *
ends_by_find(PyObject *self, PyObject *args)
{
    PyObject *text, *word_obj, *literals, *offsets;
    Py_ssize_t pos, pivot = -1;
    (void)self;
    if (!PyArg_ParseTuple(args, "UUO!O!n|n", &text, &word_obj, &PyTuple_Type, &literals,
                          &PyTuple_Type, &offsets, &pos, &pivot))
        return NULL;
    Py_ssize_t n_lit = PyTuple_GET_SIZE(literals);
    if (PyTuple_GET_SIZE(offsets) != n_lit) {
        PyErr_SetString(PyExc_ValueError, "literals and offsets differ in length");
        return NULL;
    }
    Py_ssize_t size, word_len;
    const char *t = one_byte(text, &size);
    const char *word = one_byte(word_obj, &word_len);
    if (t == NULL || word == NULL || word_len == 0)
        Py_RETURN_NONE;
    /* The literals' bytes, lengths and offsets, checked once. */
    const char *lit_data[64];
    Py_ssize_t lit_len[64], lit_off[64];
    int got = read_literals(literals, offsets, -1, lit_data, lit_len, lit_off);
    if (got < 0)
        return NULL;
    if (got == 0)
        Py_RETURN_NONE;
    if (pos < 0)
        pos = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    const char *end_of_text = t + size;
    const char *p = pos <= size ? find_word(t + pos, end_of_text, word, word_len, pivot) : NULL;
    while (p != NULL) {
        Py_ssize_t at = p - t;
        int held = n_lit == 0;
        for (Py_ssize_t i = 0; i < n_lit && !held; i++) {
            Py_ssize_t from = at - lit_off[i];
            held = at >= lit_off[i] && lit_len[i] <= size - from &&
                   memcmp(t + from, lit_data[i], (size_t)lit_len[i]) == 0;
        }
        if (!held) {
            p = find_word(p + 1, end_of_text, word, word_len, pivot);
            continue;
        }
        const char *nl = memchr(p, '\n', (size_t)(end_of_text - p));
        Py_ssize_t end = nl == NULL ? size : nl - t;
        if (append_end(out, end) < 0)
            return NULL;
        if (nl == NULL)
            break;
        p = find_word(nl + 1, end_of_text, word, word_len, pivot);
    }
    return out;
}

/* after_lines(text, word, literals, offsets, pos, pivot, tail, rests, reach) -> list | None
 *
 * needles.line_regex_after's lines in C: the ends of the lines from ``pos`` on where some
 * occurrence of a literal (as ends_by_find finds them; the word itself where there are
 * none), ending at q, has ``reach`` characters or more after it on its line, or ``tail``
 * starting at q + j (0 <= j <= reach) within the line with one of ``rests`` just before it
 * (the rests' pads fall on the literal: line_regex_after's condition). Each occurrence
 * looks at most reach + len(tail) characters ahead, a rest each: linear in the text.
 */
static PyObject *
after_lines(PyObject *self, PyObject *args)
{
    PyObject *text, *word_obj, *literals, *offsets, *tail_obj, *rests;
    Py_ssize_t pos, pivot, reach;
    (void)self;
    if (!PyArg_ParseTuple(args, "UUO!O!nnUO!n", &text, &word_obj, &PyTuple_Type, &literals,
                          &PyTuple_Type, &offsets, &pos, &pivot, &tail_obj, &PyTuple_Type,
                          &rests, &reach))
        return NULL;
    Py_ssize_t n_lit = PyTuple_GET_SIZE(literals), n_rest = PyTuple_GET_SIZE(rests);
    if (PyTuple_GET_SIZE(offsets) != n_lit || n_lit > 64 || n_rest > 64 || reach < 0)
        Py_RETURN_NONE;
    Py_ssize_t size, word_len, tail_len;
    const char *t = one_byte(text, &size);
    const char *word = one_byte(word_obj, &word_len);
    const char *tail = one_byte(tail_obj, &tail_len);
    if (t == NULL || word == NULL || tail == NULL || word_len == 0 || tail_len == 0)
        Py_RETURN_NONE;
    const char *lit_data[64], *rest_data[64];
    Py_ssize_t lit_len[64], lit_off[64], rest_len[64];
    int got = read_literals(literals, offsets, word_len, lit_data, lit_len, lit_off);
    if (got < 0)
        return NULL;
    if (got == 0)
        Py_RETURN_NONE;
    for (Py_ssize_t i = 0; i < n_rest; i++) {
        rest_data[i] = one_byte(PyTuple_GET_ITEM(rests, i), &rest_len[i]);
        if (rest_data[i] == NULL)
            Py_RETURN_NONE;
    }
    if (pos < 0)
        pos = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    const char *end_of_text = t + size;
    const char *p = pos <= size ? find_word(t + pos, end_of_text, word, word_len, pivot) : NULL;
    while (p != NULL) {
        Py_ssize_t at = p - t;
        const char *nl = memchr(p, '\n', (size_t)(end_of_text - p));
        Py_ssize_t line_end = nl == NULL ? size : nl - t;
        int found = 0;
        for (Py_ssize_t i = 0; i < (n_lit ? n_lit : 1) && !found; i++) {
            Py_ssize_t q;
            if (n_lit) {
                Py_ssize_t from = at - lit_off[i];
                if (at < lit_off[i] || lit_len[i] > size - from ||
                    memcmp(t + from, lit_data[i], (size_t)lit_len[i]) != 0)
                    continue;
                q = from + lit_len[i];
            } else {
                q = at + word_len;
            }
            if (q > line_end)
                continue; /* a literal across the newline: the line regex has none */
            if (line_end - q >= reach) {
                found = 1;
                break;
            }
            /* tail at q + j, within the line, a rest before it */
            for (Py_ssize_t x = q; x + tail_len <= line_end && x - q <= reach && !found; x++) {
                if (memcmp(t + x, tail, (size_t)tail_len) != 0)
                    continue;
                for (Py_ssize_t r = 0; r < n_rest && !found; r++)
                    found = rest_len[r] <= x &&
                            memcmp(t + x - rest_len[r], rest_data[r], (size_t)rest_len[r]) == 0;
            }
        }
        if (!found) {
            p = find_word(p + 1, end_of_text, word, word_len, pivot);
            continue;
        }
        if (append_end(out, line_end) < 0)
            return NULL;
        if (nl == NULL)
            break;
        p = find_word(nl + 1, end_of_text, word, word_len, pivot);
    }
    return out;
}

/* find(text, word, pos, pivot) -> int | None
 *
 * ``text.find(word, pos)`` (-1: absent) for a word of one or more characters, by
 * ``find_word``; None where the text or word is not one byte a character or is empty.
 */
static PyObject *
find(PyObject *self, PyObject *args)
{
    PyObject *text, *word_obj;
    Py_ssize_t pos, pivot = -1, size, word_len;
    (void)self;
    if (!PyArg_ParseTuple(args, "UUn|n", &text, &word_obj, &pos, &pivot))
        return NULL;
    const char *t = one_byte(text, &size);
    const char *word = one_byte(word_obj, &word_len);
    if (t == NULL || word == NULL || word_len == 0)
        Py_RETURN_NONE;
    if (pos < 0)
        pos = 0;
    const char *p = pos <= size ? find_word(t + pos, t + size, word, word_len, pivot) : NULL;
    return PyLong_FromSsize_t(p == NULL ? -1 : p - t);
}

/* The 1-byte text and the sorted, distinct ends of some of its lines, checked: NULL with an
 * exception set where an end is not an int, out of order or past the text. */
static int
ends_checked(PyObject *ends, Py_ssize_t size, Py_ssize_t *count)
{
    Py_ssize_t n = PyList_GET_SIZE(ends), last = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t end = PyLong_AsSsize_t(PyList_GET_ITEM(ends, i));
        if (end == -1 && PyErr_Occurred())
            return -1;
        if (end <= last || end > size) {
            PyErr_SetString(PyExc_ValueError, "ends must rise and fall within the text");
            return -1;
        }
        last = end;
    }
    *count = n;
    return 0;
}

/* join_lines(text, ends) -> str | None
 *
 * The lines of ``text`` ending at ``ends`` (rising; each from the character after the
 * newline before its end, or the text's start), joined by newlines: a regex of one line
 * (``[^\n]`` looks, lookbehinds within the line) finds in it what it finds in them, in a
 * fraction of the text. None: the text is not one byte a character.
 */
static PyObject *
join_lines(PyObject *self, PyObject *args)
{
    PyObject *text, *ends;
    (void)self;
    if (!PyArg_ParseTuple(args, "UO!", &text, &PyList_Type, &ends))
        return NULL;
    Py_ssize_t size, n;
    const char *t = one_byte(text, &size);
    if (t == NULL)
        Py_RETURN_NONE;
    if (ends_checked(ends, size, &n) < 0)
        return NULL;
    /* First the joined length: each line once (the ends are distinct line ends). */
    Py_ssize_t total = 0, prev_end = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t end = PyLong_AsSsize_t(PyList_GET_ITEM(ends, i));
        const char *nl = end > prev_end + 1 ? memrchr(t + prev_end + 1, '\n',
                                                     (size_t)(end - prev_end - 1))
                                            : NULL;
        Py_ssize_t start = nl == NULL ? prev_end + 1 : nl - t + 1;
        total += end - start + (i > 0);
        prev_end = end;
    }
    PyObject *out = PyUnicode_New(total, PyUnicode_MAX_CHAR_VALUE(text));
    if (out == NULL)
        return NULL;
    char *o = (char *)PyUnicode_DATA(out);
    prev_end = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t end = PyLong_AsSsize_t(PyList_GET_ITEM(ends, i));
        const char *nl = end > prev_end + 1 ? memrchr(t + prev_end + 1, '\n',
                                                     (size_t)(end - prev_end - 1))
                                            : NULL;
        Py_ssize_t start = nl == NULL ? prev_end + 1 : nl - t + 1;
        if (i > 0)
            *o++ = '\n';
        memcpy(o, t + start, (size_t)(end - start));
        o += end - start;
        prev_end = end;
    }
    return out;
}

/* pick_lines(text, ends, found) -> list[int]
 *
 * The ends (of ``ends``) of the lines of ``join_lines(text, ends)`` in which the rising
 * offsets ``found`` fall (a match's end, within its line of the joined text), each once.
 */
static PyObject *
pick_lines(PyObject *self, PyObject *args)
{
    PyObject *text, *ends, *found;
    (void)self;
    if (!PyArg_ParseTuple(args, "UO!O!", &text, &PyList_Type, &ends, &PyList_Type, &found))
        return NULL;
    Py_ssize_t size, n;
    const char *t = one_byte(text, &size);
    if (t == NULL) {
        PyErr_SetString(PyExc_ValueError, "not a text of one byte a character");
        return NULL;
    }
    if (ends_checked(ends, size, &n) < 0)
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Py_ssize_t n_found = PyList_GET_SIZE(found), k = 0, joined_end = -1, prev_end = -1;
    Py_ssize_t taken = -1;
    for (Py_ssize_t i = 0; i < n && k < n_found; i++) {
        Py_ssize_t end = PyLong_AsSsize_t(PyList_GET_ITEM(ends, i));
        const char *nl = end > prev_end + 1 ? memrchr(t + prev_end + 1, '\n',
                                                     (size_t)(end - prev_end - 1))
                                            : NULL;
        Py_ssize_t start = nl == NULL ? prev_end + 1 : nl - t + 1;
        joined_end += end - start + 1; /* this line's end (its newline) in the joined text */
        prev_end = end;
        while (k < n_found) {
            Py_ssize_t at = PyLong_AsSsize_t(PyList_GET_ITEM(found, k));
            if (at == -1 && PyErr_Occurred()) {
                Py_DECREF(out);
                return NULL;
            }
            if (at > joined_end)
                break;
            k++;
            if (taken == i)
                continue;
            taken = i;
            if (append_end(out, end) < 0)
                return NULL;
        }
    }
    return out;
}

static PyMethodDef methods[] = {
    {"after_lines", after_lines, METH_VARARGS,
     "after_lines(text, word, literals, offsets, pos, pivot, tail, rests, reach): "
     "needles.line_regex_after's lines; None where the text is not one byte a character."},
    {"find", find, METH_VARARGS,
     "find(text, word, pos, pivot): text.find(word, pos), or None where the text is not one "
     "byte a character."},
    {"join_lines", join_lines, METH_VARARGS,
     "join_lines(text, ends): the lines ending at ends, joined by newlines; None where the "
     "text is not one byte a character."},
    {"pick_lines", pick_lines, METH_VARARGS,
     "pick_lines(text, ends, found): the ends of the joined lines the offsets found fall in."},
    {"ends_by_find", ends_by_find, METH_VARARGS,
     "ends_by_find(text, word, literals, offsets, pos): the ends of the lines holding a "
     "literal (needles._ends_by_find), or None where the text is not one byte a character."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "journalban.matching._linescan",
    "The literal scan's inner loop in C (needles._ends_by_find); optional.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__linescan(void)
{
    return PyModule_Create(&module);
}
