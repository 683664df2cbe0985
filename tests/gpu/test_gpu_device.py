"""workers.sandbox.gpu against a fake nvidia-smi and a fake /dev tree: which device, what the
sandbox binds, and the device taken out of service after a job that left memory held."""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner
from gpu_kit import GPU0, GPU1, MIG1

from grader.cli import main
from grader.settings import Settings
from workers.sandbox import gpu
from workers.sandbox.gpu import Device, GpuError


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


def test_parsers_read_nvidia_smi_output():
    gpus = gpu.parse_gpus(f"0, {GPU0}, 00000000:3B:00.0, 512\n1, {GPU1}, 00000000:86:00.0, [N/A]\n")
    assert [(g.index, g.uuid, g.memory_used_mib) for g in gpus] == [(0, GPU0, 512), (1, GPU1, None)]
    listing = f"GPU 0: A100 (UUID: {GPU0})\n  MIG 1g.10gb Device 0: (UUID: {MIG1})\nGPU 1: A100 (UUID: {GPU1})\n"
    assert gpu.parse_migs(listing) == {GPU0: (MIG1,), GPU1: ()}
    apps = gpu.parse_compute_apps(f"{GPU0}, 4242, 1024\n{GPU1}, 77, [N/A]\n")
    assert apps == [(GPU0, 4242, 1024), (GPU1, 77, None)]
    with pytest.raises(GpuError, match="unexpected nvidia-smi line"):
        gpu.parse_gpus("No devices were found\n")


def test_driver_libraries_outside_usr_are_bound_and_the_cuda_runtime_is_not(tmp_path):
    nvidia_lib = tmp_path / "nvidia" / "lib64"
    nvidia_lib.mkdir(parents=True)
    ldconfig = (
        "\t3 libs found in cache `/etc/ld.so.cache'\n"
        f"\tlibcuda.so.1 (libc6,x86-64) => {nvidia_lib}/libcuda.so.1\n"
        "\tlibnvidia-ml.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1\n"
        "\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.12\n"
        "\tlibnvidia-ptxjitcompiler.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libnvidia-ptxjitcompiler.so.1\n"
    )
    assert [p.name for p in gpu.parse_ldconfig(ldconfig)] == [
        "libcuda.so.1",
        "libnvidia-ml.so.1",
        "libnvidia-ptxjitcompiler.so.1",
    ]
    assert gpu.driver_library_dirs(ldconfig) == [nvidia_lib]  # /usr and /lib are in every sandbox


def test_the_pinned_device_comes_from_settings_else_cuda_visible_devices(settings):
    assert gpu.pinned_spec(settings, {}) is None
    assert gpu.pinned_spec(settings, {"CUDA_VISIBLE_DEVICES": GPU1}) == GPU1
    assert gpu.pinned_spec(settings.model_copy(update={"gpu_device": "1"}), {"CUDA_VISIBLE_DEVICES": "0"}) == "1"
    with pytest.raises(GpuError, match="exactly one"):
        gpu.pinned_spec(settings, {"CUDA_VISIBLE_DEVICES": "0,1"})


def test_resolve_by_index_uuid_mig_or_the_only_gpu(tmp_path):
    two = [gpu.Gpu(0, GPU0, "00000000:3B:00.0", 0), gpu.Gpu(1, GPU1, "00000000:86:00.0", 0, (MIG1,))]
    proc = tmp_path / "proc"
    (proc / "0000:3b:00.0").mkdir(parents=True)
    (proc / "0000:3b:00.0" / "information").write_text("Model: H100\nDevice Minor: \t 5\n")
    assert gpu.resolve("0", two, proc) == Device(uuid=GPU0, gpu_uuid=GPU0, index=0, minor=5)  # the driver's minor
    assert gpu.resolve(MIG1, two, proc) == Device(uuid=MIG1, gpu_uuid=GPU1, index=1, minor=1)
    assert gpu.resolve(MIG1, two, proc).mig
    with pytest.raises(GpuError, match="MIG slices"):
        gpu.resolve(GPU1, two, proc)
    with pytest.raises(GpuError, match="pin each gpu worker"):
        gpu.resolve(None, two, proc)
    with pytest.raises(GpuError, match="no GPU or MIG slice '7'"):
        gpu.resolve("7", two, proc)
    assert gpu.resolve(None, two[:1], proc).uuid == GPU0
    with pytest.raises(GpuError, match="no NVIDIA GPU here"):
        gpu.resolve(None, [], proc)


def test_bwrap_options_bind_only_the_jobs_device(fake_dev):
    opts = gpu.bwrap_options(Device(uuid=GPU1, gpu_uuid=GPU1, index=1, minor=1), fake_dev, ldconfig_text="")
    binds = [(opts[i + 1], opts[i + 2]) for i, o in enumerate(opts) if o == "--dev-bind"]
    names = ("nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools")
    assert binds == [(str(fake_dev / n), f"/dev/{n}") for n in names]
    assert gpu.sandbox_env(Device(uuid=GPU1, gpu_uuid=GPU1, index=1, minor=1))["CUDA_VISIBLE_DEVICES"] == GPU1
    mig = gpu.bwrap_options(Device(uuid=MIG1, gpu_uuid=GPU0, index=0, minor=0), fake_dev, ldconfig_text="")
    assert [str(fake_dev / "nvidia-caps"), "/dev/nvidia-caps"] == mig[
        mig.index("--dev-bind", mig.index(str(fake_dev / "nvidia-uvm-tools"))) + 1 :
    ][:2]
    with pytest.raises(GpuError, match="nvidia3"):
        gpu.bwrap_options(Device(uuid=GPU0, gpu_uuid=GPU0, index=3, minor=3), fake_dev, ldconfig_text="")


def test_no_driver_is_a_clear_error(no_smi, settings):
    with pytest.raises(GpuError, match="no NVIDIA GPU here"):
        gpu.job_device(settings)


def test_a_process_left_on_the_device_takes_it_out_of_service(fake_smi, settings):
    device = gpu.job_device(settings)
    assert device == Device(uuid=GPU0, gpu_uuid=GPU0, index=0, minor=0)
    assert gpu.check_released(settings, device, grace_s=0) == []
    assert gpu.out_of_service(settings, device) is None

    fake_smi.set_apps([(GPU1, 99, 10), (GPU0, 4242, 1536)])  # another GPU's process is none of ours
    assert gpu.check_released(settings, device, grace_s=0.3, poll_s=0.1) == [(4242, 1536)]
    reason = gpu.out_of_service(settings, device)
    assert "pid 4242 (1536 MiB)" in reason
    with pytest.raises(GpuError, match="out of service"):
        gpu.job_device(settings)  # the next gpu job on this worker: an infrastructure error


def test_memory_released_within_the_grace_keeps_the_device(fake_smi, settings):
    device = gpu.job_device(settings)
    fake_smi.set_apps([(GPU0, 4242, 1536)])
    threading.Timer(0.3, fake_smi.set_apps, ([],)).start()  # the driver frees a killed process a moment later
    assert gpu.check_released(settings, device, grace_s=5, poll_s=0.1) == []
    assert gpu.out_of_service(settings, device) is None


def test_a_driver_that_cannot_answer_after_a_job_takes_the_device_out(fake_smi, settings):
    device = gpu.job_device(settings)
    fake_smi.fail()
    gpu.check_released(settings, device, grace_s=0)
    assert "cannot check the device" in gpu.out_of_service(settings, device)


def test_the_watch_stops_the_worker_once_its_device_is_out(fake_smi, settings):
    device = gpu.job_device(settings)
    stopped = threading.Event()
    watch = gpu.OutOfServiceWatch(settings, device, interval_s=0.05, on_out=lambda reason: stopped.set())
    watch.start()
    assert not stopped.wait(0.3)
    gpu.take_out_of_service(settings, device, "test")
    assert stopped.wait(5)
    watch.join(5)


def test_worker_gpu_device_refuses_bad_pins(fake_smi, settings, monkeypatch, tmp_path):
    monkeypatch.setenv("GRADER_STATE_DIR", str(settings.state_dir))
    from grader.settings import get_settings

    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(main, ["worker", "--gpu-device", "0", "--queues", "cpu"])
        assert out.exit_code == 2 and "add gpu to --queues" in out.output
        out = runner.invoke(main, ["worker", "--gpu-device", "3"])
        assert out.exit_code == 1 and "no GPU or MIG slice '3'" in out.output
        gpu.take_out_of_service(settings, gpu.job_device(settings), "left memory held")
        out = runner.invoke(main, ["worker", "--gpu-device", GPU0])
        assert out.exit_code == 1 and "out of service (" in out.output and "left memory held" in out.output
    finally:
        get_settings.cache_clear()


def test_worker_gpu_device_without_a_driver(no_smi):
    out = CliRunner().invoke(main, ["worker", "--gpu-device", "0"])
    assert out.exit_code == 1 and "no NVIDIA GPU here" in out.output


def test_rubric_resources_default_to_not_reproducible():
    from grader.rubrics.model import Resources

    assert Resources().reproducible is False
    assert Resources(reproducible=True, seed=7).seed == 7
    with pytest.raises(ValueError):
        Resources(seed=-1)


def test_a_gpu_job_runs_on_the_cpu_only_where_its_rubric_falls_back_there_no_gpu_is_here_and_none_pinned(
    tmp_path, monkeypatch
):
    """``grader grade`` or a test on a CPU machine grades CW2 (gpu, fallback cpu) on the CPU; a gpu
    worker pinned to a device, or a rubric without the fallback, gets the usual 'no GPU' error."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    settings = Settings(state_dir=tmp_path / "state")
    assert not gpu.gpu_here()
    assert gpu.cpu_job(settings, cpu_fallback=True)
    assert not gpu.cpu_job(settings, cpu_fallback=False)
    assert not gpu.cpu_job(settings.model_copy(update={"gpu_device": "0"}), cpu_fallback=True)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", GPU0)
    assert not gpu.cpu_job(settings, cpu_fallback=True)


def test_with_a_gpu_here_the_gpu_job_keeps_its_gpu(fake_smi, settings, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpu.gpu_here() and not gpu.cpu_job(settings, cpu_fallback=True)
    assert gpu.describe(gpu.job_device(settings)) == f"GPU 0 ({GPU0})"
    fake_smi.fail()
    assert not gpu.gpu_here()  # a driver that cannot answer: no GPU to use


def test_cw2_asks_for_a_gpu_and_falls_back_to_the_cpu():
    from grader.rubrics.loader import load_coursework

    res = load_coursework("cw2", Settings()).rubric.resources
    assert (res.queue, res.gpu, res.fallback_queue) == ("gpu", True, "cpu") and res.fallback_after > 0


def test_grader_up_pins_a_gpu_worker_of_its_own_where_there_is_a_gpu(fake_smi, settings):
    """With a GPU, `grader up` starts a worker for the gpu queue pinned to the first GPU (or the
    configured one); without, none, and its banner says CW2 falls back to the CPU at once."""
    from grader.courseworks.sync import load_all
    from grader.embedded.up import _gpu_use

    courseworks = load_all(Settings())
    use, pin = _gpu_use(settings, courseworks)
    assert (use.device, pin) == (f"GPU 0 ({GPU0})", GPU0) and use.wanting["cw2"] == "cpu"
    use, pin = _gpu_use(settings.model_copy(update={"gpu_device": "0"}), courseworks)
    assert (use.device, pin) == ("GPU 0", "0")
    fake_smi.fail()
    use, pin = _gpu_use(settings, courseworks)
    assert (use.device, pin) == (None, None) and "cw2" in use.wanting
