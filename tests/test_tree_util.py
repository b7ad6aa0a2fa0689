"""Pytrees: flatten/unflatten round trips, tree_map over several trees, registrations, errors."""

import collections
import dataclasses

import pytest

from funcjax import tree_util as tu

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
    assert [p for p, _ in pairs] == [("a", 0), ("a", 1)]
    outer, inner = tu.tree_structure([0, 0]), tu.tree_structure((0, 0))
    assert tu.tree_transpose(outer, inner, [(1, 2), (3, 4)]) == ([1, 3], [2, 4])
