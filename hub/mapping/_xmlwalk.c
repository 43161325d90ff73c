/* The plain walks of an XML mapping spec, run in C over lxml's tree.
 *
 * `hub/mapping/compiled_xml.py` turns nearly every path of a spec into a walk: `..` steps up, then
 * named children (optionally the n-th of each parent), then optionally an attribute. In Python each
 * step of a walk costs an lxml proxy object and a tag string per element (about a microsecond a value
 * on the WCO sample); here a walk follows libxml2's node pointers and creates a Python object only
 * for what it returns. Texts and attribute values come from lxml's own public C API (`textOf`,
 * `attributeValueFromNsName`), so they are exactly what `el.text` and `el.get(name)` give; elements
 * are lxml's proxies (`elementFactory`). No I/O, no state between calls.
 *
 * `tests/mapping/test_compiled_xml.py` checks it against the pure-Python walk and the reference
 * evaluator (libxml2's XPath). When this module is not built, or its start-up check fails,
 * compiled_xml.py walks in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/tree.h>
#include "lxml.etree_api.h"

static PyTypeObject *element_type; /* lxml.etree._Element: the only context a walk starts from in C */

typedef struct {
    char *href;   /* the step's namespace; NULL for an element in no namespace */
    char *name;
    Py_ssize_t position; /* 1-based: the n-th such child of each parent; 0: all of them */
} Step;

typedef struct {
    PyObject_HEAD
    int ups;
    Py_ssize_t nsteps;
    Step *steps;
    char *attr_href; /* the final attribute's namespace, NULL for none */
    char *attr_name; /* NULL: the walk ends on elements */
    int local_name;  /* the text is the element's local name (XPath's local-name()) */
} Walk;

static PyObject *selected_elements(PyObject *sel, PyObject *ctx);

static char *copy_bytes(PyObject *b) {
    if (b == Py_None) return NULL;
    if (!PyBytes_Check(b)) {
        PyErr_SetString(PyExc_TypeError, "names are bytes or None");
        return NULL;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(b);
    char *out = PyMem_Malloc(n + 1);
    if (out == NULL) { PyErr_NoMemory(); return NULL; }
    memcpy(out, PyBytes_AS_STRING(b), n + 1);
    return out;
}

static void Walk_dealloc(Walk *self) {
    for (Py_ssize_t i = 0; i < self->nsteps; i++) {
        PyMem_Free(self->steps[i].href);
        PyMem_Free(self->steps[i].name);
    }
    PyMem_Free(self->steps);
    PyMem_Free(self->attr_href);
    PyMem_Free(self->attr_name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Walk(ups, ((href | None, name, position), ...), attr_href | None, attr_name | None[, local_name]) */
static int Walk_init(Walk *self, PyObject *args, PyObject *Py_UNUSED(kwds)) {
    int ups;
    PyObject *steps, *attr_href, *attr_name;
    int local_name = 0;
    if (!PyArg_ParseTuple(args, "iO!OO|p", &ups, &PyTuple_Type, &steps, &attr_href, &attr_name, &local_name))
        return -1;
    if (self->steps != NULL || self->attr_name != NULL) {
        PyErr_SetString(PyExc_TypeError, "a Walk is initialised once");
        return -1;
    }
    if (ups < 0) {
        PyErr_SetString(PyExc_ValueError, "ups must not be negative");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(steps);
    if (local_name && (attr_name != Py_None || PyTuple_GET_SIZE(steps))) {
        PyErr_SetString(PyExc_ValueError, "local-name() is read from the context element itself");
        return -1;
    }
    self->ups = ups;
    self->local_name = local_name;
    self->steps = PyMem_Calloc(n ? n : 1, sizeof(Step));
    if (self->steps == NULL) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *href, *name;
        Py_ssize_t position;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(steps, i), "OO!n", &href, &PyBytes_Type, &name, &position))
            return -1;
        if (position < 0) {
            PyErr_SetString(PyExc_ValueError, "position must not be negative");
            return -1;
        }
        self->nsteps = i + 1; /* so that dealloc frees what was copied */
        if (href != Py_None && (self->steps[i].href = copy_bytes(href)) == NULL) return -1;
        if ((self->steps[i].name = copy_bytes(name)) == NULL) return -1;
        self->steps[i].position = position;
    }
    if (attr_name != Py_None) {
        if (attr_href != Py_None && (self->attr_href = copy_bytes(attr_href)) == NULL) return -1;
        if ((self->attr_name = copy_bytes(attr_name)) == NULL) return -1;
    }
    return 0;
}

static int matches(xmlNode *node, const Step *step) {
    if (node->type != XML_ELEMENT_NODE || strcmp((const char *)node->name, step->name) != 0)
        return 0;
    if (step->href == NULL)
        return node->ns == NULL || node->ns->href == NULL;
    return node->ns != NULL && node->ns->href != NULL && strcmp((const char *)node->ns->href, step->href) == 0;
}

/* `ups` parents up from `node`, as XPath's `..` goes: above the root element is the document node (from
 * which a step finds the root element again, while the node itself is never selected), above that
 * nothing (NULL). */
static xmlNode *up(xmlNode *node, int ups) {
    for (; ups > 0 && node != NULL; ups--) {
        if (node->type == XML_DOCUMENT_NODE) return NULL;
        node = node->parent;
        if (node != NULL && node->type != XML_ELEMENT_NODE && node->type != XML_DOCUMENT_NODE) node = NULL;
    }
    return node;
}

/* The element the walk starts its steps from, or NULL (with no error set) when there is none: the
 * context itself after `ups` parents. A context that is not an lxml element (a string an XPath
 * fall-back selected, say) is stepped up with its own getparent(), as the Python walk does; `*held`
 * then owns the element reached, which the caller releases when done with the tree. */
static xmlNode *start_node(Walk *self, PyObject *ctx, struct LxmlDocument **doc, PyObject **held) {
    int ups = self->ups;
    *held = NULL;
    while (!PyObject_TypeCheck(ctx, element_type)) {
        if (ups == 0) return NULL;
        PyObject *parent = PyObject_CallMethod(ctx, "getparent", NULL);
        Py_XDECREF(*held);
        *held = parent;
        if (parent == NULL || parent == Py_None) return NULL;
        ctx = parent;
        ups--;
    }
    struct LxmlElement *el = (struct LxmlElement *)ctx;
    *doc = el->_doc;
    return up(el->_c_node, ups);
}

/* Calls `visit` on each node the steps from `k` on select under `node`, in document order, until
 * it returns non-zero (which is returned; -1 is an error). */
typedef int (*Visit)(xmlNode *node, void *arg);

static int each_match(Walk *self, xmlNode *node, Py_ssize_t k, Visit visit, void *arg) {
    if (k == self->nsteps) return node->type == XML_ELEMENT_NODE ? visit(node, arg) : 0;
    const Step *step = &self->steps[k];
    Py_ssize_t seen = 0;
    for (xmlNode *child = node->children; child != NULL; child = child->next) {
        if (!matches(child, step)) continue;
        seen++;
        if (step->position && seen != step->position) continue;
        int done = each_match(self, child, k + 1, visit, arg);
        if (done || step->position) return done;
    }
    return 0;
}

typedef struct {
    Walk *walk;
    PyObject *value; /* new reference once found */
} First;

static int first_text(xmlNode *node, void *arg) {
    First *f = arg;
    PyObject *v = f->walk->attr_name == NULL
        ? textOf(node)
        : attributeValueFromNsName(node, (const xmlChar *)f->walk->attr_href, (const xmlChar *)f->walk->attr_name);
    if (v == NULL) return -1;
    if (v == Py_None) {
        Py_DECREF(v);
        /* no text: the first node decides; no such attribute: the next node may have it */
        return f->walk->attr_name == NULL ? 1 : 0;
    }
    f->value = v;
    return 1;
}

/* " ".join(text.split()) or None: the reference's whitespace rule (evaluate.normalised). Steals. */
static PyObject *normalised(PyObject *text) {
    if (text == NULL || text == Py_None) return text;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t i = 0;
    for (; i < n; i++) {
        if (Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) break;
    }
    if (i == n) {
        if (n) return text;
        Py_DECREF(text);
        Py_RETURN_NONE;
    }
    PyObject *parts = PyUnicode_Split(text, NULL, -1);
    Py_DECREF(text);
    if (parts == NULL) return NULL;
    if (PyList_GET_SIZE(parts) == 0) {
        Py_DECREF(parts);
        Py_RETURN_NONE;
    }
    PyObject *space = PyUnicode_FromOrdinal(' ');
    PyObject *joined = space ? PyUnicode_Join(space, parts) : NULL;
    Py_XDECREF(space);
    Py_DECREF(parts);
    return joined;
}

/* The walk's text from `node`, the element its steps start from (NULL: none): a new reference. */
static PyObject *text_below(Walk *self, xmlNode *node) {
    if (node == NULL) Py_RETURN_NONE;
    if (self->local_name) return normalised(PyUnicode_FromString((const char *)node->name));
    First f = {self, NULL};
    if (each_match(self, node, 0, first_text, &f) < 0) {
        Py_XDECREF(f.value);
        return NULL;
    }
    if (f.value == NULL) Py_RETURN_NONE;
    return normalised(f.value);
}

/* The walk's text (what walk.text gives) from the context element `node`: a new reference. */
static PyObject *text_from(Walk *self, xmlNode *node) {
    return text_below(self, up(node, self->ups));
}

/* Both methods take the context first; further arguments (the Python walk's index and notes, which a
 * spec's closures pass to any path) are ignored. */
static int context_argument(Py_ssize_t nargs) {
    if (PyVectorcall_NARGS(nargs) >= 1) return 0;
    PyErr_SetString(PyExc_TypeError, "a walk needs its context element");
    return -1;
}

/* walk.elements(ctx, ...) -> list: the elements the walk selects, in document order (for a walk that
 * ends on an attribute, the elements that would carry it). */
static PyObject *Walk_elements(Walk *self, PyObject *const *args, Py_ssize_t nargs) {
    if (context_argument(nargs) < 0) return NULL;
    return selected_elements((PyObject *)self, args[0]);
}

static int first_node(xmlNode *node, void *arg) {
    *(xmlNode **)arg = node;
    return 1;
}

/* walk.first(ctx, ...) -> element | None: the first element the walk selects, in document order. */
static PyObject *Walk_first(Walk *self, PyObject *const *args, Py_ssize_t nargs) {
    if (context_argument(nargs) < 0) return NULL;
    struct LxmlDocument *doc = NULL;
    PyObject *held;
    xmlNode *node = start_node(self, args[0], &doc, &held);
    xmlNode *first = NULL;
    PyObject *out = NULL;
    if (!PyErr_Occurred()) {
        if (node != NULL) each_match(self, node, 0, first_node, &first);
        out = first != NULL ? (PyObject *)elementFactory(doc, first) : Py_NewRef(Py_None);
    }
    Py_XDECREF(held);
    return out;
}

/* walk.text(ctx, ...) -> str | None: the first selected element's own text, or the first value of the
 * attribute among the selected elements, whitespace-normalised; None when there is none. */
static PyObject *Walk_text(Walk *self, PyObject *const *args, Py_ssize_t nargs) {
    if (context_argument(nargs) < 0) return NULL;
    PyObject *ctx = args[0];
    struct LxmlDocument *doc = NULL;
    PyObject *held;
    xmlNode *node = start_node(self, ctx, &doc, &held); /* it has gone up */
    PyObject *text = PyErr_Occurred() ? NULL : text_below(self, node);
    Py_XDECREF(held);
    return text;
}

/* --- unions: `a | b`, optionally filtered, `(a | b)[c or d]` ------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *branches; /* a tuple of Walk, each ending on elements */
    PyObject *tests;    /* a tuple of Walk: a node is kept when one of them selects an element from it */
} Union;

static PyTypeObject WalkType, UnionType;

typedef struct {
    xmlNode **items;
    Py_ssize_t n, cap;
} Nodes;

static int push(xmlNode *node, void *arg) {
    Nodes *a = arg;
    if (a->n == a->cap) {
        Py_ssize_t cap = a->cap ? 2 * a->cap : 16;
        xmlNode **items = PyMem_Realloc(a->items, cap * sizeof(xmlNode *));
        if (items == NULL) { PyErr_NoMemory(); return -1; }
        a->items = items;
        a->cap = cap;
    }
    a->items[a->n++] = node;
    return 0;
}

static int by_address(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(xmlNode *const *)a, y = (uintptr_t)*(xmlNode *const *)b;
    return x < y ? -1 : x > y;
}

/* The element after `cur` (an element) in document order, within `top`'s subtree; NULL after the last. */
static xmlNode *next_element(xmlNode *cur, xmlNode *top) {
    xmlNode *n = cur->children;
    for (;;) {
        for (; n != NULL; n = n->next)
            if (n->type == XML_ELEMENT_NODE) return n;
        if (cur == top) return NULL;
        n = cur->next; /* cur's subtree is done: on to its following siblings */
        cur = cur->parent;
    }
}

/* Puts `a` (elements of one document) in document order without duplicates, as an XPath union gives
 * them: one pass over the elements of the tree they are in, keeping those of `a`. */
static int document_order(Nodes *a) {
    if (a->n < 2) return 0;
    qsort(a->items, a->n, sizeof(xmlNode *), by_address);
    xmlNode *top = a->items[0];
    while (top->parent != NULL && top->parent->type == XML_ELEMENT_NODE) top = top->parent;
    Nodes sorted = {NULL, 0, 0};
    for (xmlNode *cur = top; cur != NULL; cur = next_element(cur, top)) {
        if (bsearch(&cur, a->items, a->n, sizeof(xmlNode *), by_address) != NULL && push(cur, &sorted) < 0) {
            PyMem_Free(sorted.items);
            return -1;
        }
    }
    PyMem_Free(a->items);
    *a = sorted;
    return 0;
}

static int depth(xmlNode *n) {
    int d = 0;
    for (; n != NULL; n = n->parent) d++;
    return d;
}

/* Whether `a` comes strictly before `b` in document order (both in one tree). */
static int before(xmlNode *a, xmlNode *b) {
    if (a == b) return 0;
    int da = depth(a), db = depth(b);
    xmlNode *x = a, *y = b;
    for (; da > db; da--) x = x->parent;
    for (; db > da; db--) y = y->parent;
    if (x == y) return y != b; /* one is the other's ancestor, which comes first */
    while (x->parent != y->parent) {
        x = x->parent;
        y = y->parent;
    }
    for (xmlNode *n = x->next; n != NULL; n = n->next)
        if (n == y) return 1;
    return 0;
}

/* The elements `sel` (a Walk ending on elements, or a Union) selects from the context `ctx`, in
 * document order, into `out`; `*doc` is their document. Objects made while stepping up from a context
 * that is not an element go into `keep` (a list, made when needed), which the caller releases. */
static int select_nodes(PyObject *sel, PyObject *ctx, Nodes *out, struct LxmlDocument **doc, PyObject **keep) {
    if (PyObject_TypeCheck(sel, &WalkType)) {
        PyObject *held;
        xmlNode *node = start_node((Walk *)sel, ctx, doc, &held);
        if (held != NULL) {
            if (*keep == NULL && (*keep = PyList_New(0)) == NULL) { Py_DECREF(held); return -1; }
            int failed = PyList_Append(*keep, held);
            Py_DECREF(held);
            if (failed) return -1;
        }
        if (node == NULL) return PyErr_Occurred() ? -1 : 0;
        return each_match((Walk *)sel, node, 0, push, out) < 0 ? -1 : 0;
    }
    Union *u = (Union *)sel;
    /* Each branch gives its elements in document order. When every branch's come after the previous
     * ones' (the usual case: branches in separate parts of the document, in the spec's order), the
     * concatenation is the union; otherwise it is put in order by a pass over the tree. */
    Py_ssize_t last_end = -1; /* (a union starts with `out` empty: its branches are walks) */
    int in_order = 1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(u->branches); i++) {
        Py_ssize_t begin = out->n;
        if (select_nodes(PyTuple_GET_ITEM(u->branches, i), ctx, out, doc, keep) < 0) return -1;
        if (out->n > begin) {
            if (last_end >= 0 && !before(out->items[last_end - 1], out->items[begin])) in_order = 0;
            last_end = out->n;
        }
    }
    if (!in_order && document_order(out) < 0) return -1;
    Py_ssize_t tests = PyTuple_GET_SIZE(u->tests);
    if (tests) {
        Py_ssize_t kept = 0;
        for (Py_ssize_t i = 0; i < out->n; i++) {
            for (Py_ssize_t t = 0; t < tests; t++) {
                Walk *test = (Walk *)PyTuple_GET_ITEM(u->tests, t);
                xmlNode *from = up(out->items[i], test->ups), *found = NULL;
                if (from != NULL && each_match(test, from, 0, first_node, &found)) {
                    out->items[kept++] = out->items[i];
                    break;
                }
            }
        }
        out->n = kept;
    }
    return 0;
}

/* Union(branches, tests) */
static int Union_init(Union *self, PyObject *args, PyObject *Py_UNUSED(kwds)) {
    PyObject *branches, *tests;
    if (!PyArg_ParseTuple(args, "O!O!", &PyTuple_Type, &branches, &PyTuple_Type, &tests)) return -1;
    if (self->branches != NULL) {
        PyErr_SetString(PyExc_TypeError, "a Union is initialised once");
        return -1;
    }
    for (int pass = 0; pass < 2; pass++) {
        PyObject *walks = pass ? tests : branches;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(walks); i++) {
            PyObject *w = PyTuple_GET_ITEM(walks, i);
            if (!PyObject_TypeCheck(w, &WalkType) || ((Walk *)w)->attr_name != NULL || ((Walk *)w)->local_name) {
                PyErr_SetString(PyExc_TypeError, "a union's branches and tests are walks that end on elements");
                return -1;
            }
        }
    }
    Py_INCREF(branches);
    Py_INCREF(tests);
    self->branches = branches;
    self->tests = tests;
    return 0;
}

static void Union_dealloc(Union *self) {
    Py_XDECREF(self->branches);
    Py_XDECREF(self->tests);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The elements as lxml's objects; `sel` is a Walk or a Union. */
static PyObject *selected_elements(PyObject *sel, PyObject *ctx) {
    Nodes found = {NULL, 0, 0};
    struct LxmlDocument *doc = NULL;
    PyObject *keep = NULL;
    PyObject *list = NULL;
    if (select_nodes(sel, ctx, &found, &doc, &keep) == 0 && (list = PyList_New(found.n)) != NULL) {
        for (Py_ssize_t i = 0; i < found.n; i++) {
            PyObject *el = (PyObject *)elementFactory(doc, found.items[i]);
            if (el == NULL) { Py_CLEAR(list); break; }
            PyList_SET_ITEM(list, i, el);
        }
    }
    PyMem_Free(found.items);
    Py_XDECREF(keep);
    return list;
}

static PyObject *Union_elements(Union *self, PyObject *const *args, Py_ssize_t nargs);
static PyObject *Union_text(Union *self, PyObject *const *args, Py_ssize_t nargs);


/* texts(at, walks, ctx) -> list of tuples: for each element `at` selects from `ctx`, in document order,
 * the text of each of `walks` from that element (what [w.text(el) for w in walks] gives, without an
 * lxml proxy for the element). */
static PyObject *texts(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !(PyObject_TypeCheck(args[0], &WalkType) || PyObject_TypeCheck(args[0], &UnionType))
            || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "texts(at: Walk | Union, walks: tuple[Walk, ...], ctx)");
        return NULL;
    }
    if (PyObject_TypeCheck(args[0], &WalkType) && ((Walk *)args[0])->attr_name != NULL) {
        PyErr_SetString(PyExc_ValueError, "an attribute walk selects no elements");
        return NULL;
    }
    PyObject *walks = args[1];
    Py_ssize_t n = PyTuple_GET_SIZE(walks);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyObject_TypeCheck(PyTuple_GET_ITEM(walks, i), &WalkType)) {
            PyErr_SetString(PyExc_TypeError, "walks must be a tuple of Walk");
            return NULL;
        }
    }
    Nodes found = {NULL, 0, 0};
    struct LxmlDocument *doc = NULL;
    PyObject *keep = NULL;
    PyObject *rows = NULL;
    if (select_nodes(args[0], args[2], &found, &doc, &keep) == 0 && (rows = PyList_New(found.n)) != NULL) {
        for (Py_ssize_t r = 0; r < found.n && rows != NULL; r++) {
            PyObject *row = PyTuple_New(n);
            if (row == NULL) { Py_CLEAR(rows); break; }
            PyList_SET_ITEM(rows, r, row);
            for (Py_ssize_t i = 0; i < n; i++) {
                PyObject *text = text_from((Walk *)PyTuple_GET_ITEM(walks, i), found.items[r]);
                if (text == NULL) { Py_CLEAR(rows); break; }
                PyTuple_SET_ITEM(row, i, text);
            }
        }
    }
    PyMem_Free(found.items);
    Py_XDECREF(keep);
    return rows;
}

static PyObject *Union_elements(Union *self, PyObject *const *args, Py_ssize_t nargs) {
    if (context_argument(nargs) < 0) return NULL;
    return selected_elements((PyObject *)self, args[0]);
}

/* union.text(ctx, ...): the first selected element's own text, normalised (None when none). */
static PyObject *Union_text(Union *self, PyObject *const *args, Py_ssize_t nargs) {
    if (context_argument(nargs) < 0) return NULL;
    Nodes found = {NULL, 0, 0};
    struct LxmlDocument *doc = NULL;
    PyObject *keep = NULL;
    PyObject *text = NULL;
    if (select_nodes((PyObject *)self, args[0], &found, &doc, &keep) == 0)
        text = found.n ? normalised(textOf(found.items[0])) : Py_NewRef(Py_None);
    PyMem_Free(found.items);
    Py_XDECREF(keep);
    return text;
}

static PyMethodDef Union_methods[] = {
    {"elements", (PyCFunction)(void (*)(void))Union_elements, METH_FASTCALL, "The elements the union selects, in document order."},
    {"text", (PyCFunction)(void (*)(void))Union_text, METH_FASTCALL, "The first selected element's text, normalised."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject UnionType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hub.mapping._xmlwalk.Union",
    .tp_doc = "Union(branches, tests): `a | b`, or `(a | b)[c or d]`, over walks that end on elements.",
    .tp_basicsize = sizeof(Union),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Union_init,
    .tp_dealloc = (destructor)Union_dealloc,
    .tp_methods = Union_methods,
};

static PyMethodDef Walk_methods[] = {
    {"elements", (PyCFunction)(void (*)(void))Walk_elements, METH_FASTCALL, "The elements the walk selects, in document order."},
    {"text", (PyCFunction)(void (*)(void))Walk_text, METH_FASTCALL, "The first selected element's text or attribute value, normalised."},
    {"first", (PyCFunction)(void (*)(void))Walk_first, METH_FASTCALL, "The first element the walk selects, or None."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject WalkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hub.mapping._xmlwalk.Walk",
    .tp_doc = "Walk(ups, ((href, name, position), ...), attr_href, attr_name): a plain path of a spec.",
    .tp_basicsize = sizeof(Walk),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, /* compiled_xml.py adds the Path methods */
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Walk_init,
    .tp_dealloc = (destructor)Walk_dealloc,
    .tp_methods = Walk_methods,
};

static PyMethodDef module_functions[] = {
    {"texts", (PyCFunction)(void (*)(void))texts, METH_FASTCALL,
     "texts(at, walks, ctx): for each element `at` selects, the texts of `walks` from it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "hub.mapping._xmlwalk",
    "Plain walks of XML mapping specs over lxml trees, in C (see compiled_xml.py).", -1, module_functions,
    NULL, NULL, NULL, NULL,
};

static int add_type(PyObject *m, const char *name, PyTypeObject *type) {
    if (PyType_Ready(type) < 0) return -1;
    Py_INCREF(type);
    if (PyModule_AddObject(m, name, (PyObject *)type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC PyInit__xmlwalk(void) {
    /* lxml's C API is looked up by name and C signature: a different lxml fails here, cleanly. */
    if (import_lxml__etree() < 0) return NULL;
    PyObject *etree = PyImport_ImportModule("lxml.etree");
    if (etree == NULL) return NULL;
    element_type = (PyTypeObject *)PyObject_GetAttrString(etree, "_Element");
    Py_DECREF(etree);
    if (element_type == NULL) return NULL;
    if (!PyType_Check(element_type)) {
        PyErr_SetString(PyExc_ImportError, "lxml.etree._Element is not a type");
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (add_type(m, "Walk", &WalkType) < 0 || add_type(m, "Union", &UnionType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
