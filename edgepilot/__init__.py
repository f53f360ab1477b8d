"""edgepilot: run simulation-trained policies on robots at a fixed rate, safely.

Subpackages: :mod:`edgepilot.daemon` (the control loop and everything it needs),
:mod:`edgepilot.engines` (inference backends), :mod:`edgepilot.calibration`
(sim-to-real), :mod:`edgepilot.hil` (the simulated robot and fault injection).
"""

__version__ = "0.1.0"
