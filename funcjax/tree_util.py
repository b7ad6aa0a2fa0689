"""``funcjax.tree_util``: pytree utilities with JAX's names."""

import functools

from funcjax.core.pytree import (  # noqa: F401
                                 DictKey,
                                 FlattenedIndexKey,
                                 GetAttrKey,
                                 PyTreeDef,
                                 SequenceKey,
                                 all_leaves,
                                 keystr,
                                 register_dataclass,
                                 register_pytree_node,
                                 register_pytree_node_class,
                                 register_pytree_with_keys,
                                 register_pytree_with_keys_class,
                                 tree_all,
                                 tree_broadcast,
                                 tree_flatten,
                                 tree_flatten_with_path,
                                 tree_leaves,
                                 tree_leaves_with_path,
                                 tree_map,
                                 tree_map_with_path,
                                 tree_reduce,
                                 tree_structure,
                                 tree_transpose,
                                 tree_unflatten,
                                 treedef_children,
                                 treedef_is_leaf,
                                 treedef_tuple,
)


class Partial(functools.partial):
    """A ``functools.partial`` that is a pytree: its arguments are children, the function static."""


register_pytree_node(
    Partial,
    lambda p: ((p.args, p.keywords), p.func),
    lambda func, ch: Partial(func, *ch[0], **ch[1]))
