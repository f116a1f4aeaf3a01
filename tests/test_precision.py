"""Mixed precision (bf16 / fp16 autocast) and channels-last: every method's weights agree with
fp32 on a small network, a trial runs end to end in each precision, fp16's loss scaling
survives an overflow, and the profile / flag plumbing gives fp32 trials their old ids."""
import functools
import json
import time

import pytest
import torch

from bench.costs import compare, stepper
from bench.sweep import suites
from bench.cli import main
from bench.trial.harness import train
from methods import _precision as amp

# One step from the same state in fp32 and in a low precision: what decides the weights is
# taken in fp32 (closed forms, tangent dot products, the weighting net), so each weight agrees
# within a tenth of the largest one, and their correlation over the batch is >= 0.99.
TOL, MIN_CORR = 0.1, 0.99


def first_step(method: str, precision: str, shape=(1, 40)) -> dict:
    hp = {"reweight_start": 0} if method == "fsr" else {}
    r = stepper.make_runner(dict(model="small_cnn", input_shape=shape, method=method, batch_size=32, hparams=hp,
                              precision=precision))
    return r.step()


@pytest.mark.parametrize("shape", [(1, 40), (3, 16, 16)], ids=["1d", "2d"])
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("method", ["l2r", "mwn", "fsr"])
def test_weights_under_mixed_precision_agree_with_fp32(method, precision, shape):
    ref, low = first_step(method, "fp32", shape), first_step(method, precision, shape)
    w, wl = ref["weights"], low["weights"]
    assert wl.dtype == torch.float32
    assert float((wl - w).abs().max()) <= TOL * float(w.abs().max())
    assert float(torch.corrcoef(torch.stack([w, wl]))[0, 1]) >= MIN_CORR


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("method", ["softmax", "cb"])
def test_losses_under_mixed_precision_agree_with_fp32(method, precision):
    ref, low = first_step(method, "fp32"), first_step(method, precision)
    assert float(low["loss"]) == pytest.approx(float(ref["loss"]), rel=5e-3)


def test_fp32_is_no_autocast_and_no_scaler():
    cpu = torch.device("cpu")
    assert amp.resolve("auto", cpu) == "fp32"     # CPU runs keep fp32's numbers unless asked
    assert amp.make_scaler(cpu, "fp32") is None and amp.make_scaler(cpu, "bf16") is None
    assert amp.make_scaler(cpu, "fp16") is not None
    with amp.autocast(cpu, "fp32"):
        assert not torch.is_autocast_enabled("cpu")
    with amp.autocast(cpu, "bf16"):
        assert torch.is_autocast_enabled("cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        amp.resolve("fp8", cpu)


def test_scaled_grad_halves_the_scale_on_overflow_and_returns_the_true_gradient():
    w = torch.randn(5, requires_grad=True)
    loss = 1e12 * (w ** 2).sum()
    plain = torch.autograd.grad(loss, w, retain_graph=True)[0]
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 100)   # gradient * scale overflows fp32
    got = amp.scaled_grad(scaler, loss, [w])[0]
    assert torch.allclose(got, plain, rtol=1e-6)
    assert scaler.get_scale() < 2.0 ** 100


SMOKE = dict(dataset="mnist1d", model="small_cnn", epochs=2, batch_size=100, train_limit=600,
             reward_per_class=5, device="cpu")


@functools.lru_cache(maxsize=None)
def smoke_trial(method: str, precision: str) -> dict:
    hp = {"reweight_start": 1, "dictionary_size": 60, "reward_batch": 20} if method == "fsr" else {}
    return train({**SMOKE, "method": method, "hparams": hp, "precision": precision, "corruption": "uniform:0.4"})


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("method", ["l2r", "mwn", "fsr"])
def test_a_trial_in_low_precision_ends_where_fp32_does(method, precision):
    """Two epochs (12 steps) at 40% noise: measured, the three precisions end within 0.3 points
    of test accuracy and 0.01 of zero-weight ratio of each other."""
    ref, res = smoke_trial(method, "fp32"), smoke_trial(method, precision)
    assert res["precision"] == precision and not res["channels_last"] and ref["precision"] == "fp32"
    assert abs(res["test_acc"] - ref["test_acc"]) < 0.03
    assert abs(res["zero_weight_ratio"] - ref["zero_weight_ratio"]) < 0.05
    assert abs(res["weight_auroc"] - ref["weight_auroc"]) < 0.05


def test_channels_last_forced_on_cpu_trains_a_2d_network():
    cfg = {**SMOKE, "dataset": "digits", "train_limit": None, "epochs": 1, "method": "l2r", "hparams": {}}
    default, cl = train(cfg), train({**cfg, "channels_last": True})
    assert cl["channels_last"] and not default["channels_last"]
    assert abs(cl["test_acc"] - default["test_acc"]) < 0.05   # the same training, another memory layout


def test_cost_compare_gives_each_precision_its_own_baseline():
    res = compare.compare(["softmax", "fsr"], model="small_cnn", batch_size=32, steps=1, untimed_steps=1, repeats=1,
                       precisions=("fp32", "bf16"), hparams={"fsr": {"reward_batch": 20}})
    rows = res["methods"]
    assert set(rows) == {"softmax", "fsr", "softmax@bf16", "fsr@bf16"}
    assert rows["fsr@bf16"]["baseline"] == "softmax@bf16" and rows["softmax@bf16"]["ratio"] == 1.0
    assert rows["fsr@bf16"]["precision"] == "bf16" and rows["fsr"]["precision"] == "fp32"
    assert "fsr@bf16" in compare.format_table(res)


def test_profiles_and_flags_set_the_precision_and_keep_fp32_ids(capsys):
    quick = suites.expand(suites.SUITES["label_noise"], "quick", methods=["fsr"], seeds=1)
    assert all("precision" not in t for t in quick)   # fp32: the configs (and ids) of before
    paper = suites.expand(suites.SUITES["label_noise"], "paper", methods=["fsr"], seeds=1)
    assert {t["precision"] for t in paper} == {"auto"}
    assert main(["run", "--suite", "label_noise", "--methods", "fsr", "--seeds", "1", "--precision", "bf16",
                 "--corruptions", "uniform:0.4", "--dry-run"]) == 0
    trials = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [t["precision"] for t in trials] == ["bf16"]
    same = suites.expand(suites.SUITES["label_noise"], "quick", methods=["fsr"], seeds=1, channels_last="off")
    assert [t["trial_id"] for t in same] == [t["trial_id"] for t in quick]   # layout is execution only


def test_gpu_check_without_a_gpu_is_one_line_exit_2(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["gpu-check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA GPU" in err


@pytest.mark.parametrize("argv,needle", [
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--models", "bogus"], "--models: unknown 'bogus'"),
    (["--parts", "q"], "--parts: unknown 'q'"),
    (["--device", "cpu", "--parts", "q"], "--parts: unknown 'q'"),          # ran nothing and exited 0
    (["--device", "cpu", "--models", "small_cnn,bogus", "--parts", "a"], "--models: unknown 'bogus'"),
])
def test_gpu_check_refuses_unknown_names_in_one_line(capsys, argv, needle):
    t0 = time.time()
    assert main(["gpu-check", *argv]) == 2
    assert time.time() - t0 < 15
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and out.err.startswith("bench: error: ") and needle in out.err
    assert out.out == ""


@pytest.mark.ray
def test_gpu_check_output_format_with_the_device_forced(tmp_path, capsys):
    save = tmp_path / "gpu.txt"
    assert main(["gpu-check", "--device", "cpu", "--models", "small_cnn", "--input-shape", "1x40",
                 "--steps", "1", "--repeats", "1", "--epoch-model", "small_cnn", "--train-size", "1500",
                 "--test-size", "100", "--share-profile", "smoke", "--parts", "tabc", "--compile", "off",
                 "--save", str(save)]) == 0
    text = save.read_text()
    for heading in ("# bench gpu-check on cpu", "## (a) per-step cost, small_cnn", "## (b) one epoch",
                    "## (c) two trials sharing one GPU"):
        assert heading in text
    for label in ("softmax", "l2r", "mwn", "fsr", "floor", "fsr@bf16", "floor@bf16"):
        assert any(line.split()[:1] == [label] for line in text.splitlines()), label
    epoch_rows = [ln.split() for ln in text.split("## (b)")[1].split("## (c)")[0].splitlines()[2:]
                  if ln and ln.split()[0] in ("softmax", "cb", "l2r", "mwn", "fsr")]
    assert [r[0] for r in epoch_rows] == ["softmax", "cb", "l2r", "mwn", "fsr"]
    assert all(float(r[4]) > 0 for r in epoch_rows)         # epoch seconds
    assert "2 trials" in text and text.count("status") == 0 and text.count(": ok, device cpu") == 2


def test_gpu_check_captured_parts_with_the_device_forced(tmp_path, capsys):
    """Parts (x), (a) captured and (p) on the CPU: the format, with aot_eager (no code
    generation) and two methods, and two packed workers."""
    save = tmp_path / "gpu.txt"
    assert main(["gpu-check", "--device", "cpu", "--models", "small_cnn", "--input-shape", "1x40", "--steps", "1",
                 "--repeats", "1", "--precision", "fp32", "--parts", "xap", "--compile", "aot_eager",
                 "--methods", "fsr,mwn", "--pack", "1,2", "--pack-seconds", "1", "--save", str(save)]) == 0
    text = save.read_text()
    for heading in ("## (x) captured steps against eager ones, small_cnn", "## (a) per-step cost, small_cnn, "
                    "compile aot_eager", "## (p) packed trials"):
        assert heading in text
    x = {ln.split()[0]: ln for ln in text.split("## (x)")[1].split("## (a)")[0].splitlines() if ln.startswith("  ")}
    assert set(x) == {"fsr", "mwn"}
    assert "compiled" in x["fsr"] and float(x["fsr"].split()[2]) < 1e-4 and float(x["fsr"].split()[6]) < 1e-4
    assert "eager (" in x["mwn"]   # MWN's double backward: not captured, and said why
    a = text.split("## (a)")[1].split("## (p)")[0]
    assert "[compiled" in a and "[eager: " in a and "floor" in a
    packed = [ln.split() for ln in text.split("## (p)")[1].splitlines() if ln.split()[:2] in (["1", "aot_eager"],
                                                                                              ["2", "aot_eager"])]
    assert [p[0] for p in packed] == ["1", "2"] and all(float(p[2]) > 0 for p in packed)
    assert packed[0][3] == "1.00" and packed[0][-1] == "compiled"

