"""Compilation backends. ``funcjax.backend.llvm`` compiles jaxprs to native CPU code; it is
imported on first use of ``jit`` so that eager funcjax never loads llvmlite."""
