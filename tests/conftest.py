"""Shared pytest setup.

One torch thread: the tests use small tensors, for which a second OpenMP thread costs more than it saves, and on
a machine shared with other busy processes (CI runners, parallel jobs) OpenMP threads waiting for a busy core
made small ops 10-30x slower on 2 cores.
"""

import torch

torch.set_num_threads(1)
