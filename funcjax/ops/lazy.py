"""``lax`` for the rules written in this package.

``funcjax.lax`` imports the primitives defined here, so rules cannot import it at module
level. This stand-in imports it on first use, when every primitive exists.
"""


class _LazyLax:
    def __getattr__(self, name):
        import funcjax.lax
        return getattr(funcjax.lax, name)


lax = _LazyLax()
