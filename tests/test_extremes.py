"""Gumbel by L-moments against a hand computation."""

import math

import numpy as np
import pandas as pd
import pytest

from forecasting.extremes import annual_maxima, gumbel_lmoments, gumbel_return_level, return_levels


def test_gumbel_lmoments_by_hand():
    x = np.array([100.0, 150.0, 200.0, 250.0, 300.0])
    # b0 = 200; b1 = (0*100 + .25*150 + .5*200 + .75*250 + 1*300)/5 = 125; l2 = 2*125 - 200 = 50
    xi, alpha = gumbel_lmoments(x)
    assert alpha == pytest.approx(50 / math.log(2))
    assert xi == pytest.approx(200 - 0.5772 * 50 / math.log(2))
    # The 2-year flood of a Gumbel lies just below the mean: xi - alpha ln(ln 2)
    assert gumbel_return_level(xi, alpha, 2) == pytest.approx(xi - alpha * math.log(math.log(2)))
    assert gumbel_return_level(xi, alpha, 20) > gumbel_return_level(xi, alpha, 5) > gumbel_return_level(xi, alpha, 2)


def test_incomplete_years_are_left_out():
    idx = pd.date_range("2000-01-01", "2002-12-31", freq="D")
    s = pd.Series(np.arange(len(idx), dtype=float), index=idx)
    s.loc["2001-03-01":"2001-05-01"] = np.nan  # 62 days missing: 2001 is incomplete
    am = annual_maxima(s, max_missing_days=30)
    assert list(am.index) == [2000, 2002]
    with pytest.raises(ValueError, match="complete years"):
        return_levels(s, min_years=5)
