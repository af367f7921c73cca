"""Tasqyn forecasting library: adapters, canonical store, QC, features, models, thresholds, risk, verification.

Pure functions over pandas/xarray objects. This package imports neither Prefect nor FastAPI.
Dates are local days in Asia/Almaty unless stated; a forecast issued on day t for lead k is valid for day t+k.
"""

__version__ = "0.1.0"
