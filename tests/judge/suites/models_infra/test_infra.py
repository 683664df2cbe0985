"""Run by test_judge_model_files.py with a runner folder that lacks the model inspector."""


def test_inspect(models):
    models.inspect("model.pth")
