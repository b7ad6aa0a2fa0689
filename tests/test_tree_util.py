"""Pytrees: flatten/unflatten round trips, tree_map over several trees, registrations, errors."""

import collections
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcjax import tree_util as tu
from funcjax.core.pytree import matching_leaves

Point = collections.namedtuple("Point", ["x", "y"])


@tu.register_pytree_node_class
class Box:
    def __init__(self, content, label):
        self.content, self.label = content, label

    def tree_flatten(self):
        return [self.content], self.label

    @classmethod
    def tree_unflatten(cls, label, children):
        return cls(children[0], label)


@dataclasses.dataclass
class Params:
    w: object
    b: object
    name: str = dataclasses.field(default="p", metadata={"static": True})


tu.register_dataclass(Params)

TREES = [
    (1, 2), [1, [2, 3]], {"b": 1, "a": (2, None)}, None, Point(1, (2, 3)), Box([1, 2], "lbl"),
    Params(1, [2, 3]), {"x": Box(Point(1, 2), "l"), "y": [None, 4]},
]


@pytest.mark.parametrize("tree", TREES, ids=range(len(TREES)))
def test_roundtrip(tree):
    leaves, treedef = tu.tree_flatten(tree)
    rebuilt = tu.tree_unflatten(treedef, leaves)
    assert tu.tree_structure(rebuilt) == treedef
    assert tu.tree_leaves(rebuilt) == leaves


def test_leaf_order_and_map_over_several_trees():
    tree = {"b": [1, 2], "a": Point(3, 4)}
    assert tu.tree_leaves(tree) == [3, 4, 1, 2]  # dict keys are sorted
    out = tu.tree_map(lambda a, b: a + 10 * b, tree, {"a": Point(1, 1), "b": [2, 2]})
    assert out == {"b": [21, 22], "a": Point(13, 14)}
    p = tu.tree_map(lambda v: v * 2, Params(1, 2, name="q"))
    assert (p.w, p.b, p.name) == (2, 4, "q")
    assert tu.tree_leaves([None, (None,)]) == []


def test_mismatched_structures_are_clear_errors():
    with pytest.raises(ValueError, match="tree_map.*different structure"):
        tu.tree_map(lambda a, b: a, [1, 2], (1, 2))
    with pytest.raises(ValueError, match=r"\['a'\]"):
        tu.tree_map(lambda a, b: a, {"a": [1, 2]}, {"a": [1, 2, 3]})
    with pytest.raises(ValueError, match="3 leaves, but 2"):
        tu.tree_unflatten(tu.tree_structure((1, 2, 3)), [1, 2])


def test_paths_and_transpose():
    pairs, _ = tu.tree_flatten_with_path({"a": [5, 6]})
    assert [p for p, _ in pairs] == [(tu.DictKey("a"), tu.SequenceKey(0)),
                                     (tu.DictKey("a"), tu.SequenceKey(1))]
    outer, inner = tu.tree_structure([0, 0]), tu.tree_structure((0, 0))
    assert tu.tree_transpose(outer, inner, [(1, 2), (3, 4)]) == ([1, 3], [2, 4])


# Expected values below were obtained from JAX 0.10.2.
def test_key_paths_and_keystr_match_jax():
    import dataclasses
    P = collections.namedtuple("P", ["x", "y"])
    paths = [tu.keystr(p) for p, _ in tu.tree_leaves_with_path({"b": [1, P(2, (3,))], "a": 0})]
    assert paths == ["['a']", "['b'][0]", "['b'][1].x", "['b'][1].y[0]"]
    assert tu.keystr((tu.DictKey("a"), tu.SequenceKey(0)), simple=True, separator="/") == "a/0"
    assert repr(tu.GetAttrKey("x")) == "GetAttrKey(name='x')"

    class Box:
        def __init__(self, a, b):
            self.a, self.b = a, b
    tu.register_pytree_node(Box, lambda b: ((b.a, b.b), "aux"), lambda aux, ch: Box(*ch))
    assert [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(Box(1, 2))] == [
        "[<flat index 0>]", "[<flat index 1>]"]
    assert str(tu.tree_structure(Box(1, (2, 3)))) == "PyTreeDef(CustomNode(Box[aux], [*, (*, *)]))"

    class KBox:
        def __init__(self, a, b):
            self.a, self.b = a, b
    tu.register_pytree_with_keys(
        KBox, lambda b: (((tu.GetAttrKey("a"), b.a), (tu.GetAttrKey("b"), b.b)), None),
        lambda aux, ch: KBox(*ch))
    assert [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(KBox(1, [2]))] == [".a", ".b[0]"]

    @dataclasses.dataclass
    class D:
        a: int
        b: object
        s: str = "meta"
    tu.register_dataclass(D, data_fields=["a", "b"], meta_fields=["s"])
    assert str(tu.tree_structure(D(1, (2, 3)))) == (
        "PyTreeDef(CustomNode(D[('meta',)], [*, (*, *)]))")
    add = tu.tree_map_with_path(lambda p, x, y: x + y, {"a": [1, 2]}, {"a": [3, 4]})
    assert add == {"a": [4, 6]}


def test_ordered_dict_defaultdict_namedtuple_match_jax():
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    assert tu.tree_leaves(od) == [1, 2]          # insertion order, not sorted
    assert str(tu.tree_structure(od)) == "PyTreeDef(CustomNode(OrderedDict[('b', 'a')], [*, *]))"
    assert tu.tree_structure(od) != tu.tree_structure(collections.OrderedDict(a=1, b=2))
    assert list(tu.tree_map(lambda x: x, od)) == ["b", "a"]
    dd = collections.defaultdict(list, {"b": 1, "a": 2})
    assert str(tu.tree_structure(dd)) == (
        "PyTreeDef(CustomNode(defaultdict[(<class 'list'>, ('a', 'b'))], [*, *]))")
    assert tu.tree_structure(dd) != tu.tree_structure(collections.defaultdict(dict, dd))
    P = collections.namedtuple("P", ["x", "y"])
    assert str(tu.tree_structure(P(1, [2, 3]))) == (
        "PyTreeDef(CustomNode(namedtuple[P], [*, [*, *]]))")
    assert tu.tree_leaves({10: "a", 2: "b"}) == ["b", "a"]
    with pytest.raises(ValueError, match="sorting pytree dictionary keys"):
        tu.tree_leaves({1: "a", "b": 2})


def test_treedef_helpers_match_jax():
    assert tu.treedef_is_leaf(tu.tree_structure(None))
    assert tu.treedef_is_leaf(tu.tree_structure(()))
    assert not tu.treedef_is_leaf(tu.tree_structure((1,)))
    pair = tu.treedef_tuple([tu.tree_structure(1), tu.tree_structure([1, 2])])
    assert str(pair) == "PyTreeDef((*, [*, *]))"
    assert str(tu.tree_structure((1, [2])).compose(tu.tree_structure({"a": 1}))) == (
        "PyTreeDef(({'a': *}, [{'a': *}]))")
    assert tu.tree_structure((1, 2)).flatten_up_to(([1], {"a": 2})) == [[1], {"a": 2}]
    assert tu.tree_structure({"b": 1, "a": 2}).node_data() == (dict, ["a", "b"])
    assert tu.all_leaves([1, 2])
    assert not tu.all_leaves([(1,), 2]) and not tu.all_leaves([None])
    assert tu.tree_transpose(tu.tree_structure([0, 0]), None, [(1, 2), (3, 4)]) == ([1, 3], [2, 4])
    assert tu.tree_broadcast([1, 2], [[1, 2], (3,)]) == [[1, 1], (2,)]
    assert tu.tree_leaves(tu.Partial(lambda a, b: a + b, 1)) == [1]
    assert tu.Partial(lambda a, b: a + b, 1)(2) == 3


# ``pytree.matching_leaves``: the leaves of a tree if it has a given structure (the check of
# a cached jit call), compared with tree_flatten over generated trees and structures.

_Point = collections.namedtuple("_Point", "x y")


def _trees():
    leaf = st.one_of(st.integers(-3, 3), st.floats(allow_nan=False), st.just("s"))
    return st.recursive(leaf, lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.lists(kids, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from("abcd"), kids, max_size=3),
        st.dictionaries(st.sampled_from("abcd"), kids, max_size=3).map(collections.OrderedDict),
        st.tuples(kids, kids).map(lambda p: _Point(*p)), st.just(None)), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(_trees(), _trees())
def test_matching_leaves_agrees_with_tree_flatten(a, b):
    leaves_a, tree_a = tu.tree_flatten(a)
    leaves_b, tree_b = tu.tree_flatten(b)
    assert matching_leaves(tree_a, a) == leaves_a
    found = matching_leaves(tree_a, b)
    if tree_a == tree_b:
        assert found == leaves_b
    else:
        assert found is None


def test_matching_leaves_tells_containers_and_aux_data_apart():
    tree = tu.tree_structure({"a": [1, 2], "b": (3,)})
    assert matching_leaves(tree, {"b": (7,), "a": [5, 6]}) == [5, 6, 7]
    for other in ({"a": (1, 2), "b": (3,)}, {"a": [1, 2], "c": (3,)}, {"a": [1, 2, 3], "b": (3,)},
                  collections.OrderedDict(a=[1, 2], b=(3,)), {"a": [1, [2]], "b": (3,)},
                  {"a": [1, None], "b": (3,)}, [1, 2, 3]):
        assert matching_leaves(tree, other) is None, other
    assert matching_leaves(tu.tree_structure(None), None) == []
    assert matching_leaves(tu.tree_structure(_Point(1, 2)), (1, 2)) is None


def test_matching_leaves_sees_a_type_registered_after_it_was_a_leaf():
    class Box:
        def __init__(self, v):
            self.v = v
    box = Box(1)
    tree = tu.tree_structure([0])
    assert matching_leaves(tree, [box]) == [box]  # a leaf, remembered as one
    tu.register_pytree_node(Box, lambda b: ([b.v], None), lambda _, c: Box(*c))
    assert matching_leaves(tree, [box]) is None  # now a node where a leaf was
    assert matching_leaves(tu.tree_structure([box]), [Box(5)]) == [5]
