"""Checks of a run's input that need more than argparse: the device and cluster, every trial's
settings and hyper-parameters (each in its declared domain, and fitting together), and whether
the data fit the suite (every class keeps a sample, every network takes the data's shape).
Each failure is a ``UsageError``: one line on stderr and exit status 2."""
from __future__ import annotations

import socket
import sys

import datasets
from methods.domains import show

from ..trial import capture


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2."""


def check_device(args) -> None:
    """--device names a device this machine (or, with --address, the cluster) can run; GPUs only
    where there are some; an --address where something listens."""
    import torch

    dev = args.device
    check_device_name(dev)
    if args.address:
        check_address(args.address)
        return
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {dev}: this machine has no CUDA GPU")
    if args.gpus_per_trial > 0 and not torch.cuda.is_available():
        raise UsageError("--gpus-per-trial > 0 but this machine has no CUDA GPU (use --address for a cluster)")
    if dev != "cpu" and torch.cuda.is_available() and args.gpus_per_trial == 0:
        args.gpus_per_trial = 1.0   # Ray hides GPUs from trials not given one: say so, one per trial
        print("bench: a GPU is present; running one trial per GPU (--gpus-per-trial 1; "
              "--device cpu to stay on CPUs, or a fraction to share one)", file=sys.stderr)


def check_device_name(dev: str) -> None:
    if dev not in ("auto", "cpu") and not (dev == "cuda" or dev.startswith("cuda:") and dev[5:].isdigit()):
        raise UsageError(f"unknown device {dev!r}; use auto, cpu, cuda or cuda:N")


def check_address(address: str, timeout: float = 5.0) -> None:
    if address == "auto":
        return
    host, _, port = address.split("://")[-1].rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--address {address!r}: expected HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise UsageError(f"--address {address}: nothing answers there ({e.strerror or e})") from None


def check_methods(suite, names) -> None:
    """Every method the run names can be built (registered, installed, or package.module:Class)."""
    from methods import get_method_class

    missing = []
    for m in names:
        try:
            get_method_class(m)
        except (KeyError, ValueError):
            missing.append(m)
    if missing:
        raise UsageError(f"suite {suite.name} needs method(s) not registered: {', '.join(missing)}")


ABSENT = object()


def _setting(t: dict, key: str):
    """A trial's setting ``key`` (``optim.NAME`` in its optimiser's), or ABSENT (the harness's default)."""
    head, _, name = key.partition(".")
    return t.get("optim", {}).get(name, ABSENT) if head == "optim" else t.get(key, ABSENT)


def check_trials(trials: list[dict]) -> None:
    """Every trial's settings (bench.sweep.profiles.SETTINGS) and its method's hyper-parameters
    (``Method.domains``) lie in their domains and go together, whatever gave them: a profile,
    a suite, a data set's own value or ``--set``."""
    from methods import get_method_class

    from .profiles import SETTINGS

    classes = {m: get_method_class(m) for m in {t["method"] for t in trials}}
    for t in trials:
        where = f" (suite {t.get('suite')}, {t.get('variant') or t['method']} on {t.get('dataset')})"
        for key, domain in SETTINGS.items():
            value = _setting(t, key)
            if value is not ABSENT and not domain.contains(value):
                raise UsageError(f"{key}={show(value)} is out of range: {domain}{where}")
        try:
            classes[t["method"]].check_hparams(t["hparams"], t["method"])
        except ValueError as e:
            raise UsageError(f"{e}{where}") from None
        check_together(t, classes[t["method"]], where)


def check_together(t: dict, cls, where: str) -> None:
    """Settings that fail every trial together although each lies in its domain."""
    optim = t.get("optim", {})
    if (t.get("epochs") is None) == (t.get("max_steps") is None):
        raise UsageError(f"epochs={show(t.get('epochs'))} and max_steps={show(t.get('max_steps'))}: a run's length "
                         f"is one of them (set the other to null){where}")
    if optim.get("nesterov") and optim.get("momentum", 0) == 0:
        raise UsageError(f"optim.nesterov=true needs optim.momentum > 0 (SGD's Nesterov momentum){where}")
    if cls.needs_reward and not (t.get("reward_total") or t.get("reward_per_class")):
        raise UsageError(f"{t['method']} needs a clean reward set: reward_per_class={show(t.get('reward_per_class'))} "
                         f"gives none (set it >= 1, or reward_total){where}")
    if t.get("compile", "off") not in capture.SETTINGS:
        raise UsageError(f"compile={show(t.get('compile'))} is not one of {', '.join(capture.SETTINGS)}{where}")
    pool = t.get("reward_pool_per_class")
    if pool is not None and not t.get("reward_total") and (t.get("reward_per_class") or 0) > pool:
        raise UsageError(f"reward_per_class={show(t.get('reward_per_class'))} does not fit in "
                         f"reward_pool_per_class={show(pool)} (the reward set is drawn from that pool){where}")


def check_layout(trials: list[dict], name: str, shape) -> None:
    """``--channels-last on`` only for images (inputs C x H x W)."""
    if len(shape) != 3 and any(t.get("channels_last") is True for t in trials):
        raise UsageError(f"--channels-last on is for images; {name}'s inputs of shape {tuple(shape)} are not")


def check_data(trials: list[dict], data_root, download: bool, options) -> None:
    """Load each data set the training trials use (downloading it once, here, if asked), check
    that it fits them, and read any human label set they name; cost trials: that their
    synthetic inputs' shape fits the layout."""
    for name in sorted({t["dataset"] for t in trials if t.get("task") == "cost"}):   # synthetic inputs of its shape
        if name in datasets.registry.SHAPES:
            check_layout([t for t in trials if t["dataset"] == name], name, datasets.registry.SHAPES[name][0])
    for name in sorted({t["dataset"] for t in trials if t.get("task") != "cost"}):
        ds = datasets.load_dataset(name, data_root, download, **(options if name == "webvision" and options else {}))
        mine = [t for t in trials if t["dataset"] == name and t.get("task") != "cost"]
        check_data_fits(mine, ds)
        for spec in sorted({datasets.parse(t["corruption"]) for t in mine}, key=str):
            if spec.noise_type == "human":
                ds.human_labels(spec.get("human"))


def check_data_fits(trials: list[dict], ds) -> None:
    """Every corruption leaves each class a sample, and every network takes the data's shape
    (one forward of two samples)."""
    import torch

    from ..trial.models import build_model

    check_layout(trials, ds.name, ds.input_shape)
    # each trial's own reward set (a suite's rows may differ: the long tail's L2R / MWN hold one out)
    for spec, reward, limit, pool in sorted({(t["corruption"], t.get("reward_per_class") or 0, t.get("train_limit"),
                                              t.get("reward_pool_per_class")) for t in trials}, key=str):
        long_tail = datasets.Spec(tuple(p for p in datasets.parse(spec).parts if p.kind == "lt"))   # noise keeps classes
        plan = datasets.plan(ds.y_train.numpy(), ds.num_classes, long_tail, 0, reward, limit, ds.asym_target,
                             reward_pool_per_class=pool)
        empty = [c for c in range(ds.num_classes) if not (plan.corrupted.true == c).any()]
        if empty:
            raise UsageError(f"{spec} on {ds.name} leaves class(es) {', '.join(map(str, empty[:5]))} without a "
                             "training sample; choose a smaller imbalance ratio")
    for model in sorted({t["model"] for t in trials}):
        try:
            with torch.no_grad():
                build_model(model, ds.input_shape, ds.num_classes).eval()(ds.x_train[:2])
        except Exception as e:  # noqa: BLE001 (any failure means: this network does not fit)
            raise UsageError(f"network {model} does not take {ds.name}'s inputs of shape "
                             f"{tuple(ds.input_shape)}: {str(e).splitlines()[0]}") from None
