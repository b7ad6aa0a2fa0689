"""Pytrees: nested containers of arrays, flattened to a list of leaves plus a ``PyTreeDef``.

Containers are tuples, lists, dicts (keys sorted), None, namedtuples and any registered class
or dataclass. Everything else is a leaf.
"""

import collections
import dataclasses
import functools
import sys


def deep(fn):
    """``fn`` retried with a recursion limit fitting deep structures when it ran out (Python
    3.11's own calls do not use the C stack, so a higher limit is safe for plain recursion)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(limit, 100_000))
            try:
                return fn(*args, **kwargs)
            finally:
                sys.setrecursionlimit(limit)
    return wrapper


@dataclasses.dataclass(frozen=True)
class DictKey:
    """A path entry for a dict (or OrderedDict/defaultdict) child: ``['key']``."""
    key: object

    def __str__(self):
        return f"[{self.key!r}]"


@dataclasses.dataclass(frozen=True)
class SequenceKey:
    """A path entry for a tuple/list child: ``[idx]``."""
    idx: int

    def __str__(self):
        return f"[{self.idx!r}]"


@dataclasses.dataclass(frozen=True)
class GetAttrKey:
    """A path entry for a namedtuple field or dataclass attribute: ``.name``."""
    name: str

    def __str__(self):
        return f".{self.name}"


@dataclasses.dataclass(frozen=True)
class FlattenedIndexKey:
    """A path entry for a child of a class registered without keys: its flat position."""
    key: int

    def __str__(self):
        return f"[<flat index {self.key}>]"


def _simple_entrystr(k):
    return str(getattr(k, next(f.name for f in dataclasses.fields(k))))


class _NodeType:
    __slots__ = ("flatten", "unflatten", "keys")

    def __init__(self, flatten, unflatten, keys=None):
        self.flatten, self.unflatten, self.keys = flatten, unflatten, keys


_registry = {}
# Types ``matching_leaves`` found to be leaves (whether a value is a leaf depends only on its
# type); a registration may make one a node, so it empties the set.
_leaf_types = set()


def register_pytree_node(nodetype, flatten_func, unflatten_func):
    """``flatten_func(x) -> (children, aux_data)``; ``unflatten_func(aux_data, children)``."""
    if nodetype in _registry:
        raise ValueError(f"register_pytree_node: {nodetype.__name__} is already registered")
    _registry[nodetype] = _NodeType(flatten_func, unflatten_func)
    _leaf_types.clear()
    return nodetype


def register_pytree_with_keys(nodetype, flatten_with_keys, unflatten_func, flatten_func=None):
    """``flatten_with_keys(x) -> (((key, child), ...), aux_data)``; keys appear in paths."""
    def flatten_default(x):
        pairs, aux = flatten_with_keys(x)
        return [c for _, c in pairs], aux
    register_pytree_node(nodetype, flatten_func or flatten_default, unflatten_func)
    _registry[nodetype].keys = lambda x: [k for k, _ in flatten_with_keys(x)[0]]
    return nodetype


def register_pytree_with_keys_class(cls):
    """Class decorator: the class defines ``tree_flatten_with_keys`` and ``tree_unflatten``."""
    flatten = getattr(cls, "tree_flatten", None)
    return register_pytree_with_keys(cls, lambda x: x.tree_flatten_with_keys(), cls.tree_unflatten,
                                     (lambda x: x.tree_flatten()) if flatten else None)


def register_pytree_node_class(cls):
    """Class decorator: the class defines ``tree_flatten`` and classmethod ``tree_unflatten``."""
    register_pytree_node(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


def register_dataclass(cls, data_fields=None, meta_fields=None):
    """Registers a dataclass: ``data_fields`` are children, ``meta_fields`` static data."""
    if data_fields is None:
        fields = [f for f in dataclasses.fields(cls) if f.init]
        meta_fields = [f.name for f in fields if f.metadata.get("static", False)]
        data_fields = [f.name for f in fields if not f.metadata.get("static", False)]
    data_fields, meta_fields = tuple(data_fields), tuple(meta_fields or ())

    def flatten(x):
        return [getattr(x, n) for n in data_fields], tuple(getattr(x, n) for n in meta_fields)

    def unflatten(meta, children):
        return cls(**dict(zip(data_fields, children)), **dict(zip(meta_fields, meta)))

    _registry[cls] = _NodeType(flatten, unflatten,
                               keys=lambda x: [GetAttrKey(n) for n in data_fields])
    _leaf_types.clear()
    return cls


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _node_of(x):
    """(kind, flatten, unflatten, keys) for a container, or None for a leaf."""
    t = type(x)
    if t in _registry:
        return _registry[t]
    if t is tuple or t is list:
        return _BUILTIN[t]
    if x is None:
        return _NONE
    if isinstance(x, dict):
        return _DICT
    if _is_namedtuple(x):
        return _NAMEDTUPLE
    return None


_BUILTIN = {
    tuple: _NodeType(lambda x: (list(x), None), lambda _, c: tuple(c),
                     lambda x: [SequenceKey(i) for i in range(len(x))]),
    list: _NodeType(lambda x: (list(x), None), lambda _, c: list(c),
                    lambda x: [SequenceKey(i) for i in range(len(x))]),
}
_NONE = _NodeType(lambda x: ([], None), lambda _, c: None, lambda x: ())


def _dict_flatten(x):
    """Children in sorted key order (insertion order for an OrderedDict, as in JAX)."""
    if type(x) is collections.OrderedDict:
        keys = list(x)
    else:
        try:
            keys = sorted(x)
        except TypeError as e:
            raise ValueError(f"Comparator raised exception while sorting pytree dictionary keys "
                             f"{list(x)!r}: {e}") from None
    return [x[k] for k in keys], (type(x), tuple(keys), getattr(x, "default_factory", None))


def _dict_unflatten(aux, children):
    kind, keys, factory = aux
    items = zip(keys, children)
    if kind is collections.defaultdict:
        return collections.defaultdict(factory, items)
    return kind(items)


_DICT = _NodeType(_dict_flatten, _dict_unflatten,
                  lambda x: [DictKey(k) for k in _dict_flatten(x)[1][1]])
_NAMEDTUPLE = _NodeType(lambda x: (list(x), type(x)), lambda t, c: t(*c),
                        lambda x: [GetAttrKey(f) for f in x._fields])


def _keys_of(node, x, n):
    return list(node.keys(x)) if node.keys else [FlattenedIndexKey(i) for i in range(n)]


class PyTreeDef:
    """The structure of a pytree: node type, static data and child structures."""

    __slots__ = ("node", "aux", "children", "num_leaves", "_sig", "_hash")

    def __init__(self, node, aux, children):
        self.node, self.aux, self.children = node, aux, tuple(children)
        self.num_leaves = 1 if node is None else sum(c.num_leaves for c in self.children)
        self._sig = self._hash = None

    @property
    def num_nodes(self):
        return len(self._signature())

    def unflatten(self, leaves):
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"tree_unflatten: structure {self} has {self.num_leaves} leaves, "
                             f"but {len(leaves)} values were given")
        if self.node is None:
            return leaves[0]
        # Iterative (a stack, not recursion), so structures thousands deep unflatten.
        it = iter(leaves)
        stack = [(self, iter(self.children), [])]
        while True:
            tdef, kids, built = stack[-1]
            child = next(kids, None)
            if child is None:
                value = tdef.node.unflatten(tdef.aux, built)
                stack.pop()
                if not stack:
                    return value
                stack[-1][2].append(value)
            elif child.node is None:
                built.append(next(it))
            else:
                stack.append((child, iter(child.children), []))

    def _signature(self):
        """The structure as one flat tuple (preorder ``(node, aux, #children)``), computed
        without recursion: equality and hashing of deep structures need no deep recursion."""
        if self._sig is None:
            sig, stack = [], [self]
            while stack:
                t = stack.pop()
                sig.append((id(t.node), _hashable(t.aux), len(t.children)))
                stack.extend(reversed(t.children))
            self._sig = tuple(sig)
        return self._sig

    def __eq__(self, other):
        return isinstance(other, PyTreeDef) and (
            self is other or self._signature() == other._signature())

    def __hash__(self):
        if self._hash is None:
            self._hash = hash(self._signature())
        return self._hash

    def __repr__(self):
        return f"PyTreeDef({deep(PyTreeDef._str)(self)})"

    def _str(self):
        if self.node is None:
            return "*"
        kids = [c._str() for c in self.children]
        if self.node is _NONE:
            return "None"
        if self.node is _BUILTIN[tuple]:
            return "(" + ", ".join(kids) + ("," if len(kids) == 1 else "") + ")"
        if self.node is _BUILTIN[list]:
            return "[" + ", ".join(kids) + "]"
        if self.node is _DICT:
            kind, keys, factory = self.aux
            if kind is dict:
                return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(keys, kids)) + "}"
            data = keys if kind is collections.OrderedDict else (factory, keys)
            return f"CustomNode({kind.__name__}[{data}], [{', '.join(kids)}])"
        if self.node is _NAMEDTUPLE:
            return f"CustomNode(namedtuple[{self.aux.__name__}], [{', '.join(kids)}])"
        name = next((t.__name__ for t, n in _registry.items() if n is self.node), "?")
        return f"CustomNode({name}[{self.aux}], [{', '.join(kids)}])"

    def flatten_up_to(self, tree):
        """The subtrees of ``tree`` at this structure's leaves."""
        return flatten_up_to(self, tree, "flatten_up_to", "the tree")

    def compose(self, inner):
        """The structure of this tree with every leaf replaced by ``inner``."""
        return _compose(self, inner)

    def node_data(self):
        """``(node type, aux data)`` of the root, or None for a leaf."""
        if self.node is None:
            return None
        if self.node is _NONE:
            return (type(None), None)
        if self.node is _DICT:
            kind, keys, factory = self.aux
            data = {dict: list(keys), collections.OrderedDict: keys}.get(kind, (factory, keys))
            return (kind, data)
        if self.node is _NAMEDTUPLE:
            return (self.aux, None)
        for t, n in [(tuple, _BUILTIN[tuple]), (list, _BUILTIN[list]), *_registry.items()]:
            if n is self.node:
                return (t, self.aux)
        return (None, self.aux)


@deep
def _compose(outer, inner):
    if outer.node is None:
        return inner
    return PyTreeDef(outer.node, outer.aux, [_compose(c, inner) for c in outer.children])


def _hashable(aux):
    try:
        hash(aux)
        return aux
    except TypeError:
        return repr(aux)


LEAF = PyTreeDef(None, None, ())


def tree_flatten(tree, is_leaf=None):
    """Returns ``(leaves, treedef)``. ``is_leaf(x)`` may stop the descent at ``x``."""
    leaves = []
    try:
        return leaves, _flatten(tree, is_leaf, leaves)
    except RecursionError:  # a deep structure: the same walk with an explicit stack
        leaves = []
        return leaves, _flatten_iteratively(tree, is_leaf, leaves)


def _flatten(x, is_leaf, leaves):
    node = None if (is_leaf is not None and is_leaf(x)) else _node_of(x)
    if node is None:
        leaves.append(x)
        return LEAF
    children, aux = node.flatten(x)
    return PyTreeDef(node, aux, [_flatten(c, is_leaf, leaves) for c in children])


def _flatten_iteratively(tree, is_leaf, leaves):
    done = object()
    root = []
    stack = [(None, None, iter([tree]), root)]
    while stack:
        node, aux, kids, built = stack[-1]
        x = next(kids, done)
        if x is done:
            stack.pop()
            if stack:
                stack[-1][3].append(PyTreeDef(node, aux, built))
            continue
        child_node = None if (is_leaf is not None and is_leaf(x)) else _node_of(x)
        if child_node is None:
            leaves.append(x)
            built.append(LEAF)
        else:
            children, child_aux = child_node.flatten(x)
            stack.append((child_node, child_aux, iter(children), []))
    return root[0]


def tree_unflatten(treedef, leaves):
    return treedef.unflatten(leaves)


def matching_leaves(treedef, tree):
    """``tree``'s leaves if its structure is ``treedef`` (``tree_flatten(tree)`` would give
    these leaves and an equal structure), else None. A cached call checks its arguments'
    structure on every call: walking the known structure builds no ``PyTreeDef`` and no
    signature, which cost more than the call itself (two thirds of a jitted call on a dict of
    four arrays)."""
    leaves = []
    stack = [(treedef, tree)]
    tuple_node, list_node = _BUILTIN[tuple], _BUILTIN[list]
    while stack:
        tdef, x = stack.pop()
        node, kind = tdef.node, type(x)
        if node is None:
            if kind not in _leaf_types:
                if _node_of(x) is not None:  # a container where a leaf was
                    return None
                _leaf_types.add(kind)
            leaves.append(x)
            continue
        if (node is tuple_node and kind is tuple) or (node is list_node and kind is list):
            children = x
        elif node is _DICT and kind is dict is tdef.aux[0]:
            keys = tdef.aux[1]  # sorted: a dict with the same keys flattens in this order
            if len(x) != len(keys):
                return None
            try:
                children = [x[k] for k in keys]
            except (KeyError, TypeError):
                return None
        else:
            if _node_of(x) is not node:  # another container
                return None
            children, aux = node.flatten(x)
            if aux is not tdef.aux and _hashable(aux) != _hashable(tdef.aux):
                return None
        if len(children) != len(tdef.children):
            return None
        stack.extend(zip(reversed(tdef.children), reversed(children)))
    return leaves


def tree_leaves(tree, is_leaf=None):
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree, is_leaf=None):
    return tree_flatten(tree, is_leaf)[1]


def treedef_is_leaf(treedef):
    """True for a structure of one node (a leaf, None or an empty container), as in JAX."""
    return treedef.num_nodes == 1


def treedef_children(treedef):
    return list(treedef.children)


def treedef_tuple(treedefs):
    return PyTreeDef(_BUILTIN[tuple], None, list(treedefs))


def all_leaves(iterable, is_leaf=None):
    """True when every element of ``iterable`` is a leaf."""
    return all(tree_structure(x, is_leaf) == LEAF for x in iterable)


def tree_map(f, tree, *rest, is_leaf=None):
    """Applies ``f`` leafwise; ``rest`` must have ``tree``'s structure (or a deeper one)."""
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = [flatten_up_to(treedef, r, "tree_map", f"argument {i + 1}")
              for i, r in enumerate(rest)]
    return treedef.unflatten([f(*xs) for xs in zip(leaves, *others)])


@deep
def flatten_up_to(treedef, tree, where="tree_map", what="the tree"):
    """Leaves of ``tree`` cut at ``treedef``'s leaves (a prefix match), or a clear error."""
    out = []
    _flatten_up_to(treedef, tree, out, where, what, ())
    return out


def _flatten_up_to(treedef, x, out, where, what, path):
    if treedef.node is None:
        out.append(x)
        return
    node = _node_of(x)
    expected = PyTreeDef(treedef.node, treedef.aux, [LEAF] * len(treedef.children))
    if node is not treedef.node:
        raise ValueError(f"{where}: {what} has a different structure at {_where(path)}: "
                         f"expected {expected}, got {type(x).__name__} {x!r:.80}")
    children, aux = node.flatten(x)
    got = PyTreeDef(node, aux, [LEAF] * len(children))
    if got != expected:
        raise ValueError(f"{where}: {what} has a different structure at {_where(path)}: "
                         f"expected {expected}, got {got}")
    for key, sub, child in zip(_keys_of(node, x, len(children)), treedef.children, children):
        _flatten_up_to(sub, child, out, where, what, path + (key,))


def broadcast_prefix(prefix_tree, full_tree, where, what, is_leaf=None):
    """Repeats each leaf of ``prefix_tree`` over the leaves of the matching subtree of
    ``full_tree`` (how ``in_axes`` of vmap apply to arguments)."""
    _, full_def = tree_flatten(full_tree, is_leaf)
    prefix_leaves, prefix_def = tree_flatten(prefix_tree, is_leaf=lambda x: x is None)
    subtrees = flatten_up_to(prefix_def, full_tree, where, what)
    result = []
    for leaf, sub in zip(prefix_leaves, subtrees):
        result.extend([leaf] * len(tree_leaves(sub, is_leaf)))
    return result


def keystr(keys, *, simple=False, separator=""):
    """A key path as text: ``['a'][0].x`` (``simple``: the bare keys joined by ``separator``)."""
    return separator.join(map(_simple_entrystr if simple else str, keys))


def _where(path):
    return keystr(path) if path else "the root"


@deep
def tree_flatten_with_path(tree, is_leaf=None):
    """Returns ``([(path, leaf), ...], treedef)``; paths are tuples of keys/indices."""
    leaves, treedef = tree_flatten(tree, is_leaf)
    paths = []
    _paths(tree, is_leaf, (), paths)
    return list(zip(paths, leaves)), treedef


def _paths(x, is_leaf, path, out):
    node = None if (is_leaf is not None and is_leaf(x)) else _node_of(x)
    if node is None:
        out.append(path)
        return
    children, _ = node.flatten(x)
    for key, child in zip(_keys_of(node, x, len(children)), children):
        _paths(child, is_leaf, path + (key,), out)


def tree_leaves_with_path(tree, is_leaf=None):
    return tree_flatten_with_path(tree, is_leaf)[0]


def tree_map_with_path(f, tree, *rest, is_leaf=None):
    """Like ``tree_map``, with each leaf's key path as ``f``'s first argument."""
    pairs, treedef = tree_flatten_with_path(tree, is_leaf)
    others = [flatten_up_to(treedef, r, "tree_map_with_path", f"argument {i + 1}")
              for i, r in enumerate(rest)]
    return treedef.unflatten([f(p, x, *xs) for (p, x), *xs in zip(pairs, *others)])


def tree_broadcast(prefix_tree, full_tree, is_leaf=None):
    """``prefix_tree`` with each leaf repeated over the matching subtree of ``full_tree``."""
    leaves, prefix_def = tree_flatten(prefix_tree, is_leaf)
    subtrees = flatten_up_to(prefix_def, full_tree, "tree_broadcast", "full_tree")
    return prefix_def.unflatten([tree_map(lambda _, v=v: v, sub, is_leaf=is_leaf)
                                 for v, sub in zip(leaves, subtrees)])


def tree_reduce(function, tree, initializer=None, is_leaf=None):
    leaves = tree_leaves(tree, is_leaf)
    if initializer is None:
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def tree_all(tree):
    return all(tree_leaves(tree))


def tree_transpose(outer_treedef, inner_treedef, pytree_to_transpose):
    """Turns a tree of outer structure whose leaves are inner trees inside out."""
    flat = flatten_up_to(outer_treedef, pytree_to_transpose, "tree_transpose", "the tree")
    if inner_treedef is None:
        inner_treedef = tree_structure(flat[0]) if flat else LEAF
    inner_leaves = [flatten_up_to(inner_treedef, x, "tree_transpose", "an inner tree")
                    for x in flat]
    columns = [outer_treedef.unflatten(col) for col in zip(*inner_leaves)]
    return inner_treedef.unflatten(columns)


class Partial(functools.partial):
    """A ``functools.partial`` that is a pytree: its arguments are children, the function static
    (so ``vjp``'s pullback, a Partial over its residuals, can cross a ``jit`` boundary)."""


register_pytree_node(
    Partial,
    lambda p: ((p.args, p.keywords), p.func),
    lambda func, ch: Partial(func, *ch[0], **ch[1]))
