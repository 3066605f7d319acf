/* A commit's statements stepped in C, the GIL let go once (issue 19): journalban.state.native.
 *
 * Python's sqlite3 lets go of the GIL around each sqlite3_step and takes it back after: a
 * flood's commit of a thousand statements asked for it a thousand times, and beside a busy
 * thread (the agent deciding the next batches) waited a switch interval each time. Here a
 * commit's statements are a Job: built with the GIL (each parameter's value read from its
 * Python object: texts as their UTF-8, the objects held until the job is freed, so SQLite
 * binds them SQLITE_STATIC, without a copy), then run in one step of the connection's own
 * statement `SELECT journalban_commit_run(token, expect)`, during which the sqlite3 module
 * holds no GIL: the SQL function prepares, binds and steps every statement in C.
 *
 * This one shared object is two things: the CPython module (PyInit__commitext: the Job
 * type) and a SQLite loadable extension (sqlite3_commitext_init), loaded by the store into
 * the very connection it writes with (Connection.load_extension, with the absolute path of
 * this file: the same file, so the dynamic loader hands back the module already loaded, and
 * both halves share the registry below). The loader gives the extension the API table of
 * the SQLite library the sqlite3 module uses: no second copy of SQLite, nothing of the
 * sqlite3 module's structures.
 *
 * Safety. The connection's handle is never kept: the SQL function takes it from its own
 * call's context (sqlite3_context_db_handle), valid for that call only; a closed connection
 * refuses the statement itself (sqlite3.ProgrammingError). A job is found by its token in a
 * registry of the live jobs (a mutex of its own: the function runs without the GIL), never
 * by an address from SQL: an unknown token, a job running or finished is refused with an
 * error of the statement. The function is SQLITE_DIRECTONLY (no trigger or view can call
 * it). Each run finalizes what it prepared before it returns. A statement whose parameter
 * count differs from the job's values, or holding more than one statement, is refused
 * before it is stepped.
 *
 * The stop rule (a checked statement: rows >= 0): a run stops after a statement that
 * inserted other than its rows, or whose last rowid is not the one after the rows before it
 * (expect + rows), or not in 1 .. 2**62 - 1; the Python side (commitrows) then does what it
 * does after such a statement, and resumes the job. Statements with rows < 0 are not
 * checked.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3ext.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

/* The API table of the SQLite library that loaded the extension (the sqlite3 module's). */
static const sqlite3_api_routines *sqlite3_api;

#define CONTIGUOUS ((sqlite3_int64)1 << 62)
/* Statements a connection keeps prepared (Conn). */
#define CACHED 32

enum { P_NULL, P_INT, P_FLOAT, P_TEXT, P_BLOB };

typedef struct {
    int kind;
    int size; /* bytes of a text or blob */
    union {
        sqlite3_int64 i;
        double d;
        const char *p;
    } v;
} Param;

typedef struct {
    const char *sql; /* the text's UTF-8, owned by its str (held) */
    int sql_size;
    Py_ssize_t first; /* its parameters: params[first .. first + count) */
    Py_ssize_t count;
    sqlite3_int64 rows; /* < 0: not checked */
} Stmt;

enum { J_READY, J_RUNNING, J_FINISHED, J_FAILED };

typedef struct Job {
    PyObject_HEAD
    sqlite3_uint64 token;
    PyObject **held; /* the str and bytes objects whose buffers are bound */
    Py_ssize_t n_held;
    Param *params;
    Py_ssize_t n_params;
    Stmt *stmts;
    Py_ssize_t n_stmts;
    sqlite3_int64 *changes; /* per statement run */
    sqlite3_int64 *rowids;
    Py_ssize_t done;      /* statements run */
    Py_ssize_t run_start; /* the last run's first statement */
    int state;            /* under registry_lock */
    struct Job *next;     /* the registry's list (live jobs) */
    struct Job *prev;
} Job;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static Job *registry;
static sqlite3_uint64 last_token;

/* ---- the SQLite half (no GIL) --------------------------------------------------------- */

/* A connection's statements kept prepared between jobs (the sqlite3 module keeps its own so:
 * a statement of 64 rows costs more to prepare than to step), found by their text. Used
 * under the connection's mutex only (inside a step of its statements); emptied by
 * journalban_commit_release() (the store calls it before it closes the connection: a
 * statement left prepared would keep the closed connection open), freed with the functions
 * when the connection closes. */
typedef struct {
    sqlite3_stmt *stmt;
    int size; /* its text's bytes */
    sqlite3_uint64 used;
} Cached;

typedef struct {
    Cached cached[CACHED];
    int n;
    sqlite3_uint64 clock;
    int busy; /* a job runs (a statement of it calling either function is refused) */
} Conn;

static void
conn_release(Conn *conn)
{
    for (int k = 0; k < conn->n; k++)
        sqlite3_finalize(conn->cached[k].stmt);
    conn->n = 0;
}

static void
conn_destroy(void *p)
{
    Conn *conn = p;
    conn_release(conn); /* (empty when the connection closes: it would not close else) */
    sqlite3_free(conn);
}

static void
fail(char **msg, sqlite3 *db, const char *what, Py_ssize_t at)
{
    if (*msg == NULL)
        *msg = sqlite3_mprintf("journalban_commit_run: statement %lld: %s: %s", (long long)at,
                               what, db ? sqlite3_errmsg(db) : "");
}

/* The statement of s's text on db: kept, or prepared and kept (the least used one finalized
 * when CACHED are); NULL and *rc, *msg on an error. */
static sqlite3_stmt *
statement(sqlite3 *db, Conn *conn, const Stmt *s, Py_ssize_t at, int *rc, char **msg)
{
    for (int k = 0; k < conn->n; k++) {
        Cached *c = &conn->cached[k];
        if (c->size == s->sql_size && memcmp(sqlite3_sql(c->stmt), s->sql, (size_t)c->size) == 0) {
            c->used = ++conn->clock;
            return c->stmt;
        }
    }
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    *rc = sqlite3_prepare_v3(db, s->sql, s->sql_size, SQLITE_PREPARE_PERSISTENT, &st, &tail);
    if (*rc != SQLITE_OK) {
        fail(msg, db, "prepare", at);
        return NULL;
    }
    if (st == NULL) {
        *rc = SQLITE_MISUSE;
        *msg = sqlite3_mprintf("journalban_commit_run: statement %lld is empty", (long long)at);
        return NULL;
    }
    while (tail != NULL && tail < s->sql + s->sql_size &&
           (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' || *tail == ';'))
        tail++;
    if ((tail != NULL && tail < s->sql + s->sql_size) || (int)strlen(sqlite3_sql(st)) != s->sql_size) {
        sqlite3_finalize(st);
        *rc = SQLITE_MISUSE;
        *msg = sqlite3_mprintf("journalban_commit_run: statement %lld holds more than one, or "
                               "text after it", (long long)at);
        return NULL;
    }
    int slot = conn->n;
    if (slot == CACHED) { /* (the least used goes) */
        slot = 0;
        for (int k = 1; k < CACHED; k++)
            if (conn->cached[k].used < conn->cached[slot].used)
                slot = k;
        sqlite3_finalize(conn->cached[slot].stmt);
    } else {
        conn->n++;
    }
    conn->cached[slot].stmt = st;
    conn->cached[slot].size = s->sql_size;
    conn->cached[slot].used = ++conn->clock;
    return st;
}

/* Runs job's statements from job->done; returns SQLITE_OK or an error code (*msg set). */
static int
run_job(sqlite3 *db, Conn *conn, Job *job, sqlite3_int64 expect, char **msg)
{
    int rc = SQLITE_OK;
    const char *last_sql = NULL; /* (the job's text of the statement before: the same one) */
    sqlite3_stmt *st = NULL;
    for (Py_ssize_t at = job->done; at < job->n_stmts; at++) {
        const Stmt *s = &job->stmts[at];
        if (s->sql != last_sql || st == NULL) {
            last_sql = NULL;
            st = statement(db, conn, s, at, &rc, msg);
            if (st == NULL)
                break;
            last_sql = s->sql;
        }
        if (sqlite3_bind_parameter_count(st) != s->count) {
            rc = SQLITE_RANGE;
            *msg = sqlite3_mprintf("journalban_commit_run: statement %lld has %d parameters, "
                                   "%lld given", (long long)at, sqlite3_bind_parameter_count(st),
                                   (long long)s->count);
            break;
        }
        for (Py_ssize_t k = 0; k < s->count && rc == SQLITE_OK; k++) {
            const Param *p = &job->params[s->first + k];
            int column = (int)k + 1;
            switch (p->kind) {
            case P_INT: rc = sqlite3_bind_int64(st, column, p->v.i); break;
            case P_FLOAT: rc = sqlite3_bind_double(st, column, p->v.d); break;
            case P_TEXT: rc = sqlite3_bind_text(st, column, p->v.p, p->size, SQLITE_STATIC); break;
            case P_BLOB: rc = sqlite3_bind_blob(st, column, p->v.p, p->size, SQLITE_STATIC); break;
            default: rc = sqlite3_bind_null(st, column); break;
            }
        }
        if (rc != SQLITE_OK) {
            fail(msg, db, "bind", at);
            sqlite3_clear_bindings(st);
            break;
        }
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
            if (rc == SQLITE_ROW) {
                rc = SQLITE_MISUSE;
                *msg = sqlite3_mprintf("journalban_commit_run: statement %lld returned rows",
                                       (long long)at);
            } else {
                fail(msg, db, "step", at);
            }
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            break;
        }
        rc = SQLITE_OK;
        sqlite3_int64 changed = sqlite3_changes(db);
        sqlite3_int64 last = sqlite3_last_insert_rowid(db);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st); /* (no pointer into the job left bound) */
        job->changes[at] = changed;
        job->rowids[at] = last;
        job->done = at + 1;
        if (s->rows >= 0) {
            if (changed != s->rows || last <= 0 || last >= CONTIGUOUS ||
                (expect >= 0 && last != expect + s->rows))
                break;
            expect = last;
        }
    }
    return rc;
}

/* journalban_commit_run(token, expect): the job's statements from where it stopped; the
 * statements run. */
static void
commit_run(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    if (argc != 2 || sqlite3_value_type(argv[0]) != SQLITE_INTEGER ||
        sqlite3_value_type(argv[1]) != SQLITE_INTEGER) {
        sqlite3_result_error(ctx, "journalban_commit_run: (token, expect), two integers", -1);
        return;
    }
    Conn *conn = sqlite3_user_data(ctx);
    if (conn->busy) { /* (its statements and the job it runs are another job's) */
        sqlite3_result_error(ctx, "journalban_commit_run: called by a job's statement", -1);
        sqlite3_result_error_code(ctx, SQLITE_MISUSE);
        return;
    }
    sqlite3_uint64 token = (sqlite3_uint64)sqlite3_value_int64(argv[0]);
    sqlite3_int64 expect = sqlite3_value_int64(argv[1]);
    Job *job = NULL;
    pthread_mutex_lock(&registry_lock);
    for (Job *j = registry; j != NULL; j = j->next)
        if (j->token == token) {
            job = j;
            break;
        }
    int state = job ? job->state : -1;
    if (job != NULL && state == J_READY)
        job->state = J_RUNNING;
    pthread_mutex_unlock(&registry_lock);
    if (job == NULL) {
        sqlite3_result_error(ctx, "journalban_commit_run: no such job", -1);
        return;
    }
    if (state != J_READY) {
        sqlite3_result_error(ctx, state == J_RUNNING ? "journalban_commit_run: the job is running"
                                  : "journalban_commit_run: the job has run", -1);
        return;
    }
    char *msg = NULL;
    job->run_start = job->done;
    conn->busy = 1;
    int rc = run_job(sqlite3_context_db_handle(ctx), conn, job, expect, &msg);
    conn->busy = 0;
    pthread_mutex_lock(&registry_lock);
    job->state = rc != SQLITE_OK ? J_FAILED : job->done == job->n_stmts ? J_FINISHED : J_READY;
    pthread_mutex_unlock(&registry_lock);
    if (rc != SQLITE_OK) {
        sqlite3_result_error(ctx, msg ? msg : "journalban_commit_run: failed", -1);
        sqlite3_result_error_code(ctx, rc);
        sqlite3_free(msg);
        return;
    }
    sqlite3_result_int64(ctx, (sqlite3_int64)(job->done - job->run_start));
}

/* journalban_commit_release(): the connection's kept statements finalized (before it closes). */
static void
commit_release(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    Conn *conn = sqlite3_user_data(ctx);
    (void)argc;
    (void)argv;
    if (conn->busy) {
        sqlite3_result_error(ctx, "journalban_commit_release: called by a job's statement", -1);
        return;
    }
    conn_release(conn);
    sqlite3_result_null(ctx);
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int
sqlite3_commitext_init(sqlite3 *db, char **err, const sqlite3_api_routines *api)
{
    int other;
    pthread_mutex_lock(&registry_lock);
    other = sqlite3_api != NULL && sqlite3_api != api;
    if (sqlite3_api == NULL)
        sqlite3_api = api;
    pthread_mutex_unlock(&registry_lock);
    if (other) { /* (a second SQLite library in the process: not the one this was given) */
        if (err != NULL)
            *err = api->mprintf("journalban_commit_run: loaded by another SQLite library");
        return SQLITE_ERROR;
    }
    Conn *conn = sqlite3_malloc(sizeof(Conn));
    if (conn == NULL)
        return SQLITE_NOMEM;
    memset(conn, 0, sizeof(Conn));
    /* (the release function owns conn: freed when it goes, with the connection or replaced
     * by a second load, after the run function took the new one) */
    int rc = sqlite3_create_function_v2(db, "journalban_commit_run", 2,
                                        SQLITE_UTF8 | SQLITE_DIRECTONLY, conn, commit_run, NULL,
                                        NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_free(conn);
        return rc;
    }
    rc = sqlite3_create_function_v2(db, "journalban_commit_release", 0,
                                    SQLITE_UTF8 | SQLITE_DIRECTONLY, conn, commit_release, NULL,
                                    NULL, conn_destroy);
    if (rc != SQLITE_OK) /* (conn freed by SQLite: the run function must not keep it) */
        sqlite3_create_function_v2(db, "journalban_commit_run", 2, SQLITE_UTF8, NULL, NULL, NULL,
                                   NULL, NULL);
    return rc;
}

/* ---- the Python half (the GIL held) ---------------------------------------------------- */

static void
job_forget(Job *job)
{
    pthread_mutex_lock(&registry_lock);
    if (job->prev != NULL)
        job->prev->next = job->next;
    else if (registry == job)
        registry = job->next;
    if (job->next != NULL)
        job->next->prev = job->prev;
    job->next = job->prev = NULL;
    pthread_mutex_unlock(&registry_lock);
}

static void
job_dealloc(Job *job)
{
    job_forget(job);
    for (Py_ssize_t k = 0; k < job->n_held; k++)
        Py_DECREF(job->held[k]);
    PyMem_Free(job->held);
    PyMem_Free(job->params);
    PyMem_Free(job->stmts);
    PyMem_Free(job->changes);
    PyMem_Free(job->rowids);
    Py_TYPE(job)->tp_free((PyObject *)job);
}

/* One parameter's value from its object (exact types only: what the sqlite3 module binds
 * without an adapter); -1 and an exception else. */
static int
read_param(Job *job, Param *p, PyObject *v)
{
    if (v == Py_None) {
        p->kind = P_NULL;
        return 0;
    }
    if (PyLong_CheckExact(v)) {
        p->kind = P_INT;
        p->v.i = PyLong_AsLongLong(v);
        return p->v.i == -1 && PyErr_Occurred() ? -1 : 0;
    }
    if (PyFloat_CheckExact(v)) {
        p->kind = P_FLOAT;
        p->v.d = PyFloat_AS_DOUBLE(v);
        return 0;
    }
    Py_ssize_t size;
    const char *data;
    if (PyUnicode_CheckExact(v)) {
        data = PyUnicode_AsUTF8AndSize(v, &size);
        if (data == NULL)
            return -1;
        p->kind = P_TEXT;
    } else if (PyBytes_CheckExact(v)) {
        data = PyBytes_AS_STRING(v);
        size = PyBytes_GET_SIZE(v);
        p->kind = P_BLOB;
    } else {
        PyErr_Format(PyExc_TypeError, "a parameter of type %.100s", Py_TYPE(v)->tp_name);
        return -1;
    }
    if (size > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "a parameter longer than INT_MAX bytes");
        return -1;
    }
    p->size = (int)size;
    p->v.p = data;
    Py_INCREF(v);
    job->held[job->n_held++] = v;
    return 0;
}

static PyObject *
job_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *statements;
    static char *names[] = {"statements", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!:Job", names, &PyList_Type, &statements))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(statements), total = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *item = PyList_GET_ITEM(statements, k);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 3 ||
            !PyUnicode_CheckExact(PyTuple_GET_ITEM(item, 0)) ||
            !PyLong_CheckExact(PyTuple_GET_ITEM(item, 2)) ||
            !(PyList_CheckExact(PyTuple_GET_ITEM(item, 1)) ||
              PyTuple_CheckExact(PyTuple_GET_ITEM(item, 1)))) {
            PyErr_SetString(PyExc_TypeError,
                            "statements: a list of (sql: str, params: list | tuple, rows: int)");
            return NULL;
        }
        total += PySequence_Fast_GET_SIZE(PyTuple_GET_ITEM(item, 1));
    }
    Job *job = (Job *)type->tp_alloc(type, 0);
    if (job == NULL)
        return NULL;
    /* (every statement's text is held too: n more) */
    job->held = PyMem_Calloc((size_t)(total + n) + 1, sizeof(PyObject *));
    job->params = PyMem_Calloc((size_t)total + 1, sizeof(Param));
    job->stmts = PyMem_Calloc((size_t)n + 1, sizeof(Stmt));
    job->changes = PyMem_Calloc((size_t)n + 1, sizeof(sqlite3_int64));
    job->rowids = PyMem_Calloc((size_t)n + 1, sizeof(sqlite3_int64));
    if (!job->held || !job->params || !job->stmts || !job->changes || !job->rowids) {
        Py_DECREF(job);
        return PyErr_NoMemory();
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *item = PyList_GET_ITEM(statements, k);
        PyObject *sql = PyTuple_GET_ITEM(item, 0);
        PyObject *params = PyTuple_GET_ITEM(item, 1);
        Stmt *s = &job->stmts[k];
        Py_ssize_t size;
        s->sql = PyUnicode_AsUTF8AndSize(sql, &size);
        if (s->sql == NULL)
            goto error;
        if (size > INT_MAX - 1) {
            PyErr_SetString(PyExc_OverflowError, "a statement longer than INT_MAX bytes");
            goto error;
        }
        s->sql_size = (int)size;
        Py_INCREF(sql);
        job->held[job->n_held++] = sql;
        s->rows = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 2));
        if (s->rows == -1 && PyErr_Occurred())
            goto error;
        /* (the list is read as it is now: its size counted above, read again here) */
        Py_ssize_t count = PySequence_Fast_GET_SIZE(params);
        if (at + count > total) {
            PyErr_SetString(PyExc_RuntimeError, "statements changed while read");
            goto error;
        }
        s->first = at;
        s->count = count;
        PyObject **values = PySequence_Fast_ITEMS(params);
        for (Py_ssize_t m = 0; m < count; m++) {
            if (read_param(job, &job->params[at + m], values[m]) < 0)
                goto error;
        }
        at += count;
        job->n_stmts = k + 1;
    }
    job->n_params = at;
    pthread_mutex_lock(&registry_lock);
    job->token = ++last_token;
    job->state = J_READY;
    job->next = registry;
    if (registry != NULL)
        registry->prev = job;
    registry = job;
    pthread_mutex_unlock(&registry_lock);
    return (PyObject *)job;
error:
    Py_DECREF(job);
    return NULL;
}

static PyObject *
job_ran(Job *job, PyObject *Py_UNUSED(ignored))
{
    pthread_mutex_lock(&registry_lock);
    int state = job->state;
    pthread_mutex_unlock(&registry_lock);
    if (state == J_RUNNING) {
        PyErr_SetString(PyExc_RuntimeError, "the job is running");
        return NULL;
    }
    Py_ssize_t first = job->run_start, last = job->done;
    PyObject *out = PyList_New(last > first ? last - first : 0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t k = first; k < last; k++) {
        PyObject *pair = Py_BuildValue("(LL)", (long long)job->changes[k], (long long)job->rowids[k]);
        if (pair == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, k - first, pair);
    }
    return out;
}

static PyObject *
job_token(Job *job, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(job->token);
}

static PyObject *
job_left(Job *job, void *Py_UNUSED(closure))
{
    pthread_mutex_lock(&registry_lock);
    int state = job->state;
    Py_ssize_t left = job->n_stmts - job->done;
    pthread_mutex_unlock(&registry_lock);
    return PyLong_FromSsize_t(state == J_FAILED ? 0 : left);
}

static PyMethodDef job_methods[] = {
    {"ran", (PyCFunction)job_ran, METH_NOARGS,
     "ran(): (changes, last rowid) of each statement of the last run."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef job_getset[] = {
    {"token", (getter)job_token, NULL, "The job's token (journalban_commit_run's first value).",
     NULL},
    {"left", (getter)job_left, NULL, "The statements not yet run (0 once failed).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject JobType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "journalban.state._commitext.Job",
    .tp_basicsize = sizeof(Job),
    .tp_dealloc = (destructor)job_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Job(statements): statements (sql, params, rows) run by "
              "SELECT journalban_commit_run(token, expect) on a connection that loaded this "
              "file as an extension.",
    .tp_methods = job_methods,
    .tp_getset = job_getset,
    .tp_new = job_new,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "journalban.state._commitext",
    "A commit's statements stepped in C, the GIL let go once (state.native); optional.", -1,
    NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__commitext(void)
{
    if (PyType_Ready(&JobType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&JobType);
    if (PyModule_AddObject(m, "Job", (PyObject *)&JobType) < 0) {
        Py_DECREF(&JobType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
