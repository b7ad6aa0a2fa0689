"""Rich display of arrays in notebooks: a header with the type, a summary of the values and
the values themselves, elided in the middle when the array is large."""

import html

import numpy as np


def array_html(value, aval, device=None):
    """The HTML a notebook shows for an Array holding the numpy ``value``."""
    head = f"Array {html.escape(aval.str_short())}"
    if aval.weak_type:
        head += " (weakly typed)"
    if device is not None:
        head += f" on {html.escape(str(device))}"
    facts = []
    if value.size and value.dtype.kind in "fiu":
        finite = value[np.isfinite(value)] if value.dtype.kind == "f" else value
        if finite.size:
            facts.append(f"min {finite.min():.4g}, max {finite.max():.4g}, "
                         f"mean {finite.mean(dtype=np.float64):.4g}")
        if value.dtype.kind == "f" and finite.size < value.size:
            facts.append(f"{int(np.isnan(value).sum())} nan, "
                         f"{int(np.isinf(value).sum())} inf")
    if value.size:
        body = np.array2string(value, separator=", ", threshold=64, edgeitems=3)
    else:
        body = "(empty)"
    summary = f"<div>{'; '.join(facts)}</div>" if facts else ""
    return (f'<div class="funcjax-array"><b>{head}</b>, {value.nbytes:,} bytes{summary}'
            f"<pre>{html.escape(body)}</pre></div>")
