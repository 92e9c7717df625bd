"""Source replay while fine-tuning: which items come from where, determinism, settings."""

import pytest

from offline_training.nemo.train_config import TrainConfig
from offline_training.replay import ReplaySet
from ros_pose_estimation.core.errors import ConfigError


class _Set:
    def __init__(self, name: str, n: int) -> None:
        self.name, self.n = name, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key):
        index, draw = key if isinstance(key, tuple) else (key, 0)
        assert 0 <= index < self.n
        return {"from": self.name, "index": index, "draw": draw}


def test_replay_mixes_the_fraction_deterministically_per_key():
    main, source = _Set("target", 40), _Set("source", 7)
    mixed = ReplaySet(main, source, 0.3, seed=1)
    assert len(mixed) == 40
    items = [mixed[(i, d)] for d in range(50) for i in range(40)]
    share = sum(it["from"] == "source" for it in items) / len(items)
    assert 0.26 < share < 0.34, share
    # the same key, the same item (resume replays the same batches); the draw keeps its value
    assert [mixed[(5, 3)] for _ in range(3)] == [mixed[(5, 3)]] * 3
    assert all(it["draw"] == d for d, it in zip([d for d in range(50) for _ in range(40)], items,
                                                strict=True))  # fmt: skip
    # every source item gets used; target items keep their own index
    assert {it["index"] for it in items if it["from"] == "source"} == set(range(7))
    assert all(it["index"] == i for it, i in zip(items, list(range(40)) * 50, strict=True)
               if it["from"] == "target")  # fmt: skip
    assert all(ReplaySet(main, source, 0.0)[(i, 0)]["from"] == "target" for i in range(40))
    assert all(ReplaySet(main, source, 1.0)[(i, 0)]["from"] == "source" for i in range(40))
    assert "30 % of the items from 7 source objects" in mixed.describe()


def test_replay_settings_are_checked():
    with pytest.raises(ConfigError, match="fraction"):
        ReplaySet(_Set("a", 3), _Set("b", 3), 1.5)
    with pytest.raises(ConfigError, match="empty"):
        ReplaySet(_Set("a", 3), _Set("b", 0), 0.5)
    with pytest.raises(ConfigError, match="replay_fraction"):
        TrainConfig(data="d", category="mug", out="o", replay_data="s", replay_fraction=-0.1)
    with pytest.raises(ConfigError, match="exclude each other"):
        TrainConfig(data="d", category="mug", out="o", replay_data="s", mix_data="m")
