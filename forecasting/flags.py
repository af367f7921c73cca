"""QC flag bits (CF `flag_masks`), stored in `<variable>_qc` beside each variable.

A flagged value is kept in the store; anything but FILLED is left out of training and forecasting.
"""

from __future__ import annotations

import numpy as np

GOOD = 0
IMPOSSIBLE = 1  # outside physical limits (negative discharge, T outside -60..50 degC, P < 0 or > 500 mm)
RATE = 2  # change from the previous day beyond the allowed rate (level jumps)
FLATLINE = 4  # sensor stuck: identical values for too many days
SPIKE = 8  # isolated spike: far from both neighbours, which agree with each other
REPEATED = 16  # a block of days identical day for day to an earlier period (copied season)
DUPLICATE = 32  # the same date came twice with conflicting values (first kept, others quarantined)
FILLED = 64  # value filled across a short gap (not observed)
REVISED = 128  # value changed by a later ingest (old value in the revision log)
UNCONFIRMED = 256  # suspect until a hydrologist confirms it: far beyond the station's own record, or a jump no
# river makes in a day on a day without a right-hand neighbour yet (the newest day); confirmations in
# store/confirmations.csv (forecasting.confirmations) lift it

FLAG_BITS: dict[str, int] = {
    "impossible": IMPOSSIBLE,
    "rate": RATE,
    "flatline": FLATLINE,
    "spike": SPIKE,
    "repeated": REPEATED,
    "duplicate": DUPLICATE,
    "filled": FILLED,
    "revised": REVISED,
    "unconfirmed": UNCONFIRMED,
}

# Flags that make a value unusable for training and forecasting.
BAD = IMPOSSIBLE | RATE | FLATLINE | SPIKE | REPEATED | DUPLICATE | UNCONFIRMED
FLAG_DTYPE = np.int16


def cf_flag_attrs() -> dict[str, object]:
    """CF attributes describing the flag bits."""
    return {
        "long_name": "quality control flags",
        "flag_masks": np.array(list(FLAG_BITS.values()), dtype=FLAG_DTYPE),
        "flag_meanings": " ".join(FLAG_BITS),
        "comment": "0 = passed all checks; a flagged value is kept but not used for training or forecasting "
        "(except 'filled' and 'revised'); 'unconfirmed' values are held until a hydrologist confirms them",
    }


def describe(flag: int) -> list[str]:
    """Names of the bits set in `flag`."""
    return [name for name, bit in FLAG_BITS.items() if int(flag) & bit]
