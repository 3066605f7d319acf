/* A reader of closed journal files by their on-disk format, for the journal catch-up (issue 19).
 *
 * The format is systemd's docs/JOURNAL_FILE_FORMAT.md (read for its facts, no code taken):
 * a header, DATA objects (one per distinct FIELD=value, found through a hash table, each
 * listing the entries holding it in chained entry arrays) and ENTRY objects (seqnum,
 * realtime, monotonic time, boot id, xor hash, the offsets of their DATA objects sorted).
 *
 * Reader(paths, groups, open_sd, value_of) selects the entries the match groups select
 * (within a group the intersection of its values' entries, across groups the union), in
 * each file's order, the files one after another by seqnum, with the call shape of
 * systemd._reader._Reader that the catch-up uses. Anything it does not follow exactly
 * at open raises Unsupported (the caller reads the part with libsystemd). Afterwards:
 *   - a compressed item in _get: that one value through value_of(path, cursor, field),
 *     a libsystemd reader of the same file standing on the entry;
 *   - a check failing in _get, a cursor of another seqnum source, seek_realtime: the
 *     reader hands over to open_sd() (a libsystemd reader of the same files and matches),
 *     placed on the current entry, and forwards every call to it from then on.
 *
 * The files are mapped read-only; their structure is journald's, their payloads an
 * attacker's. The header's sizes are taken once at open and nothing beyond them is
 * read; every offset and size is checked against them; chains must move forwards; no
 * recursion; allocations are bounded by the header's entry count, itself bounded by the
 * mapping's size. A file shrunk while mapped is told (on_damaged) and passed over, not a
 * SIGBUS (see "a file shrunk while mapped" below).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_MIN 208
#define INCOMPAT_XZ 1u
#define INCOMPAT_LZ4 2u
#define INCOMPAT_KEYED 4u
#define INCOMPAT_ZSTD 8u
#define INCOMPAT_COMPACT 16u
#define INCOMPAT_KNOWN (INCOMPAT_XZ | INCOMPAT_LZ4 | INCOMPAT_KEYED | INCOMPAT_ZSTD | INCOMPAT_COMPACT)
#define STATE_ONLINE 1
#define STATE_ARCHIVED 2
#define OBJECT_DATA 1
#define OBJECT_ENTRY 3
#define OBJECT_ENTRY_ARRAY 6
#define OBJECT_COMPRESSED 7
#define ENTRY_HEAD 64
#define TIME_LIMIT (1ULL << 55) /* libsystemd's bound on an entry's realtime and monotonic time */

static PyObject *Unsupported;

/* ---- little-endian reads (the mapping is checked before each) ---- */

static inline uint64_t le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint32_t le32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

/* ---- the two hashes, written from their published descriptions ---- */

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32);                               \
        v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;                                                   \
        v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;                                                   \
        v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32);                               \
    } while (0)

static uint64_t siphash24(const uint8_t key[16], const uint8_t *data, size_t len) {
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    size_t whole = len - len % 8, i;
    for (i = 0; i < whole; i += 8) {
        uint64_t m = le64(data + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t j = 0; j < len % 8; j++)
        last |= (uint64_t)data[whole + j] << (8 * j);
    v3 ^= last;
    SIPROUND;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

#define ROT32(x, k) (uint32_t)(((x) << (k)) | ((x) >> (32 - (k))))

static uint64_t jenkins64(const uint8_t *data, size_t len) {
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)len;
    while (len > 12) {
        a += le32(data);
        b += le32(data + 4);
        c += le32(data + 8);
        a -= c; a ^= ROT32(c, 4); c += b;
        b -= a; b ^= ROT32(a, 6); a += c;
        c -= b; c ^= ROT32(b, 8); b += a;
        a -= c; a ^= ROT32(c, 16); c += b;
        b -= a; b ^= ROT32(a, 19); a += c;
        c -= b; c ^= ROT32(b, 4); b += a;
        data += 12;
        len -= 12;
    }
    if (len == 0)
        return (uint64_t)c << 32 | b;
    uint8_t tail[12] = {0};
    memcpy(tail, data, len);
    a += le32(tail);
    b += le32(tail + 4);
    c += le32(tail + 8);
    c ^= b; c -= ROT32(b, 14);
    a ^= c; a -= ROT32(c, 11);
    b ^= a; b -= ROT32(a, 25);
    c ^= b; c -= ROT32(b, 16);
    a ^= c; a -= ROT32(c, 4);
    b ^= a; b -= ROT32(a, 14);
    c ^= b; c -= ROT32(b, 24);
    return (uint64_t)c << 32 | b;
}

/* ---- one file ---- */

typedef struct JFile {
    uint8_t *map;
    size_t map_size;
    uint64_t start, end; /* the arena: [header size, header size + arena size) within the map */
    uint64_t table, buckets, n_entries, entry_array;
    uint8_t file_id[16], seqnum_id[16];
    int compact, keyed;
    uint64_t payload_at, item_size, array_item;
    PyObject *path; /* str */
    /* the live mappings, for the SIGBUS handler (see "A file shrunk while mapped") */
    struct JFile *next_mapped, *prev_mapped;
    volatile sig_atomic_t damaged; /* set by the handler: a page of the map was gone */
    int reported;                  /* its damage told (the reader's damaged callback) */
    Py_ssize_t first, last;        /* its selected entries: [first, last) of the reader's */
    uint64_t last_seqnum;          /* ... the last one's seqnum */
    uint8_t state;                 /* the header's state at open: offline or archived */
} JFile;

/* ---- a file shrunk while mapped ----

   Reading a page of a mapping past the end its file now has raises SIGBUS, which kills the
   process (both readers, this one and libsystemd's, in the reader child). journald never
   shrinks a file it closed; anyone with write access to it can. A check of the size before
   each read would race with the truncation and cost a system call per entry. Instead a
   SIGBUS handler, for an address inside a mapping of this module, maps zero-filled pages
   over the rest of that mapping (from the faulting page to its end), marks the file
   damaged, counts the fault and returns: the faulting read runs again and reads zeros.
   Zeros are what a write in place could leave, which every read here already checks; and
   after each read of a map that hands something out, the reader compares the fault count
   with the one it saw last: a file damaged meanwhile is reported and skipped (its entries
   from there on are not handed out), the other files are read on. A fault at any other
   address goes to the handler that was there before (the default: the process dies as
   before). The handler walks a list of the live mappings, changed only with the GIL held
   by the one thread that reads them. */

static JFile *mapped_head;
static volatile sig_atomic_t faults;
static struct sigaction previous_bus;
static int bus_installed;
static uintptr_t page_mask;

static void on_sigbus(int sig, siginfo_t *info, void *context) {
    uintptr_t at = (uintptr_t)info->si_addr;
    if (info->si_code > 0) { /* a fault, not a kill */
        for (JFile *f = mapped_head; f != NULL; f = f->next_mapped) {
            uintptr_t start = (uintptr_t)f->map, end = start + f->map_size;
            if (at < start || at >= end)
                continue;
            uintptr_t page = at & ~page_mask, stop = (end + page_mask) & ~page_mask;
            if (mmap((void *)page, stop - page, PROT_READ,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
                break; /* no memory for it: die as before */
            f->damaged = 1;
            faults = faults + 1;
            return;
        }
    }
    if (previous_bus.sa_flags & SA_SIGINFO) {
        previous_bus.sa_sigaction(sig, info, context);
        return;
    }
    if (previous_bus.sa_handler != SIG_DFL && previous_bus.sa_handler != SIG_IGN) {
        previous_bus.sa_handler(sig);
        return;
    }
    struct sigaction fatal;
    memset(&fatal, 0, sizeof(fatal));
    fatal.sa_handler = SIG_DFL;
    sigemptyset(&fatal.sa_mask);
    sigaction(sig, &fatal, NULL);
    if (info->si_code <= 0)
        raise(sig); /* sent: delivered now (SA_NODEFER), the default ends the process */
    /* a fault: returning runs the access again, which the default ends */
}

static void install_sigbus(void) {
    if (bus_installed)
        return;
    page_mask = (uintptr_t)sysconf(_SC_PAGESIZE) - 1;
    struct sigaction ours;
    memset(&ours, 0, sizeof(ours));
    ours.sa_sigaction = on_sigbus;
    ours.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&ours.sa_mask);
    if (sigaction(SIGBUS, &ours, &previous_bus) == 0)
        bus_installed = 1;
}

static void mapped_add(JFile *f) {
    f->prev_mapped = NULL;
    f->next_mapped = mapped_head;
    if (mapped_head != NULL)
        mapped_head->prev_mapped = f;
    mapped_head = f;
}

static void mapped_remove(JFile *f) {
    if (f->prev_mapped != NULL)
        f->prev_mapped->next_mapped = f->next_mapped;
    else if (mapped_head == f)
        mapped_head = f->next_mapped;
    if (f->next_mapped != NULL)
        f->next_mapped->prev_mapped = f->prev_mapped;
    f->next_mapped = f->prev_mapped = NULL;
}

/* The fault count, read after the reads of a map it is to cover (not moved before them). */
static inline sig_atomic_t faults_now(void) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return faults;
}

static void jfile_close(JFile *f) {
    if (f->map != NULL && f->map != MAP_FAILED) {
        mapped_remove(f);
        munmap(f->map, f->map_size);
    }
    f->map = NULL;
    Py_CLEAR(f->path);
}

/* Whether an object of type kind lies at offset, wholly in the arena; its size in *size. */
static int object_at(const JFile *f, uint64_t offset, int kind, uint64_t *size) {
    if (offset < f->start || offset % 8 || offset > f->end - 16)
        return 0;
    const uint8_t *p = f->map + offset;
    uint64_t s = le64(p + 8);
    if (p[0] != kind || s < 16 || s > f->end - offset)
        return 0;
    *size = s;
    return 1;
}

/* libsystemd's checks of a DATA object beyond its type and bounds (check_object): a payload,
   its first entry and its entry count both zero or both not, its four offsets aligned. An
   object failing them libsystemd skips as an item and fails as a match value. */
static int data_good(const JFile *f, const uint8_t *p, uint64_t size) {
    return size > f->payload_at && (le64(p + 40) == 0) == (le64(p + 56) == 0) &&
           ((le64(p + 24) | le64(p + 32) | le64(p + 40) | le64(p + 48)) & 7) == 0;
}

static int unsupported(const JFile *f, const char *why) {
    PyErr_Format(Unsupported, "%U: %s", f->path, why);
    return -1;
}

static int jfile_open(JFile *f, PyObject *path) {
    memset(f, 0, sizeof(*f));
    Py_INCREF(path);
    f->path = path;
    PyObject *bytes = PyUnicode_EncodeFSDefault(path);
    if (bytes == NULL)
        return -1;
    int fd = open(PyBytes_AS_STRING(bytes), O_RDONLY | O_CLOEXEC);
    Py_DECREF(bytes);
    if (fd < 0) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < HEADER_MIN) {
        close(fd);
        return unsupported(f, "not a regular file of a header's size");
    }
    f->map_size = (size_t)st.st_size;
    f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
        return -1;
    }
    mapped_add(f);
    const uint8_t *h = f->map;
    uint32_t incompatible = le32(h + 12);
    if (memcmp(h, "LPKSHHRH", 8) != 0 || incompatible & ~INCOMPAT_KNOWN)
        return unsupported(f, "not a journal file this reader knows");
    if (h[16] == STATE_ONLINE)
        return unsupported(f, "still written to");
    if (h[16] > STATE_ARCHIVED)
        return unsupported(f, "a state libsystemd refuses");
    f->state = h[16];
    memcpy(f->file_id, h + 24, 16);
    memcpy(f->seqnum_id, h + 72, 16);
    uint64_t header_size = le64(h + 88), arena = le64(h + 96);
    if (header_size < HEADER_MIN || header_size > f->map_size || header_size % 8)
        return unsupported(f, "a header out of bounds");
    if (arena > f->map_size - header_size) {
        /* shorter than its header says: cut (libsystemd refuses it, and with it the other
           files it is opened with); told and passed over as a file cut while read */
        f->damaged = 1;
        return 0;
    }
    f->start = header_size;
    f->end = header_size + arena;
    f->table = le64(h + 104);
    uint64_t table_size = le64(h + 112);
    f->n_entries = le64(h + 152);
    f->entry_array = le64(h + 176);
    if (f->table < f->start || f->table > f->end || table_size > f->end - f->table ||
        table_size < 16 || f->table % 8)
        return unsupported(f, "a data hash table out of bounds");
    /* offsets libsystemd refuses the file for (journal_file_verify_header) */
    uint64_t tail_object = le64(h + 136);
    if ((tail_object | f->entry_array | le64(h + 120)) % 8 ||
        (tail_object && (tail_object < f->start || tail_object > f->end - 16)))
        return unsupported(f, "a header libsystemd refuses");
    f->buckets = table_size / 16;
    if (f->n_entries > (f->end - f->start) / ENTRY_HEAD)
        return unsupported(f, "more entries than fit");
    f->compact = (incompatible & INCOMPAT_COMPACT) != 0;
    f->keyed = (incompatible & INCOMPAT_KEYED) != 0;
    f->payload_at = f->compact ? 72 : 64;
    f->item_size = f->compact ? 4 : 16;
    f->array_item = f->compact ? 4 : 8;
    return 0;
}

/* The DATA object holding payload: 1 found (*found), 0 none, -1 error set. */
static int find_data(const JFile *f, const uint8_t *payload, size_t len, uint64_t *found) {
    uint64_t digest = f->keyed ? siphash24(f->file_id, payload, len) : jenkins64(payload, len);
    uint64_t offset = le64(f->map + f->table + (digest % f->buckets) * 16), size;
    while (offset) {
        if (!object_at(f, offset, OBJECT_DATA, &size) || !data_good(f, f->map + offset, size))
            return unsupported(f, "a hash chain to no data object, or a bad one");
        const uint8_t *p = f->map + offset;
        uint64_t following = le64(p + 24);
        if (le64(p + 16) == digest) {
            if (p[1] & OBJECT_COMPRESSED)
                return unsupported(f, "a compressed match value");
            if (size >= f->payload_at && size - f->payload_at == len &&
                memcmp(p + f->payload_at, payload, len) == 0) {
                *found = offset;
                return 1;
            }
        }
        if (following && following <= offset)
            return unsupported(f, "a hash chain going back");
        offset = following;
    }
    return 0;
}

/* Arrays that grow with a file's entries (the selection and its lists) live in mappings of
   their own, not in malloc's heap: freed, their pages go back at once. Through malloc, a
   freed array of 128 KiB or more (mmapped by glibc) raised glibc's mmap threshold, the
   next ones landed in the heap, and the heap's free top was not trimmed: 2.7 MB of the
   reader child's anonymous memory kept to its end on sshd-near-miss (issue 19, jmem). */
static void *pages_resize(void *old, size_t old_bytes, size_t bytes) {
    void *p = old == NULL ? mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                          : mremap(old, old_bytes, bytes, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) {
        PyErr_NoMemory();
        return NULL;
    }
    return p;
}

static void pages_free(void *p, size_t bytes) {
    if (p != NULL)
        munmap(p, bytes);
}

/* An entry's place in its file: its offset / 8 (objects are 8-aligned), 4 bytes where the
   offset took 8 (a file under 32 GiB; journald's are at most 128 MiB by default). */
typedef uint32_t Slot;

static int slot_of(const JFile *f, uint64_t offset, Slot *slot) {
    if (offset % 8 || offset / 8 > UINT32_MAX)
        return unsupported(f, "an entry out of bounds");
    *slot = (Slot)(offset / 8);
    return 0;
}

typedef struct {
    Slot *items;
    size_t n, cap;
} List;

static int list_add(List *l, Slot v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024; /* a page at first, whole pages after */
        Slot *items = pages_resize(l->items, l->cap * sizeof(Slot), cap * sizeof(Slot));
        if (items == NULL)
            return -1;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = v;
    return 0;
}

static void list_free(List *l) {
    pages_free(l->items, l->cap * sizeof(Slot));
    l->items = NULL;
    l->n = l->cap = 0;
}

/* Append the entries of a chain of entry arrays (at most `left`), rising strictly. */
static int chain_entries(const JFile *f, uint64_t array, uint64_t left, List *out) {
    uint64_t size;
    while (left > 0 && array) {
        if (!object_at(f, array, OBJECT_ENTRY_ARRAY, &size) || size < 24)
            return unsupported(f, "an entry array out of bounds");
        const uint8_t *p = f->map + array;
        uint64_t count = (size - 24) / f->array_item;
        for (uint64_t i = 0; i < count && left > 0; i++, left--) {
            uint64_t e = f->compact ? le32(p + 24 + 4 * i) : le64(p + 24 + 8 * i);
            if (e == 0 || (e & 7) | (e >> 35)) /* 0 within the count: libsystemd skips it */
                return unsupported(f, e ? "an entry out of bounds"
                                        : "an entry array item 0 within its count");
            Slot slot = (Slot)(e >> 3); /* as slot_of */
            if (out->n && slot <= out->items[out->n - 1]) {
                if (slot == out->items[out->n - 1])
                    continue;
                return unsupported(f, "entries going back");
            }
            if (list_add(out, slot) < 0)
                return -1;
        }
        uint64_t following = le64(p + 16);
        if (following && following <= array)
            return unsupported(f, "an entry array chain going back");
        array = following;
    }
    return 0;
}

static int data_entries(const JFile *f, uint64_t data, List *out) {
    const uint8_t *p = f->map + data;
    uint64_t first = le64(p + 40), array = le64(p + 48), count = le64(p + 56);
    out->n = 0;
    if (count == 0)
        return 0;
    if (count > f->n_entries)
        return unsupported(f, "a value in more entries than the file holds");
    Slot slot;
    if (first == 0)
        return 0;
    if (slot_of(f, first, &slot) < 0 || list_add(out, slot) < 0)
        return -1;
    return chain_entries(f, array, count - 1, out);
}

/* out = a ∩ b (both rising). */
static void intersect(List *a, const List *b) {
    size_t i = 0, j = 0, k = 0;
    while (i < a->n && j < b->n) {
        if (a->items[i] < b->items[j])
            i++;
        else if (a->items[i] > b->items[j])
            j++;
        else {
            a->items[k++] = a->items[i];
            i++;
            j++;
        }
    }
    a->n = k;
}

/* into = into ∪ add (both rising), using tmp; into empty, the two are swapped (no copy:
   the usual case, one group selecting). */
static int unite(List *into, List *add, List *tmp) {
    size_t i = 0, j = 0;
    if (into->n == 0) {
        List swap = *into;
        *into = *add;
        *add = swap;
        return 0;
    }
    tmp->n = 0;
    while (i < into->n || j < add->n) {
        Slot v;
        if (j >= add->n || (i < into->n && into->items[i] < add->items[j]))
            v = into->items[i++];
        else if (i >= into->n || add->items[j] < into->items[i])
            v = add->items[j++];
        else {
            v = into->items[i++];
            j++;
        }
        if (list_add(tmp, v) < 0)
            return -1;
    }
    List swap = *into;
    *into = *tmp;
    *tmp = swap;
    return 0;
}

/* The entries the groups (a list of lists of "FIELD=value" bytes) select in f, rising. */
static int select_entries(const JFile *f, PyObject *groups, List *chosen) {
    Py_ssize_t n_groups = PyList_GET_SIZE(groups);
    List group = {0}, one = {0}, tmp = {0};
    int rc = -1;
    if (n_groups == 0) {
        if (chain_entries(f, f->entry_array, f->n_entries, &group) < 0)
            goto done;
        if (unite(chosen, &group, &tmp) < 0)
            goto done;
        rc = 0;
        goto done;
    }
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        PyObject *values = PyList_GET_ITEM(groups, g);
        Py_ssize_t n_values = PyList_GET_SIZE(values);
        int empty = 0;
        for (Py_ssize_t v = 0; v < n_values && !empty; v++) {
            PyObject *payload = PyList_GET_ITEM(values, v);
            uint64_t data;
            int r = find_data(f, (const uint8_t *)PyBytes_AS_STRING(payload),
                              (size_t)PyBytes_GET_SIZE(payload), &data);
            if (r < 0)
                goto done;
            if (r == 0) {
                empty = 1;
                break;
            }
            if (data_entries(f, data, v == 0 ? &group : &one) < 0)
                goto done;
            if (v > 0)
                intersect(&group, &one);
            if (group.n == 0)
                empty = 1;
        }
        if (!empty && unite(chosen, &group, &tmp) < 0)
            goto done;
        group.n = 0;
    }
    rc = 0;
done:
    list_free(&group);
    list_free(&one);
    list_free(&tmp);
    return rc;
}

/* ---- the reader ---- */

enum { AT_HEAD, AT_TAIL, AT_SEEK, AT_ENTRY };

typedef struct {
    PyObject_HEAD
    JFile *files;
    Py_ssize_t n_files;
    uint16_t *file_of; /* per selected entry: its file (at most 4096) */
    Slot *offset_of; /* ... its ENTRY object's slot (offset / 8) */
    Py_ssize_t n;
    size_t room; /* entries file_of and offset_of were mapped for */
    int mode;
    Py_ssize_t current, next_index, prev_index;
    uint8_t seqnum_id[16];
    PyObject *open_sd, *value_of, *delegate;
    PyObject *names[2]; /* the last two field names found valid (the caller's constants) */
    int next_name;
    PyObject *on_damaged; /* on_damaged(path, entries): a file found shrunk (None: nothing) */
    sig_atomic_t faults_seen; /* the fault count when damage was last looked for */
    /* the current entry's size and header (at its offset + 8: size, seqnum, realtime,
       monotonic, boot id, xor hash), copied when it is stood on: its cursor and time stay
       readable if its file is then found shrunk */
    uint8_t head[56];
    /* _scan's last table (a bytes object, held) and its bytes with literals, where at most
       SCAN_STOPS (scan_stops -1: more; see wanted_literal) */
    PyObject *scan_table;
    int scan_stops;
    uint8_t scan_stop[8];
} Reader;

#define SCAN_STOPS 8

#define HEAD_SIZE 0
#define HEAD_SEQNUM 8
#define HEAD_REALTIME 16
#define HEAD_MONOTONIC 24
#define HEAD_BOOT 32
#define HEAD_XOR 48

static void reader_free_files(Reader *self) {
    if (self->files != NULL) {
        for (Py_ssize_t i = 0; i < self->n_files; i++)
            jfile_close(&self->files[i]);
        PyMem_Free(self->files);
    }
    self->files = NULL;
    self->n_files = 0;
    pages_free(self->file_of, self->room * sizeof(uint16_t));
    pages_free(self->offset_of, self->room * sizeof(Slot));
    self->room = 0;
    self->file_of = NULL;
    self->offset_of = NULL;
    self->n = 0;
}

static void Reader_dealloc(Reader *self) {
    reader_free_files(self);
    Py_CLEAR(self->open_sd);
    Py_CLEAR(self->value_of);
    Py_CLEAR(self->delegate);
    Py_CLEAR(self->names[0]);
    Py_CLEAR(self->names[1]);
    Py_CLEAR(self->on_damaged);
    Py_CLEAR(self->scan_table);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static inline const uint8_t *entry_ptr(const Reader *self, Py_ssize_t i) {
    return self->files[self->file_of[i]].map + (uint64_t)self->offset_of[i] * 8;
}

/* An entry's seqnum; for an entry of a damaged file its file's last one (monotonic still:
   the files' seqnums rise strictly one after another), not a read of the lost pages. */
static inline uint64_t entry_seqnum(const Reader *self, Py_ssize_t i) {
    const JFile *f = &self->files[self->file_of[i]];
    return f->damaged ? f->last_seqnum : le64(entry_ptr(self, i) + 16);
}

/* Tell the files found damaged since the last look: on_damaged(path, entries), entries being
   the file's selected entries from index `from` on (those it will not hand out). */
static int tell_damage(Reader *self, Py_ssize_t from) {
    self->faults_seen = faults_now();
    for (Py_ssize_t k = 0; k < self->n_files; k++) {
        JFile *f = &self->files[k];
        if (!f->damaged || f->reported)
            continue;
        f->reported = 1;
        Py_ssize_t lost = f->last - (from < f->first ? f->first : from > f->last ? f->last : from);
        if (self->on_damaged == Py_None)
            continue;
        PyObject *r = PyObject_CallFunction(self->on_damaged, "On", f->path, lost);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
        if (self->files == NULL) /* the call closed this reader */
            return 0;
    }
    return 0;
}

/* The first readable entry from i on (step 1) or back (step -1), its header copied into out:
   its index, -1 none, -2 an error set (on_damaged raised). A damaged file's entries are
   passed over; an entry whose copy faulted damages its file, which is told. */
static Py_ssize_t readable_entry(Reader *self, Py_ssize_t i, Py_ssize_t step, uint8_t out[56]) {
    while (i >= 0 && i < self->n) {
        const JFile *f = &self->files[self->file_of[i]];
        if (!f->damaged) {
            memcpy(out, f->map + (uint64_t)self->offset_of[i] * 8 + 8, 56);
            if (faults_now() == self->faults_seen)
                return i;
        }
        if (faults_now() != self->faults_seen) { /* told from here (this entry lost) first */
            if (tell_damage(self, i) < 0)
                return -2;
            if (self->files == NULL)
                return -1;
            continue;
        }
        i = step > 0 ? f->last : f->first - 1; /* damaged, told: passed over */
    }
    return -1;
}

/* Check a file's selected entries and append them; seqnums rise across all. */
static int add_file_entries(Reader *self, uint32_t index, const List *chosen, uint64_t *last) {
    JFile *f = &self->files[index];
    f->first = f->last = self->n;
    for (size_t i = 0; i < chosen->n; i++) {
        uint64_t offset = (uint64_t)chosen->items[i] * 8, size;
        if (!object_at(f, offset, OBJECT_ENTRY, &size) || size < ENTRY_HEAD ||
            (size - ENTRY_HEAD) % f->item_size)
            return unsupported(f, "an entry out of bounds");
        const uint8_t *e = f->map + offset;
        uint64_t seqnum = le64(e + 16), realtime = le64(e + 24);
        if (size == ENTRY_HEAD || realtime == 0 || realtime >= TIME_LIMIT ||
            le64(e + 32) >= TIME_LIMIT)
            return unsupported(f, "an entry libsystemd stops at (no items, a time out of range)");
        if (seqnum == 0 || seqnum <= *last)
            return unsupported(f, "entries out of order (files interleaving)");
        *last = seqnum;
        self->file_of[self->n] = (uint16_t)index;
        self->offset_of[self->n] = chosen->items[i];
        self->n++;
    }
    f->last = self->n;
    f->last_seqnum = *last;
    return 0;
}

static int first_seqnum_cmp(const void *a, const void *b) {
    uint64_t x = ((const uint64_t *)a)[0], y = ((const uint64_t *)b)[0];
    return x < y ? -1 : x > y;
}

static PyObject *Reader_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *names[] = {"paths", "groups", "open_sd", "value_of", "on_damaged", NULL};
    PyObject *paths, *groups_in, *open_sd, *value_of, *on_damaged = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO|O", names, &paths, &groups_in, &open_sd,
                                     &value_of, &on_damaged))
        return NULL;
    install_sigbus();
    Reader *self = (Reader *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    Py_INCREF(on_damaged);
    self->on_damaged = on_damaged;
    self->faults_seen = faults_now();
    Py_INCREF(open_sd);
    self->open_sd = open_sd;
    Py_INCREF(value_of);
    self->value_of = value_of;
    self->mode = AT_HEAD;
    self->current = -1;
    self->next_index = 0;
    self->prev_index = -1;
    PyObject *groups = NULL, *path_list = NULL;
    List *chosen = NULL;
    uint64_t *order = NULL;
    Py_ssize_t n_files = 0;

    /* groups: a list of lists of "FIELD=value" bytes */
    PyObject *seq = PySequence_Fast(groups_in, "groups must be a sequence");
    if (seq == NULL)
        goto fail;
    groups = PyList_New(0);
    if (groups == NULL) {
        Py_DECREF(seq);
        goto fail;
    }
    for (Py_ssize_t g = 0; g < PySequence_Fast_GET_SIZE(seq); g++) {
        PyObject *group = PySequence_Fast_GET_ITEM(seq, g);
        PyObject *items = PyMapping_Items(group);
        if (items == NULL) {
            Py_DECREF(seq);
            goto fail;
        }
        Py_ssize_t n_items = PyList_GET_SIZE(items);
        PyObject *values = PyList_New(0);
        int bad = values == NULL || PyList_Append(groups, values) < 0;
        Py_XDECREF(values); /* the groups list holds it */
        for (Py_ssize_t i = 0; !bad && i < n_items; i++) {
            PyObject *pair = PyList_GET_ITEM(items, i), *payload = NULL;
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2)
                PyErr_SetString(PyExc_TypeError, "a match group's items must be pairs");
            else
                payload = PyUnicode_FromFormat("%S=%S", PyTuple_GET_ITEM(pair, 0),
                                               PyTuple_GET_ITEM(pair, 1));
            PyObject *encoded = payload ? PyUnicode_AsUTF8String(payload) : NULL;
            Py_XDECREF(payload);
            bad = encoded == NULL || PyList_Append(values, encoded) < 0;
            Py_XDECREF(encoded);
        }
        Py_DECREF(items);
        if (bad) {
            Py_DECREF(seq);
            goto fail;
        }
        if (n_items == 0) {
            Py_DECREF(seq);
            PyErr_SetString(Unsupported, "an empty match group");
            goto fail;
        }
    }
    Py_DECREF(seq);

    path_list = PySequence_List(paths);
    if (path_list == NULL)
        goto fail;
    n_files = PyList_GET_SIZE(path_list);
    if (n_files == 0 || n_files > 4096) {
        PyErr_SetString(Unsupported, "no files, or too many");
        goto fail;
    }
    self->files = PyMem_Calloc((size_t)n_files, sizeof(JFile));
    chosen = PyMem_Calloc((size_t)n_files, sizeof(List));
    order = PyMem_Calloc((size_t)n_files, 2 * sizeof(uint64_t));
    if (self->files == NULL || chosen == NULL || order == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    size_t total = 0;
    int have_id = 0;
    for (Py_ssize_t i = 0; i < n_files; i++) {
        PyObject *path = PyList_GET_ITEM(path_list, i);
        if (!PyUnicode_Check(path)) {
            PyErr_SetString(PyExc_TypeError, "paths must be str");
            goto fail;
        }
        self->n_files = i + 1;
        JFile *f = &self->files[i];
        order[2 * i] = UINT64_MAX;
        order[2 * i + 1] = (uint64_t)i;
        int r = jfile_open(f, path);
        if (r == 0 && !f->damaged) {
            if (!have_id)
                memcpy(self->seqnum_id, f->seqnum_id, 16);
            else if (memcmp(self->seqnum_id, f->seqnum_id, 16) != 0) {
                PyErr_SetString(Unsupported, "files of several seqnum sources");
                goto fail;
            }
            have_id = 1;
            r = select_entries(f, groups, &chosen[i]);
        }
        if (r == 0 && chosen[i].n) {
            uint64_t size;
            uint64_t first = (uint64_t)chosen[i].items[0] * 8;
            if (!object_at(f, first, OBJECT_ENTRY, &size) || size < ENTRY_HEAD)
                r = unsupported(f, "an entry out of bounds");
            else
                order[2 * i] = le64(f->map + first + 16);
        }
        if (f->damaged && f->map != NULL) {
            /* shrunk while opened: what was read of it may be zeros, a check failing on
               them is no verdict on the file; it selects nothing (told below) */
            PyErr_Clear();
            chosen[i].n = 0;
            order[2 * i] = UINT64_MAX;
            continue;
        }
        if (r < 0)
            goto fail;
        total += chosen[i].n;
    }
    qsort(order, (size_t)n_files, 2 * sizeof(uint64_t), first_seqnum_cmp);
    self->room = total ? total : 1;
    self->file_of = pages_resize(NULL, 0, self->room * sizeof(uint16_t));
    self->offset_of = pages_resize(NULL, 0, self->room * sizeof(Slot));
    if (self->file_of == NULL || self->offset_of == NULL)
        goto fail;
    uint64_t last = 0;
    for (Py_ssize_t k = 0; k < n_files; k++) {
        uint32_t i = (uint32_t)order[2 * k + 1];
        Py_ssize_t had = self->n;
        uint64_t last_had = last;
        JFile *f = &self->files[i];
        int r = f->damaged ? 0 : add_file_entries(self, i, &chosen[i], &last);
        if (f->damaged) { /* shrunk meanwhile: none of its entries */
            PyErr_Clear();
            self->n = had;
            last = last_had;
            f->first = f->last = had;
        } else if (r < 0)
            goto fail;
    }
    /* A file offline at open (closed by its writer, not archived: the one journald or
       journal-remote writes next) that a writer took online while its entries were selected
       may have been read half-linked: libsystemd reads it. One still offline had no writer
       meanwhile (going online comes before any write), and what is appended after this
       selection is not in it: those entries come after its last, for the next reader. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    for (Py_ssize_t i = 0; i < n_files; i++) {
        JFile *f = &self->files[i];
        if (f->map != NULL && !f->damaged && f->state != STATE_ARCHIVED &&
            ((volatile const uint8_t *)f->map)[16] != f->state) {
            unsupported(f, "taken online while opened");
            goto fail;
        }
    }
    /* the files shrunk while opened (their count of entries lost: 0, not known) */
    if (tell_damage(self, 0) < 0)
        goto fail;
    self->next_index = 0;
    for (Py_ssize_t i = 0; i < n_files; i++)
        list_free(&chosen[i]);
    PyMem_Free(chosen);
    PyMem_Free(order);
    Py_DECREF(groups);
    Py_DECREF(path_list);
    return (PyObject *)self;
fail:
    if (chosen != NULL) {
        for (Py_ssize_t i = 0; i < n_files; i++)
            list_free(&chosen[i]);
        PyMem_Free(chosen);
    }
    PyMem_Free(order);
    Py_XDECREF(groups);
    Py_XDECREF(path_list);
    Py_DECREF(self);
    return NULL;
}

/* ---- cursors ---- */

static void hex128(char *out, const uint8_t id[16]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[32] = 0;
}

/* The cursor of an entry whose header (readable_entry's copy) is head. */
static PyObject *cursor_of(const Reader *self, const uint8_t head[56]) {
    char seqnum_id[33], boot[33];
    char text[256];
    hex128(seqnum_id, self->seqnum_id);
    hex128(boot, head + HEAD_BOOT);
    int n = snprintf(text, sizeof(text), "s=%s;i=%llx;b=%s;m=%llx;t=%llx;x=%llx", seqnum_id,
                     (unsigned long long)le64(head + HEAD_SEQNUM), boot,
                     (unsigned long long)le64(head + HEAD_MONOTONIC),
                     (unsigned long long)le64(head + HEAD_REALTIME),
                     (unsigned long long)le64(head + HEAD_XOR));
    return PyUnicode_FromStringAndSize(text, n);
}

typedef struct {
    int has_s, has_i, has_b, has_m, has_t, has_x;
    uint8_t s[16], b[16];
    uint64_t i, m, t, x;
} Cursor;

static int parse_hex64(const char *p, size_t n, uint64_t *out) {
    uint64_t v = 0;
    if (n == 0 || n > 16)
        return -1;
    for (size_t k = 0; k < n; k++) {
        char c = p[k];
        int d = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

static int parse_id128(const char *p, size_t n, uint8_t out[16]) {
    if (n != 32)
        return -1;
    for (int k = 0; k < 16; k++) {
        uint64_t v;
        if (parse_hex64(p + 2 * k, 2, &v) < 0)
            return -1;
        out[k] = (uint8_t)v;
    }
    return 0;
}

/* 0: parsed (only the plain form this reader writes); -1: anything else. */
static int parse_cursor(const char *text, size_t len, Cursor *c) {
    memset(c, 0, sizeof(*c));
    size_t at = 0;
    while (at < len) {
        size_t stop = at;
        while (stop < len && text[stop] != ';')
            stop++;
        const char *item = text + at;
        size_t n = stop - at;
        if (n < 2 || item[1] != '=')
            return -1;
        const char *v = item + 2;
        size_t vn = n - 2;
        int r = 0;
        switch (item[0]) {
        case 's': r = parse_id128(v, vn, c->s); c->has_s = 1; break;
        case 'i': r = parse_hex64(v, vn, &c->i); c->has_i = 1; break;
        case 'b': r = parse_id128(v, vn, c->b); c->has_b = 1; break;
        case 'm': r = parse_hex64(v, vn, &c->m); c->has_m = 1; break;
        case 't': r = parse_hex64(v, vn, &c->t); c->has_t = 1; break;
        case 'x': r = parse_hex64(v, vn, &c->x); c->has_x = 1; break;
        default: return -1;
        }
        if (r < 0)
            return -1;
        at = stop + 1;
    }
    return 0;
}

/* ---- hand-over to libsystemd ---- */

static PyObject *no_entry(void) {
    errno = EADDRNOTAVAIL;
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* Open the libsystemd reader of the same files and matches, standing where this one stands. */
static int hand_over(Reader *self) {
    if (self->files == NULL) { /* closed: it does not open again */
        PyErr_SetString(PyExc_ValueError, "the reader is closed");
        return -1;
    }
    /* where it stands, read before any call out (one could close this reader) */
    int mode = self->mode;
    PyObject *where = NULL;
    if (mode == AT_ENTRY) {
        where = cursor_of(self, self->head);
    } else if (mode == AT_SEEK) {
        uint8_t head[56];
        Py_ssize_t at = readable_entry(self, self->next_index, 1, head);
        if (at == -2)
            return -1;
        if (self->files == NULL) {
            PyErr_SetString(PyExc_ValueError, "the reader is closed");
            return -1;
        }
        where = at >= 0 ? cursor_of(self, head) : NULL;
        if (at >= 0 && where == NULL)
            return -1;
    }
    if (mode == AT_ENTRY && where == NULL)
        return -1;
    int some = self->n > 0;
    PyObject *sd = PyObject_CallNoArgs(self->open_sd);
    if (sd == NULL) {
        Py_XDECREF(where);
        return -1;
    }
    PyObject *r = NULL;
    if (mode == AT_ENTRY) {
        r = PyObject_CallMethod(sd, "seek_cursor", "O", where);
        if (r != NULL) {
            Py_DECREF(r);
            r = PyObject_CallMethod(sd, "_next", NULL);
        }
        if (r != NULL && PyObject_IsTrue(r) == 1) {
            Py_DECREF(r);
            r = PyObject_CallMethod(sd, "test_cursor", "O", where);
            if (r != NULL && PyObject_IsTrue(r) != 1) {
                Py_CLEAR(r);
                PyErr_SetString(Unsupported, "libsystemd does not find the entry handed over");
            }
        } else if (r != NULL) {
            Py_CLEAR(r);
            PyErr_SetString(Unsupported, "libsystemd does not find the entry handed over");
        }
    } else if (mode == AT_TAIL) {
        r = PyObject_CallMethod(sd, "seek_tail", NULL);
    } else if (mode == AT_HEAD) {
        r = PyObject_CallMethod(sd, "seek_head", NULL);
    } else {
        /* a seek to a seqnum: the entry after it or before it, whichever is asked */
        r = PyObject_CallMethod(sd, "seek_head", NULL);
        if (r != NULL && where != NULL) {
            Py_DECREF(r);
            r = PyObject_CallMethod(sd, "seek_cursor", "O", where);
        } else if (r != NULL && some) {
            Py_DECREF(r);
            r = PyObject_CallMethod(sd, "seek_tail", NULL);
        }
    }
    Py_XDECREF(where);
    if (r == NULL || self->files == NULL || self->delegate != NULL)
        goto fail; /* failed, or this reader closed or handed over meanwhile */
    Py_DECREF(r);
    self->delegate = sd;
    reader_free_files(self);
    return 0;
fail:
    Py_XDECREF(r);
    r = PyObject_CallMethod(sd, "close", NULL);
    Py_XDECREF(r);
    PyErr_Clear();
    Py_DECREF(sd);
    /* an OSError: the catch-up reads on from the last entry handed out (journalcatchup) */
    PyErr_SetString(Unsupported, "hand-over to libsystemd failed");
    return -1;
}

#define FORWARD(name)                                                                              \
    if (self->delegate != NULL)                                                                    \
    return PyObject_CallMethod(self->delegate, name, NULL)

/* ---- moving ---- */

/* Stand on the first readable entry from i in the direction step; its header copied. */
static PyObject *stand_on(Reader *self, Py_ssize_t i, Py_ssize_t step) {
    if (i < 0 || i >= self->n)
        Py_RETURN_FALSE;
    const JFile *f = &self->files[self->file_of[i]];
    if (!f->damaged) { /* readable_entry's first turn, inline: the path of every entry */
        memcpy(self->head, f->map + (uint64_t)self->offset_of[i] * 8 + 8, 56);
        if (faults_now() == self->faults_seen)
            goto stood;
    }
    i = readable_entry(self, i, step, self->head);
    if (i == -2)
        return NULL;
    if (i < 0)
        Py_RETURN_FALSE; /* the rest lost with a shrunk file: where it stood before */
stood:
    self->mode = AT_ENTRY;
    self->current = i;
    self->next_index = i + 1;
    self->prev_index = i - 1;
    Py_RETURN_TRUE;
}

static PyObject *Reader_next(Reader *self, PyObject *Py_UNUSED(unused)) {
    FORWARD("_next");
    /* after seek_tail, libsystemd's next is the last entry (as its previous after seek_head
       is the first) */
    if (self->mode == AT_TAIL)
        return stand_on(self, self->n - 1, -1);
    return stand_on(self, self->next_index, 1);
}

static PyObject *Reader_previous(Reader *self, PyObject *Py_UNUSED(unused)) {
    FORWARD("_previous");
    if (self->mode == AT_HEAD)
        return stand_on(self, 0, 1);
    return stand_on(self, self->prev_index, -1);
}

static PyObject *Reader_seek_head(Reader *self, PyObject *Py_UNUSED(unused)) {
    FORWARD("seek_head");
    self->mode = AT_HEAD;
    self->current = -1;
    self->next_index = 0;
    self->prev_index = -1;
    Py_RETURN_NONE;
}

static PyObject *Reader_seek_tail(Reader *self, PyObject *Py_UNUSED(unused)) {
    FORWARD("seek_tail");
    self->mode = AT_TAIL;
    self->current = -1;
    self->next_index = self->n;
    self->prev_index = self->n - 1;
    Py_RETURN_NONE;
}

static PyObject *Reader_seek_cursor(Reader *self, PyObject *arg) {
    if (self->delegate != NULL)
        return PyObject_CallMethod(self->delegate, "seek_cursor", "O", arg);
    Py_ssize_t len;
    const char *text = PyUnicode_Check(arg) ? PyUnicode_AsUTF8AndSize(arg, &len) : NULL;
    Cursor c;
    if (text == NULL || parse_cursor(text, (size_t)len, &c) < 0 || !c.has_s || !c.has_i ||
        memcmp(c.s, self->seqnum_id, 16) != 0) {
        /* another seqnum source, or a form this reader does not write: libsystemd seeks */
        PyErr_Clear();
        self->mode = AT_HEAD;
        if (hand_over(self) < 0)
            return NULL;
        return PyObject_CallMethod(self->delegate, "seek_cursor", "O", arg);
    }
    /* the first selected entry at or after the seqnum, the last at or before it; again if a
       file was found shrunk meanwhile (its entries then weigh as its last one) */
    Py_ssize_t lo, prev;
    for (;;) {
        sig_atomic_t before = faults_now();
        Py_ssize_t hi = self->n;
        lo = 0;
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            if (entry_seqnum(self, mid) < c.i)
                lo = mid + 1;
            else
                hi = mid;
        }
        prev = lo < self->n && entry_seqnum(self, lo) == c.i ? lo : lo - 1;
        if (faults_now() == before)
            break;
    }
    if (faults_now() != self->faults_seen && tell_damage(self, lo) < 0)
        return NULL; /* (closed by on_damaged: no entries, _next finds none) */
    self->mode = AT_SEEK;
    self->current = -1;
    self->next_index = lo;
    self->prev_index = prev;
    Py_RETURN_NONE;
}

static PyObject *Reader_seek_realtime(Reader *self, PyObject *arg) {
    if (self->delegate == NULL && hand_over(self) < 0)
        return NULL;
    return PyObject_CallMethod(self->delegate, "seek_realtime", "O", arg);
}

static PyObject *Reader_test_cursor(Reader *self, PyObject *arg) {
    if (self->delegate != NULL)
        return PyObject_CallMethod(self->delegate, "test_cursor", "O", arg);
    if (self->mode != AT_ENTRY)
        return no_entry();
    Py_ssize_t len;
    const char *text = PyUnicode_Check(arg) ? PyUnicode_AsUTF8AndSize(arg, &len) : NULL;
    Cursor c;
    if (text == NULL || parse_cursor(text, (size_t)len, &c) < 0) {
        /* a form this reader does not parse: libsystemd answers, on this entry */
        PyErr_Clear();
        if (hand_over(self) < 0)
            return NULL;
        return PyObject_CallMethod(self->delegate, "test_cursor", "O", arg);
    }
    const uint8_t *e = self->head;
    int same = (!c.has_s || memcmp(c.s, self->seqnum_id, 16) == 0) &&
               (!c.has_i || c.i == le64(e + HEAD_SEQNUM)) &&
               (!c.has_b || memcmp(c.b, e + HEAD_BOOT, 16) == 0) &&
               (!c.has_m || c.m == le64(e + HEAD_MONOTONIC)) &&
               (!c.has_t || c.t == le64(e + HEAD_REALTIME)) &&
               (!c.has_x || c.x == le64(e + HEAD_XOR));
    return PyBool_FromLong(same);
}

/* ---- reading the entry ---- */

static PyObject *Reader_get_realtime(Reader *self, PyObject *Py_UNUSED(unused)) {
    FORWARD("_get_realtime");
    if (self->mode != AT_ENTRY)
        return no_entry();
    return PyLong_FromUnsignedLongLong(le64(self->head + HEAD_REALTIME));
}

static PyObject *Reader_get_cursor(Reader *self, PyObject *Py_UNUSED(unused)) {
    FORWARD("_get_cursor");
    if (self->mode != AT_ENTRY)
        return no_entry();
    return cursor_of(self, self->head);
}

/* Whether a field name is one libsystemd takes ([A-Z0-9_]+; else systemd-python's ValueError,
   not a value of an item whose payload starts with "NAME=x=" for the name "NAME=x"). */
static int name_valid(Reader *self, PyObject *field, const char *name, Py_ssize_t flen) {
    if (field == self->names[0] || field == self->names[1])
        return 1;
    if (flen == 0)
        return 0;
    for (Py_ssize_t i = 0; i < flen; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    Py_INCREF(field);
    Py_XSETREF(self->names[self->next_name], field);
    self->next_name ^= 1;
    return 1;
}

static PyObject *Reader_get(Reader *self, PyObject *field);

/* _get's answer where a read of the current entry faulted: its file is told damaged and the
   entry reads as one without the field (the catch-up passes over it; its cursor and time
   were copied before). A fault in another file (none reads them here): read again. */
static PyObject *get_lost(Reader *self, PyObject *field) {
    if (tell_damage(self, self->current) < 0)
        return NULL;
    if (self->files == NULL)
        return no_entry();
    if (!self->files[self->file_of[self->current]].damaged)
        return Reader_get(self, field);
    PyErr_SetObject(PyExc_KeyError, field);
    return NULL;
}

static PyObject *Reader_get(Reader *self, PyObject *field) {
    if (self->delegate != NULL)
        return PyObject_CallMethod(self->delegate, "_get", "O", field);
    Py_ssize_t flen;
    const char *name = PyUnicode_Check(field) ? PyUnicode_AsUTF8AndSize(field, &flen) : NULL;
    if (name == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "a field name must be str");
        return NULL;
    }
    if (!name_valid(self, field, name, flen)) {
        PyErr_SetString(PyExc_ValueError, "field name is not valid");
        return NULL;
    }
    if (self->mode != AT_ENTRY)
        return no_entry();
    const JFile *f = &self->files[self->file_of[self->current]];
    if (f->damaged)
        return get_lost(self, field);
    uint64_t offset = (uint64_t)self->offset_of[self->current] * 8;
    const uint8_t *e = f->map + offset;
    /* checked at open, read again when stood on: the file's pages are the file's (a write to
       it in place shows through the mapping), so its size is bounded again, not trusted */
    uint64_t entry_size = le64(self->head + HEAD_SIZE);
    if (entry_size < ENTRY_HEAD || entry_size > f->end - offset) {
        if (hand_over(self) < 0)
            return NULL;
        return PyObject_CallMethod(self->delegate, "_get", "O", field);
    }
    uint64_t n_items = (entry_size - ENTRY_HEAD) / f->item_size;
    const uint8_t *items = e + ENTRY_HEAD;
    /* the file's bounds in locals: the loop's checks are object_at's, kept in registers */
    const uint8_t *map = f->map;
    const uint64_t need = (uint64_t)flen + 1, payload_at = f->payload_at, start = f->start,
                   end = f->end;
    const int compact = f->compact;
    for (uint64_t i = 0; i < n_items; i++) {
        uint64_t data = compact ? le32(items + 4 * i) : le64(items + 16 * i), size = 0;
        if (data < start || data % 8 || data > end - 16 || map[data] != OBJECT_DATA ||
            (size = le64(map + data + 8)) < payload_at || size > end - data) {
            if (faults_now() != self->faults_seen) /* zeros where the file was cut */
                return get_lost(self, field);
            /* a check failing mid-read: libsystemd reads on from this entry */
            if (hand_over(self) < 0)
                return NULL;
            return PyObject_CallMethod(self->delegate, "_get", "O", field);
        }
        const uint8_t *p = map + data;
        if (p[1] & OBJECT_COMPRESSED) {
            if (faults_now() != self->faults_seen)
                return get_lost(self, field);
            /* its field's name is compressed too: libsystemd reads this value */
            PyObject *cursor = cursor_of(self, self->head), *path = f->path;
            if (cursor == NULL)
                return NULL;
            Py_INCREF(path); /* the call may close this reader, which drops f->path */
            PyObject *value = PyObject_CallFunctionObjArgs(self->value_of, path, cursor, field,
                                                           NULL);
            Py_DECREF(path);
            Py_DECREF(cursor);
            if (value != NULL || !PyErr_ExceptionMatches(PyExc_OSError))
                return value;
            /* a file reader without matches does not find the entry (a damaged entry array):
               libsystemd with the matches, standing on it, reads on */
            PyErr_Clear();
            if (hand_over(self) < 0)
                return NULL;
            return PyObject_CallMethod(self->delegate, "_get", "O", field);
        }
        uint64_t plen = size - payload_at;
        const uint8_t *payload = p + payload_at;
        if (plen >= need && memcmp(payload, name, (size_t)flen) == 0 && payload[flen] == '=' &&
            data_good(f, p, size)) { /* a bad one libsystemd skips over */
            PyObject *value = PyBytes_FromStringAndSize((const char *)payload + need,
                                                        (Py_ssize_t)(plen - need));
            if (faults_now() == self->faults_seen || value == NULL)
                return value;
            Py_DECREF(value); /* read where the file was cut */
            return get_lost(self, field);
        }
    }
    if (faults_now() != self->faults_seen)
        return get_lost(self, field);
    PyErr_SetObject(PyExc_KeyError, field);
    return NULL;
}

/* ---- passing over entries of no use (the reader child's routed loop) ---- */

/* The MESSAGE of the entry at index i, as _get would read it, without standing on it: 1 with
   its payload's value in *value, *len; 0 the entry holds none; -1 anything _get would not
   read by itself (a damaged file, a fault, a check failing, a compressed item): the caller
   passes over nothing there (_get, standing on it, does what it does). */
static int peek_message(const Reader *self, Py_ssize_t i, const uint8_t **value, uint64_t *len) {
    const JFile *f = &self->files[self->file_of[i]];
    if (f->damaged)
        return -1;
    uint64_t offset = (uint64_t)self->offset_of[i] * 8;
    const uint8_t *map = f->map, *e = map + offset;
    uint64_t entry_size = le64(e + 8);
    if (entry_size < ENTRY_HEAD || entry_size > f->end - offset)
        return -1;
    uint64_t n_items = (entry_size - ENTRY_HEAD) / f->item_size;
    const uint8_t *items = e + ENTRY_HEAD;
    const uint64_t payload_at = f->payload_at, start = f->start, end = f->end;
    const int compact = f->compact;
    for (uint64_t k = 0; k < n_items; k++) {
        uint64_t data = compact ? le32(items + 4 * k) : le64(items + 16 * k), size = 0;
        if (data < start || data % 8 || data > end - 16 || map[data] != OBJECT_DATA ||
            (size = le64(map + data + 8)) < payload_at || size > end - data)
            return -1;
        const uint8_t *p = map + data;
        if (p[1] & OBJECT_COMPRESSED)
            return -1;
        uint64_t plen = size - payload_at;
        const uint8_t *payload = p + payload_at;
        if (plen >= 8 && memcmp(payload, "MESSAGE=", 8) == 0 && data_good(f, p, size)) {
            *value = payload + 8;
            *len = plen - 8;
            return 1;
        }
    }
    return 0;
}

/* The index of the one of starts (a tuple of bytes, sorted) a message (len bytes at value)
   starts with; -1: none. table (256 bytes): per first byte, 1 + the index of the first start
   beginning with it (the others that do follow it), 0 where none does. */
static Py_ssize_t start_of(const uint8_t *value, uint64_t len, const char *table, PyObject *starts) {
    if (len == 0)
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(starts);
    for (Py_ssize_t k = (Py_ssize_t)(uint8_t)table[value[0]] - 1; k >= 0 && k < n; k++) {
        PyObject *s = PyTuple_GET_ITEM(starts, k);
        Py_ssize_t slen = PyBytes_GET_SIZE(s);
        const char *sp = PyBytes_AS_STRING(s);
        if (slen == 0 || sp[0] != (char)value[0])
            return -1; /* past the starts beginning with that byte */
        if ((uint64_t)slen <= len && memcmp(sp, value, (size_t)slen) == 0)
            return k;
    }
    return -1;
}

/* What a pass over entries asks of each message: the index of what it starts with or holds
   (the entry is stood on), -1 none (passed over). */
typedef Py_ssize_t (*Wanted)(const uint8_t *value, uint64_t len, const void *ask);

typedef struct {
    const char *table;
    PyObject *starts;
} StartsAsk;

static Py_ssize_t wanted_start(const uint8_t *value, uint64_t len, const void *ask) {
    const StartsAsk *a = ask;
    return start_of(value, len, a->table, a->starts);
}

/* Whether a message holds any of `literals` (a tuple of bytes): 0 it does, -1 not. `table`
   (256 bytes): per byte b, 1 + the index of the first literal searched from b (its pivot,
   at the offset `at` gives: 2 bytes a literal, little-endian), 0 where none is; the others
   searched from b follow it. A literal is found wherever it is: its pivot byte stands at
   its offset from its start. Every offset and length is checked here. */
typedef struct {
    const uint8_t *table;
    PyObject *literals;
    const uint8_t *at;
    int stops; /* the bytes the table gives literals for, in stop; -1: more than SCAN_STOPS */
    const uint8_t *stop;
} LiteralsAsk;

/* Whether a message holds a literal searched from byte b, at its byte j (value[j] == b). */
static int literal_at(const LiteralsAsk *a, const uint8_t *value, uint64_t len, uint64_t j,
                      uint8_t b) {
    Py_ssize_t n = PyTuple_GET_SIZE(a->literals);
    for (Py_ssize_t k = (Py_ssize_t)a->table[b] - 1; k >= 0 && k < n; k++) {
        PyObject *lit = PyTuple_GET_ITEM(a->literals, k);
        uint64_t llen = (uint64_t)PyBytes_GET_SIZE(lit),
                 off = a->at[2 * k] | (uint64_t)a->at[2 * k + 1] << 8;
        const uint8_t *lp = (const uint8_t *)PyBytes_AS_STRING(lit);
        if (off >= llen || lp[off] != b)
            return 0; /* past the literals searched from b */
        if (off > j || llen - off > len - j)
            continue; /* it would begin before the message or end after it */
        if (memcmp(lp, value + (j - off), (size_t)llen) == 0)
            return 1;
    }
    return 0;
}

static Py_ssize_t wanted_literal(const uint8_t *value, uint64_t len, const void *ask) {
    const LiteralsAsk *a = ask;
    if (a->stops >= 0) { /* few such bytes: each found by memchr (a vector loop) */
        for (int s = 0; s < a->stops; s++) {
            uint8_t b = a->stop[s];
            const uint8_t *p = value, *end = value + len;
            while (p < end && (p = memchr(p, b, (size_t)(end - p))) != NULL) {
                if (literal_at(a, value, len, (uint64_t)(p - value), b))
                    return 0;
                p++;
            }
        }
        return -1;
    }
    const uint8_t *table = a->table;
    for (uint64_t j = 0; j < len; j++) {
        uint8_t b = value[j];
        if (table[b] && literal_at(a, value, len, j, b))
            return 0;
    }
    return -1;
}

/* Step onto the next entries, at most `most`, while `want` wants none of them (no MESSAGE,
   or one it answers -1 for), each earlier than stop (-1: no bound); see _pass. */
static PyObject *pass_over(Reader *self, Py_ssize_t most, long long stop, Wanted want,
                           const void *ask) {
    Py_ssize_t passed = 0;
    if (self->delegate != NULL || self->files == NULL || self->mode == AT_TAIL)
        return PyLong_FromSsize_t(0);
    Py_ssize_t i = self->next_index;
    uint8_t head[56];
    while (passed < most && i >= 0 && i < self->n) {
        const JFile *f = &self->files[self->file_of[i]];
        if (f->damaged)
            break;
        const uint8_t *value = NULL;
        uint64_t len = 0;
        int found = peek_message(self, i, &value, &len);
        if (found < 0)
            break;
        memcpy(head, f->map + (uint64_t)self->offset_of[i] * 8 + 8, 56);
        if (stop >= 0 && le64(head + HEAD_REALTIME) >= (uint64_t)stop)
            break;
        Py_ssize_t wanted = found == 1 ? want(value, len, ask) : -1;
        if (faults_now() != self->faults_seen)
            break; /* what was read may be zeros: _next() finds the damage and tells it */
        memcpy(self->head, head, 56); /* stood on, as _next() would */
        self->mode = AT_ENTRY;
        self->current = i;
        self->next_index = i + 1;
        self->prev_index = i - 1;
        if (wanted >= 0)
            return PyLong_FromSsize_t(-(passed * 256 + wanted) - 1);
        passed++;
        i++;
    }
    return PyLong_FromSsize_t(passed);
}

/* _pass(most, table, starts, stop_usec) -> int: step onto the next entries, at most `most`,
   while each holds no MESSAGE, an empty one or one starting with none of `starts` (`table`:
   where the starts with each first byte begin, see start_of), and is earlier than stop_usec (-1: no bound).
   k >= 0: k entries passed over, the reader on the last of them (as after k _next()), the
   next one for _next() to read: past `most`, the end, later than stop_usec, or one it is not
   sure of (see peek_message; a damaged file's). -(k * 256 + s + 1): k passed over, and the
   reader stands on the next entry (as after _next() returned True), within `most`, starting
   with starts[s] (the first of them that it starts with; at most 254 starts). Handed over
   to libsystemd: 0, nothing done. */
static PyObject *Reader_pass(Reader *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyBytes_Check(args[1]) || PyBytes_GET_SIZE(args[1]) != 256 ||
        !PyTuple_Check(args[2]) || PyTuple_GET_SIZE(args[2]) > 254) {
        PyErr_SetString(PyExc_TypeError, "_pass(most: int, table: bytes[256], starts: tuple "
                                         "(254 at most), stop_usec: int)");
        return NULL;
    }
    Py_ssize_t most = PyLong_AsSsize_t(args[0]);
    if (most == -1 && PyErr_Occurred())
        return NULL;
    long long stop = PyLong_AsLongLong(args[3]);
    if (stop == -1 && PyErr_Occurred())
        return NULL;
    PyObject *starts = args[2];
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(starts); k++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(starts, k))) {
            PyErr_SetString(PyExc_TypeError, "starts: a tuple of bytes");
            return NULL;
        }
    }
    StartsAsk ask = {PyBytes_AS_STRING(args[1]), starts};
    return pass_over(self, most, stop, wanted_start, &ask);
}

/* _scan(most, table, literals, at, stop_usec) -> int: as _pass, for a jail without a route:
   steps over the entries whose MESSAGE holds none of `literals` (see wanted_literal: `table`
   bytes[256], `at` 2 bytes a literal), standing on the next one that holds one (-(k * 256)
   - 1: k passed over). */
static PyObject *Reader_scan(Reader *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyBytes_Check(args[1]) || PyBytes_GET_SIZE(args[1]) != 256 ||
        !PyTuple_Check(args[2]) || PyTuple_GET_SIZE(args[2]) > 255 || !PyBytes_Check(args[3]) ||
        PyBytes_GET_SIZE(args[3]) != 2 * PyTuple_GET_SIZE(args[2])) {
        PyErr_SetString(PyExc_TypeError, "_scan(most: int, table: bytes[256], literals: tuple "
                                         "(255 at most), at: bytes (2 a literal), stop_usec: int)");
        return NULL;
    }
    Py_ssize_t most = PyLong_AsSsize_t(args[0]);
    if (most == -1 && PyErr_Occurred())
        return NULL;
    long long stop = PyLong_AsLongLong(args[4]);
    if (stop == -1 && PyErr_Occurred())
        return NULL;
    PyObject *literals = args[2];
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(literals); k++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(literals, k))) {
            PyErr_SetString(PyExc_TypeError, "literals: a tuple of bytes");
            return NULL;
        }
    }
    const uint8_t *table = (const uint8_t *)PyBytes_AS_STRING(args[1]);
    if (args[1] != self->scan_table) { /* a table not seen last: its bytes with literals */
        int stops = 0;
        for (int b = 0; b < 256 && stops >= 0; b++) {
            if (!table[b])
                continue;
            if (stops == SCAN_STOPS)
                stops = -1;
            else
                self->scan_stop[stops++] = (uint8_t)b;
        }
        self->scan_stops = stops;
        Py_INCREF(args[1]);
        Py_XSETREF(self->scan_table, args[1]);
    }
    LiteralsAsk ask = {table, literals, (const uint8_t *)PyBytes_AS_STRING(args[3]),
                       self->scan_stops, self->scan_stop};
    return pass_over(self, most, stop, wanted_literal, &ask);
}

static PyObject *Reader_close(Reader *self, PyObject *Py_UNUSED(unused)) {
    if (self->delegate != NULL) {
        PyObject *r = PyObject_CallMethod(self->delegate, "close", NULL);
        Py_CLEAR(self->delegate);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
    }
    /* value_of's own readers (a compressed item's), where it has a close: each holds its
       file open, and this reader object can outlive its close (the next part's replaces it) */
    PyObject *value_of = self->value_of;
    if (value_of != NULL && PyObject_HasAttrString(value_of, "close")) {
        Py_INCREF(value_of); /* its close may drop this reader's reference */
        PyObject *r = PyObject_CallMethod(value_of, "close", NULL);
        Py_DECREF(value_of);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
    }
    reader_free_files(self);
    self->mode = AT_HEAD;
    self->current = -1;
    self->next_index = 0;
    self->prev_index = -1;
    Py_RETURN_NONE;
}

static PyObject *Reader_native(Reader *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->delegate == NULL);
}

static PyObject *Reader_entries(Reader *self, void *Py_UNUSED(closure)) {
    return PyLong_FromSsize_t(self->n);
}

static PyMethodDef Reader_methods[] = {
    {"_next", (PyCFunction)Reader_next, METH_NOARGS, "Step to the next selected entry."},
    {"_previous", (PyCFunction)Reader_previous, METH_NOARGS, "Step to the entry before."},
    {"_get", (PyCFunction)Reader_get, METH_O, "The value of the entry's first FIELD item."},
    {"_get_realtime", (PyCFunction)Reader_get_realtime, METH_NOARGS, "Realtime, microseconds."},
    {"_get_cursor", (PyCFunction)Reader_get_cursor, METH_NOARGS, "The entry's cursor."},
    {"seek_head", (PyCFunction)Reader_seek_head, METH_NOARGS, "Before the first entry."},
    {"seek_tail", (PyCFunction)Reader_seek_tail, METH_NOARGS, "After the last entry."},
    {"seek_cursor", (PyCFunction)Reader_seek_cursor, METH_O, "At a cursor."},
    {"seek_realtime", (PyCFunction)Reader_seek_realtime, METH_O, "At a time (libsystemd)."},
    {"test_cursor", (PyCFunction)Reader_test_cursor, METH_O, "Whether the entry is at cursor."},
    {"close", (PyCFunction)Reader_close, METH_NOARGS, "Unmap the files; value_of.close()."},
    {"_pass", (PyCFunction)(void (*)(void))Reader_pass, METH_FASTCALL,
     "_pass(most, table, starts, stop_usec): entries of no use stepped onto (see the C)."},
    {"_scan", (PyCFunction)(void (*)(void))Reader_scan, METH_FASTCALL,
     "_scan(most, table, literals, at, stop_usec): entries holding no literal stepped onto."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Reader_getset[] = {
    {"native", (getter)Reader_native, NULL, "False once handed over to libsystemd.", NULL},
    {"entries", (getter)Reader_entries, NULL, "The selected entries (native).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "journalban.sources._journalfile.Reader",
    .tp_basicsize = sizeof(Reader),
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Closed journal files read by their format, as a libsystemd reader with matches.",
    .tp_methods = Reader_methods,
    .tp_getset = Reader_getset,
    .tp_new = Reader_new,
};

static PyObject *hash_of(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer data;
    Py_buffer key = {0};
    if (!PyArg_ParseTuple(args, "y*|y*", &data, &key))
        return NULL;
    uint64_t h;
    if (key.buf != NULL) {
        if (key.len != 16) {
            PyBuffer_Release(&data);
            PyBuffer_Release(&key);
            PyErr_SetString(PyExc_ValueError, "a key of 16 bytes");
            return NULL;
        }
        h = siphash24(key.buf, data.buf, (size_t)data.len);
        PyBuffer_Release(&key);
    } else
        h = jenkins64(data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLongLong(h);
}

static PyObject *abi(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(unused)) {
    return PyLong_FromLong(2); /* 2: Reader's on_damaged */
}

static PyMethodDef module_methods[] = {
    {"abi", abi, METH_NOARGS, "abi() -> int: the version of this module's interface."},
    {"hash", hash_of, METH_VARARGS,
     "hash(data[, key]): siphash24 under a 16-byte key, else jenkins (lookup3) 64 bits."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "journalban.sources._journalfile",
    .m_doc = "A reader of closed journal files by their on-disk format (issue 19).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__journalfile(void) {
    if (PyType_Ready(&ReaderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Unsupported = PyErr_NewException("journalban.sources._journalfile.Unsupported", PyExc_OSError, NULL);
    if (Unsupported == NULL || PyModule_AddObjectRef(m, "Unsupported", Unsupported) < 0 ||
        PyModule_AddObjectRef(m, "Reader", (PyObject *)&ReaderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
