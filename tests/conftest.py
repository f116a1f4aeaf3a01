import os

import pytest
import torch

torch.set_num_threads(1)  # tiny models: one thread is fastest and steadiest on a shared 2-core box


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
