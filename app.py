"""IAF Explorer: the router and frame. No data loading, no charts (see ui.py and app_pages/)."""

import streamlit as st

import ui

st.set_page_config(
    page_title="IAF Explorer",
    page_icon=":material/monitoring:",
    layout="wide",
    initial_sidebar_state="expanded",
)

PAGES = [
    st.Page(
        "app_pages/overview.py",
        title="Overview",
        icon=":material/grid_view:",
        default=True,
        url_path="overview",
    ),
    st.Page(
        "app_pages/profile.py",
        title="CCG profile",
        icon=":material/location_city:",
        url_path="profile",
    ),
    st.Page(
        "app_pages/explorer.py",
        title="Indicator explorer",
        icon=":material/scatter_plot:",
        url_path="explorer",
    ),
    st.Page("app_pages/trends.py", title="Trends", icon=":material/show_chart:", url_path="trends"),
    st.Page(
        "app_pages/compare.py",
        title="Compare with peers",
        icon=":material/compare_arrows:",
        url_path="compare",
    ),
    st.Page("app_pages/data.py", title="Data", icon=":material/upload_file:", url_path="data"),
    st.Page(
        "app_pages/methods.py",
        title="Methods and definitions",
        icon=":material/menu_book:",
        url_path="methods",
    ),
]

page = st.navigation(PAGES, position="hidden" if ui.presentation_mode() else "sidebar")
ui.frame(page)
ui.run_page(page)
