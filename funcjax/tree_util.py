"""``funcjax.tree_util``: pytree utilities with JAX's names."""

from funcjax.core.pytree import (  # noqa: F401
                                 PyTreeDef,
                                 keystr,
                                 register_dataclass,
                                 register_pytree_node,
                                 register_pytree_node_class,
                                 tree_all,
                                 tree_flatten,
                                 tree_flatten_with_path,
                                 tree_leaves,
                                 tree_map,
                                 tree_reduce,
                                 tree_structure,
                                 tree_transpose,
                                 tree_unflatten,
                                 treedef_is_leaf,
)
