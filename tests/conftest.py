import os
import pathlib

import pytest

from glrm.resources import passive_openmp

# As the CLI does: idle OpenMP threads sleep (the tests share their cores), set before torch loads. Plain
# progress lines (stderr is no TTY here) come only where a test asks for them with a short interval.
passive_openmp()
os.environ.setdefault("GLRM_LOG_INTERVAL", "3600")

HERE = pathlib.Path(__file__).parent
DATA = HERE / "data"
FIXTURES = HERE / "fixtures"


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _cuda():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def data_dir():
    return DATA


@pytest.fixture
def fixtures_dir():
    return FIXTURES


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one intra-op thread (on a busy 2-core machine two threads cost far more in
    synchronisation than they save); restores torch's setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
