"""Reports rendered from results files (no torch import anywhere below this package).

Figures are drawn on Agg canvases directly (suite.report.plots.new_figure), never through a GUI backend, so
the user's $MPLBACKEND does not matter here; matplotlib refuses to import at all when it names no backend
("bogus"), which would fail a report at the end of a finished run. It is imported here with the variable
set aside (the package's first import runs before any of its modules).
"""

import os as _os

_backend = _os.environ.pop("MPLBACKEND", None)
try:
    import matplotlib  # noqa: F401
finally:
    if _backend is not None:
        _os.environ["MPLBACKEND"] = _backend
