/* journalban.sources._journalfile: the native reader of journal files (issue 19).
 *
 * SKELETON: jpack's build step lands this so the extension is built, installed
 * and shipped (setup.py, MANIFEST.in, the packages); jnative replaces and
 * extends it with the reader itself. abi() is the one trivial function until then.
 *
 * The module is optional for pip installs (the agent reads the journal through
 * libsystemd without it) and required by the distribution packages.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *
abi(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromLong(1);
}

static PyMethodDef journalfile_methods[] = {
    {"abi", abi, METH_NOARGS, "abi() -> int: the version of this module's interface."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef journalfile_module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "journalban.sources._journalfile",
    .m_doc = "The native reader of journal files (optional; see journalban.sources).",
    .m_size = 0,
    .m_methods = journalfile_methods,
};

PyMODINIT_FUNC
PyInit__journalfile(void)
{
    return PyModuleDef_Init(&journalfile_module);
}
