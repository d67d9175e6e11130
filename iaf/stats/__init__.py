"""Statistical methods, each a small pure vectorised function with its reference cited.

Modules: ``ci`` (confidence intervals, PHEindicatormethods), ``benchmark`` (Fingertips
comparisons and quantiles), ``funnel`` (FunnelPlotR), ``spc`` (NHSRplotthedots / Making Data
Count), ``trend`` (Mann–Kendall, Theil–Sen, Fingertips recent trend), ``peers``.
"""
