"""The floor for app latency: the least a Streamlit page can do to redraw the same chart.

One sidebar selectbox labelled "Indicator" (driven exactly as the app's is) and one Altair
scatter of ``BENCH_FLOOR_POINTS`` points, different for each option. No data loading, no
caching, no other elements: whatever time this page takes to redraw is Streamlit, the browser
and Vega, not IAF Explorer.
"""

import os

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

POINTS = int(os.environ.get("BENCH_FLOOR_POINTS", "200"))

with st.sidebar:
    option = st.selectbox("Indicator", [f"option {i:02d}" for i in range(60)])

rng = np.random.default_rng(int(option.split()[-1]))
points = pd.DataFrame({"x": rng.uniform(0, 1, POINTS), "y": rng.normal(0, 1, POINTS)})
# One line of text naming the option: a canvas redraw leaves no trace in the page's DOM, and a
# fast rerun may never show "running", so this is how the benchmark sees the rerun arrive (the
# app's header names its indicator the same way).
st.caption(option)
st.altair_chart(alt.Chart(points).mark_circle().encode(x="x:Q", y="y:Q"))
