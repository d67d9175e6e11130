"""IAF Explorer's indicator module: the CCG IAF catalogue, data model, loaders and statistics.

Pure Python over pandas/numpy/scipy. It never imports Streamlit, so everything the app
computes can be computed from a notebook, a script or ``python -m iaf``.
"""

__version__ = "0.1.0"
