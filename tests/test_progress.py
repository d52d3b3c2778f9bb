import time

import pytest

from logolens.progress import PhaseClock


def test_phase_clock_sums_each_phase_in_the_order_first_entered():
    clock = PhaseClock()
    with clock.phase("b"):
        time.sleep(0.05)
    with clock.phase("a"):
        pass
    with clock.phase("b"):
        time.sleep(0.05)
    assert list(clock.seconds) == ["b", "a"]
    assert clock.seconds["b"] >= 0.1 > clock.seconds["a"] >= 0.0


def test_phase_clock_records_a_phase_that_raised():
    clock = PhaseClock()
    with pytest.raises(RuntimeError), clock.phase("failing"):
        raise RuntimeError("stop")
    assert "failing" in clock.seconds
