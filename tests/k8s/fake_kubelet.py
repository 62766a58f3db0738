"""The fake kubelet lives in :mod:`mentatlab.testing.fake_kubelet` (the benchmarks use it too)."""

from mentatlab.testing.fake_kubelet import FAKE_KUBELET_LABEL, FAKE_KUBELET_VALUE, FakeKubelet

__all__ = ["FAKE_KUBELET_LABEL", "FAKE_KUBELET_VALUE", "FakeKubelet"]
