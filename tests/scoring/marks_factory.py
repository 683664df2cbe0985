"""A CW2-shaped rubric built in code: two 50-point parts, auto, manual and suggested items,
an automatic penalty and a marker-decided one."""

from grader.rubrics.model import Rubric


def cw_rubric(**overrides) -> Rubric:
    raw = {
        "coursework": "cwm",
        "title": "Generative models (test)",
        "weight": 0.6,
        "total_points": 100,
        "deadline": "2026-10-24T12:00:00",
        "timezone": "Europe/London",
        "late_policy": {"grace_minutes": 15, "per_day_fraction": 0.1, "max_days": 7},
        "submission": {"notebook": "cw.ipynb"},
        "parts": [{"id": "1", "title": "VAE", "points": 50}, {"id": "2", "title": "DCGAN", "points": 50}],
        "items": [
            {"id": "vae_layers", "part": "1", "title": "layers", "points": 20, "auto": {"tests": ["t.py::a"]}},
            {"id": "vae_loss", "part": "1", "title": "loss", "points": 10, "auto": {"tests": ["t.py::b"]}},
            {"id": "vae_disc", "part": "1", "title": "discussion", "points": 20, "manual": True},
            {"id": "gan_arch", "part": "2", "title": "architecture", "points": 20, "auto": {"tests": ["t.py::c"]}},
            {
                "id": "gan_images",
                "part": "2",
                "title": "generated images",
                "points": 10,
                "suggest": {"tests": ["t.py::d"]},
            },
            {
                "id": "gan_disc",
                "part": "2",
                "title": "mode collapse",
                "points": 20,
                "manual": True,
                "visibility": "after_release",
            },
        ],
        "penalties": [
            {
                "id": "gan_params",
                "title": "GAN over the parameter limit",
                "points": 1,
                "auto": {"tests": ["t.py::params"]},
            },
            {"id": "no_transforms", "title": "transforms not provided", "points": 1},
            {"id": "no_load", "title": "models do not load", "points": 60, "auto": {"tests": ["t.py::load"]}},
        ],
    }
    raw.update(overrides)
    return Rubric.model_validate(raw)


AUTO_ITEMS = ["vae_layers", "vae_loss", "gan_arch"]
MARKER_ITEMS = ["vae_disc", "gan_images", "gan_disc"]
