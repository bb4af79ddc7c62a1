/* Multi-index hashing over 256-bit PDQ hashes: the compiled inner loops of hashindex.index.

   Rows live in chunks of 2^CHUNK_BITS rows (32 bytes each) so the store grows without a copy;
   per row there is an int64 id and an alive byte (0 = tombstoned). A table indexes one
   substring of the hash: offsets (2^nbits + 1 uint32) and row numbers sorted by substring
   value (CSR), so a probe is two array reads. Substring bits are numbered on the hash read as
   four little-endian uint64 words (bytes 0-7 are word 0); hashindex/index.py's numpy fallback
   uses the same numbering.

   Functions (all buffers via the buffer protocol; the GIL is released while they run):
   - merge(old_offsets|None, old_ids|None, check_alive, rows, alive, lo, hi, start, nbits,
           new_offsets, new_ids) -> count
       new table = alive entries of the old table + alive rows lo..hi-1 (bucket order, rows
       ascending within a bucket); a full build is a merge with no old table and lo = 0.
   - search(tables, rows, alive, rids, n_main, n_rows, queries, threshold)
       -> (query int64 bytes, ids int64 bytes, distances int32 bytes), sorted by query,
       distance, id. tables: tuple of (slots, ovf, start, nbits, radius), radius -1 = skip
       (the slot form, below).
       Rows n_main..n_rows-1 (the delta) are compared one by one. rids None: row numbers
       are returned as the ids. A true 9th argument adds a 4th bytes: each hit's stored
       hash (32 bytes a hit). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BITS 16
#define CHUNK_MASK ((1u << CHUNK_BITS) - 1u)

typedef struct {
    Py_buffer *views;
    Py_ssize_t n;
    const uint8_t **ptr;
} Chunks;

static void chunks_release(Chunks *c) {
    if (c->views) {
        for (Py_ssize_t i = 0; i < c->n; i++) PyBuffer_Release(&c->views[i]);
        free(c->views);
    }
    free((void *)c->ptr);
    c->views = NULL;
    c->ptr = NULL;
    c->n = 0;
}

/* seq: tuple/list of buffers, each at least min_bytes long */
static int chunks_get(PyObject *seq, Py_ssize_t min_bytes, int writable, Chunks *c) {
    c->views = NULL;
    c->ptr = NULL;
    c->n = 0;
    PyObject *fast = PySequence_Fast(seq, "chunks must be a sequence of buffers");
    if (!fast) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    c->views = calloc(n ? n : 1, sizeof(Py_buffer));
    c->ptr = calloc(n ? n : 1, sizeof(uint8_t *));
    if (!c->views || !c->ptr) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int flags = writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS : PyBUF_C_CONTIGUOUS;
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(fast, i), &c->views[i], flags) < 0) {
            c->n = i;
            Py_DECREF(fast);
            chunks_release(c);
            return -1;
        }
        c->n = i + 1;
        if (c->views[i].len < min_bytes) {
            Py_DECREF(fast);
            chunks_release(c);
            PyErr_SetString(PyExc_ValueError, "chunk buffer too small");
            return -1;
        }
        c->ptr[i] = c->views[i].buf;
    }
    Py_DECREF(fast);
    return 0;
}

static inline const uint64_t *row_at(const uint8_t **rows, uint32_t r) {
    return (const uint64_t *)(rows[r >> CHUNK_BITS] + ((size_t)(r & CHUNK_MASK) << 5));
}

static inline int alive_at(const uint8_t **alive, uint32_t r) {
    return alive[r >> CHUNK_BITS][r & CHUNK_MASK];
}

static inline int64_t rid_at(const uint8_t **rids, uint32_t r) {
    return ((const int64_t *)rids[r >> CHUNK_BITS])[r & CHUNK_MASK];
}

static inline uint32_t substring(const uint64_t *w, int start, int nbits) {
    int i = start >> 6, o = start & 63;
    uint64_t v = w[i] >> o;
    if (o + nbits > 64) v |= w[i + 1] << (64 - o);
    return (uint32_t)(v & ((nbits == 64) ? ~0ull : ((1ull << nbits) - 1ull)));
}

static inline int dist256(const uint64_t *a, const uint64_t *b) {
    return __builtin_popcountll(a[0] ^ b[0]) + __builtin_popcountll(a[1] ^ b[1]) +
           __builtin_popcountll(a[2] ^ b[2]) + __builtin_popcountll(a[3] ^ b[3]);
}

/* A full build: the live rows' (substring, row) pairs sorted by a two-pass LSD radix sort
   (each pass scatters into at most 2^15 streams, cache-friendly, where a counting sort over
   2^24 buckets would miss the cache on every row), then the offsets from one scan. Stable:
   rows ascending within a bucket. Returns the number of entries; *oom set on failure. */
static size_t radix_build(const uint8_t **rows, const uint8_t **alive, uint32_t lo, uint32_t hi,
                          int start, int nbits, uint32_t *off, uint32_t *ids, int *oom) {
    size_t cap = (size_t)(hi - lo), n = 0, nb = (size_t)1 << nbits;
    int b1 = nbits / 2, b2 = nbits - b1;
    uint32_t m1 = (1u << b1) - 1u;
    /* the first pass's rows go straight into ids (its capacity is >= cap): one array less */
    uint32_t *k0 = malloc((cap + 1) * 4), *v0 = ids;
    uint32_t *k1 = malloc((cap + 1) * 4), *v1 = malloc((cap + 1) * 4);
    uint32_t *h1 = calloc((size_t)1 << b1, 4), *h2 = calloc((size_t)1 << b2, 4);
    if (!k0 || !v0 || !k1 || !v1 || !h1 || !h2) {
        *oom = 1;
        goto done;
    }
    for (uint32_t r = lo; r < hi; r++) {
        if (!alive_at(alive, r)) continue;
        uint32_t k = substring(row_at(rows, r), start, nbits);
        k0[n] = k;
        v0[n] = r;
        h1[k & m1]++;
        h2[k >> b1]++;
        n++;
    }
    uint32_t s = 0;
    for (size_t i = 0; i < ((size_t)1 << b1); i++) {
        uint32_t c = h1[i];
        h1[i] = s;
        s += c;
    }
    s = 0;
    for (size_t i = 0; i < ((size_t)1 << b2); i++) {
        uint32_t c = h2[i];
        h2[i] = s;
        s += c;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t p = h1[k0[i] & m1]++;
        k1[p] = k0[i];
        v1[p] = v0[i];
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t p = h2[k1[i] >> b1]++;
        k0[p] = k1[i];
        ids[p] = v1[i];
    }
    size_t j = 0;
    off[0] = 0;
    for (size_t v = 0; v < nb; v++) {
        while (j < n && k0[j] == v) j++;
        off[v + 1] = (uint32_t)j;
    }
done:
    free(k0);
    free(k1);
    free(v1);
    free(h1);
    free(h2);
    return n;
}

/* ---------------------------------------------------------------- merge (build) */

static PyObject *py_merge(PyObject *self, PyObject *args) {
    PyObject *old_off_o, *old_ids_o, *rows_o, *alive_o, *new_off_o, *new_ids_o;
    int check_alive, start, nbits;
    Py_ssize_t lo, hi;
    if (!PyArg_ParseTuple(args, "OOpOOnniiOO", &old_off_o, &old_ids_o, &check_alive, &rows_o,
                          &alive_o, &lo, &hi, &start, &nbits, &new_off_o, &new_ids_o))
        return NULL;
    if (nbits < 1 || nbits > 30 || start < 0 || start + nbits > 256 || lo < 0 || hi < lo ||
        hi > 0xFFFFFFFFLL) {
        PyErr_SetString(PyExc_ValueError, "bad substring or row range");
        return NULL;
    }
    size_t nb = (size_t)1 << nbits;
    Py_buffer oo = {0}, oi = {0}, no = {0}, ni = {0};
    Chunks rows, alive;
    int have_old = old_off_o != Py_None;
    if (have_old) {
        if (PyObject_GetBuffer(old_off_o, &oo, PyBUF_C_CONTIGUOUS) < 0) return NULL;
        if (PyObject_GetBuffer(old_ids_o, &oi, PyBUF_C_CONTIGUOUS) < 0) {
            PyBuffer_Release(&oo);
            return NULL;
        }
    }
    if (PyObject_GetBuffer(new_off_o, &no, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) goto fail0;
    if (PyObject_GetBuffer(new_ids_o, &ni, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&no);
        goto fail0;
    }
    if (chunks_get(rows_o, (Py_ssize_t)32 << CHUNK_BITS, 0, &rows) < 0) goto fail1;
    if (chunks_get(alive_o, (Py_ssize_t)1 << CHUNK_BITS, 0, &alive) < 0) {
        chunks_release(&rows);
        goto fail1;
    }
    if ((size_t)no.len < (nb + 1) * 4 || (have_old && (size_t)oo.len < (nb + 1) * 4) ||
        (hi > 0 && ((hi - 1) >> CHUNK_BITS) >= rows.n) ||
        (hi > 0 && ((hi - 1) >> CHUNK_BITS) >= alive.n)) {
        PyErr_SetString(PyExc_ValueError, "buffers do not fit the table or the rows");
        goto fail2;
    }
    const uint32_t *ooff = have_old ? oo.buf : NULL;
    const uint32_t *oids = have_old ? oi.buf : NULL;
    size_t old_n = have_old ? ooff[nb] : 0;
    if (have_old && (size_t)oi.len < old_n * 4) {
        PyErr_SetString(PyExc_ValueError, "old ids shorter than its offsets say");
        goto fail2;
    }
    size_t cap = (size_t)ni.len / 4;
    if (cap < old_n + (size_t)(hi - lo)) {
        PyErr_SetString(PyExc_ValueError, "new ids buffer too small");
        goto fail2;
    }
    uint32_t *off = no.buf, *ids = ni.buf;
    size_t pos = 0;
    int oom = 0;
    Py_BEGIN_ALLOW_THREADS;
    if (!have_old)
        pos = radix_build(rows.ptr, alive.ptr, (uint32_t)lo, (uint32_t)hi, start, nbits, off, ids,
                          &oom);
    else {
        /* tombstones as a bitmap over the table's rows (1.25 MB at 10M rows: it stays in the
           cache while the old row numbers stream past; the alive bytes would not) */
        uint64_t *deadbits = NULL;
        if (check_alive) {
            size_t words = ((size_t)lo + 63) / 64 + 1;
            deadbits = calloc(words, 8);
            if (!deadbits) oom = 1;
            else
                for (uint32_t r = 0; r < (uint32_t)lo; r++)
                    if (!alive_at(alive.ptr, r)) deadbits[r >> 6] |= 1ull << (r & 63);
        }
        if (oom) goto merged;
        memset(off, 0, (nb + 1) * 4);
        for (Py_ssize_t r = lo; r < hi; r++)
            if (alive_at(alive.ptr, (uint32_t)r))
                off[substring(row_at(rows.ptr, (uint32_t)r), start, nbits) + 1]++;
        for (size_t v = 0; v < nb; v++) {
            uint32_t dc = off[v + 1];
            uint32_t a = ooff[v], b = ooff[v + 1];
            if (deadbits) {
                for (uint32_t e = a; e < b; e++) {
                    uint32_t r = oids[e];
                    if (!((deadbits[r >> 6] >> (r & 63)) & 1)) ids[pos++] = r;
                }
            } else {
                for (uint32_t e = a; e < b; e++) ids[pos++] = oids[e];
            }
            off[v + 1] = (uint32_t)pos;
            pos += dc;
        }
        for (Py_ssize_t r = lo; r < hi; r++)
            if (alive_at(alive.ptr, (uint32_t)r))
                ids[off[substring(row_at(rows.ptr, (uint32_t)r), start, nbits) + 1]++] =
                    (uint32_t)r;
    merged:
        free(deadbits);
    }
    Py_END_ALLOW_THREADS;
    chunks_release(&rows);
    chunks_release(&alive);
    PyBuffer_Release(&no);
    PyBuffer_Release(&ni);
    if (have_old) {
        PyBuffer_Release(&oo);
        PyBuffer_Release(&oi);
    }
    if (oom) return PyErr_NoMemory();
    return PyLong_FromSize_t(pos);
fail2:
    chunks_release(&rows);
    chunks_release(&alive);
fail1:
    PyBuffer_Release(&no);
    PyBuffer_Release(&ni);
fail0:
    if (have_old) {
        PyBuffer_Release(&oo);
        PyBuffer_Release(&oi);
    }
    return NULL;
}

/* ---------------------------------------------------------------- slot tables

   What a search reads (the C path): slots[2^nbits] uint32, per substring value: EMPTY, the
   one row number of a bucket holding one row (no second read), or SLOT_MULTI | o where
   ovf[o] is the bucket's count and ovf[o + 1 ..] its rows. Against the CSR (offsets + row
   numbers) a probe saves the second random read for the ~35% of buckets holding one row:
   ~20% more lookups/s at 10M, slightly less memory. Merges work on the CSR (to_csr, merge,
   to_slots: one table at a time). */

#define SLOT_EMPTY 0xFFFFFFFFu
#define SLOT_MULTI 0x80000000u

static PyObject *py_ovf_size(PyObject *self, PyObject *args) {
    Py_buffer ob;
    int nbits;
    if (!PyArg_ParseTuple(args, "y*i", &ob, &nbits)) return NULL;
    size_t nb = (size_t)1 << nbits, n = 0;
    if (nbits < 1 || nbits > 30 || (size_t)ob.len < (nb + 1) * 4) {
        PyBuffer_Release(&ob);
        PyErr_SetString(PyExc_ValueError, "bad offsets");
        return NULL;
    }
    const uint32_t *off = ob.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (size_t v = 0; v < nb; v++) {
        uint32_t c = off[v + 1] - off[v];
        if (c > 1) n += c + 1;
    }
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&ob);
    return PyLong_FromSize_t(n);
}

static PyObject *py_to_slots(PyObject *self, PyObject *args) {
    Py_buffer ob, ib, sb, vb;
    int nbits;
    if (!PyArg_ParseTuple(args, "y*y*iw*w*", &ob, &ib, &nbits, &sb, &vb)) return NULL;
    size_t nb = (size_t)1 << nbits, no = 0, cap = (size_t)vb.len / 4;
    const uint32_t *off = ob.buf, *ids = ib.buf;
    uint32_t *slots = sb.buf, *ovf = vb.buf;
    int bad = nbits < 1 || nbits > 30 || (size_t)ob.len < (nb + 1) * 4 ||
              (size_t)sb.len < nb * 4 || (size_t)ib.len < (size_t)off[nb] * 4;
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS;
        for (size_t v = 0; v < nb && !bad; v++) {
            uint32_t a = off[v], b = off[v + 1];
            if (a == b)
                slots[v] = SLOT_EMPTY;
            else if (b - a == 1 && ids[a] < SLOT_MULTI)
                slots[v] = ids[a];
            else if (no + (b - a) + 1 > cap || no >= SLOT_MULTI)
                bad = 1;
            else {
                slots[v] = SLOT_MULTI | (uint32_t)no;
                ovf[no++] = b - a;
                for (uint32_t e = a; e < b; e++) ovf[no++] = ids[e];
            }
        }
        Py_END_ALLOW_THREADS;
    }
    PyBuffer_Release(&ob);
    PyBuffer_Release(&ib);
    PyBuffer_Release(&sb);
    PyBuffer_Release(&vb);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "slot table buffers do not fit");
        return NULL;
    }
    return PyLong_FromSize_t(no);
}

static PyObject *py_to_csr(PyObject *self, PyObject *args) {
    Py_buffer sb, vb, ob, ib;
    int nbits;
    if (!PyArg_ParseTuple(args, "y*y*iw*w*", &sb, &vb, &nbits, &ob, &ib)) return NULL;
    size_t nb = (size_t)1 << nbits, pos = 0, cap = (size_t)ib.len / 4, nv = (size_t)vb.len / 4;
    const uint32_t *slots = sb.buf, *ovf = vb.buf;
    uint32_t *off = ob.buf, *ids = ib.buf;
    int bad = nbits < 1 || nbits > 30 || (size_t)sb.len < nb * 4 || (size_t)ob.len < (nb + 1) * 4;
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS;
        off[0] = 0;
        for (size_t v = 0; v < nb && !bad; v++) {
            uint32_t s = slots[v];
            if (s != SLOT_EMPTY) {
                if (!(s & SLOT_MULTI)) {
                    if (pos >= cap) bad = 1;
                    else ids[pos++] = s;
                } else {
                    size_t o = s & ~SLOT_MULTI;
                    size_t c = o < nv ? ovf[o] : 0;
                    if (o + 1 + c > nv || pos + c > cap) bad = 1;
                    else {
                        memcpy(ids + pos, ovf + o + 1, c * 4);
                        pos += c;
                    }
                }
            }
            off[v + 1] = (uint32_t)pos;
        }
        Py_END_ALLOW_THREADS;
    }
    PyBuffer_Release(&sb);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&ib);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "CSR buffers do not fit the slot table");
        return NULL;
    }
    return PyLong_FromSize_t(pos);
}

typedef struct {
    uint32_t key, row;
} KeyRow;

static int cmp_keyrow(const void *a, const void *b) {
    const KeyRow *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

/* slot_update(slots, ovf, used, rows, alive, lo, hi, dead, start, nbits) -> (used, n_change)
   or None. A merge in place, O(delta + dead) instead of O(table): the tombstoned rows `dead`
   (uint32, all in the table) are taken out of their buckets, then the live rows lo..hi-1 put
   in; a bucket that grows past one row moves to the end of the overflow array (its old place
   is garbage until the next full conversion). None when the overflow array has no room left
   for the insertions: the deletions are done, nothing else, and the caller rebuilds the table
   through CSR (which also drops the garbage). */
static PyObject *py_slot_update(PyObject *self, PyObject *args) {
    Py_buffer sb, vb, db;
    PyObject *rows_o, *alive_o;
    Py_ssize_t used, lo, hi;
    int start, nbits;
    if (!PyArg_ParseTuple(args, "w*w*nOOnny*ii", &sb, &vb, &used, &rows_o, &alive_o, &lo, &hi,
                          &db, &start, &nbits))
        return NULL;
    PyObject *result = NULL;
    Chunks rows = {0}, alive = {0};
    int have = 0;
    KeyRow *kr = NULL;
    size_t nb = (size_t)1 << nbits, cap = (size_t)vb.len / 4;
    if (nbits < 1 || nbits > 30 || start < 0 || start + nbits > 256 || (size_t)sb.len < nb * 4 ||
        used < 0 || (size_t)used > cap || lo < 0 || hi < lo || db.len % 4) {
        PyErr_SetString(PyExc_ValueError, "bad slot table or row range");
        goto out;
    }
    if (chunks_get(rows_o, (Py_ssize_t)32 << CHUNK_BITS, 0, &rows) < 0) goto out;
    if (chunks_get(alive_o, (Py_ssize_t)1 << CHUNK_BITS, 0, &alive) < 0) {
        chunks_release(&rows);
        goto out;
    }
    have = 1;
    if ((hi > 0 && ((hi - 1) >> CHUNK_BITS) >= rows.n) ||
        (hi > 0 && ((hi - 1) >> CHUNK_BITS) >= alive.n)) {
        PyErr_SetString(PyExc_ValueError, "fewer chunks than rows");
        goto out;
    }
    kr = malloc(((size_t)(hi - lo) + 1) * sizeof(KeyRow));
    if (!kr) {
        PyErr_NoMemory();
        goto out;
    }
    uint32_t *slots = sb.buf, *ovf = vb.buf;
    const uint32_t *dead = db.buf;
    size_t nd = (size_t)db.len / 4, nk = 0, u = (size_t)used, need = 0;
    Py_ssize_t change = 0;
    int room = 1;
    Py_BEGIN_ALLOW_THREADS;
    /* 1. deletions, in place */
    for (size_t i = 0; i < nd; i++) {
        uint32_t r = dead[i];
        if ((r >> CHUNK_BITS) >= (uint32_t)rows.n) continue;
        uint32_t v = substring(row_at(rows.ptr, r), start, nbits);
        uint32_t sl = slots[v];
        if (sl == SLOT_EMPTY) continue;
        if (!(sl & SLOT_MULTI)) {
            if (sl == r) {
                slots[v] = SLOT_EMPTY;
                change--;
            }
            continue;
        }
        size_t o = sl & ~SLOT_MULTI;
        if (o >= u) continue;
        uint32_t c = ovf[o];
        for (uint32_t j = 0; j < c && o + 1 + j < u; j++)
            if (ovf[o + 1 + j] == r) {
                ovf[o + 1 + j] = ovf[o + c];
                ovf[o] = --c;
                change--;
                break;
            }
        if (c == 1) slots[v] = ovf[o + 1];
        else if (c == 0) slots[v] = SLOT_EMPTY;
    }
    /* 2. the live delta rows by bucket; the room they need */
    for (Py_ssize_t r = lo; r < hi; r++)
        if (alive_at(alive.ptr, (uint32_t)r)) {
            kr[nk].key = substring(row_at(rows.ptr, (uint32_t)r), start, nbits);
            kr[nk++].row = (uint32_t)r;
        }
    qsort(kr, nk, sizeof(KeyRow), cmp_keyrow);
    for (size_t i = 0; i < nk;) {
        size_t j = i;
        while (j < nk && kr[j].key == kr[i].key) j++;
        uint32_t sl = slots[kr[i].key];
        size_t c = sl == SLOT_EMPTY ? 0 : !(sl & SLOT_MULTI) ? 1 : ovf[sl & ~SLOT_MULTI];
        if (c + (j - i) >= 2) need += c + (j - i) + 1;
        i = j;
    }
    if (u + need > cap || u + need >= SLOT_MULTI) room = 0;
    /* 3. insertions */
    for (size_t i = 0; room && i < nk;) {
        size_t j = i;
        while (j < nk && kr[j].key == kr[i].key) j++;
        uint32_t v = kr[i].key, sl = slots[v];
        size_t g = j - i;
        if (sl == SLOT_EMPTY && g == 1) {
            slots[v] = kr[i].row;
        } else {
            size_t o = u;
            uint32_t c = 0;
            if (sl != SLOT_EMPTY && !(sl & SLOT_MULTI)) ovf[o + 1 + c++] = sl;
            else if (sl != SLOT_EMPTY) {
                size_t po = sl & ~SLOT_MULTI;
                uint32_t pc = ovf[po];
                for (uint32_t k = 0; k < pc; k++) ovf[o + 1 + c++] = ovf[po + 1 + k];
            }
            for (size_t k = i; k < j; k++) ovf[o + 1 + c++] = kr[k].row;
            ovf[o] = c;
            u = o + 1 + c;
            slots[v] = SLOT_MULTI | (uint32_t)o;
        }
        change += (Py_ssize_t)g;
        i = j;
    }
    Py_END_ALLOW_THREADS;
    if (room) result = Py_BuildValue("(nn)", (Py_ssize_t)u, change);
    else result = Py_BuildValue("(On)", Py_None, change);
out:
    free(kr);
    if (have) {
        chunks_release(&rows);
        chunks_release(&alive);
    }
    PyBuffer_Release(&sb);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&db);
    return result;
}

/* ---------------------------------------------------------------- search */

typedef struct {
    Py_buffer off, ids;
    int start, nbits, radius;
} Table;

typedef struct {
    uint32_t row;
    int32_t dist;
    int64_t id;
} Hit;

typedef struct {
    void *p;
    size_t n, cap, size;
} Vec;

static int vec_reserve(Vec *v, size_t extra) {
    if (v->n + extra <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 256;
    while (cap < v->n + extra) cap *= 2;
    void *p = realloc(v->p, cap * v->size);
    if (!p) return -1;
    v->p = p;
    v->cap = cap;
    return 0;
}

static int cmp_row(const void *a, const void *b) {
    uint32_t x = ((const Hit *)a)->row, y = ((const Hit *)b)->row;
    return (x > y) - (x < y);
}

static int cmp_dist_id(const void *a, const void *b) {
    const Hit *x = a, *y = b;
    if (x->dist != y->dist) return x->dist < y->dist ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static size_t gen_probes(uint32_t key, int nb, int r, uint32_t *out) {
    size_t n = 0;
    out[n++] = key;
    if (r >= 1)
        for (int i = 0; i < nb; i++) out[n++] = key ^ (1u << i);
    if (r >= 2)
        for (int i = 0; i < nb; i++)
            for (int j = 0; j < i; j++) out[n++] = key ^ (1u << i) ^ (1u << j);
    if (r >= 3)
        for (int i = 0; i < nb; i++)
            for (int j = 0; j < i; j++)
                for (int k = 0; k < j; k++) out[n++] = key ^ (1u << i) ^ (1u << j) ^ (1u << k);
    return n;
}

static size_t n_probes(int nb, int r) {
    size_t n = 1;
    if (r >= 1) n += nb;
    if (r >= 2) n += (size_t)nb * (nb - 1) / 2;
    if (r >= 3) n += (size_t)nb * (nb - 1) * (nb - 2) / 6;
    return n;
}

/* prefetch distances (probes, candidate rows): a lookup is bound by memory latency, these
   keep a few dozen independent reads in flight (measured on an EPYC: 16/12 -> 64/24 gave
   ~1.3x at 1M hashes) */
#define PF_PROBE 64
#define PF_ROW 24

/* Runs without the GIL. Returns 0, or -1 when out of memory. */
static int search_core(Table *t, int nt, const uint8_t **rows, const uint8_t **alive,
                       const uint8_t **rids, uint32_t n_main, uint32_t n_rows,
                       const uint8_t *queries, Py_ssize_t nq, int thr, Vec *oq, Vec *oid,
                       Vec *od, Vec *orow) {
    size_t maxp = 0;
    for (int i = 0; i < nt; i++)
        if (t[i].radius >= 0) maxp += n_probes(t[i].nbits, t[i].radius);
    uint32_t *probe = malloc((maxp + 1) * sizeof(uint32_t));
    const uint32_t **pids = malloc((maxp + 1) * sizeof(uint32_t *));
    uint32_t *plen = malloc((maxp + 1) * sizeof(uint32_t));
    Vec cand = {NULL, 0, 0, sizeof(uint32_t)};
    Vec hits = {NULL, 0, 0, sizeof(Hit)};
    int rc = -1;
    if (!probe || !pids || !plen) goto done;
    for (Py_ssize_t qi = 0; qi < nq; qi++) {
        uint64_t q[4];
        memcpy(q, queries + qi * 32, 32);
        hits.n = 0;
        cand.n = 0;
        /* 1. probe keys of every table; each probe's slot read (prefetched PF_PROBE ahead):
           a single row is a candidate at once, a longer bucket's rows are prefetched */
        size_t np = 0, nm = 0;
        for (int ti = 0; ti < nt; ti++) {
            if (t[ti].radius < 0) continue;
            const uint32_t *slots = t[ti].off.buf;
            const uint32_t *ovf = t[ti].ids.buf;
            size_t nv = (size_t)t[ti].ids.len / 4;
            size_t base = np;
            np += gen_probes(substring(q, t[ti].start, t[ti].nbits), t[ti].nbits, t[ti].radius,
                             probe + base);
            if (vec_reserve(&cand, np - base) < 0) goto done;
            uint32_t *c = cand.p;
            for (size_t i = base; i < np && i < base + PF_PROBE; i++)
                __builtin_prefetch(slots + probe[i]);
            for (size_t i = base; i < np; i++) {
                if (i + PF_PROBE < np) __builtin_prefetch(slots + probe[i + PF_PROBE]);
                uint32_t sl = slots[probe[i]];
                if (sl == SLOT_EMPTY) continue;
                if (!(sl & SLOT_MULTI)) {
                    c[cand.n++] = sl;
                    continue;
                }
                size_t o = sl & ~SLOT_MULTI;
                if (o >= nv) continue; /* cannot happen: to_slots wrote it */
                __builtin_prefetch(ovf + o);
                pids[nm] = ovf + o;
                plen[nm++] = (uint32_t)(nv - o - 1); /* room left, bounds the count below */
            }
        }
        /* 2. the longer buckets' rows */
        for (size_t i = 0; i < nm; i++) {
            uint32_t n = pids[i][0];
            if (n > plen[i]) n = plen[i];
            if (vec_reserve(&cand, n) < 0) goto done;
            uint32_t *c = (uint32_t *)cand.p + cand.n;
            const uint32_t *src = pids[i] + 1;
            for (uint32_t j = 0; j < n; j++) c[j] = src[j];
            cand.n += n;
        }
        /* 3. verify (a row number past the tables' rows cannot come from a table the index
           built; skipped rather than read out of bounds) */
        uint32_t *c = cand.p;
        size_t nc = 0;
        for (size_t i = 0; i < cand.n; i++)
            if (c[i] < n_main) c[nc++] = c[i];
        cand.n = nc;
        for (size_t i = 0; i < cand.n && i < PF_ROW; i++) __builtin_prefetch(row_at(rows, c[i]));
        for (size_t i = 0; i < cand.n; i++) {
            if (i + PF_ROW < cand.n) __builtin_prefetch(row_at(rows, c[i + PF_ROW]));
            int d = dist256(row_at(rows, c[i]), q);
            if (d <= thr && alive_at(alive, c[i])) {
                if (vec_reserve(&hits, 1) < 0) goto done;
                Hit *h = (Hit *)hits.p + hits.n++;
                h->row = c[i];
                h->dist = d;
            }
        }
        /* 4. dedupe (a near hash is found through several substrings) */
        if (hits.n > 1) {
            Hit *h = hits.p;
            qsort(h, hits.n, sizeof(Hit), cmp_row);
            size_t k = 1;
            for (size_t i = 1; i < hits.n; i++)
                if (h[i].row != h[k - 1].row) h[k++] = h[i];
            hits.n = k;
        }
        /* 5. the delta, one by one */
        for (uint32_t r = n_main; r < n_rows; r++) {
            const uint64_t *w = row_at(rows, r);
            int d = dist256(w, q);
            if (d <= thr && alive_at(alive, r)) {
                if (vec_reserve(&hits, 1) < 0) goto done;
                Hit *h = (Hit *)hits.p + hits.n++;
                h->row = r;
                h->dist = d;
            }
        }
        if (!hits.n) continue;
        Hit *h = hits.p;
        for (size_t i = 0; i < hits.n; i++) h[i].id = rids ? rid_at(rids, h[i].row) : h[i].row;
        if (hits.n > 1) qsort(h, hits.n, sizeof(Hit), cmp_dist_id);
        if (vec_reserve(oq, hits.n) < 0 || vec_reserve(oid, hits.n) < 0 ||
            vec_reserve(od, hits.n) < 0 || (orow && vec_reserve(orow, hits.n) < 0))
            goto done;
        for (size_t i = 0; i < hits.n; i++) {
            ((int64_t *)oq->p)[oq->n++] = qi;
            ((int64_t *)oid->p)[oid->n++] = h[i].id;
            ((int32_t *)od->p)[od->n++] = h[i].dist;
            if (orow) memcpy((uint8_t *)orow->p + 32 * orow->n++, row_at(rows, h[i].row), 32);
        }
    }
    rc = 0;
done:
    free(probe);
    free(pids);
    free(plen);
    free(cand.p);
    free(hits.p);
    return rc;
}

static PyObject *triple(Vec *oq, Vec *oid, Vec *od) {
    return Py_BuildValue("(y#y#y#)", oq->p ? (const char *)oq->p : "", (Py_ssize_t)(oq->n * 8),
                         oid->p ? (const char *)oid->p : "", (Py_ssize_t)(oid->n * 8),
                         od->p ? (const char *)od->p : "", (Py_ssize_t)(od->n * 4));
}

static PyObject *py_search(PyObject *self, PyObject *args) {
    PyObject *tables_o, *rows_o, *alive_o, *rids_o;
    Py_ssize_t n_main, n_rows;
    Py_buffer qb;
    int thr, want_rows = 0;
    if (!PyArg_ParseTuple(args, "OOOOnny*i|p", &tables_o, &rows_o, &alive_o, &rids_o, &n_main,
                          &n_rows, &qb, &thr, &want_rows))
        return NULL;
    PyObject *result = NULL;
    Table *t = NULL;
    Py_ssize_t nt = 0, got = 0;
    Chunks rows = {0}, alive = {0}, rids = {0};
    int have_rows = 0, have_alive = 0, have_rids = 0;
    Vec oq = {NULL, 0, 0, 8}, oid = {NULL, 0, 0, 8}, od = {NULL, 0, 0, 4};
    Vec orow = {NULL, 0, 0, 32};
    if (qb.len % 32 || n_main < 0 || n_rows < n_main || n_rows > 0xFFFFFFFFLL || thr < 0 ||
        thr > 256) {
        PyErr_SetString(PyExc_ValueError, "bad queries, row counts or threshold");
        goto out;
    }
    PyObject *fast = PySequence_Fast(tables_o, "tables must be a sequence");
    if (!fast) goto out;
    nt = PySequence_Fast_GET_SIZE(fast);
    t = calloc(nt ? nt : 1, sizeof(Table));
    if (!t) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        goto out;
    }
    for (; got < nt; got++) {
        PyObject *off_o, *ids_o;
        Table *x = &t[got];
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, got), "OOiii", &off_o, &ids_o,
                              &x->start, &x->nbits, &x->radius))
            break;
        if (x->nbits < 1 || x->nbits > 30 || x->start < 0 || x->start + x->nbits > 256 ||
            x->radius > 3) {
            PyErr_SetString(PyExc_ValueError, "bad table substring or radius");
            break;
        }
        if (PyObject_GetBuffer(off_o, &x->off, PyBUF_C_CONTIGUOUS) < 0) break;
        if (PyObject_GetBuffer(ids_o, &x->ids, PyBUF_C_CONTIGUOUS) < 0) {
            PyBuffer_Release(&x->off);
            break;
        }
        size_t nb = (size_t)1 << x->nbits;
        if ((size_t)x->off.len < nb * 4) {
            PyBuffer_Release(&x->off);
            PyBuffer_Release(&x->ids);
            PyErr_SetString(PyExc_ValueError, "table buffers too small");
            break;
        }
    }
    Py_DECREF(fast);
    if (got < nt) goto out;
    if (chunks_get(rows_o, (Py_ssize_t)32 << CHUNK_BITS, 0, &rows) < 0) goto out;
    have_rows = 1;
    if (chunks_get(alive_o, (Py_ssize_t)1 << CHUNK_BITS, 0, &alive) < 0) goto out;
    have_alive = 1;
    if (rids_o != Py_None) {
        if (chunks_get(rids_o, (Py_ssize_t)8 << CHUNK_BITS, 0, &rids) < 0) goto out;
        have_rids = 1;
    }
    if ((n_rows > 0 && ((n_rows - 1) >> CHUNK_BITS) >= rows.n) ||
        (n_rows > 0 && ((n_rows - 1) >> CHUNK_BITS) >= alive.n) ||
        (have_rids && n_rows > 0 && ((n_rows - 1) >> CHUNK_BITS) >= rids.n)) {
        PyErr_SetString(PyExc_ValueError, "fewer chunks than rows");
        goto out;
    }
    /* every row number a table holds must be < n_main: checked at merge time by the caller,
       which builds tables only over rows it has */
    int rc;
    Py_BEGIN_ALLOW_THREADS;
    rc = search_core(t, (int)nt, rows.ptr, alive.ptr, have_rids ? rids.ptr : NULL,
                     (uint32_t)n_main, (uint32_t)n_rows, qb.buf, qb.len / 32, thr, &oq, &oid,
                     &od, want_rows ? &orow : NULL);
    Py_END_ALLOW_THREADS;
    if (rc < 0) {
        PyErr_NoMemory();
        goto out;
    }
    result = triple(&oq, &oid, &od);
    if (result && want_rows) {
        PyObject *r = PyBytes_FromStringAndSize(orow.p ? (const char *)orow.p : "",
                                                (Py_ssize_t)(orow.n * 32));
        PyObject *four = r ? Py_BuildValue("(OOOO)", PyTuple_GET_ITEM(result, 0),
                                           PyTuple_GET_ITEM(result, 1),
                                           PyTuple_GET_ITEM(result, 2), r)
                           : NULL;
        Py_XDECREF(r);
        Py_DECREF(result);
        result = four;
    }
out:
    for (Py_ssize_t i = 0; i < got; i++) {
        PyBuffer_Release(&t[i].off);
        PyBuffer_Release(&t[i].ids);
    }
    free(t);
    if (have_rows) chunks_release(&rows);
    if (have_alive) chunks_release(&alive);
    if (have_rids) chunks_release(&rids);
    free(oq.p);
    free(oid.p);
    free(od.p);
    free(orow.p);
    PyBuffer_Release(&qb);
    return result;
}

static PyMethodDef methods[] = {
    {"merge", py_merge, METH_VARARGS, "Build or merge one substring table (CSR)."},
    {"search", py_search, METH_VARARGS, "Exact Hamming-radius search of a batch of queries."},
    {"ovf_size", py_ovf_size, METH_VARARGS, "Overflow entries a CSR table's slot form needs."},
    {"to_slots", py_to_slots, METH_VARARGS, "CSR table to its slot form."},
    {"to_csr", py_to_csr, METH_VARARGS, "Slot table back to CSR (for a merge)."},
    {"slot_update", py_slot_update, METH_VARARGS, "Merge a delta into a slot table in place."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_mih", "Multi-index hashing inner loops for consentry.hashindex.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__mih(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "CHUNK_BITS", CHUNK_BITS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
