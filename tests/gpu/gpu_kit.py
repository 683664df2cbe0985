"""Stand-ins for the NVIDIA driver (a boundary this machine cannot run): a fake ``nvidia-smi``."""

from __future__ import annotations

from pathlib import Path

COURSEWORKS = Path(__file__).resolve().parent / "courseworks"
GPU0 = "GPU-11111111-2222-3333-4444-555555555555"
GPU1 = "GPU-66666666-7777-8888-9999-000000000000"
MIG1 = "MIG-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


class FakeSmi:
    """``nvidia-smi`` answering from files this object writes: the GPUs, ``-L`` and compute apps."""

    def __init__(self, folder: Path):
        self.folder = folder
        script = folder / "nvidia-smi"
        script.write_text(f"""#!/bin/sh
d={folder}
[ -f $d/fail ] && {{ echo "NVIDIA-SMI has failed" >&2; exit 9; }}
case "$1" in
  --query-gpu=*) cat $d/gpus.csv ;;
  -L) cat $d/list.txt ;;
  --query-compute-apps=*) cat $d/apps.csv ;;
  *) echo "fake nvidia-smi: unexpected $*" >&2; exit 2 ;;
esac
""")
        script.chmod(0o755)
        self.set_gpus([(0, GPU0, 300)])
        self.set_apps([])

    def set_gpus(self, gpus: list[tuple[int, str, int]], migs: dict[str, list[str]] | None = None) -> None:
        (self.folder / "gpus.csv").write_text(
            "".join(f"{i}, {u}, 00000000:{0x3B + i:02X}:00.0, {m}\n" for i, u, m in gpus)
        )
        lines = []
        for i, u, _ in gpus:
            lines.append(f"GPU {i}: NVIDIA H100 80GB HBM3 (UUID: {u})")
            for k, mig in enumerate((migs or {}).get(u, [])):
                lines.append(f"  MIG 1g.10gb     Device  {k}: (UUID: {mig})")
        (self.folder / "list.txt").write_text("\n".join(lines) + "\n")

    def set_apps(self, apps: list[tuple[str, int, int]]) -> None:
        (self.folder / "apps.csv").write_text("".join(f"{u}, {pid}, {mib}\n" for u, pid, mib in apps))

    def fail(self, on: bool = True) -> None:
        (self.folder / "fail").write_text("") if on else (self.folder / "fail").unlink(missing_ok=True)
