import pytest

import ember


@pytest.fixture(autouse=True)
def _seed():
    ember.set_seed(1234)
    yield
